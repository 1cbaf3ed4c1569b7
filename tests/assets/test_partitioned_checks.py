"""Checks of partitioned assets check the run's partition.

An unpartitioned check of a partitioned asset loads every partition, so `dg launch --job recommender_job
--partition hstu-id` (what `make demo` runs) and a launch from the UI's partition picker failed while
any other variant was untrained; tests/ui found it.
"""

import dagster as dg

from movielens_dag.assets import recommender
from movielens_dag.paths import DataPaths
from tests.recommender.test_assets import TINY, write_inputs


def test_every_check_of_a_partitioned_asset_is_partitioned_like_it():
    from movielens_dag.definitions import defs

    graph = defs.resolve_asset_graph()
    checked = 0
    for key in graph.asset_check_keys:
        asset = graph.get(key.asset_key)
        if asset.partitions_def is not None:
            assert graph.get(key).partitions_def == asset.partitions_def, key.to_user_string()
            checked += 1
    assert checked >= 2  # recommender_runs, movie_embedding_shards


def test_one_variant_run_checks_that_variant_while_others_are_untrained(tmp_path):
    from movielens_dag.definitions import make_resources

    write_inputs(DataPaths(tmp_path))
    assets = [
        dg.AssetSpec("ratings", group_name="movielens"),
        dg.AssetSpec("semantic_ids", group_name="semantic_ids"),
        recommender.user_sequences,
        recommender.recommender_runs,
        recommender.metrics_are_rates_and_seeds_distinct,
    ]
    kw = {"resources": make_resources(str(tmp_path)), "instance": dg.DagsterInstance.ephemeral()}
    assert dg.materialize(assets, selection=["user_sequences"], **kw).success
    result = dg.materialize(
        assets,
        selection=dg.AssetSelection.assets("recommender_runs"),
        partition_key="hstu-id",
        run_config={"ops": {"recommender_runs": {"config": TINY}}},
        raise_on_error=False,
        **kw,
    )
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.partition == "hstu-id"
    assert evaluation.metadata["rows"].value == TINY["seeds"]

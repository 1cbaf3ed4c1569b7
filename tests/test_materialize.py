"""The plan behind `make demo` / `make leaderboard` / `make published` (no training here)."""

import pytest

from movielens_dag import warehouse
from movielens_dag.definitions import build_definitions
from movielens_dag.materialize import _groups_of_steps, plan
from movielens_dag.paths import DataPaths
from movielens_dag.recsys.config import DEMO_VARIANTS, VARIANTS


def names(step):
    return [k.to_user_string() for k in step.keys]


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    return build_definitions(str(tmp_path_factory.mktemp("data")))


def test_demo_runs_the_demo_variants_with_one_seed_after_their_inputs(defs, tmp_path):
    steps = plan(defs, "demo", paths=DataPaths(tmp_path))
    runs = [s for s in steps if names(s) == ["recommender_runs"]]
    assert [s.partition for s in runs] == list(DEMO_VARIANTS)
    assert all(s.run_config == {"ops": {"recommender_runs": {"config": {"seeds": 1}}}} for s in runs)
    order = [n for s in steps for n in names(s)]
    assert order.index("semantic_ids") < order.index("recommender_runs") < order.index("recommender_leaderboard")
    assert "movie_embedding_shards" not in order  # no demo partitions: skipped, and it says so
    once = [n for s in steps if s.partition is None for n in names(s)]
    assert len(set(once)) == len(once)


def test_group_adds_only_upstream_assets_that_were_never_stored(defs, tmp_path):
    paths = DataPaths(tmp_path)
    fresh = [n for s in plan(defs, "all", "recommender", paths) for n in names(s)]
    assert {"ratings", "semantic_ids", "user_sequences", "recommender_leaderboard"} <= set(fresh)
    assert "sid_map" not in fresh and "movie_embedding_shards" not in fresh  # not upstream of the group
    for group, asset in [("movielens", "ratings"), ("semantic_ids", "semantic_ids")]:
        warehouse.write_parquet_atomic(__import__("pandas").DataFrame({"x": [1]}), paths.asset_file(group, asset))
    steps = plan(defs, "all", "recommender", paths)
    assert [n for s in steps for n in names(s) if n not in ("recommender_runs",)] == [
        "user_sequences", "recommender_leaderboard"]
    assert [s.partition for s in steps if s.partition] == list(VARIANTS)
    groups = _groups_of_steps(steps)
    assert [len(g) for g in groups] == [1, len(VARIANTS), 1]  # the partitions may run in parallel


def test_partition_lists_and_bad_names(defs, tmp_path):
    steps = plan(defs, "hstu-id,sasrec-id", "recommender", DataPaths(tmp_path))
    assert [s.partition for s in steps if s.partition] == ["hstu-id", "sasrec-id"]
    with pytest.raises(ValueError, match="no partition.*hstu-bogus"):
        plan(defs, "hstu-bogus", "recommender", DataPaths(tmp_path))
    with pytest.raises(ValueError, match="no asset group 'nope'"):
        plan(defs, "all", "nope", DataPaths(tmp_path))

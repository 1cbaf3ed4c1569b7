"""Dagster wiring: user_sequences -> recommender_runs (one partition) -> recommender_leaderboard."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

dg = pytest.importorskip("dagster")

from movielens_dag import warehouse  # noqa: E402
from movielens_dag.assets import recommender  # noqa: E402
from movielens_dag.paths import DataPaths  # noqa: E402

TINY = {"seeds": 2, "encoder": {"dim": 8, "num_blocks": 1, "max_len": 10},
        "train": {"max_epochs": 2, "num_negatives": 8, "batch_size": 8}}


def write_inputs(paths: DataPaths) -> None:
    rng = np.random.default_rng(0)
    rows = [(u, int(10 * (1 + (u + t) % 40)), pd.Timestamp(1_000_000 + 60 * t, unit="s", tz="UTC"))
            for u in range(30) for t in range(12)]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "timestamp"]).astype({"user_id": "int32", "movie_id": "int32"})
    ratings["rating"] = np.float32(4.0)
    warehouse.write_parquet_atomic(ratings, paths.asset_file("movielens", "ratings"))
    movie_ids = np.arange(10, 410, 10)[::-1]  # SID rows in a different order than the item index
    codes = [[int(m // 100), int(rng.integers(0, 3)), int(m % 7), 0] for m in movie_ids]
    sids = pa.table({"movie_id": pa.array(movie_ids, pa.int32()), "codes": pa.array(codes, pa.list_(pa.int32())),
                     "levels": pa.array([3] * len(codes), pa.int32()),
                     "sid": pa.array([str(c) for c in codes]), "method": pa.array(["rqkmeans"] * len(codes))})
    warehouse.write_parquet_atomic(sids, paths.asset_file("semantic_ids", "semantic_ids"))


def materialize(tmp_path, selection, partition=None, config=None):
    from movielens_dag.definitions import make_resources

    assets = [dg.AssetSpec("ratings", group_name="movielens"), dg.AssetSpec("semantic_ids", group_name="semantic_ids"),
              recommender.user_sequences, recommender.recommender_runs, recommender.recommender_leaderboard]
    run_config = {"ops": {"recommender_runs": {"config": config}}} if config else None
    return dg.materialize(assets, selection=selection, partition_key=partition, run_config=run_config,
                          resources=make_resources(str(tmp_path)), instance=dg.DagsterInstance.ephemeral())


def test_runs_and_leaderboard_end_to_end(tmp_path, capsys):
    paths = DataPaths(tmp_path)
    write_inputs(paths)
    assert materialize(tmp_path, ["user_sequences"]).success
    for variant in ("hstu-id", "hstu-prefixn_id-sum"):
        result = materialize(tmp_path, ["recommender_runs"], variant, TINY)
        assert result.success
        meta = result.asset_materializations_for_node("recommender_runs")[0].metadata
        assert meta["validation_curve"].value.startswith("![validation NDCG@10](http://127.0.0.1:3001/recommender/")
        assert len(meta["validation_curve"].value) < 1000  # short: the UI shows it inline
        assert (tmp_path / "checkpoints" / "recommender").exists()
    assert materialize(tmp_path, ["recommender_leaderboard"]).success
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        board = con.execute("SELECT variant, seeds, test_ndcg_10, test_ndcg_10_std, test_cold_hr_10 "
                            "FROM recommender.recommender_leaderboard ORDER BY rank").df()
        runs = con.execute("SELECT count(*) FROM recommender.recommender_runs").fetchone()[0]
    assert sorted(board["variant"]) == ["hstu-id", "hstu-prefixn_id-sum", "popularity"]
    assert board.set_index("variant")["seeds"].to_dict() == {"hstu-id": 2, "hstu-prefixn_id-sum": 2, "popularity": 1}
    assert runs == 4
    assert board["test_ndcg_10"].is_monotonic_decreasing

    from movielens_dag import cli  # the README table: `movielens-dag leaderboard`

    capsys.readouterr()
    assert cli.main(["--data-dir", str(tmp_path), "leaderboard"]) == 0
    table = capsys.readouterr().out
    first = board.iloc[0]
    assert f"| 1 | `{first['variant']}` |" in table
    assert f"{first['test_ndcg_10']:.4f} ± {first['test_ndcg_10_std']:.4f}" in table


def test_bad_config_is_a_clear_error(tmp_path):
    write_inputs(DataPaths(tmp_path))
    assert materialize(tmp_path, ["user_sequences"]).success
    with pytest.raises(Exception, match="preset must be"):
        materialize(tmp_path, ["recommender_runs"], "hstu-id", {**TINY, "preset": "huge"})

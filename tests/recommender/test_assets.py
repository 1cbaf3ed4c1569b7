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

TINY = {
    "seeds": 2,
    "encoder": {"dim": 8, "num_blocks": 1, "max_len": 10},
    "train": {"max_epochs": 2, "num_negatives": 8, "batch_size": 8},
}


def write_inputs(paths: DataPaths) -> None:
    rng = np.random.default_rng(0)
    rows = [
        (u, int(10 * (1 + (u + t) % 40)), pd.Timestamp(1_000_000 + 60 * t, unit="s", tz="UTC"))
        for u in range(30)
        for t in range(12)
    ]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "timestamp"]).astype(
        {"user_id": "int32", "movie_id": "int32"}
    )
    ratings["rating"] = np.float32(4.0)
    warehouse.write_parquet_atomic(ratings, paths.asset_file("movielens", "ratings"))
    movie_ids = np.arange(10, 410, 10)[::-1]  # SID rows in a different order than the item index
    codes = [[int(m // 100), int(rng.integers(0, 3)), int(m % 7), 0] for m in movie_ids]
    sids = pa.table(
        {
            "movie_id": pa.array(movie_ids, pa.int32()),
            "codes": pa.array(codes, pa.list_(pa.int32())),
            "levels": pa.array([3] * len(codes), pa.int32()),
            "sid": pa.array([str(c) for c in codes]),
            "method": pa.array(["rqkmeans"] * len(codes)),
        }
    )
    warehouse.write_parquet_atomic(sids, paths.asset_file("semantic_ids", "semantic_ids"))


def write_temporal_content(paths: DataPaths) -> None:
    """Stand-ins for temporal_content's outputs: the SIDs above, and random unit vectors per movie."""
    sids = warehouse.read_parquet(paths.asset_file("semantic_ids", "semantic_ids"))
    warehouse.write_parquet_atomic(sids, paths.asset_file("recommender", "temporal_semantic_ids"))
    ids = sids["movie_id"].to_numpy()
    x = np.random.default_rng(1).standard_normal((len(ids), 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    vectors = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "model_id": ["stand-in"] * len(ids),
            "dim": pa.array([6] * len(ids), pa.int32()),
            "document_hash": ["h"] * len(ids),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 6),
        }
    )
    warehouse.write_parquet_atomic(vectors, paths.asset_file("recommender", "temporal_movie_embeddings"))


def materialize(tmp_path, selection, partition=None, config=None, op="recommender_runs"):
    from movielens_dag.definitions import make_resources

    assets = [
        dg.AssetSpec("ratings", group_name="movielens"),
        dg.AssetSpec("semantic_ids", group_name="semantic_ids"),
        dg.AssetSpec("temporal_semantic_ids", group_name="recommender"),
        dg.AssetSpec("temporal_movie_embeddings", group_name="recommender"),
        recommender.user_sequences,
        recommender.recommender_runs,
        recommender.temporal_recommender_runs,
        recommender.recommender_leaderboard,
    ]
    run_config = {"ops": {op: {"config": config}}} if config else None
    return dg.materialize(
        assets,
        selection=selection,
        partition_key=partition,
        run_config=run_config,
        resources=make_resources(str(tmp_path)),
        instance=dg.DagsterInstance.ephemeral(),
    )


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
    result = materialize(tmp_path, ["recommender_leaderboard"])  # no temporal runs yet: one protocol
    assert result.success
    meta = result.asset_materializations_for_node("recommender_leaderboard")[0].metadata
    assert "leave_one_out" in meta and "temporal" not in meta
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        board = con.execute(
            "SELECT variant, seeds, test_ndcg_10, test_ndcg_10_std, test_cold_hr_10 "
            "FROM recommender.recommender_leaderboard WHERE protocol = 'leave_one_out' "
            "ORDER BY rank"
        ).df()
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


def test_temporal_runs_join_the_leaderboard_with_baselines_and_intervals(tmp_path, capsys):
    paths = DataPaths(tmp_path)
    write_inputs(paths)
    write_temporal_content(paths)
    assert materialize(tmp_path, ["user_sequences"]).success
    for variant in ("hstu-id", "hstu-rqsum_id-sum"):
        result = materialize(tmp_path, ["temporal_recommender_runs"], variant, TINY, op="temporal_recommender_runs")
        assert result.success
        meta = result.asset_materializations_for_node("temporal_recommender_runs")[0].metadata
        assert meta["protocol"].value == "temporal" and meta["split"].data["test_events"] > 0
    assert (tmp_path / "checkpoints" / "recommender" / "temporal").exists()
    assert materialize(tmp_path, ["recommender_runs"], "hstu-id", TINY).success
    result = materialize(tmp_path, ["recommender_leaderboard"])
    assert result.success
    meta = result.asset_materializations_for_node("recommender_leaderboard")[0].metadata
    assert "`content`" in meta["temporal"].value and "`popularity`" in meta["leave_one_out"].value
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        board = con.execute(
            "SELECT protocol, variant, rank, seeds, test_ndcg_10_micro_low, test_ndcg_10_micro, "
            "test_ndcg_10_micro_high, diff_ndcg_10_micro, test_new_n "
            "FROM recommender.recommender_leaderboard ORDER BY protocol, rank"
        ).df()
    temporal = board[board["protocol"] == "temporal"].set_index("variant")
    assert set(temporal.index) == {"hstu-id", "hstu-rqsum_id-sum", "popularity", "content"}
    assert set(board[board["protocol"] == "leave_one_out"]["variant"]) == {"hstu-id", "popularity"}
    assert (temporal["test_ndcg_10_micro_low"] <= temporal["test_ndcg_10_micro"]).all()
    assert (temporal["test_ndcg_10_micro"] <= temporal["test_ndcg_10_micro_high"]).all()
    assert pd.isna(temporal.loc["hstu-id", "diff_ndcg_10_micro"])  # the reference has no difference to itself
    assert pd.notna(temporal.loc["hstu-rqsum_id-sum", "diff_ndcg_10_micro"])

    from movielens_dag import cli

    capsys.readouterr()
    assert cli.main(["--data-dir", str(tmp_path), "leaderboard", "--protocol", "temporal"]) == 0
    out = capsys.readouterr().out
    assert "### ml-latest-small, temporal" in out and "new-movie HR@50" in out and "leave-one-out" not in out


def test_bad_config_is_a_clear_error(tmp_path):
    write_inputs(DataPaths(tmp_path))
    assert materialize(tmp_path, ["user_sequences"]).success
    with pytest.raises(Exception, match="preset must be"):
        materialize(tmp_path, ["recommender_runs"], "hstu-id", {**TINY, "preset": "huge"})

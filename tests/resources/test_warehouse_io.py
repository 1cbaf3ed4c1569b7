import pathlib

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths
from movielens_dag.resources.storage import DataDir
from movielens_dag.resources.warehouse_io import WarehouseIOManager
from tests.test_warehouse import hold_duckdb_open

HERE = pathlib.Path(__file__).parent


def resources(root, timeout: float = 30.0) -> dict:
    storage = DataDir(data_dir=str(root))
    return {"io_manager": WarehouseIOManager(data_dir=storage, catalog_timeout_seconds=timeout)}


@dg.asset(group_name="demo")
def frame() -> pd.DataFrame:
    return pd.DataFrame({"movie_id": [1, 2, 3], "title": ["a", "b", "c"]})


@dg.asset(group_name="demo")
def vectors() -> pa.Table:
    flat = pa.array(np.ones(6, dtype=np.float32))
    return pa.table({"movie_id": [1, 2], "embedding": pa.FixedSizeListArray.from_arrays(flat, 3)})


@dg.asset(group_name="other")
def consumer(frame: pd.DataFrame, vectors: pa.Table, frame_path_input: pathlib.Path) -> pd.DataFrame:
    assert isinstance(frame, pd.DataFrame) and isinstance(vectors, pa.Table)
    assert frame_path_input.suffix == ".parquet" and frame_path_input.exists()
    return pd.DataFrame({"n": [len(frame) + vectors.num_rows]})


@dg.asset(group_name="demo", name="frame_path_input", deps=[frame])
def frame_path_input_asset() -> pd.DataFrame:
    return pd.DataFrame({"x": [1]})


def _meta(result, name):
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == name]
    return events[-1].materialization.metadata


def test_outputs_become_parquet_and_views_with_metadata(tmp_path):
    result = dg.materialize([frame, vectors, frame_path_input_asset, consumer], resources=resources(tmp_path))
    assert result.success
    paths = DataPaths(tmp_path)
    assert paths.asset_file("demo", "frame").exists() and paths.asset_file("other", "consumer").exists()
    with warehouse.connect_read_only(paths) as con:
        assert con.execute("SELECT n FROM other.consumer").fetchone() == (5,)
        assert con.execute("SELECT count(*) FROM demo.vectors").fetchone() == (2,)
        dtype = con.execute("SELECT typeof(embedding), len(embedding) FROM demo.vectors LIMIT 1").fetchone()
    assert dtype == ("FLOAT[]", 3)  # Parquet has no fixed-size list; Arrow readers get it back
    assert warehouse.read_parquet(paths.asset_file("demo", "vectors")).schema.field("embedding").type == pa.list_(
        pa.float32(), 3
    )
    meta = _meta(result, "frame")
    assert meta["dagster/row_count"].value == 3
    assert [c.name for c in meta["dagster/column_schema"].schema.columns] == ["movie_id", "title"]
    assert meta["duckdb_view"].value == "demo.frame (ok)"
    assert "| movie_id | title |" in meta["preview"].value
    assert meta["size"].value.endswith(("B", "KiB", "MiB"))


def test_partitioned_asset_gets_one_file_per_partition_and_a_union_view(tmp_path):
    parts = dg.StaticPartitionsDefinition(["p-a", "p-b"])

    @dg.asset(group_name="exp", partitions_def=parts)
    def runs(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return pd.DataFrame({"variant": [context.partition_key], "score": [len(context.partition_key)]})

    @dg.asset(group_name="exp")
    def board(runs: pd.DataFrame) -> pd.DataFrame:
        return runs.sort_values("variant")

    for key in ["p-a", "p-b"]:
        assert dg.materialize([runs], partition_key=key, resources=resources(tmp_path)).success
    assert dg.materialize([runs, board], selection=[board], resources=resources(tmp_path)).success
    paths = DataPaths(tmp_path)
    assert sorted(p.name for p in (paths.warehouse / "exp" / "runs").iterdir()) == ["p-a.parquet", "p-b.parquet"]
    with warehouse.connect_read_only(paths) as con:
        assert con.execute("SELECT list(variant ORDER BY variant) FROM exp.runs").fetchone()[0] == ["p-a", "p-b"]
        assert con.execute("SELECT count(*) FROM exp.board").fetchone() == (2,)


def test_staged_parquet_is_moved_into_place(tmp_path):
    @dg.asset(group_name="big")
    def streamed(data_dir: DataDir) -> warehouse.StagedParquet:
        staged = warehouse.staging_file(data_dir.paths, "streamed")
        warehouse.write_parquet_atomic(pd.DataFrame({"a": range(10)}), staged)
        return warehouse.StagedParquet(staged)

    res = resources(tmp_path) | {"data_dir": DataDir(data_dir=str(tmp_path))}
    result = dg.materialize([streamed], resources=res)
    assert result.success
    assert _meta(result, "streamed")["dagster/row_count"].value == 10
    assert list(DataPaths(tmp_path).staging.glob("*.parquet")) == []


@pytest.mark.parametrize("value", [None, {"a": [1]}])
def test_unsupported_outputs_fail_with_a_clear_message(tmp_path, value):
    @dg.asset(group_name="bad")
    def weird():
        return value

    with pytest.raises(TypeError, match="the warehouse stores|returned None"):
        dg.materialize([weird], resources=resources(tmp_path))


def test_missing_upstream_data_names_the_asset(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize frame first"):
        dg.materialize(
            [frame, vectors, frame_path_input_asset, consumer], selection=[consumer], resources=resources(tmp_path)
        )


def test_materialization_succeeds_while_a_user_holds_the_database(tmp_path):
    assert dg.materialize([frame], resources=resources(tmp_path)).success
    paths = DataPaths(tmp_path)
    reader = hold_duckdb_open(paths, read_only=True)  # `movielens-dag sql` or a notebook
    try:
        result = dg.materialize([frame, vectors], resources=resources(tmp_path, timeout=0.5))
    finally:
        reader.stdin.close()
        reader.wait(10)
    assert result.success
    assert _meta(result, "frame")["duckdb_view"].value == "demo.frame (ok)"
    assert "pending" in _meta(result, "vectors")["duckdb_view"].value
    assert warehouse.sync_catalog(paths) == ["demo.vectors"]


def test_multiprocess_executor_writes_concurrently(tmp_path, monkeypatch):
    from dagster._core.definitions.reconstruct import ReconstructableJob

    monkeypatch.setenv("CONCURRENCY_TEST_DATA_DIR", str(tmp_path))
    job = ReconstructableJob.for_file(str(HERE / "concurrent_job.py"), "concurrent_job")
    with dg.instance_for_test() as instance:
        result = dg.execute_job(job, instance=instance)
        assert result.success
        starts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
        assert len({e.pid for e in starts}) == 6  # one process per step
    with warehouse.connect_read_only(DataPaths(tmp_path)) as con:
        views = con.execute("SELECT count(*) FROM duckdb_views() WHERE schema_name = 'concurrency'").fetchone()
        total = con.execute(
            " UNION ALL ".join(f"SELECT count(*) FROM concurrency.table_{i}" for i in range(6))
        ).fetchall()
    assert views == (6,) and [t[0] for t in total] == [1000] * 6

import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths


def vectors_table(n: int = 4, dim: int = 3) -> pa.Table:
    flat = pa.array(np.arange(n * dim, dtype=np.float32))
    return pa.table(
        {"movie_id": pa.array(range(n), pa.int32()), "embedding": pa.FixedSizeListArray.from_arrays(flat, dim)}
    )


def test_round_trip_keeps_types_and_fixed_size_vectors(tmp_path):
    dest = tmp_path / "g" / "vectors.parquet"
    warehouse.write_parquet_atomic(vectors_table(), dest)
    back = pq.read_table(dest)
    assert back.schema.field("embedding").type == pa.list_(pa.float32(), 3)
    assert back.equals(vectors_table())

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    warehouse.write_parquet_atomic(frame, tmp_path / "frame.parquet")
    pd.testing.assert_frame_equal(pq.read_table(tmp_path / "frame.parquet").to_pandas(), frame)


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    dest = tmp_path / "t.parquet"
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1, 2, 3]}), dest)
    before = dest.read_bytes()

    def crash(table, where, **kwargs):
        with open(where, "wb") as f:
            f.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(warehouse.pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        warehouse.write_parquet_atomic(pd.DataFrame({"a": [9]}), dest)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_publish_staged_refuses_a_non_parquet_file(tmp_path):
    dest = tmp_path / "t.parquet"
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1]}), dest)
    bogus = tmp_path / "staged.parquet"
    bogus.write_bytes(b"not parquet")
    with pytest.raises(pa.ArrowInvalid):
        warehouse.publish_staged(warehouse.StagedParquet(bogus), dest)
    assert pq.read_table(dest).num_rows == 1


def test_write_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="pandas DataFrame or a pyarrow Table"):
        warehouse.write_parquet_atomic({"a": [1]}, tmp_path / "x.parquet")


def _catalogue(paths: DataPaths) -> pd.DataFrame:
    with warehouse.connect_read_only(paths) as con:
        return con.sql("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").df()


def test_views_are_created_once_and_stale_ones_dropped(tmp_path):
    paths = DataPaths(tmp_path)
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), paths.asset_file("g", "t"))
    for key in ["p1", "p2"]:
        warehouse.write_parquet_atomic(pd.DataFrame({"k": [key], "v": [1.0]}), paths.asset_file("g", "parts", key))
    assert sorted(warehouse.sync_catalog(paths)) == ["g.parts", "g.t"]
    assert warehouse.sync_catalog(paths) == []  # nothing to do: no write lock taken
    with warehouse.connect_read_only(paths) as con:
        assert con.execute("SELECT count(*) FROM g.parts").fetchone()[0] == 2
        assert con.execute("SELECT sum(a) FROM g.t").fetchone()[0] == 3

    paths.asset_file("g", "t").unlink()
    assert warehouse.sync_catalog(paths) == ["dropped g.t"]
    assert list(_catalogue(paths)["view_name"]) == ["parts"]


def test_replacing_the_parquet_needs_no_catalogue_write(tmp_path):
    paths = DataPaths(tmp_path)
    dest = paths.asset_file("g", "t")
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1]}), dest)
    warehouse.sync_catalog(paths)
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), dest)
    assert warehouse.sync_catalog(paths) == []
    with warehouse.connect_read_only(paths) as con:
        assert con.execute("SELECT count(*), max(b) FROM g.t").fetchone() == (3, "z")


def hold_duckdb_open(paths: DataPaths, read_only: bool) -> subprocess.Popen:
    """Another process (a user's session) with the catalogue open until we close its stdin."""
    code = textwrap.dedent(f"""
        import sys, duckdb
        con = duckdb.connect({str(paths.duckdb_file)!r}, read_only={read_only})
        print("open", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_reader_holding_the_file_never_breaks_a_write(tmp_path):
    paths = DataPaths(tmp_path)
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1]}), paths.asset_file("g", "old"))
    warehouse.sync_catalog(paths)
    reader = hold_duckdb_open(paths, read_only=False)  # the worst case: a read-write session
    try:
        # Existing view, new data: no catalogue write needed, so the reader does not matter.
        warehouse.write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), paths.asset_file("g", "old"))
        # A new view cannot be created while the file is locked: a clear, catchable error.
        warehouse.write_parquet_atomic(pd.DataFrame({"b": [1]}), paths.asset_file("g", "new"))
        spec = warehouse.discover_views(paths)
        with pytest.raises(warehouse.CatalogLocked, match="movielens-dag catalog"):
            warehouse.ensure_views(paths, spec, timeout=0.5)
    finally:
        reader.stdin.close()
        reader.wait(10)
    assert warehouse.sync_catalog(paths) == ["g.new"]
    with warehouse.connect_read_only(paths) as con:
        assert con.execute("SELECT count(*) FROM g.old").fetchone()[0] == 2


def test_read_only_readers_and_the_catalogue_check_coexist(tmp_path):
    paths = DataPaths(tmp_path)
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1]}), paths.asset_file("g", "t"))
    warehouse.sync_catalog(paths)
    reader = hold_duckdb_open(paths, read_only=True)
    try:
        assert warehouse.sync_catalog(paths, timeout=0.5) == []
        with warehouse.connect_read_only(paths) as con:
            assert con.execute("SELECT a FROM g.t").fetchone() == (1,)
    finally:
        reader.stdin.close()
        reader.wait(10)


def test_read_parquet_unifies_partition_files(tmp_path):
    folder = tmp_path / "parts"
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [1]}), folder / "x.parquet")
    warehouse.write_parquet_atomic(pd.DataFrame({"a": [2], "b": ["new column"]}), folder / "y.parquet")
    table = warehouse.read_parquet(folder)
    assert table.num_rows == 2 and table.column_names == ["a", "b"]
    with pytest.raises(FileNotFoundError, match="materialize the upstream asset first"):
        warehouse.read_parquet(tmp_path / "missing.parquet")


def test_preview_shortens_vectors_and_escapes_pipes():
    table = vectors_table(2, 8).append_column("t", pa.array(["a|b", "x\ny"]))
    md = warehouse.preview_markdown(table)
    assert "(8)" in md and "a\\|b" in md and "x y" in md
    assert duckdb.__version__  # the module under test imports duckdb; keep the import honest

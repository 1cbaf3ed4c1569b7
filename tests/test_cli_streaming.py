"""#6: `movielens-dag sql` streams csv/markdown in Arrow record batches (bounded memory) and honours --max-rows."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from movielens_dag import cli

FIVE_MILLION = (
    "SELECT i AS user_id, i % 87585 AS movie_id, (i % 10) / 2.0 AS rating, 'movie ' || i AS title "
    "FROM range(5000000) t(i)"
)
# The whole result as Python objects is ~1.1 GiB (measured on the old code: 1,133 MiB of RSS growth);
# streamed, growth is one batch plus DuckDB's buffers (~60 MiB measured).
MAX_GROWTH_MIB = 256

PROBE = textwrap.dedent("""
    import json, sys
    from movielens_dag import cli
    from movielens_dag.paths import DataPaths

    def status_mib(field):  # VmHWM is this process's own peak (ru_maxrss can carry the parent's over exec)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024

    root, out_path, fmt, max_rows, sql = sys.argv[1:6]
    cli.run_sql(DataPaths(root), "SELECT 1", "csv", None, out=open("/dev/null", "w"))  # imports, DuckDB warm
    before = status_mib("VmHWM")
    with open(out_path, "w") as out:
        rc = cli.run_sql(DataPaths(root), sql, fmt, None if max_rows == "default" else int(max_rows), out=out)
    print(json.dumps({"rc": rc, "growth_mib": status_mib("VmHWM") - before}))
""")


@pytest.fixture
def empty_warehouse(tmp_path):
    from movielens_dag.paths import DataPaths

    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    return DataPaths(tmp_path)


def probe(paths, tmp_path, fmt: str, max_rows: str) -> tuple[dict, Path, str]:
    out = tmp_path / f"out.{fmt}"
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(paths.root), str(out), fmt, max_rows, FIVE_MILLION],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1]), out, run.stderr


def test_csv_of_five_million_rows_streams_in_bounded_memory(empty_warehouse, tmp_path):
    result, out, _ = probe(empty_warehouse, tmp_path, "csv", "default")
    assert result["rc"] == 0
    with out.open() as f:
        assert next(f) == "user_id,movie_id,rating,title\n"
        count, last = 1, ""
        for last in f:  # noqa: B007 - `last` is read after the loop: the final line
            count += 1
    assert count == 5_000_001 and last == f"4999999,{4999999 % 87585},4.5,movie 4999999\n"
    assert result["growth_mib"] < MAX_GROWTH_MIB, result


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_max_rows_is_honoured_without_fetching_the_rest(empty_warehouse, tmp_path, fmt):
    result, out, err = probe(empty_warehouse, tmp_path, fmt, "3")
    text = out.read_text()
    lines = text.splitlines()
    assert len(lines) == 5 if fmt == "markdown" else 4  # markdown: header + rule + 3 rows; csv: header + 3
    assert "movie 2" in lines[-1] and "movie 3" not in text
    assert "first 3 rows shown" in err
    assert result["growth_mib"] < MAX_GROWTH_MIB, result


def test_markdown_shows_40_rows_by_default_and_csv_all(empty_warehouse, capsys):
    query = "SELECT i FROM range(100) t(i)"
    assert cli.main(["--data-dir", str(empty_warehouse.root), "sql", query, "--format", "markdown"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 42 and "first 40 rows shown" in captured.err
    assert cli.main(["--data-dir", str(empty_warehouse.root), "sql", query, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 101 and captured.err == ""
    assert (
        cli.main(["--data-dir", str(empty_warehouse.root), "sql", query, "--format", "markdown", "--max-rows", "0"])
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 102


def test_csv_keeps_list_and_timestamp_values(empty_warehouse, capsys):
    query = "SELECT ['a', 'b'] AS genres, TIMESTAMPTZ '2000-07-30 18:45:03+00' AS ts, NULL AS missing"
    assert cli.main(["--data-dir", str(empty_warehouse.root), "sql", query, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("\"['a', 'b']\",2000-07-30")

import hashlib
import subprocess
import sys

import pytest

from movielens_dag import cli


def run(paths, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "movielens_dag.cli", "--data-dir", str(paths.root), "sql", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def digest(paths) -> str:
    files = sorted(p for p in paths.root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_sql_prints_a_table(foundation_warehouse):
    out = run(foundation_warehouse, "SELECT title, year FROM movielens.movies WHERE movie_id = 2571")
    assert out.returncode == 0, out.stderr
    assert "The Matrix" in out.stdout and "1999" in out.stdout


def test_sql_formats(foundation_warehouse, capsys):
    query = "SELECT count(*) AS n FROM movielens.ratings"
    assert cli.main(["--data-dir", str(foundation_warehouse.root), "sql", query, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "100836"]
    assert cli.main(["--data-dir", str(foundation_warehouse.root), "sql", query, "--format", "markdown"]) == 0
    assert "| 100836 |" in capsys.readouterr().out


def test_bad_sql_exits_non_zero_with_duckdb_message(foundation_warehouse):
    out = run(foundation_warehouse, "SELECT * FROM movielens.no_such_table")
    assert out.returncode == 1
    assert "Catalog Error" in out.stderr and "no_such_table" in out.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE movielens.x AS SELECT 1",
        "DROP VIEW movielens.movies",
        "COPY (SELECT 1) TO '{root}/warehouse/movielens/movies.parquet' (FORMAT parquet)",
        "ATTACH '{root}/warehouse.duckdb' AS w2",
        "EXPORT DATABASE '{root}/export'",
        "SELECT 1; DROP VIEW movielens.movies",
        "INSTALL httpfs",
    ],
)
def test_sql_can_never_modify_the_warehouse(foundation_warehouse, statement):
    before = digest(foundation_warehouse)
    out = run(foundation_warehouse, statement.format(root=foundation_warehouse.root))
    assert out.returncode != 0
    assert "not allowed" in out.stderr or "read-only" in out.stderr.lower()
    assert digest(foundation_warehouse) == before


def test_missing_warehouse_says_what_to_do(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "movielens_dag.cli", "--data-dir", str(tmp_path), "sql", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "materialize some assets first" in out.stderr


def test_leaderboard_without_a_warehouse_is_a_clear_error(tmp_path, capsys):
    from movielens_dag import cli

    assert cli.main(["--data-dir", str(tmp_path), "leaderboard"]) == 1
    assert "materialize some assets first" in capsys.readouterr().err

"""SQL checks over stored Parquet files (DuckDB, in memory): keys, references, counts."""

from pathlib import Path

import duckdb


def _src(path: Path) -> str:
    pattern = path / "*.parquet" if path.is_dir() else path
    return "read_parquet('" + str(pattern).replace("'", "''") + "')"


def duplicate_keys(path: Path, columns: list[str], limit: int = 5) -> tuple[int, list[tuple]]:
    """(number of duplicated keys, a few examples with their counts)."""
    cols = ", ".join(columns)
    query = f"SELECT {cols}, count(*) AS n FROM {_src(path)} GROUP BY ALL HAVING count(*) > 1"
    with duckdb.connect() as con:
        total = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        examples = con.execute(f"{query} ORDER BY n DESC LIMIT {limit}").fetchall()
    return total, examples


def orphan_references(child: Path, parent: Path, column: str, limit: int = 5) -> tuple[int, list]:
    """Rows of ``child`` whose ``column`` value is missing from ``parent`` (count, examples)."""
    query = (
        f"SELECT {column} FROM {_src(child)} WHERE {column} IS NOT NULL "
        f"AND {column} NOT IN (SELECT {column} FROM {_src(parent)})"
    )
    with duckdb.connect() as con:
        total = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        examples = [r[0] for r in con.execute(f"SELECT DISTINCT * FROM ({query}) LIMIT {limit}").fetchall()]
    return total, examples


def count(path: Path, expression: str = "count(*)") -> int:
    with duckdb.connect() as con:
        return int(con.execute(f"SELECT {expression} FROM {_src(path)}").fetchone()[0])

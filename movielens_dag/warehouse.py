"""Parquet storage and the DuckDB catalogue of views over it (plain code, no Dagster).

Parquet is the storage; ``warehouse.duckdb`` only holds views. Writers never hold the DuckDB file for
longer than one short DDL transaction, and a view over a fixed path never needs rewriting when its
Parquet file is replaced, so readers and writers rarely meet at all.
"""

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from movielens_dag.paths import DataPaths


@dataclass(frozen=True)
class StagedParquet:
    """A Parquet file an asset already wrote under ``DataPaths.staging``; published by rename."""

    path: Path


def as_arrow(obj: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise TypeError(f"expected a pandas DataFrame or a pyarrow Table, got {type(obj).__name__}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(dest: Path) -> Path:
    """A hidden temp name beside ``dest`` (same filesystem, so ``os.replace`` is atomic)."""
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")


def write_parquet_atomic(table: pd.DataFrame | pa.Table, dest: Path) -> Path:
    """Write to a temp file, fsync, then rename over ``dest``: a crash leaves the old file intact."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    try:
        pq.write_table(as_arrow(table), tmp, compression="zstd")
        _fsync(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def publish_staged(staged: StagedParquet, dest: Path) -> Path:
    """Move a staged Parquet file into place atomically (after checking it is a readable Parquet)."""
    pq.read_metadata(staged.path)  # fail before replacing anything if the file is not Parquet
    dest.parent.mkdir(parents=True, exist_ok=True)
    _fsync(staged.path)
    os.replace(staged.path, dest)
    return dest


def parquet_files(location: Path) -> list[Path]:
    """The Parquet files of an asset: the file itself, or the sorted files of a partition folder."""
    if location.is_dir():
        return sorted(p for p in location.glob("*.parquet") if not p.name.startswith("."))
    return [location] if location.exists() else []


def read_parquet(location: Path, asset: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """Read an asset's file, or concatenate a partitioned asset's files (schemas unified by name);
    ``columns``: only these."""
    files = parquet_files(location)
    if not files:
        raise FileNotFoundError(f"no Parquet data at {location}: materialize {asset or 'the upstream asset'} first")
    tables = [pq.read_table(f, columns=columns) for f in files]
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


# --- DuckDB catalogue -----------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _parquet_source(location: Path, partitioned: bool) -> str:
    if partitioned:
        return f"read_parquet({_quote_literal(str(location / '*.parquet'))}, union_by_name = true)"
    return f"read_parquet({_quote_literal(str(location))})"


@dataclass(frozen=True)
class ViewSpec:
    """View ``schema.name`` over an asset's file (or, partitioned, its folder of files)."""

    schema: str
    name: str
    location: Path
    partitioned: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        return f"SELECT * FROM {_parquet_source(self.location, self.partitioned)}"

    def ddl(self) -> list[str]:
        return [
            f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(self.schema)}",
            f"CREATE OR REPLACE VIEW {_quote_ident(self.schema)}.{_quote_ident(self.name)} AS {self.sql}",
        ]

    def matches(self, stored_sql: str) -> bool:
        """Whether DuckDB's stored text (it normalises the SQL) is this view over this location."""
        pattern = self.location / "*.parquet" if self.partitioned else self.location
        return _quote_literal(str(pattern)) in stored_sql and (self.partitioned == ("union_by_name" in stored_sql))


def discover_views(paths: DataPaths) -> list[ViewSpec]:
    """Every asset in the warehouse folder, as the view it should have."""
    specs = []
    if not paths.warehouse.exists():
        return specs
    for group_dir in sorted(p for p in paths.warehouse.iterdir() if p.is_dir()):
        if group_dir.name.startswith(("_", ".")):
            continue
        for entry in sorted(group_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_file() and entry.suffix == ".parquet":
                specs.append(ViewSpec(group_dir.name, entry.stem, entry))
            elif entry.is_dir() and parquet_files(entry):
                specs.append(ViewSpec(group_dir.name, entry.name, entry, partitioned=True))
    return specs


class CatalogLocked(RuntimeError):
    """The DuckDB file stayed locked by another process (usually a reader) for the whole timeout."""


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


@contextmanager
def _writer_lock(paths: DataPaths, timeout: float) -> Iterator[None]:
    # Serialises our own writers (the multiprocess executor runs several steps at once).
    paths.root.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(paths.duckdb_file) + ".lock", timeout=timeout)
    try:
        with lock:
            yield
    except filelock.Timeout as exc:
        raise CatalogLocked(f"another writer held {lock.lock_file} for {timeout:.0f}s") from exc


def _existing_views(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    return {f"{s}.{v}": sql for s, v, sql in rows}


def _needs_update(existing: dict[str, str], spec: ViewSpec) -> bool:
    sql = existing.get(spec.qualified)
    return sql is None or not spec.matches(sql)


def _write_catalog(paths: DataPaths, statements_for, timeout: float) -> list[str]:
    """Run the DDL ``statements_for(existing views)`` returns, in one transaction, under our writer lock;
    waits out other writers and readers for up to ``timeout`` seconds. Returns what it changed."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            with _writer_lock(paths, max(0.1, deadline - time.monotonic())):
                if paths.duckdb_file.exists():
                    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
                        existing = _existing_views(con)
                else:
                    existing = {}
                changed, statements = statements_for(existing)
                if not statements:
                    return []
                with duckdb.connect(str(paths.duckdb_file)) as con:
                    con.execute("BEGIN TRANSACTION")
                    for statement in statements:
                        con.execute(statement)
                    con.execute("COMMIT")
                    con.execute("CHECKPOINT")
                return changed
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc) or time.monotonic() + delay > deadline:
                if _is_lock_error(exc):
                    raise CatalogLocked(
                        f"{paths.duckdb_file} stayed locked by another process for {timeout:.0f}s"
                        " (a read-write DuckDB session?). The Parquet files are written; run"
                        " `movielens-dag catalog` once it is closed to refresh the views."
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def ensure_views(paths: DataPaths, specs: list[ViewSpec], timeout: float = 30.0) -> list[str]:
    """Create/refresh views that are missing or point elsewhere. Returns the names changed.

    A read-only look first: when every view is already right (the usual case after the first
    materialization), no write lock on the DuckDB file is taken at all. Raises CatalogLocked when a
    reader keeps the file locked for ``timeout`` seconds; the Parquet data is already safe by then.
    """

    def statements(existing: dict[str, str]) -> tuple[list[str], list[str]]:
        todo = [s for s in specs if _needs_update(existing, s)]
        return [s.qualified for s in todo], [ddl for s in todo for ddl in s.ddl()]

    return _write_catalog(paths, statements, timeout)


def run_catalog_ddl(paths: DataPaths, statements: list[str], timeout: float = 30.0) -> None:
    """Run DDL over the views (macros, say) under the same lock and retries as the views themselves."""
    _write_catalog(paths, lambda existing: (["ddl"], list(statements)), timeout)


def sync_catalog(paths: DataPaths, timeout: float = 30.0) -> list[str]:
    """Make the DuckDB catalogue match the warehouse folder; drop views whose data is gone."""
    specs = discover_views(paths)
    changed = ensure_views(paths, specs, timeout)
    wanted = {s.qualified for s in specs}
    if not paths.duckdb_file.exists():
        return changed
    with _writer_lock(paths, timeout):
        with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
            stale = [name for name in _existing_views(con) if name not in wanted]
        if stale:
            with duckdb.connect(str(paths.duckdb_file)) as con:
                for name in stale:
                    schema, view = name.split(".", 1)
                    con.execute(f"DROP VIEW IF EXISTS {_quote_ident(schema)}.{_quote_ident(view)}")
    return changed + [f"dropped {n}" for n in stale]


def connect_read_only(paths: DataPaths, timeout: float = 10.0) -> duckdb.DuckDBPyConnection:
    """Open the catalogue read-only, waiting out a writer's brief DDL transaction."""
    if not paths.duckdb_file.exists():
        raise FileNotFoundError(
            f"no warehouse at {paths.duckdb_file}: materialize some assets first "
            "(`make demo`, or `dagster asset materialize`), or set MOVIELENS_DATA_DIR"
        )
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(paths.duckdb_file), read_only=True)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


# --- metadata helpers -------------------------------------------------------------------------------


def preview_markdown(table: pa.Table, rows: int = 5, max_chars: int = 60) -> str:
    """A small markdown table; long strings and vectors are shortened so the UI stays readable."""
    head = table.slice(0, rows).to_pylist()
    if not head:
        return "_(no rows)_"

    def cell(value: object) -> str:
        if isinstance(value, list):
            shown = ", ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in value[:4])
            text = f"[{shown}{', …' if len(value) > 4 else ''}] ({len(value)})"
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = "" if value is None else str(value)
        text = text.replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    names = table.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(r[n]) for n in names) + " |" for r in head]
    return "\n".join(lines)


def staging_file(paths: DataPaths, stem: str) -> Path:
    """A fresh file name under the staging folder, for assets that write their own Parquet."""
    paths.staging.mkdir(parents=True, exist_ok=True)
    return paths.staging / f"{stem}.{uuid.uuid4().hex}.parquet"

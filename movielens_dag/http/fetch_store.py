"""Append-only store of every fetch outcome, committed in batches as Parquet part files.

Why Parquet part files rather than SQLite (WAL): DuckDB reads Parquet natively (the SQLite scanner is
an extension DuckDB downloads on first use, and this project runs offline), payloads compress well
with zstd, and each batch is one file written to a temp name, fsynced and renamed into place, so a
``kill -9`` leaves either the whole batch or nothing. A resumed run reads what is committed and fetches
only the rest: no refetch, and no duplicates because a record is never written twice.

Layout: ``<root>/part-<ns>-<id>.parquet`` (one per batch) and ``<root>/compact-<ns>-<id>.parquet``
(many parts merged; its footer lists the files it replaces, so a crash between writing it and deleting
them cannot double-count a row: the replaced files are ignored and removed on the next open).
"""

import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from movielens_dag.warehouse import write_parquet_atomic

SCHEMA = pa.schema(
    [
        ("source", pa.string()),  # tmdb_movie, tmdb_find, tmdb_search, tmdb_changes, imdb_title
        ("key", pa.string()),  # the id or query the response answers
        ("status", pa.string()),  # ok | not_found | client_error | failed
        ("http_status", pa.int16()),  # last HTTP status, null when no response (timeout, reset)
        ("url", pa.string()),  # without credentials
        ("payload", pa.large_string()),  # response body (JSON text), null when none
        ("error", pa.string()),  # last error for failed / client_error
        ("attempts", pa.int16()),
        ("elapsed_ms", pa.int32()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.string()),
    ]
)
STATUSES = ("ok", "not_found", "client_error", "failed")
_REPLACES = b"movielens_dag.replaces"


@dataclass(frozen=True)
class FetchRecord:
    source: str
    key: str
    status: str
    http_status: int | None
    url: str
    payload: str | None
    error: str | None
    attempts: int
    elapsed_ms: int
    fetched_at: datetime
    run_id: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown fetch status {self.status!r} for {self.source}/{self.key}")

    def json(self):
        if self.payload is None:
            raise ValueError(f"{self.source}/{self.key} has no payload (status {self.status})")
        return json.loads(self.payload)


@dataclass(frozen=True)
class LatestState:
    """The newest committed outcome of one (source, key)."""

    status: str
    http_status: int | None
    fetched_at: datetime
    error: str | None


def utcnow() -> datetime:
    return datetime.now(UTC)


class FetchStore:
    """Buffered, append-only, crash-safe record of fetch outcomes (thread-safe appends)."""

    def __init__(self, root: Path, batch_size: int = 200, max_batch_bytes: int = 16 << 20):
        self.root = Path(root)
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self._buffer: list[FetchRecord] = []
        self._buffer_bytes = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.root.mkdir(parents=True, exist_ok=True)
        self._drop_replaced()

    # ---- writing -------------------------------------------------------------------------------
    def append(self, record: FetchRecord) -> None:
        with self._lock:
            self._buffer.append(record)
            self._buffer_bytes += len(record.payload or "")

    def should_flush(self) -> bool:
        return len(self._buffer) >= self.batch_size or self._buffer_bytes >= self.max_batch_bytes

    def take_batch(self) -> list[FetchRecord]:
        with self._lock:
            batch, self._buffer, self._buffer_bytes = self._buffer, [], 0
        return batch

    def write_batch(self, batch: list[FetchRecord]) -> Path | None:
        """Commit one batch as a part file (temp file, fsync, rename). Safe to call from a thread."""
        if not batch:
            return None
        table = pa.Table.from_pylist([r.__dict__ for r in batch], schema=SCHEMA)
        dest = self.root / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
        with self._write_lock:
            return write_parquet_atomic(table, dest)

    def flush(self) -> Path | None:
        return self.write_batch(self.take_batch())

    def close(self, compact_above: int = 64) -> None:
        self.flush()
        if len(self.files()) > compact_above:
            self.compact()

    # ---- files ---------------------------------------------------------------------------------
    def _all_files(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*.parquet") if not p.name.startswith("."))

    def _replaced(self, files: Iterable[Path]) -> set[str]:
        replaced: set[str] = set()
        for path in files:
            if path.name.startswith("compact-"):
                meta = pq.read_schema(path).metadata or {}
                replaced.update(json.loads(meta.get(_REPLACES, b"[]")))
        return replaced

    def files(self) -> list[Path]:
        """Committed files, leaving out any that a compacted file already contains."""
        files = self._all_files()
        replaced = self._replaced(files)
        return [p for p in files if p.name not in replaced]

    def _drop_replaced(self) -> None:
        files = self._all_files()
        for name in self._replaced(files):
            (self.root / name).unlink(missing_ok=True)

    def compact(self) -> Path | None:
        """Merge every committed file into one (all rows kept: the log stays append-only)."""
        self.flush()
        with self._write_lock:
            files = self.files()
            if len(files) < 2:
                return None
            dest = self.root / f"compact-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
            tmp = self.root / f".{dest.name}.tmp"
            schema = SCHEMA.with_metadata({_REPLACES: json.dumps([p.name for p in files]).encode()})
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for path in files:  # one file at a time: bounded memory
                    writer.write_table(pq.read_table(path, schema=SCHEMA).replace_schema_metadata(schema.metadata))
            os.replace(tmp, dest)
            for path in files:
                path.unlink(missing_ok=True)
            return dest

    # ---- reading -------------------------------------------------------------------------------
    def _query(self, sql: str, **params) -> duckdb.DuckDBPyRelation | None:
        """Run ``sql`` with ``{log}`` standing for every committed record; None when there is none."""
        self.flush()
        files = [str(p) for p in self.files()]
        if not files:
            return None
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        log = "read_parquet($files, union_by_name = true)"
        return con.sql(sql.replace("{log}", log), params={"files": files, **params})

    def latest(self, source: str) -> dict[str, LatestState]:
        """Newest outcome per key of one source."""
        result = self._query(
            """SELECT key, status, http_status, fetched_at, error FROM {log} WHERE source = $source
               QUALIFY row_number() OVER (PARTITION BY key ORDER BY fetched_at DESC) = 1""",
            source=source,
        )
        if result is None:
            return {}
        return {
            key: LatestState(status, http_status, fetched_at, error)
            for key, status, http_status, fetched_at, error in result.fetchall()
        }

    def iter_ok_payloads(
        self, source: str, keys: Iterable[str] | None = None, chunk: int = 500, newest_only: bool = True
    ) -> Iterator[tuple[str, str, datetime]]:
        """(key, payload, fetched_at) of the newest *successful* response per key, streamed.

        A later failed refresh does not hide an older good payload: stale data beats no data.
        ``newest_only=False``: every successful response, oldest first within a key.
        """
        wanted = None if keys is None else sorted(set(keys))
        filter_sql = "" if wanted is None else "AND key IN (SELECT unnest($keys::VARCHAR[]))"
        newest = "QUALIFY row_number() OVER (PARTITION BY key ORDER BY fetched_at DESC) = 1" if newest_only else ""
        result = self._query(
            f"""SELECT key, payload, fetched_at FROM {{log}} WHERE source = $source AND status = 'ok' {filter_sql}
                {newest}
                ORDER BY key, fetched_at""",
            source=source,
            **({} if wanted is None else {"keys": wanted}),
        )
        if result is None:
            return
        reader = result.to_arrow_reader(chunk)
        for batch in reader:
            columns = batch.to_pydict()
            yield from zip(columns["key"], columns["payload"], columns["fetched_at"])

    def log_table(self, with_payload: bool = False) -> pa.Table:
        """Every committed record (optionally without payloads, plus their size in bytes)."""
        columns = [f for f in SCHEMA.names if with_payload or f != "payload"]
        select = ", ".join(columns) + ("" if with_payload else ", strlen(payload) AS payload_bytes")
        result = self._query(f"SELECT {select} FROM {{log}} ORDER BY fetched_at, source, key")
        if result is None:
            empty = pa.schema([SCHEMA.field(c) for c in columns])
            if with_payload:
                return empty.empty_table()
            return empty.append(pa.field("payload_bytes", pa.int64())).empty_table()
        return result.to_arrow_table()

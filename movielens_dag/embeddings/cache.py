"""Previous embeddings, keyed by (embedding key, document hash), so re-runs embed only what changed.

Layout under ``<data>/cache/embeddings/``::

    <embedding_key>/key.json            what the key stands for (model, fingerprint, prompt, ...)
    <embedding_key>/<writer>.parquet    document_hash, embedding, n_tokens, truncated

The embedding key hashes everything that changes a vector's meaning: the model's file fingerprint
(so a fine-tuned checkpoint at the same path is a new key), the prompt, ``max_seq_length`` and
``truncate_dim`` as configured. Precision, device and batching are left out: they change vectors
only at rounding level, and keying on them would throw away a GPU run's work on a CPU re-run.

Every writer (the unpartitioned asset: ``all``; a shard: its partition key) owns its files, so
parallel shards never write the same file. While a run embeds, every ``commit_every`` documents go to
a new part file ``<writer>.part-<n>.parquet`` (written atomically), so a crash loses at most one batch
and the next run finds the rest. A finished run compacts: it replaces ``<writer>.parquet`` with the
vectors of its current documents and deletes its part files. Lookups read every file, so vectors
computed by the shards are reused by the unpartitioned asset (and the other way round); stale keys
(other models or prompts) stay until deleted by hand.
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from movielens_dag.paths import safe_name
from movielens_dag.warehouse import temp_path_for, write_parquet_atomic

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def embedding_key(
    *,
    fingerprint: str,
    prompt: str | None,
    prompt_name: str | None,
    max_seq_length: int | None,
    truncate_dim: int | None,
) -> str:
    """16 hex chars identifying what a vector means (see module docstring)."""
    payload = json.dumps(
        {
            "format": CACHE_FORMAT,
            "fingerprint": fingerprint,
            "prompt": prompt,
            "prompt_name": None if prompt is not None else prompt_name,
            "max_seq_length": max_seq_length,
            "truncate_dim": truncate_dim,
            "normalize": "l2",
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cache_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("document_hash", pa.string()),
            ("embedding", pa.list_(pa.float32(), dim)),
            ("n_tokens", pa.int32()),
            ("truncated", pa.bool_()),
        ]
    )


@dataclass
class CachedVectors:
    hashes: list[str]
    vectors: np.ndarray  # float32 [n, dim]
    n_tokens: np.ndarray  # int32
    truncated: np.ndarray  # bool
    ignored_files: list[str]

    @property
    def dim(self) -> int | None:
        return int(self.vectors.shape[1]) if len(self.hashes) else None

    def index(self) -> dict[str, int]:
        return {h: i for i, h in enumerate(self.hashes)}


class EmbeddingCache:
    def __init__(self, root: Path, key: str):
        self.root = Path(root)
        self.key = key
        self.dir = self.root / safe_name(key)

    def writer_file(self, writer: str) -> Path:
        return self.dir / f"{safe_name(writer)}.parquet"

    def files(self) -> list[Path]:
        if not self.dir.exists():
            return []
        return sorted(p for p in self.dir.glob("*.parquet") if not p.name.startswith("."))

    def lookup(self, wanted: set[str]) -> CachedVectors:
        """Vectors for the ``wanted`` hashes found in any writer's file (first file wins on duplicates).

        An unreadable or mismatched file is logged and reported in ``ignored_files``, never fatal: the
        cache only saves work.
        """
        hashes: list[str] = []
        chunks: list[np.ndarray] = []
        n_tokens: list[np.ndarray] = []
        truncated: list[np.ndarray] = []
        seen: set[str] = set()
        ignored: list[str] = []
        dim: int | None = None
        if not wanted:
            return CachedVectors([], np.zeros((0, 0), np.float32), np.zeros(0, np.int32), np.zeros(0, bool), [])
        value_set = pa.array(sorted(wanted), type=pa.string())
        for f in self.files():
            try:
                table = pq.read_table(f)
                expected = ("document_hash", "embedding", "n_tokens", "truncated")
                if tuple(table.column_names[:4]) != expected or not pa.types.is_fixed_size_list(
                    table.schema.field("embedding").type
                ):
                    raise ValueError(f"unexpected schema {table.schema}")
                file_dim = table.schema.field("embedding").type.list_size
                if dim is not None and file_dim != dim:
                    raise ValueError(f"dimension {file_dim} differs from {dim} in the other cache files")
                table = table.filter(pc.is_in(table["document_hash"], value_set=value_set))
            except Exception as exc:
                log.warning("ignoring embedding cache file %s: %s", f, exc)
                ignored.append(f"{f}: {exc}")
                continue
            dim = file_dim
            if table.num_rows == 0:
                continue
            file_hashes = table["document_hash"].to_pylist()
            keep = np.zeros(len(file_hashes), dtype=bool)
            for i, h in enumerate(file_hashes):  # first occurrence wins, across and within files
                if h not in seen:
                    keep[i] = True
                    seen.add(h)
            if not keep.any():
                continue
            flat = table["embedding"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
            vecs = flat.reshape(table.num_rows, file_dim).astype(np.float32, copy=False)
            hashes.extend(h for h, k in zip(file_hashes, keep) if k)
            chunks.append(vecs[keep])
            n_tokens.append(table["n_tokens"].to_numpy(zero_copy_only=False)[keep].astype(np.int32))
            truncated.append(table["truncated"].to_numpy(zero_copy_only=False)[keep].astype(bool))
        if not hashes:
            return CachedVectors(
                [], np.zeros((0, dim or 0), np.float32), np.zeros(0, np.int32), np.zeros(0, bool), ignored
            )
        return CachedVectors(
            hashes, np.concatenate(chunks), np.concatenate(n_tokens), np.concatenate(truncated), ignored
        )

    def _table(self, hashes: list[str], vectors: np.ndarray, n_tokens: np.ndarray, truncated: np.ndarray) -> pa.Table:
        dim = int(vectors.shape[1])
        return pa.Table.from_arrays(
            [
                pa.array(hashes, type=pa.string()),
                pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors, np.float32).ravel()), dim),
                pa.array(np.asarray(n_tokens, dtype=np.int32)),
                pa.array(np.asarray(truncated, dtype=bool)),
            ],
            schema=cache_schema(dim),
        )

    def _describe(self, description: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():
            tmp = temp_path_for(key_file)
            try:
                tmp.write_text(json.dumps({"key": self.key, **description}, indent=2, sort_keys=True, default=str))
                tmp.replace(key_file)
            finally:
                tmp.unlink(missing_ok=True)

    def part_files(self, writer: str) -> list[Path]:
        return sorted(self.dir.glob(f"{safe_name(writer)}.part-*.parquet")) if self.dir.exists() else []

    def commit(
        self,
        writer: str,
        hashes: list[str],
        vectors: np.ndarray,
        n_tokens: np.ndarray,
        truncated: np.ndarray,
        description: dict[str, Any],
    ) -> Path:
        """Add one batch of freshly embedded vectors as a new part file of ``writer`` (atomic)."""
        self._describe(description)
        number = len(self.part_files(writer))
        path = self.dir / f"{safe_name(writer)}.part-{number:05d}-{uuid.uuid4().hex[:8]}.parquet"
        return write_parquet_atomic(self._table(hashes, vectors, n_tokens, truncated), path)

    def write(
        self,
        writer: str,
        hashes: list[str],
        vectors: np.ndarray,
        n_tokens: np.ndarray,
        truncated: np.ndarray,
        description: dict[str, Any],
    ) -> Path:
        """Replace ``writer``'s file with these rows (atomically), then drop its part files."""
        self._describe(description)
        parts = self.part_files(writer)
        path = write_parquet_atomic(self._table(hashes, vectors, n_tokens, truncated), self.writer_file(writer))
        for part in parts:  # their rows are in the new file now
            part.unlink(missing_ok=True)
        return path

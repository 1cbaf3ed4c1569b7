"""movie_documents -> movie_embeddings, incrementally (plain code: the Dagster asset only wires this).

1. Check the input (columns, unique movie ids, no null text or hash); empty documents are an error
   naming the movies, or, with ``empty_documents="skip"``, left out and counted in the metadata.
2. Resolve the model (a missing path fails here, before any work) and derive the embedding key.
3. Look every distinct ``document_hash`` up in the cache. With nothing new the model is never loaded.
4. Embed the distinct new texts, write this writer's cache file, and return the table for all movies.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.embeddings.cache import EmbeddingCache, embedding_key
from movielens_dag.embeddings.models import BUNDLED, resolve_model

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("movie_id", "document", "document_hash")
EmptyPolicy = Literal["error", "skip"]


class InvalidDocumentsError(ValueError):
    """movie_documents does not have what embedding needs; the message names the movies."""


@dataclass
class EmbeddingSettings:
    model: str = BUNDLED
    revision: str | None = None
    prompt: str | None = None
    prompt_name: str | None = None
    truncate_dim: int | None = None
    max_seq_length: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str = "auto"
    token_budget: int | None = None
    max_batch_size: int = 512
    num_threads: int | None = None
    empty_documents: EmptyPolicy = "error"
    use_cache: bool = True

    def validate(self) -> None:
        if self.truncate_dim is not None and self.truncate_dim < 1:
            raise ValueError(f"truncate_dim must be >= 1, got {self.truncate_dim}")
        if self.max_seq_length is not None and self.max_seq_length < 2:
            raise ValueError(f"max_seq_length must be >= 2, got {self.max_seq_length}")
        if self.token_budget is not None and self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {self.token_budget}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads}")
        if self.empty_documents not in ("error", "skip"):
            raise ValueError(f"empty_documents must be 'error' or 'skip', got {self.empty_documents!r}")


@dataclass
class EmbeddingRun:
    table: pa.Table
    metadata: dict[str, Any] = field(default_factory=dict)


def output_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("movie_id", pa.int32()),
            ("model_id", pa.string()),
            ("dim", pa.int32()),
            ("document_hash", pa.string()),
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )


def _ids_text(ids: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" (and {len(ids) - limit} more)" if len(ids) > limit else "")


def check_documents(documents: pa.Table, source_name: str = "movie_documents") -> pa.Table:
    """Columns present, typed, unique movie ids, no null documents or hashes."""
    missing = [c for c in REQUIRED_COLUMNS if c not in documents.column_names]
    if missing:
        raise InvalidDocumentsError(
            f"{source_name} lacks column(s) {missing}; it has {documents.column_names}"
        )
    table = documents.select(list(REQUIRED_COLUMNS))
    try:
        table = table.cast(pa.schema([("movie_id", pa.int32()), ("document", pa.string()),
                                      ("document_hash", pa.string())]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidDocumentsError(f"{source_name}: cannot read columns {REQUIRED_COLUMNS}: {exc}") from exc
    if table["movie_id"].null_count:
        rows = np.flatnonzero(table["movie_id"].is_null().to_numpy(zero_copy_only=False)).tolist()
        raise InvalidDocumentsError(f"{source_name}: movie_id is null in row(s) {_ids_text(rows)}")
    ids = table["movie_id"].to_numpy()
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InvalidDocumentsError(
            f"{source_name}: duplicate movie_id {_ids_text(uniq[counts > 1].tolist())}"
        )
    for column in ("document", "document_hash"):
        if table[column].null_count:
            bad = pc.filter(table["movie_id"], table[column].is_null()).to_pylist()
            raise InvalidDocumentsError(f"{source_name}: {column} is null for movie_id {_ids_text(bad)}")
    empty_hash = pc.filter(table["movie_id"], pc.equal(pc.utf8_length(table["document_hash"]), 0)).to_pylist()
    if empty_hash:
        raise InvalidDocumentsError(f"{source_name}: document_hash is empty for movie_id {_ids_text(empty_hash)}")
    return table


def _progress_logger(logger: Callable[[str], None], every_s: float):
    last = [0.0]

    def progress(done: int, total: int, stats) -> None:
        now = stats.seconds
        if done < total and now - last[0] < every_s:
            return
        last[0] = now
        rate = stats.docs_per_s
        eta = (total - done) / rate if rate > 0 else float("nan")
        logger(
            f"embedded {done:,}/{total:,} documents ({done / total:.0%}) in {now:.1f} s: "
            f"{rate:,.1f} docs/s, {stats.tokens_per_s:,.0f} tokens/s, eta {eta:.0f} s"
            + (f", {stats.oom_retries} out-of-memory retries (token budget now {stats.token_budget:,})"
               if stats.oom_retries else "")
        )

    return progress


def embed_movie_documents(
    documents: pa.Table,
    settings: EmbeddingSettings,
    *,
    cache_root: Path,
    writer: str = "all",
    models_dir: Path | None = None,
    logger: Callable[[str], None] | None = None,
    progress_every_s: float = 10.0,
) -> EmbeddingRun:
    """Embed ``documents`` (movie_id, document, document_hash, ...), reusing cached vectors."""
    say = logger or log.info
    settings.validate()
    t_start = time.perf_counter()
    table = check_documents(documents)

    # Empty documents: a vector of nothing would still look like a real movie to every consumer.
    stripped = pc.utf8_trim_whitespace(table["document"])
    is_empty = pc.equal(pc.utf8_length(stripped), 0)
    empty_ids = pc.filter(table["movie_id"], is_empty).to_pylist()
    if empty_ids:
        if settings.empty_documents == "error":
            raise InvalidDocumentsError(
                f"movie_documents: {len(empty_ids)} empty document(s), movie_id {_ids_text(empty_ids)}. "
                "Fix the documents, or set empty_documents='skip' to leave those movies out "
                "(they are then counted in the metadata)."
            )
        say(f"leaving out {len(empty_ids)} empty document(s): movie_id {_ids_text(empty_ids)}")
        table = table.filter(pc.invert(is_empty))
    table = table.sort_by("movie_id")

    source = resolve_model(settings.model, models_dir=models_dir, revision=settings.revision)
    key = embedding_key(
        fingerprint=source.fingerprint,
        prompt=settings.prompt,
        prompt_name=settings.prompt_name,
        max_seq_length=settings.max_seq_length,
        truncate_dim=settings.truncate_dim,
    )
    cache = EmbeddingCache(Path(cache_root), key)
    hashes = table["document_hash"].to_pylist()
    texts = table["document"].to_pylist()
    distinct: dict[str, int] = {}  # hash -> first row with it
    for row, h in enumerate(hashes):
        distinct.setdefault(h, row)

    cached = cache.lookup(set(distinct)) if settings.use_cache else None
    cached_index = cached.index() if cached is not None else {}
    new_hashes = [h for h in distinct if h not in cached_index]
    say(
        f"{source.model_id} (key {key}): {table.num_rows:,} documents, {len(distinct):,} distinct; "
        f"{len(distinct) - len(new_hashes):,} found in the cache, {len(new_hashes):,} to embed"
    )

    result = None
    encoder_settings: dict[str, Any] = {}
    if new_hashes:
        from movielens_dag.embeddings import encode as encode_module  # torch is imported from here on

        t_load = time.perf_counter()
        encoder = encode_module.load_encoder(
            source,
            device=settings.device,
            dtype=settings.dtype,
            attn_implementation=settings.attn_implementation,
            max_seq_length=settings.max_seq_length,
            prompt=settings.prompt,
            prompt_name=settings.prompt_name,
            truncate_dim=settings.truncate_dim,
        )
        load_seconds = time.perf_counter() - t_load
        say(
            f"loaded {source.model_id} in {load_seconds:.1f} s on {encoder.device} "
            f"({encoder.settings['dtype']}, attention {encoder.attn_implementation}, pooling "
            f"{encoder.pooling}, max_seq_length {encoder.max_seq_length}, dim {encoder.dim})"
        )
        if cached is not None and cached.dim is not None and cached.dim != encoder.dim:
            raise RuntimeError(
                f"cache {cache.dir} holds {cached.dim}-d vectors but {source.model_id} gives {encoder.dim}-d"
            )
        result = encoder.encode(
            [texts[distinct[h]] for h in new_hashes],
            token_budget=settings.token_budget,
            max_batch_size=settings.max_batch_size,
            num_threads=settings.num_threads,
            progress=_progress_logger(say, progress_every_s),
        )
        encoder_settings = {**result.settings, "load_seconds": load_seconds}
        dim = encoder.dim
        del encoder
    else:
        if cached is None or cached.dim is None:
            raise InvalidDocumentsError(f"movie_documents has no documents to embed (writer {writer!r})")
        dim = cached.dim

    # Assemble vectors for every distinct hash, then for every movie.
    order = list(distinct)
    vec = np.empty((len(order), dim), dtype=np.float32)
    n_tok = np.zeros(len(order), dtype=np.int32)
    trunc = np.zeros(len(order), dtype=bool)
    new_pos = {h: i for i, h in enumerate(new_hashes)}
    for i, h in enumerate(order):
        if h in new_pos:
            j = new_pos[h]
            vec[i], n_tok[i], trunc[i] = result.vectors[j], result.lengths[j], result.truncated[j]
        else:
            j = cached_index[h]
            vec[i], n_tok[i], trunc[i] = cached.vectors[j], cached.n_tokens[j], cached.truncated[j]
    slot = {h: i for i, h in enumerate(order)}
    rows = np.fromiter((slot[h] for h in hashes), dtype=np.int64, count=len(hashes))

    out = pa.Table.from_arrays(
        [
            table["movie_id"],
            pa.array([source.model_id] * table.num_rows, type=pa.string()),
            pa.array(np.full(table.num_rows, dim, dtype=np.int32)),
            table["document_hash"],
            pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vec[rows]).ravel()), dim),
        ],
        schema=output_schema(dim),
    )

    cache_written = None
    if settings.use_cache and new_hashes:
        cache_written = cache.write(
            writer, order, vec, n_tok, trunc,
            description={"model_id": source.model_id, "model_path": str(source.path),
                         "fingerprint": source.fingerprint, "prompt": settings.prompt,
                         "prompt_name": settings.prompt_name, "max_seq_length": settings.max_seq_length,
                         "truncate_dim": settings.truncate_dim, "dim": dim},
        )

    truncated_rows = int(trunc[rows].sum())
    metadata: dict[str, Any] = {
        "count": out.num_rows,
        "dim": int(dim),
        "model_id": source.model_id,
        "model_fingerprint": source.fingerprint[:16],
        "embedding_key": key,
        "embedded": len(new_hashes),
        "reused": len(distinct) - len(new_hashes),
        "distinct_documents": len(distinct),
        "model_loaded": bool(new_hashes),
        "truncated": truncated_rows,
        "empty_skipped": len(empty_ids),
        "seconds_total": round(time.perf_counter() - t_start, 3),
        "cache_dir": str(cache.dir),
    }
    if empty_ids:
        metadata["empty_skipped_movie_ids"] = _ids_text(empty_ids, limit=50)
    if cached is not None and cached.ignored_files:
        metadata["cache_files_ignored"] = "; ".join(cached.ignored_files)
    if cache_written is not None:
        metadata["cache_file"] = str(cache_written)
    if result is not None:
        s = result.stats
        metadata.update(
            {
                "docs_per_s": round(s.docs_per_s, 2),
                "tokens_per_s": round(s.tokens_per_s, 1),
                "embed_seconds": round(s.seconds, 3),
                "tokenize_seconds": round(result.tokenize_seconds, 3),
                "truncated_embedded": result.truncated_count,
                "tokens_embedded": int(s.tokens),
                "tokens_cut_by_truncation": int((result.full_lengths - result.lengths).sum()),
                "padding_overhead": round(s.padding_overhead, 4),
                "batches": s.batches,
                "oom_retries": s.oom_retries,
                **{k: v for k, v in encoder_settings.items()
                   if k in ("device", "dtype", "attn_implementation", "pooling", "max_seq_length",
                            "token_budget", "max_batch_size", "load_seconds", "num_threads")},
            }
        )
        metadata["final_token_budget"] = s.token_budget
    return EmbeddingRun(out, metadata)


# --------------------------------------------------------------------------------------------- #
# Shards


def shard_keys(num_shards: int) -> list[str]:
    """Partition keys ``shard-00-of-08`` ... (file-name safe, sort in shard order)."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    width = max(2, len(str(num_shards - 1)))
    return [f"shard-{k:0{width}d}-of-{num_shards:0{width}d}" for k in range(num_shards)]


def parse_shard_key(key: str) -> tuple[int, int]:
    try:
        _, index, _, total = key.split("-")
        k, n = int(index), int(total)
    except ValueError as exc:
        raise ValueError(f"{key!r} is not a shard key like 'shard-03-of-08'") from exc
    if not 0 <= k < n:
        raise ValueError(f"{key!r}: shard index out of range")
    return k, n


def select_shard(documents: pa.Table, key: str) -> pa.Table:
    """Rows with ``movie_id % n == k``: ids are dense-ish, so shards come out nearly equal in size."""
    k, n = parse_shard_key(key)
    checked = check_documents(documents)  # clear errors on null / duplicate ids before splitting
    ids = checked["movie_id"].to_numpy().astype(np.int64)
    return documents.filter(pa.array(ids % n == k))

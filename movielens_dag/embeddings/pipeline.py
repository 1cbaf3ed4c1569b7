"""movie_documents -> movie_embeddings, incrementally (plain code: the Dagster asset only wires this).

``embed_movie_documents`` runs four steps:

1. ``plan``: check the input (columns, unique movie ids, no null text or hash; empty documents are an
   error naming the movies, or with ``empty_documents="skip"`` left out and counted), resolve the model
   (a missing path fails here, before any work), derive the embedding key and look every distinct
   ``document_hash`` up in the cache.
2. ``encode_missing``: only when something is missing, load the model and embed the distinct new
   texts, committing every ``commit_every`` documents to the cache (a crash loses at most one batch).
3. ``assemble``: the output table for every movie, from the new and the cached vectors.
4. ``record``: compact this writer's cache file and describe the run (metadata).
With nothing new the model is never loaded (and torch never imported).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.embeddings.cache import CachedVectors, EmbeddingCache, embedding_key
from movielens_dag.embeddings.models import ModelSource, resolve_model
from movielens_dag.embeddings.settings import EmbeddingSettings

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("movie_id", "document", "document_hash")


class InvalidDocumentsError(ValueError):
    """movie_documents does not have what embedding needs; the message names the movies."""


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
        raise InvalidDocumentsError(f"{source_name} lacks column(s) {missing}; it has {documents.column_names}")
    table = documents.select(list(REQUIRED_COLUMNS))
    try:
        table = table.cast(
            pa.schema([("movie_id", pa.int32()), ("document", pa.string()), ("document_hash", pa.string())])
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidDocumentsError(f"{source_name}: cannot read columns {REQUIRED_COLUMNS}: {exc}") from exc
    if table["movie_id"].null_count:
        rows = np.flatnonzero(table["movie_id"].is_null().to_numpy(zero_copy_only=False)).tolist()
        raise InvalidDocumentsError(f"{source_name}: movie_id is null in row(s) {_ids_text(rows)}")
    ids = table["movie_id"].to_numpy()
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InvalidDocumentsError(f"{source_name}: duplicate movie_id {_ids_text(uniq[counts > 1].tolist())}")
    for column in ("document", "document_hash"):
        if table[column].null_count:
            bad = pc.filter(table["movie_id"], table[column].is_null()).to_pylist()
            raise InvalidDocumentsError(f"{source_name}: {column} is null for movie_id {_ids_text(bad)}")
    empty_hash = pc.filter(table["movie_id"], pc.equal(pc.utf8_length(table["document_hash"]), 0)).to_pylist()
    if empty_hash:
        raise InvalidDocumentsError(f"{source_name}: document_hash is empty for movie_id {_ids_text(empty_hash)}")
    return table


def _progress_logger(logger: Callable[[str], None], every_s: float, total: int):
    """Logs overall progress every ``every_s`` seconds across the committed batches."""
    state = {"last": -every_s, "done_before": 0, "start": time.perf_counter()}

    def progress(done: int, batch_total: int, stats) -> None:
        overall = state["done_before"] + done
        now = time.perf_counter() - state["start"]
        if overall < total and now - state["last"] < every_s:
            return
        state["last"] = now
        rate = overall / now if now > 0 else 0.0
        eta = (total - overall) / rate if rate > 0 else float("nan")
        logger(
            f"embedded {overall:,}/{total:,} documents ({overall / total:.0%}) in {now:.1f} s: "
            f"{rate:,.1f} docs/s, {stats.tokens_per_s:,.0f} tokens/s, eta {eta:.0f} s"
            + (
                f", {stats.oom_retries} out-of-memory retries (token budget now {stats.token_budget:,})"
                if stats.oom_retries
                else ""
            )
        )

    def batch_done(n: int) -> None:
        state["done_before"] += n

    return progress, batch_done


@dataclass
class EmbeddingPlan:
    table: pa.Table  # movie_id, document, document_hash: the movies to embed, sorted by movie_id
    empty_ids: list[int]
    source: ModelSource
    key: str
    cache: EmbeddingCache
    distinct: dict[str, int]  # document_hash -> first row with it
    cached: CachedVectors | None
    missing: list[str]  # distinct hashes not in the cache

    @property
    def texts(self) -> list[str]:
        return self.table["document"].to_pylist()


def plan(
    documents: pa.Table,
    settings: EmbeddingSettings,
    cache_root: Path,
    models_dir: Path | None,
    say: Callable[[str], None],
) -> EmbeddingPlan:
    settings.validate()
    table = check_documents(documents)
    # Empty documents: a vector of nothing would still look like a real movie to every consumer.
    is_empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table["document"])), 0)
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
    distinct: dict[str, int] = {}
    for row, h in enumerate(table["document_hash"].to_pylist()):
        distinct.setdefault(h, row)
    cached = cache.lookup(set(distinct)) if settings.use_cache else None
    known = cached.index() if cached is not None else {}
    missing = [h for h in distinct if h not in known]
    say(
        f"{source.model_id} (key {key}): {table.num_rows:,} documents, {len(distinct):,} distinct; "
        f"{len(distinct) - len(missing):,} found in the cache, {len(missing):,} to embed"
    )
    return EmbeddingPlan(table, empty_ids, source, key, cache, distinct, cached, missing)


@dataclass
class Encoded:
    vectors: np.ndarray  # float32 [len(plan.missing), dim], in plan.missing order
    n_tokens: np.ndarray  # int32
    truncated: np.ndarray  # bool
    dim: int
    stats: dict[str, Any]  # throughput and settings, for the metadata
    committed_batches: int = 0


def _description(plan: EmbeddingPlan, settings: EmbeddingSettings, dim: int) -> dict[str, Any]:
    return {
        "model_id": plan.source.model_id,
        "model_path": str(plan.source.path),
        "fingerprint": plan.source.fingerprint,
        "prompt": settings.prompt,
        "prompt_name": settings.prompt_name,
        "max_seq_length": settings.max_seq_length,
        "truncate_dim": settings.truncate_dim,
        "dim": dim,
    }


def encode_missing(
    plan: EmbeddingPlan,
    settings: EmbeddingSettings,
    writer: str,
    say: Callable[[str], None],
    progress_every_s: float = 10.0,
) -> Encoded | None:
    """Load the model and embed the missing texts, committing each ``commit_every`` batch to the cache.

    Texts go longest-first (by characters) so batches stay length-homogeneous across commits."""
    if not plan.missing:
        return None
    from movielens_dag.embeddings import encode as encode_module  # torch is imported from here on

    t_load = time.perf_counter()
    encoder = encode_module.load_encoder(plan.source, settings=settings)
    load_seconds = time.perf_counter() - t_load
    say(
        f"loaded {plan.source.model_id} in {load_seconds:.1f} s on {encoder.device} ({encoder.settings['dtype']}, "
        f"attention {encoder.attn_implementation}, pooling {encoder.pooling}, max_seq_length "
        f"{encoder.max_seq_length}, dim {encoder.dim})"
    )
    if plan.cached is not None and plan.cached.dim is not None and plan.cached.dim != encoder.dim:
        raise RuntimeError(
            f"cache {plan.cache.dir} holds {plan.cached.dim}-d vectors but {plan.source.model_id} gives {encoder.dim}-d"
        )
    texts = plan.texts
    todo = [texts[plan.distinct[h]] for h in plan.missing]
    order = np.argsort([-len(t) for t in todo], kind="stable")
    n = len(todo)
    vectors = np.empty((n, encoder.dim), dtype=np.float32)
    n_tokens, truncated = np.zeros(n, dtype=np.int32), np.zeros(n, dtype=bool)
    progress, batch_done = _progress_logger(say, progress_every_s, n)
    totals = {
        "seconds": 0.0,
        "tokens": 0,
        "batches": 0,
        "oom_retries": 0,
        "tokenize_seconds": 0.0,
        "padded_tokens": 0,
        "cut": 0,
    }
    last = None
    commits = 0
    for start in range(0, n, settings.commit_every):
        rows = order[start : start + settings.commit_every]
        result = encoder.encode(
            [todo[i] for i in rows],
            token_budget=settings.token_budget,
            max_batch_size=settings.max_batch_size,
            threads=settings.threads,
            progress=progress,
        )
        vectors[rows], n_tokens[rows], truncated[rows] = result.vectors, result.lengths, result.truncated
        if settings.use_cache:
            plan.cache.commit(
                writer,
                [plan.missing[i] for i in rows],
                result.vectors,
                result.lengths,
                result.truncated,
                _description(plan, settings, encoder.dim),
            )
            commits += 1
        batch_done(len(rows))
        s = result.stats
        totals["seconds"] += s.seconds
        totals["tokens"] += int(s.tokens)
        totals["batches"] += s.batches
        totals["oom_retries"] += s.oom_retries
        totals["tokenize_seconds"] += result.tokenize_seconds
        totals["padded_tokens"] += int(s.tokens * (1 + s.padding_overhead))
        totals["cut"] += int((result.full_lengths - result.lengths).sum())
        last = result
    sec = totals["seconds"]
    stats = {
        "docs_per_s": round(n / sec, 2) if sec else 0.0,
        "tokens_per_s": round(totals["tokens"] / sec, 1) if sec else 0.0,
        "embed_seconds": round(sec, 3),
        "tokenize_seconds": round(totals["tokenize_seconds"], 3),
        "truncated_embedded": int(truncated.sum()),
        "tokens_embedded": totals["tokens"],
        "tokens_cut_by_truncation": totals["cut"],
        "padding_overhead": round(totals["padded_tokens"] / totals["tokens"] - 1, 4) if totals["tokens"] else 0.0,
        "batches": totals["batches"],
        "oom_retries": totals["oom_retries"],
        "cache_commits": commits,
        "final_token_budget": last.stats.token_budget,
        "load_seconds": load_seconds,
        **{
            k: v
            for k, v in last.settings.items()
            if k
            in (
                "device",
                "dtype",
                "attn_implementation",
                "pooling",
                "max_seq_length",
                "token_budget",
                "max_batch_size",
                "threads",
            )
        },
    }
    return Encoded(vectors, n_tokens, truncated, encoder.dim, stats, commits)


@dataclass
class Assembled:
    table: pa.Table
    order: list[str]  # distinct hashes, in first-row order
    vectors: np.ndarray  # [len(order), dim]
    n_tokens: np.ndarray
    truncated: np.ndarray
    rows: np.ndarray  # per output row, its index into order


def assemble(plan: EmbeddingPlan, encoded: Encoded | None, writer: str) -> Assembled:
    """Vectors for every distinct hash (new or cached), then one output row per movie."""
    if encoded is None and (plan.cached is None or plan.cached.dim is None):
        raise InvalidDocumentsError(f"movie_documents has no documents to embed (writer {writer!r})")
    dim = encoded.dim if encoded is not None else plan.cached.dim
    order = list(plan.distinct)
    vec = np.empty((len(order), dim), dtype=np.float32)
    n_tok = np.zeros(len(order), dtype=np.int32)
    trunc = np.zeros(len(order), dtype=bool)
    new_pos = {h: i for i, h in enumerate(plan.missing)}
    cached_index = plan.cached.index() if plan.cached is not None else {}
    for i, h in enumerate(order):
        if h in new_pos:
            j = new_pos[h]
            vec[i], n_tok[i], trunc[i] = encoded.vectors[j], encoded.n_tokens[j], encoded.truncated[j]
        else:
            j = cached_index[h]
            vec[i], n_tok[i], trunc[i] = plan.cached.vectors[j], plan.cached.n_tokens[j], plan.cached.truncated[j]
    slot = {h: i for i, h in enumerate(order)}
    hashes = plan.table["document_hash"].to_pylist()
    rows = np.fromiter((slot[h] for h in hashes), dtype=np.int64, count=len(hashes))
    n = plan.table.num_rows
    table = pa.Table.from_arrays(
        [
            plan.table["movie_id"],
            pa.array([plan.source.model_id] * n, type=pa.string()),
            pa.array(np.full(n, dim, dtype=np.int32)),
            plan.table["document_hash"],
            pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vec[rows]).ravel()), dim),
        ],
        schema=output_schema(dim),
    )
    return Assembled(table, order, vec, n_tok, trunc, rows)


def record(
    plan: EmbeddingPlan,
    encoded: Encoded | None,
    out: Assembled,
    settings: EmbeddingSettings,
    writer: str,
    seconds: float,
) -> dict[str, Any]:
    """Compact this writer's cache file (only when it embedded something) and describe the run."""
    cache_written = None
    if settings.use_cache and encoded is not None:
        cache_written = plan.cache.write(
            writer,
            out.order,
            out.vectors,
            out.n_tokens,
            out.truncated,
            _description(plan, settings, out.vectors.shape[1]),
        )
    metadata: dict[str, Any] = {
        "count": out.table.num_rows,
        "dim": int(out.vectors.shape[1]),
        "model_id": plan.source.model_id,
        "model_fingerprint": plan.source.fingerprint[:16],
        "embedding_key": plan.key,
        "embedded": len(plan.missing),
        "reused": len(plan.distinct) - len(plan.missing),
        "distinct_documents": len(plan.distinct),
        "model_loaded": encoded is not None,
        "truncated": int(out.truncated[out.rows].sum()),
        "empty_skipped": len(plan.empty_ids),
        "seconds_total": round(seconds, 3),
        "cache_dir": str(plan.cache.dir),
    }
    if plan.empty_ids:
        metadata["empty_skipped_movie_ids"] = _ids_text(plan.empty_ids, limit=50)
    if plan.cached is not None and plan.cached.ignored_files:
        metadata["cache_files_ignored"] = "; ".join(plan.cached.ignored_files)
    if cache_written is not None:
        metadata["cache_file"] = str(cache_written)
    if encoded is not None:
        metadata.update(encoded.stats)
    return metadata


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
    started = time.perf_counter()
    p = plan(documents, settings, cache_root, models_dir, say)
    encoded = encode_missing(p, settings, writer, say, progress_every_s)
    out = assemble(p, encoded, writer)
    return EmbeddingRun(out.table, record(p, encoded, out, settings, writer, time.perf_counter() - started))

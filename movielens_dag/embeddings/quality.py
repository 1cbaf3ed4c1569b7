"""What a good movie_embeddings table looks like: one finite unit vector per document, one dimension."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.embeddings.shards import parse_shard_key


def unit_norm_error(vectors: np.ndarray) -> float:
    """Largest deviation of a row's L2 norm from 1 (0 for an empty array)."""
    if vectors.size == 0:
        return 0.0
    return float(np.max(np.abs(np.linalg.norm(vectors.astype(np.float64), axis=1) - 1.0)))


@dataclass
class VectorReport:
    passed: bool
    metadata: dict


def vector_report(
    table: pa.Table, documents: pa.Table | None = None, shard: str | None = None, tolerance: float = 1e-3
) -> VectorReport:
    """Checks: unique movie ids, one dimension equal to ``dim``, finite values, |norm - 1| <= tolerance;
    with ``documents``: every document embedded for its current hash; with ``shard``: rows in the shard."""
    ids = table["movie_id"].to_numpy()
    emb = table["embedding"].combine_chunks()
    dims = sorted(set(pc.list_value_length(emb).to_pylist())) if len(table) else []
    flat = np.asarray(emb.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    x = flat.reshape(len(table), dims[0]) if len(dims) == 1 else np.zeros((0, 0))
    finite = bool(np.isfinite(x).all())
    norm_error = unit_norm_error(x)
    declared = sorted(set(table["dim"].to_pylist())) if "dim" in table.column_names else dims
    problems = {
        "duplicate_movie_ids": int(len(ids) - len(np.unique(ids))),
        "dimensions": ", ".join(map(str, dims)) or "none",
        "non_finite": not finite,
        "max_norm_error": norm_error,
    }
    passed = (
        problems["duplicate_movie_ids"] == 0
        and len(dims) == 1
        and declared == dims
        and finite
        and norm_error <= tolerance
    )
    if documents is not None:
        want = {
            m: h
            for m, h, t in zip(
                documents["movie_id"].to_pylist(),
                documents["document_hash"].to_pylist(),
                documents["document"].to_pylist(),
            )
            if (t or "").strip()
        }  # empty: skipped
        have = dict(zip(table["movie_id"].to_pylist(), table["document_hash"].to_pylist()))
        stale = [m for m, h in have.items() if m in want and want[m] != h]
        missing = [m for m in want if m not in have]
        problems.update({"stale_vectors": len(stale), "missing_movies": len(missing)})
        passed = passed and not stale and not missing
    if shard is not None:
        k, n = parse_shard_key(shard)
        outside = int((ids.astype(np.int64) % n != k).sum())
        problems["rows_outside_shard"] = outside
        passed = passed and outside == 0
    return VectorReport(passed, {"rows": len(table), **problems, "tolerance": tolerance})

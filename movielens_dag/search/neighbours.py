"""Exact top-k cosine neighbours of every movie, computed in full or updated incrementally.

Plain numpy (no torch, no Dagster). Vectors are the unit-length rows of ``movie_embeddings``, so the
dot product is the cosine similarity. One pass multiplies a chunk of query rows by the whole
catalogue, ``(chunk, d) @ (d, N) -> (chunk, N)``, and keeps each row's k best, the chunk sized so the
score block stays under ``block_bytes``. Ranking is by score, then by neighbour movie_id, so ties are
broken the same way whatever the chunking.

Incremental update (``update_neighbours``): a movie's row is recomputed when

1. its own vector changed or it is new;
2. one of its previous neighbours changed or disappeared (its score changed, or the neighbour is gone,
   and the (k+1)-th candidate was never stored);
3. some changed or new vector scores at least its previous k-th score (minus ``margin``, which
   absorbs float rounding between runs) -- that vector may enter its top k.

Every other row is kept as it was: its k neighbours are unchanged movies with unchanged scores, no
removed candidate was among them, and no new candidate beats the k-th, so the exact top k over the
new catalogue is the same list. ``tests/search/test_neighbours.py`` checks incremental == full.
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np

DEFAULT_BLOCK_BYTES = 256 << 20  # one (chunk, N) float32 score block
DEFAULT_MARGIN = 1e-5


@dataclass(frozen=True)
class Neighbours:
    """Row i holds the neighbours of ``movie_ids[i]``, best first."""

    movie_ids: np.ndarray  # (N,) int64, strictly increasing
    neighbour_ids: np.ndarray  # (N, k) int64
    scores: np.ndarray  # (N, k) float32 cosine similarity
    vector_hashes: np.ndarray  # (N,) str: fingerprint of each movie's vector (decides what changed)

    @property
    def k(self) -> int:
        return int(self.neighbour_ids.shape[1])

    def __len__(self) -> int:
        return int(self.movie_ids.size)


@dataclass
class UpdateStats:
    """What an incremental update found and redid."""

    movies: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0
    recomputed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # rows per reason (a row may have several)
    full: bool = False  # True when everything was recomputed (no previous table, or k changed)

    def as_dict(self) -> dict:
        return {
            "movies": self.movies,
            "new": self.new,
            "changed": self.changed,
            "removed": self.removed,
            "recomputed": self.recomputed,
            "kept": self.movies - self.recomputed,
            "full_recompute": self.full,
            **{f"recomputed_{k}": v for k, v in self.reasons.items()},
        }


def vector_hashes(vectors: np.ndarray) -> np.ndarray:
    """A 16-hex-digit fingerprint of each float32 row (identical bytes <=> identical hash)."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    return np.array([hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest() for row in x], dtype=object)


def check_vectors(movie_ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique int64 ids and the float32 (N, d) matrix in the same order; errors name the movies."""
    ids = np.asarray(movie_ids, dtype=np.int64)
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != ids.size:
        raise ValueError(f"{ids.size} movie ids but vectors of shape {x.shape}")
    uniq, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"duplicate movie ids in the vectors, e.g. {uniq[counts > 1][:5].tolist()}")
    bad = ~np.isfinite(x).all(1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} vector(s) hold NaN or inf, e.g. movie_id {ids[bad][:5].tolist()}; "
            "re-materialize movie_embeddings"
        )
    order = np.argsort(ids, kind="stable")
    return ids[order], np.ascontiguousarray(x[order])


def chunk_rows(n_corpus: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    return max(1, min(8192, block_bytes // (4 * max(n_corpus, 1))))


def _select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of (q, N) scores: the k best columns by (score desc, column asc), and their scores."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (q, k), unordered
    top = np.take_along_axis(scores, part, 1)
    kth = top.min(1)
    # A tie at the k-th score: argpartition picked arbitrarily among the tied columns; pick the lowest.
    tied = np.flatnonzero((scores >= kth[:, None]).sum(1) > k)
    for r in tied:
        cols = np.flatnonzero(scores[r] >= kth[r])
        order = np.lexsort((cols, -scores[r, cols]))[:k]
        part[r], top[r] = cols[order], scores[r, cols[order]]
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(part, order, 1), np.take_along_axis(top, order, 1)


def top_k(
    queries: np.ndarray,
    corpus: np.ndarray,
    k: int,
    self_index: np.ndarray | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k corpus rows for each query row: (Q, k) int64 indices and (Q, k) float32 scores.

    ``self_index[i]`` is the corpus row of query i (excluded from its own list), or -1.
    """
    n = corpus.shape[0]
    limit = n - (1 if self_index is not None else 0)
    if not 1 <= k <= limit:
        raise ValueError(f"k={k} neighbours asked of {n} movies: k must be in 1..{max(limit, 0)}")
    out_idx = np.empty((queries.shape[0], k), dtype=np.int64)
    out_score = np.empty((queries.shape[0], k), dtype=np.float32)
    step = chunk_rows(n, block_bytes)
    for s in range(0, queries.shape[0], step):
        block = queries[s : s + step] @ corpus.T  # (chunk, N)
        if self_index is not None:
            rows = np.arange(block.shape[0])
            own = self_index[s : s + step]
            block[rows[own >= 0], own[own >= 0]] = -np.inf
        out_idx[s : s + step], out_score[s : s + step] = _select(block, k)
    return out_idx, out_score


def exact_neighbours(
    movie_ids: np.ndarray, vectors: np.ndarray, k: int = 20, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Neighbours:
    """Every movie's k nearest other movies by cosine similarity (exact)."""
    ids, x = check_vectors(movie_ids, vectors)
    idx, scores = top_k(x, x, k, np.arange(ids.size), block_bytes)
    return Neighbours(ids, ids[idx], scores, vector_hashes(x))


def update_neighbours(
    previous: Neighbours | None,
    movie_ids: np.ndarray,
    vectors: np.ndarray,
    k: int = 20,
    margin: float = DEFAULT_MARGIN,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[Neighbours, UpdateStats]:
    """The same result as ``exact_neighbours(movie_ids, vectors, k)``, recomputing only rows that can change."""
    ids, x = check_vectors(movie_ids, vectors)
    hashes = vector_hashes(x)
    stats = UpdateStats(movies=int(ids.size))
    if previous is None or previous.k != k or len(previous) == 0:
        idx, scores = top_k(x, x, k, np.arange(ids.size), block_bytes)
        stats.new = int(ids.size) if previous is None else 0
        stats.recomputed, stats.full = int(ids.size), True
        return Neighbours(ids, ids[idx], scores, hashes), stats

    # Where each new movie was before (-1: new), and which movies changed or went away.
    pos = np.searchsorted(previous.movie_ids, ids)
    pos_c = np.minimum(pos, len(previous) - 1)
    existed = previous.movie_ids[pos_c] == ids
    prev_row = np.where(existed, pos_c, -1)
    same = existed & (previous.vector_hashes[pos_c] == hashes)
    changed = ~same  # new or modified: (N,) bool
    removed = ~np.isin(previous.movie_ids, ids)
    stats.new, stats.changed = int((~existed).sum()), int((existed & ~same).sum())
    stats.removed = int(removed.sum())

    # Reason 2: a kept movie's stored neighbour changed or disappeared.
    stale_ids = np.concatenate([ids[changed], previous.movie_ids[removed]])
    kept_rows = np.flatnonzero(same)
    old = prev_row[kept_rows]
    lost = np.isin(previous.neighbour_ids[old], stale_ids).any(1)
    # Reason 3: a changed/new vector reaches the kept movie's previous k-th score.
    kth = previous.scores[old, -1]
    entered = np.zeros(kept_rows.size, dtype=bool)
    changed_rows = np.flatnonzero(changed)
    if changed_rows.size:
        step = chunk_rows(changed_rows.size, block_bytes)
        for s in range(0, kept_rows.size, step):
            best = (x[kept_rows[s : s + step]] @ x[changed_rows].T).max(1)  # (chunk,)
            entered[s : s + step] = best >= kth[s : s + step] - margin
    redo = changed.copy()
    redo[kept_rows[lost | entered]] = True
    stats.reasons = {
        "changed_vector": int(changed.sum()),
        "neighbour_changed": int(lost.sum()),
        "new_candidate": int(entered.sum()),
    }

    neighbour_ids = np.empty((ids.size, k), dtype=np.int64)
    scores = np.empty((ids.size, k), dtype=np.float32)
    keep = ~redo
    neighbour_ids[keep] = previous.neighbour_ids[prev_row[keep]]
    scores[keep] = previous.scores[prev_row[keep]]
    rows = np.flatnonzero(redo)
    if rows.size:
        idx, sc = top_k(x[rows], x, k, rows, block_bytes)
        neighbour_ids[rows], scores[rows] = ids[idx], sc
    stats.recomputed = int(rows.size)
    return Neighbours(ids, neighbour_ids, scores, hashes), stats

"""How good the neighbours are, against chance: genre overlap and agreement with collaborative neighbours.

* Genre overlap: mean Jaccard of the MovieLens genres of (movie, neighbour) pairs at rank <= k, against
  the same mean over random pairs of distinct movies. Movies without genres are left out of both.
* Collaborative agreement: for a sample of movies rated by at least ``min_ratings`` users, the share of
  their k content neighbours that are also among their k collaborative neighbours (cosine of the binary
  "who rated it" vectors; both lists drawn from the same pool of well-rated movies). A random list of k
  shares k / (pool - 1) of them in expectation: that is the chance figure.

Plain numpy / scipy (a scikit-learn dependency).
"""

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.search.neighbours import check_vectors, top_k
from movielens_dag.search.table import genre_overlap, genre_sets


@dataclass(frozen=True)
class GenreOverlap:
    k: int
    pairs: int
    neighbour_jaccard: float  # mean Jaccard of neighbour pairs (rank <= k)
    random_jaccard: float  # mean Jaccard of random pairs
    neighbour_share_any: float  # share of neighbour pairs sharing at least one genre
    random_share_any: float

    @property
    def lift(self) -> float:
        return self.neighbour_jaccard / self.random_jaccard if self.random_jaccard else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "lift": self.lift}


def genre_overlap_figures(
    similar: pa.Table, movies: pa.Table, k: int = 10, random_pairs: int = 100_000, seed: int = 0
) -> GenreOverlap:
    """Neighbour pairs of ``similar`` (rank <= k) against ``random_pairs`` random pairs."""
    genres = genre_sets(movies)
    with_genres = np.array(sorted(m for m, g in genres.items() if g), dtype=np.int64)
    if with_genres.size < 2:
        raise ValueError("genre overlap needs at least two movies with genres")
    top = similar.filter(pc.less_equal(similar["rank"], k))
    left = top["movie_id"].to_numpy().astype(np.int64)
    right = top["neighbour_id"].to_numpy().astype(np.int64)
    both = np.isin(left, with_genres) & np.isin(right, with_genres)
    shared, jaccard = genre_overlap(left[both], right[both], genres)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, with_genres.size, random_pairs)
    b = (a + rng.integers(1, with_genres.size, random_pairs)) % with_genres.size  # b != a
    r_shared, r_jaccard = genre_overlap(with_genres[a], with_genres[b], genres)
    return GenreOverlap(
        k,
        int(both.sum()),
        float(jaccard.mean()),
        float(r_jaccard.mean()),
        float((shared > 0).mean()),
        float((r_shared > 0).mean()),
    )


@dataclass(frozen=True)
class CollaborativeAgreement:
    k: int
    min_ratings: int
    pool: int  # movies with vectors and >= min_ratings ratings
    queries: int  # pool movies evaluated
    agreement: float  # mean |content top-k ∩ collaborative top-k| / k
    chance: float  # k / (pool - 1)

    @property
    def lift(self) -> float:
        return self.agreement / self.chance if self.chance else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "lift": self.lift}


def collaborative_agreement(
    movie_ids: np.ndarray,
    vectors: np.ndarray,
    ratings: pa.Table,
    k: int = 10,
    min_ratings: int = 20,
    max_queries: int = 2000,
    seed: int = 0,
) -> CollaborativeAgreement:
    """Content (cosine of vectors) vs collaborative (co-rated by the same users) neighbours, against chance.

    ``ratings`` needs ``user_id`` and ``movie_id``; a rating counts whatever its value.
    """
    from scipy import sparse

    ids, x = check_vectors(movie_ids, vectors)
    users = ratings["user_id"].to_numpy().astype(np.int64)
    items = ratings["movie_id"].to_numpy().astype(np.int64)
    pair = np.unique(np.stack([users, items], 1), axis=0)  # one entry per (user, movie)
    counts = np.bincount(np.searchsorted(ids, pair[:, 1][np.isin(pair[:, 1], ids)]), minlength=ids.size)
    pool = np.flatnonzero(counts >= min_ratings)  # rows of ids / x
    if pool.size <= k:
        raise ValueError(f"only {pool.size} movies have >= {min_ratings} ratings; need more than k={k}")
    column = np.full(ids.size, -1)
    column[pool] = np.arange(pool.size)
    pair = pair[np.isin(pair[:, 1], ids[pool])]
    user_row = np.unique(pair[:, 0], return_inverse=True)[1]
    cols = column[np.searchsorted(ids, pair[:, 1])]
    rated = sparse.csc_matrix(
        (np.ones(len(pair), np.float32), (user_row, cols)), shape=(int(user_row.max()) + 1, pool.size)
    )  # (users, pool)
    norms = np.sqrt(np.asarray(rated.sum(0)).ravel())  # binary vectors: sqrt(#raters)

    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(pool.size, size=min(max_queries, pool.size), replace=False))
    overlap = np.empty(queries.size)
    step = 256
    for s in range(0, queries.size, step):
        q = queries[s : s + step]
        co = (rated[:, q].T @ rated).toarray() / np.outer(norms[q], norms)  # (q, pool) cosine
        co[np.arange(q.size), q] = -np.inf
        collab = _top_sets(co, k)
        content, _ = top_k(x[pool[q]], x[pool], k, q)
        overlap[s : s + step] = [len(c & set(row.tolist())) / k for c, row in zip(collab, content)]
    return CollaborativeAgreement(
        k, min_ratings, int(pool.size), int(queries.size), float(overlap.mean()), k / (pool.size - 1)
    )


def _top_sets(scores: np.ndarray, k: int) -> list[set[int]]:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return [set(row.tolist()) for row in part]

"""The ``similar_movies`` table: neighbours plus what each pair shares (SID prefix, genres).

One row per (movie, neighbour), rank 1 = most similar. The annotations are recomputed on every build
(cheap, and semantic IDs or genres can change without any vector changing); only the neighbour search
itself is incremental. Plain numpy / pyarrow.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.search.neighbours import Neighbours
from movielens_dag.semantic_ids.ids import SemanticIds

NO_GENRES = "(no genres listed)"

SCHEMA = pa.schema(
    [
        pa.field("movie_id", pa.int32(), metadata={"description": "the query movie"}),
        pa.field("rank", pa.int32(), metadata={"description": "1 = most similar"}),
        pa.field("neighbour_id", pa.int32(), metadata={"description": "the similar movie"}),
        pa.field("score", pa.float32(), metadata={"description": "cosine similarity of the two embeddings"}),
        pa.field(
            "sid_shared_levels",
            pa.int32(),
            metadata={"description": "leading semantic-ID codes the two share (0..levels; null without SIDs)"},
        ),
        pa.field("shared_genres", pa.int32(), metadata={"description": "MovieLens genres both movies have"}),
        pa.field(
            "genre_jaccard",
            pa.float32(),
            metadata={"description": "shared genres / genres of either (null when neither has a genre)"},
        ),
        pa.field(
            "vector_hash",
            pa.string(),
            metadata={
                "description": "fingerprint of movie_id's vector; the next build recomputes a row "
                "only when it or a neighbour's changed"
            },
        ),
    ]
)


def shared_prefix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Leading positions where two (M, L) code arrays agree, per row: 0..L."""
    equal = np.asarray(a) == np.asarray(b)
    return np.where(equal.all(1), equal.shape[1], np.argmin(equal, axis=1)).astype(np.int32)


def genre_sets(movies: pa.Table) -> dict[int, frozenset[str]]:
    """movie_id -> its MovieLens genres (empty for '(no genres listed)')."""
    return {
        int(m): frozenset(g for g in (gs or []) if g != NO_GENRES)
        for m, gs in zip(movies["movie_id"].to_pylist(), movies["genres"].to_pylist())
    }


def genre_overlap(
    left: np.ndarray, right: np.ndarray, genres: dict[int, frozenset[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: shared genre count (int32) and Jaccard (float32, NaN when neither has a genre)."""
    empty: frozenset[str] = frozenset()
    shared = np.empty(left.size, dtype=np.int32)
    jaccard = np.empty(left.size, dtype=np.float32)
    for i, (a, b) in enumerate(zip(left.tolist(), right.tolist())):
        ga, gb = genres.get(a, empty), genres.get(b, empty)
        union = len(ga | gb)
        shared[i] = len(ga & gb)
        jaccard[i] = shared[i] / union if union else np.nan
    return shared, jaccard


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
    return pos, sorted_ids[pos] == ids


def to_table(neighbours: Neighbours, movies: pa.Table, sids: SemanticIds | None = None) -> pa.Table:
    """The similar_movies table for ``neighbours``, annotated from ``movies`` (and SIDs when given)."""
    n, k = neighbours.neighbour_ids.shape
    left = np.repeat(neighbours.movie_ids, k)
    right = neighbours.neighbour_ids.reshape(-1)
    shared, jaccard = genre_overlap(left, right, genre_sets(movies))
    if sids is not None and len(sids):
        lpos, lfound = _positions(sids.movie_ids, left)
        rpos, rfound = _positions(sids.movie_ids, right)
        shared_levels = shared_prefix(sids.codes[lpos], sids.codes[rpos])
        levels = pa.array(shared_levels, pa.int32(), mask=~(lfound & rfound))  # null: a movie has no SID yet
    else:
        levels = pa.nulls(left.size, pa.int32())
    return pa.Table.from_arrays(
        [
            pa.array(left, pa.int32()),
            pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), n)),
            pa.array(right, pa.int32()),
            pa.array(neighbours.scores.reshape(-1), pa.float32()),
            levels,
            pa.array(shared),
            pa.array(jaccard, pa.float32(), from_pandas=True),  # NaN -> null
            pa.array(np.repeat(neighbours.vector_hashes, k), pa.string()),
        ],
        schema=SCHEMA,
    )


def from_table(table: pa.Table) -> Neighbours:
    """Read a previous similar_movies table back (for the incremental update)."""
    missing = {"movie_id", "rank", "neighbour_id", "score", "vector_hash"} - set(table.column_names)
    if missing:
        raise ValueError(f"similar_movies lacks column(s) {sorted(missing)}; rebuild it in full")
    table = table.sort_by([("movie_id", "ascending"), ("rank", "ascending")])
    ids = table["movie_id"].to_numpy().astype(np.int64)
    movie_ids, starts, counts = np.unique(ids, return_index=True, return_counts=True)
    if movie_ids.size == 0:
        return Neighbours(movie_ids, np.empty((0, 0), np.int64), np.empty((0, 0), np.float32), np.array([], object))
    k = int(counts[0])
    if np.any(counts != k):
        raise ValueError("similar_movies has movies with different neighbour counts; rebuild it in full")
    ranks = table["rank"].to_numpy().reshape(-1, k)
    if np.any(ranks != np.arange(1, k + 1)):
        raise ValueError("similar_movies ranks are not 1..k for every movie; rebuild it in full")
    hashes = pc.take(table["vector_hash"], pa.array(starts)).to_numpy(zero_copy_only=False).astype(object)
    return Neighbours(
        movie_ids,
        table["neighbour_id"].to_numpy().astype(np.int64).reshape(-1, k),
        table["score"].to_numpy().astype(np.float32).reshape(-1, k),
        hashes,
    )

"""movie_embeddings (+ movies, semantic_ids, ratings, the previous similar_movies) -> similar_movies.

What the Dagster asset calls: the neighbours (incremental when a previous table is given), the table
with its annotations, and the metadata figures (counts, what was recomputed, quality against chance).
Plain code: numpy, pyarrow, scipy.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from movielens_dag.search import quality
from movielens_dag.search import table as st
from movielens_dag.search.neighbours import exact_neighbours, update_neighbours
from movielens_dag.search.settings import SimilarMoviesSettings
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.tables import embedding_matrix


@dataclass
class SimilarMoviesRun:
    table: pa.Table
    metadata: dict[str, Any] = field(default_factory=dict)


def build_similar_movies(
    embeddings: pa.Table,
    movies: pa.Table,
    settings: SimilarMoviesSettings | None = None,
    *,
    semantic_ids: pa.Table | None = None,
    ratings: pa.Table | None = None,
    previous: pa.Table | None = None,
    log: Callable[[str], None] = print,
) -> SimilarMoviesRun:
    settings = settings or SimilarMoviesSettings()
    settings.validate()
    t0 = time.perf_counter()
    ids, x, model_id = embedding_matrix(embeddings, settings.model_id)
    block = settings.block_mb << 20
    if settings.incremental and previous is not None and previous.num_rows:
        neighbours, stats = update_neighbours(st.from_table(previous), ids, x, settings.k, block_bytes=block)
    else:
        neighbours = exact_neighbours(ids, x, settings.k, block_bytes=block)
        stats = None
    search_s = time.perf_counter() - t0
    sids = SemanticIds.from_table(semantic_ids) if semantic_ids is not None and semantic_ids.num_rows else None
    table = st.to_table(neighbours, movies, sids)
    counts = (
        stats.as_dict()
        if stats is not None
        else {"movies": len(ids), "recomputed": len(ids), "kept": 0, "full_recompute": True}
    )
    log(
        f"similar_movies: {len(ids):,} movies x {settings.k} neighbours ({model_id}); recomputed "
        f"{counts['recomputed']:,}, kept {counts['kept']:,} in {search_s:.1f} s"
    )
    metadata: dict[str, Any] = {
        "model_id": model_id,
        "k": settings.k,
        "dim": int(x.shape[1]),
        **counts,
        "search_seconds": round(search_s, 2),
        "has_sids": sids is not None,
    }
    genre = quality.genre_overlap_figures(table, movies, settings.quality_k, settings.random_pairs, settings.seed)
    metadata.update({f"genre_{k}": v for k, v in genre.as_dict().items() if k != "k"})
    if ratings is not None and ratings.num_rows:
        try:
            collab = quality.collaborative_agreement(
                ids, x, ratings, settings.quality_k, settings.collab_min_ratings, settings.collab_queries, settings.seed
            )
            metadata.update({f"collab_{k}": v for k, v in collab.as_dict().items() if k != "k"})
        except ValueError as exc:  # too few well-rated movies (a tiny release): say so instead of failing
            metadata["collab_skipped"] = str(exc)
    return SimilarMoviesRun(table, metadata)

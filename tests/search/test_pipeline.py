"""build_similar_movies: the asset's plain entry point, full then incremental, with its figures."""

import numpy as np
import pyarrow as pa

from movielens_dag.search.pipeline import build_similar_movies
from movielens_dag.search.settings import SimilarMoviesSettings
from movielens_dag.semantic_ids.ids import SemanticIds
from tests.search.test_quality import clustered_world


def embeddings_table(ids, x, model="m") -> pa.Table:
    return pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "model_id": [model] * len(ids),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1]),
        }
    )


def test_full_then_incremental_build_with_quality_figures():
    ids, x, movies, ratings = clustered_world()
    sids = SemanticIds.with_digit(ids, np.random.default_rng(0).integers(0, 4, (len(ids), 2))).to_table()
    settings = SimilarMoviesSettings(k=12, quality_k=10, collab_min_ratings=5, collab_queries=100, random_pairs=5000)
    first = build_similar_movies(
        embeddings_table(ids, x), movies, settings, semantic_ids=sids, ratings=ratings, log=lambda _: None
    )
    assert first.table.num_rows == len(ids) * 12 and first.metadata["full_recompute"]
    assert first.metadata["genre_lift"] > 5 and first.metadata["collab_lift"] > 5
    assert first.table.column("sid_shared_levels").null_count == 0

    x2 = x.copy()
    x2[:3] = x2[200:203]  # three movies move to another cluster
    second = build_similar_movies(
        embeddings_table(ids, x2), movies, settings, semantic_ids=sids, previous=first.table, log=lambda _: None
    )
    full = build_similar_movies(embeddings_table(ids, x2), movies, settings, semantic_ids=sids, log=lambda _: None)
    assert not second.metadata["full_recompute"] and 3 <= second.metadata["recomputed"] < len(ids)
    assert second.table.select(["movie_id", "rank", "neighbour_id"]).equals(
        full.table.select(["movie_id", "rank", "neighbour_id"])
    )
    assert "collab_lift" not in second.metadata  # no ratings given this time


def test_too_few_rated_movies_skip_the_collaborative_figure_with_a_reason():
    ids, x, movies, ratings = clustered_world()
    run = build_similar_movies(
        embeddings_table(ids, x),
        movies,
        SimilarMoviesSettings(collab_min_ratings=10_000),
        ratings=ratings,
        log=lambda _: None,
    )
    assert "have >= 10000 ratings" in run.metadata["collab_skipped"]

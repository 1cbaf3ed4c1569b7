"""Quality figures against chance: genre overlap of neighbours, agreement with collaborative neighbours."""

import numpy as np
import pyarrow as pa
import pytest

from movielens_dag.search import quality
from movielens_dag.search import table as st
from movielens_dag.search.neighbours import exact_neighbours


def clustered_world(seed: int = 0, clusters: int = 8, per: int = 40, d: int = 24):
    """Movies in clusters: one genre and one audience per cluster, vectors near the cluster centre."""
    rng = np.random.default_rng(seed)
    n = clusters * per
    cluster = np.repeat(np.arange(clusters), per)
    centres = rng.normal(size=(clusters, d))
    x = centres[cluster] + 0.3 * rng.normal(size=(n, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(1, n + 1)
    genres = [[f"G{c}"] for c in cluster]
    movies = pa.table({"movie_id": pa.array(ids, pa.int32()), "genres": genres})
    users, items = [], []
    for u in range(400):  # each user rates 25 movies, 90% from their favourite cluster
        fav = u % clusters
        own = rng.choice(np.flatnonzero(cluster == fav), size=22, replace=False)
        other = rng.choice(n, size=3, replace=False)
        for i in np.concatenate([own, other]):
            users.append(u)
            items.append(ids[i])
    ratings = pa.table({"user_id": pa.array(users, pa.int32()), "movie_id": pa.array(items, pa.int32())})
    return ids, x, movies, ratings


def test_genre_overlap_of_clustered_neighbours_beats_random_pairs():
    ids, x, movies, _ = clustered_world()
    table = st.to_table(exact_neighbours(ids, x, 10), movies)
    g = quality.genre_overlap_figures(table, movies, k=10, random_pairs=20_000)
    assert g.pairs == len(ids) * 10
    assert g.neighbour_jaccard > 0.95  # neighbours come from the movie's own cluster
    assert g.random_jaccard == pytest.approx(1 / 8, abs=0.02)  # 8 equal one-genre clusters
    assert g.lift > 7


def test_random_vectors_have_no_genre_lift():
    ids, x, movies, _ = clustered_world()
    rng = np.random.default_rng(1)
    noise = rng.normal(size=x.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    g = quality.genre_overlap_figures(st.to_table(exact_neighbours(ids, noise, 10), movies), movies, k=10)
    assert g.lift == pytest.approx(1.0, abs=0.25)


def test_collaborative_agreement_is_high_when_audiences_follow_the_clusters_and_chance_otherwise():
    ids, x, _, ratings = clustered_world()
    agree = quality.collaborative_agreement(ids, x, ratings, k=10, min_ratings=5, max_queries=200)
    assert agree.pool == len(ids) and agree.queries == 200
    assert agree.chance == pytest.approx(10 / (len(ids) - 1))
    # Both lists fall inside the movie's cluster of 40, independently of each other: 10 / 39 expected.
    assert agree.agreement == pytest.approx(10 / 39, abs=0.06) and agree.lift > 5
    rng = np.random.default_rng(2)
    shuffled = x[rng.permutation(len(x))]  # vectors no longer match the audiences
    blind = quality.collaborative_agreement(ids, shuffled, ratings, k=10, min_ratings=5, max_queries=200)
    assert blind.lift < 3


def test_collaborative_agreement_needs_enough_rated_movies():
    ids, x, _, ratings = clustered_world()
    with pytest.raises(ValueError, match="ratings"):
        quality.collaborative_agreement(ids, x, ratings, k=10, min_ratings=10_000)

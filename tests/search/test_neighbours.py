"""Exact neighbours: against brute force, ties, and incremental == full recompute on random changes."""

import numpy as np
import pytest

from movielens_dag.search import table as st
from movielens_dag.search.neighbours import exact_neighbours, update_neighbours


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int, d: int = 16, clusters: int = 6) -> np.ndarray:
    centres = rng.normal(size=(clusters, d))
    return unit(centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, d)))


def brute_force(ids: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(s, -np.inf)
    out_ids, out_scores = [], []
    for i in range(len(ids)):
        order = np.lexsort((ids, -s[i]))[:k]
        out_ids.append(ids[order])
        out_scores.append(s[i, order])
    return np.array(out_ids), np.array(out_scores)


def test_exact_neighbours_match_brute_force_with_small_chunks():
    rng = np.random.default_rng(0)
    ids = rng.choice(100_000, size=300, replace=False)
    x = clustered(rng, 300)
    got = exact_neighbours(ids, x, k=7, block_bytes=4 * 300 * 13)  # 13 rows per chunk
    order = np.argsort(ids)
    want_ids, want_scores = brute_force(ids[order], x[order], 7)
    np.testing.assert_array_equal(got.movie_ids, ids[order])
    # The k best scores are the true k best (ids may swap only inside float32 near-ties) ...
    np.testing.assert_allclose(got.scores, want_scores, atol=1e-6)
    assert (got.neighbour_ids == want_ids).mean() > 0.99
    # ... and each reported score is the true cosine of that pair.
    pos = {int(m): i for i, m in enumerate(got.movie_ids)}
    xs = x[order].astype(np.float64)
    true = np.array([[xs[i] @ xs[pos[int(j)]] for j in row] for i, row in enumerate(got.neighbour_ids)])
    np.testing.assert_allclose(got.scores, true, atol=1e-6)
    assert not np.any(got.neighbour_ids == got.movie_ids[:, None])  # never itself


def test_ties_are_broken_by_movie_id():
    x = unit(np.array([[1, 0], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32))
    got = exact_neighbours(np.array([50, 40, 30, 20, 10]), x, k=2)
    # movie 20's duplicates are 30, 40, 50: the two lowest ids win
    np.testing.assert_array_equal(got.neighbour_ids[got.movie_ids == 20][0], [30, 40])
    np.testing.assert_array_equal(got.neighbour_ids[got.movie_ids == 50][0], [20, 30])


def test_k_larger_than_catalogue_is_an_error():
    with pytest.raises(ValueError, match="k must be in 1..2"):
        exact_neighbours(np.arange(3), unit(np.eye(3, dtype=np.float32)), k=3)


def test_duplicate_ids_and_nan_vectors_are_errors():
    x = unit(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="duplicate movie ids"):
        exact_neighbours(np.array([1, 1, 2]), x, k=1)
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match="movie_id \\[2\\]"):
        exact_neighbours(np.array([1, 2, 3]), x, k=1)


@pytest.mark.parametrize("seed", range(8))
def test_incremental_update_equals_full_recompute(seed):
    rng = np.random.default_rng(seed)
    n, k = 400, 10
    ids = np.sort(rng.choice(10_000, size=n, replace=False))
    x = clustered(rng, n)
    x[5] = x[6]  # a duplicate vector: ties must come out the same way too
    previous = exact_neighbours(ids, x, k)
    # Through the table, as the asset will: round trip must not lose anything.
    previous = st.from_table(st.to_table(previous, _movies(ids)))

    # Random changes: modify some vectors, drop some movies, add new ones (some near existing ones).
    x2, ids2 = x.copy(), ids.copy()
    modified = rng.choice(n, size=rng.integers(1, 15), replace=False)
    x2[modified] = unit(x2[modified] + rng.normal(scale=0.5, size=(modified.size, x.shape[1])))
    keep = np.ones(n, bool)
    keep[rng.choice(n, size=rng.integers(0, 10), replace=False)] = False
    n_new = int(rng.integers(0, 12))
    new_ids = np.setdiff1d(rng.choice(20_000, size=n_new + 50, replace=False), ids)[:n_new]
    near = x[rng.integers(0, n, n_new)]
    new_x = unit(near + rng.normal(scale=0.05, size=near.shape))
    ids2 = np.concatenate([ids2[keep], new_ids])
    x2 = np.concatenate([x2[keep], new_x])
    shuffle = rng.permutation(ids2.size)  # input order must not matter

    got, stats = update_neighbours(previous, ids2[shuffle], x2[shuffle], k)
    want = exact_neighbours(ids2, x2, k)
    np.testing.assert_array_equal(got.movie_ids, want.movie_ids)
    np.testing.assert_array_equal(got.neighbour_ids, want.neighbour_ids)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    np.testing.assert_array_equal(got.vector_hashes, want.vector_hashes)
    assert stats.recomputed < stats.movies  # it did not just redo everything
    assert stats.new == new_ids.size and stats.removed == int((~keep).sum())


def test_unchanged_vectors_recompute_nothing_and_a_changed_k_recomputes_all():
    rng = np.random.default_rng(1)
    ids, x = np.arange(50), clustered(rng, 50)
    previous = exact_neighbours(ids, x, 5)
    same, stats = update_neighbours(previous, ids, x, 5)
    assert stats.recomputed == 0 and not stats.full
    np.testing.assert_array_equal(same.neighbour_ids, previous.neighbour_ids)
    _, stats = update_neighbours(previous, ids, x, 6)
    assert stats.full and stats.recomputed == 50


def _movies(ids):
    import pyarrow as pa

    return pa.table(
        {"movie_id": pa.array(ids, pa.int32()), "genres": [["Drama"] if i % 2 else ["Comedy", "Drama"] for i in ids]}
    )

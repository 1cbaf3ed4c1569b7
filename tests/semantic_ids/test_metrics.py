import math

import numpy as np
import pytest

from movielens_dag.semantic_ids import metrics as m


def test_utilisation_and_perplexity_by_hand():
    assert m.utilisation(np.array([0, 0, 1]), 4) == 0.5
    assert m.perplexity(np.array([0, 0, 1, 1])) == pytest.approx(2.0)
    assert m.perplexity(np.array([5, 5, 5])) == pytest.approx(1.0)
    # p = (1/2, 1/4, 1/4): H = 1.5 bits -> perplexity 2^1.5
    assert m.perplexity(np.array([0, 0, 1, 2])) == pytest.approx(2**1.5)


def test_collisions_by_hand():
    codes = np.array([[0, 0], [0, 0], [1, 0], [2, 2], [2, 2], [2, 2]])
    c = m.collisions(codes)
    assert (c.colliding_items, c.max_group, c.unique_tuples) == (5, 3, 3)
    assert c.collision_rate == pytest.approx(5 / 6)
    assert m.collisions(np.array([[0, 1], [1, 0]])).collision_rate == 0.0


def test_reconstruction_error_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    x_hat = np.array([[0.5, 0.0], [0.0, 2.0]])
    assert m.relative_reconstruction_error(x, x_hat) == pytest.approx(0.25 / 5)
    assert m.per_item_relative_error(x, x_hat).tolist() == pytest.approx([0.25, 0.0])
    assert m.relative_reconstruction_error(x, np.zeros_like(x)) == pytest.approx(1.0)


def test_neighbour_agreement_by_hand():
    # two tight pairs far apart: each point's neighbour is its pair mate
    x = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [0.05, 0.99]])
    assert m.nearest_neighbours(x).tolist() == [1, 0, 3, 2]
    assert m.nn_first_code_agreement(x, np.array([0, 0, 1, 2])) == 0.5
    assert m.chance_agreement(np.array([0, 0, 1, 2])) == pytest.approx(0.25 + 2 * 0.0625)


def test_genre_purity_by_hand():
    codes = np.array([0, 0, 0, 1, 1, 2])
    genres = [["A"], ["A", "B"], ["B"], ["C"], ["C", "A"], []]  # the last item has no genres: left out
    purity, chance = m.genre_purity(codes, genres)
    assert purity == pytest.approx((2 + 2) / 5)  # code 0: A or B in 2 of 3; code 1: C in 2 of 2
    assert chance == pytest.approx(3 / 5)  # A is the most common genre: 3 of 5 items
    with pytest.raises(ValueError, match="no item has genres"):
        m.genre_purity(np.array([0]), [[]])


def test_quality_bundles_the_figures():
    x = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [0.05, 0.99]])
    codes = np.array([[0, 1], [0, 1], [1, 0], [1, 1]])
    q = m.quality(x, x * 0.5, codes, k=2, genres=[["A"], ["A"], ["B"], ["A"]])
    assert q.utilisation == [1.0, 1.0] and q.min_utilisation == 1.0
    assert q.collision_rate == 0.5 and q.max_collision_group == 2
    assert q.rel_recon_error == pytest.approx(0.25)
    assert q.nn_first_code_agreement == 1.0
    assert q.genre_purity == pytest.approx(3 / 4)  # code 0: A in 2 of 2; code 1: A or B in 1 of 2
    assert q.genre_purity_chance == pytest.approx(3 / 4)
    assert math.isclose(q.perplexity[0], 2.0)


def test_neighbour_agreement_samples_large_sets_and_blocks_do_not_change_results():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    codes = rng.integers(0, 4, 600)
    exact = m.nearest_neighbours(x)
    assert np.array_equal(m.nearest_neighbours(x, block_bytes=4 * 600 * 7), exact)  # 7-row blocks
    assert m.nn_sample(600, 600) is None and m.nn_sample(600, None) is None
    queries = m.nn_sample(600, 100)
    assert len(queries) == 100 == len(np.unique(queries)) and np.array_equal(queries, m.nn_sample(600, 100))
    assert np.array_equal(m.nearest_neighbours(x, queries), exact[queries])  # searched against all rows
    sampled = m.nn_first_code_agreement(x, codes, sample=100)
    assert sampled == float((codes[queries] == codes[exact[queries]]).mean())
    assert m.nn_first_code_agreement(x, codes, sample=None) == float((codes == codes[exact]).mean())

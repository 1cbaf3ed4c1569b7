"""Exact Lloyd with moved-centroid updates, joint refinement and the collision-aware last level (#14 part B)."""

import numpy as np
import pytest
import torch

from movielens_dag.semantic_ids import kmeans as km
from movielens_dag.semantic_ids.metrics import collisions, relative_reconstruction_error
from movielens_dag.semantic_ids.rqkmeans import RQKMeans
from movielens_dag.semantic_ids.settings import SemanticIdConfigError, SidSettings
from tests.semantic_ids.conftest import clustered


def test_moved_centroid_lloyd_matches_plain_lloyd():
    x = torch.from_numpy(clustered(3000, 24, levels=2, branching=8, seed=4, noise=0.3))
    gen = torch.Generator().manual_seed(0)
    start = km.kmeans_plus_plus(x, 40, gen)
    x_sq = km._row_sq_norms(x)
    x_sq_sum = x_sq.double().sum().item()
    plain_t: dict = {"assign": 0.0, "update": 0.0, "n": 3000}
    moved_t: dict = {"assign": 0.0, "update": 0.0, "n": 3000}
    plain, plain_it = km._lloyd_full(x, start.clone(), x_sq, x_sq_sum, 60, 0.0, False, False, plain_t)
    moved, moved_it = km._lloyd_moved(km.Scorer(x), x, start.clone(), x_sq_sum, 60, 0.0, moved_t)
    torch.testing.assert_close(moved, plain, rtol=0, atol=1e-4)
    assert torch.equal(km.nearest(x, moved)[0], km.nearest(x, plain)[0])
    # the same fixed point for a fraction of the distance work
    assert moved_t["distance_passes"] < 0.7 * plain_t["distance_passes"], (moved_t, plain_t, moved_it, plain_it)


def test_timings_say_where_the_time_went():
    x = torch.from_numpy(clustered(6000, 16, levels=2, branching=6, seed=1, noise=0.2))
    res = km.kmeans(x, 16, seed=0, init_sample=32, coarse_sample=64)
    assert set(res.timings) >= {"seed", "coarse", "assign", "update", "final", "distance_passes"}
    assert res.timings["coarse"] > 0 and res.timings["distance_passes"] > 1
    labels, dist = km.nearest(x, res.centroids)
    assert torch.equal(labels, res.labels) and res.inertia == pytest.approx(dist.double().sum().item(), rel=1e-6)


def test_refinement_lowers_the_error_and_keeps_codes_equal_to_encode():
    x = torch.from_numpy(clustered(2000, 32, levels=3, branching=6, seed=7, noise=0.4))
    greedy = RQKMeans(3, 16, seed=0, refine=0)
    refined = RQKMeans(3, 16, seed=0, refine=2)
    g_codes, r_codes = greedy.fit(x), refined.fit(x)
    xn = refined.prepare(x).numpy()
    g_err = relative_reconstruction_error(xn, greedy.decode(g_codes).numpy())
    r_err = relative_reconstruction_error(xn, refined.decode(r_codes).numpy())
    assert r_err < g_err
    assert torch.equal(r_codes, refined.encode(x))
    assert refined.stage_seconds["refine"] > 0


def test_spread_cuts_collisions_within_its_error_budget():
    x = torch.from_numpy(clustered(3000, 16, levels=2, branching=5, seed=3, noise=0.5))
    plain = RQKMeans(2, 60, seed=0)
    spread = RQKMeans(2, 60, seed=0, spread=0.25)
    p_codes, s_codes = plain.fit(x), spread.fit(x)
    assert torch.equal(plain.codebooks, spread.codebooks)  # only last-level codes of colliding items change
    assert torch.equal(p_codes[:, 0], s_codes[:, 0])
    before, after = collisions(p_codes.numpy()), collisions(s_codes.numpy())
    assert after.collision_rate < 0.8 * before.collision_rate, (before, after)
    xn = plain.prepare(x)
    p_err = ((xn - plain.decode(p_codes)) ** 2).sum(1)
    s_err = ((xn - spread.decode(s_codes)) ** 2).sum(1)
    moved = (p_codes != s_codes).any(1)
    assert moved.any() and bool((s_err[moved] <= p_err[moved] * 1.25 + 1e-6).all())  # each within budget
    assert torch.equal(s_err[~moved], p_err[~moved])


def test_balanced_fits_are_neither_refined_nor_spread():
    x = torch.from_numpy(clustered(512, 8, levels=2, branching=3, seed=3, noise=0.2))
    codes = RQKMeans(2, 32, balanced=True, seed=0, refine=2, spread=0.5).fit(x)
    for level in range(2):
        assert torch.bincount(codes[:, level], minlength=32).max().item() <= 16


def test_bad_refine_or_spread_settings_are_refused():
    with pytest.raises(SemanticIdConfigError, match="refine and spread must be >= 0"):
        RQKMeans(2, 8, spread=-0.1)
    with pytest.raises(SemanticIdConfigError, match="need kmeans_max_iter >= 1"):
        SidSettings(kmeans_refine=-1).validate(1000)
    assert SidSettings().spread > 0 and SidSettings().kmeans_refine == 2  # the pipeline's defaults


def test_fit_is_deterministic_with_refine_and_spread():
    x = torch.from_numpy(clustered(1500, 16, levels=3, branching=5, seed=9, noise=0.3))
    a, b = RQKMeans(3, 12, seed=1, spread=0.1), RQKMeans(3, 12, seed=1, spread=0.1)
    assert torch.equal(a.fit(x), b.fit(x)) and torch.equal(a.codebooks, b.codebooks)
    assert np.isfinite(a.inertia).all()

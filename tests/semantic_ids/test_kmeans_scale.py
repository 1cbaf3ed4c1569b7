"""Chunked exact search, sample-then-full Lloyd, joint refinement and the collision-aware last level (#14 part B)."""

import numpy as np
import pytest
import torch

from movielens_dag.semantic_ids import kmeans as km
from movielens_dag.semantic_ids.metrics import collisions, relative_reconstruction_error
from movielens_dag.semantic_ids.rqkmeans import RQKMeans
from movielens_dag.semantic_ids.settings import SemanticIdConfigError, SidSettings
from tests.semantic_ids.conftest import clustered


def test_chunked_search_is_exact_across_chunk_boundaries():
    gen = torch.Generator().manual_seed(0)
    x, c = torch.randn(20_000, 8, generator=gen), torch.randn(128, 8, generator=gen)  # 3 chunks of rows
    labels, dist = km.nearest(x, c)
    brute = torch.cdist(x.double(), c.double()).square()  # (N, K) float64 reference
    assert (brute.gather(1, labels[:, None]).squeeze(1) <= brute.min(1).values + 1e-5).all()
    torch.testing.assert_close(dist.double(), brute.min(1).values, rtol=1e-4, atol=1e-4)


def test_timings_say_where_the_time_went_and_centroids_are_cluster_means():
    x = torch.from_numpy(clustered(6000, 16, levels=2, branching=6, seed=1, noise=0.2))
    res = km.kmeans(x, 16, seed=0, init_sample=32, coarse_sample=64, max_iter=2)
    assert set(res.timings) == {"seed", "coarse", "assign", "update", "distance_passes"}
    assert res.timings["coarse"] > 0 and res.n_iter == 2
    # 2 passes over all points + at most 10 Lloyd iterations on the 16 * 64-point sample (fewer if converged)
    assert 2 < res.timings["distance_passes"] <= 2 + 10 * 16 * 64 / 6000 + 1e-9
    for k in range(16):
        torch.testing.assert_close(res.centroids[k], x[res.labels == k].mean(0), rtol=0, atol=1e-5)
    direct = ((x - res.centroids[res.labels]) ** 2).double().sum().item()
    assert res.inertia == pytest.approx(direct, rel=1e-5)


def test_search_against_a_shifted_target_equals_forming_the_target():
    gen = torch.Generator().manual_seed(1)
    x, c = torch.randn(20_000, 12, generator=gen), torch.randn(64, 12, generator=gen)  # 3 chunks of rows
    codes = torch.randint(64, (20_000,), generator=gen)
    shifted = km.nearest_to_shifted(x, c, codes)
    target = (x + c[codes]).double()
    brute = torch.cdist(target, c.double()).square()  # (N, K) float64 reference
    assert (brute.gather(1, shifted[:, None]).squeeze(1) <= brute.min(1).values + 1e-5).all()
    assert (shifted == km.nearest(x + c[codes], c)[0]).float().mean() > 0.999  # ties aside, the same labels


def test_refinement_leaves_the_last_level_at_its_targets_means():
    # the sweep never forms the targets (x minus the other levels): its sums and residual updates must
    # still equal what forming them gives, so the last level refined holds its targets' means
    x = torch.from_numpy(clustered(3000, 16, levels=3, branching=6, seed=4, noise=0.4))
    rq = RQKMeans(3, 16, seed=0, refine=2)
    codes = rq.fit(x)
    target = rq.prepare(x) - rq.codebooks[0][codes[:, 0]] - rq.codebooks[1][codes[:, 1]]
    for k in codes[:, 2].unique().tolist():
        torch.testing.assert_close(rq.codebooks[2][k], target[codes[:, 2] == k].mean(0), rtol=0, atol=1e-5)
    assert rq.inertia[-1] == pytest.approx(
        (target - rq.codebooks[2][codes[:, 2]]).double().square().sum().item(), rel=1e-4
    )


def test_refinement_lowers_the_error_and_encode_matches_it():
    x = torch.from_numpy(clustered(2000, 32, levels=3, branching=6, seed=7, noise=0.4))
    greedy = RQKMeans(3, 16, seed=0, refine=0, encode_rounds=0)
    refined = RQKMeans(3, 16, seed=0, refine=3)
    g_codes, r_codes = greedy.fit(x), refined.fit(x)
    xn = refined.prepare(x).numpy()
    g_err = relative_reconstruction_error(xn, greedy.decode(g_codes).numpy())
    r_err = relative_reconstruction_error(xn, refined.decode(r_codes).numpy())
    assert r_err < g_err
    # encode re-picks each level's code given the others, so fresh vectors get (nearly) the refined error
    greedy_encode = RQKMeans(3, 16, encode_rounds=0)
    greedy_encode.codebooks = refined.codebooks
    e_err = relative_reconstruction_error(xn, refined.decode(refined.encode(x)).numpy())
    ge_err = relative_reconstruction_error(xn, refined.decode(greedy_encode.encode(x)).numpy())
    assert e_err <= r_err * 1.01 and e_err < ge_err
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
    with pytest.raises(SemanticIdConfigError, match="refine, encode_rounds and spread must be >= 0"):
        RQKMeans(2, 8, spread=-0.1)
    with pytest.raises(SemanticIdConfigError, match="need kmeans_max_iter >= 1"):
        SidSettings(kmeans_refine=-1).validate(1000)
    with pytest.raises(SemanticIdConfigError, match="kmeans_sample_iter >= 0"):
        SidSettings(kmeans_sample_iter=-1).validate(1000)
    assert SidSettings().spread > 0 and SidSettings().kmeans_refine == 3  # the pipeline's defaults
    # one full-data iteration before the refine sweeps; balanced fits have none, so they iterate longer
    assert SidSettings().full_data_iterations == 1 and SidSettings(balanced=True).full_data_iterations == 10
    assert SidSettings(balanced=True, kmeans_max_iter=3).full_data_iterations == 3


def test_fit_is_deterministic_with_refine_and_spread():
    x = torch.from_numpy(clustered(1500, 16, levels=3, branching=5, seed=9, noise=0.3))
    a, b = RQKMeans(3, 12, seed=1, spread=0.1), RQKMeans(3, 12, seed=1, spread=0.1)
    assert torch.equal(a.fit(x), b.fit(x)) and torch.equal(a.codebooks, b.codebooks)
    assert np.isfinite(a.inertia).all()


def test_sample_fit_sees_at_least_a_fifth_of_the_points():
    x = torch.from_numpy(clustered(6000, 8, levels=2, branching=4, seed=2, noise=0.3))
    res = km.kmeans(x, 4, seed=0, coarse_sample=64, sample_iter=10, max_iter=1)  # 64 * 4 = 256 < 6000 / 5
    sample_passes = res.timings["distance_passes"] - 1  # what the sample fit cost, in full-data passes
    iterations = sample_passes / 0.2  # each sample iteration is one pass over 1,200 of 6,000 points
    assert 1 <= round(iterations) <= 10 and abs(iterations - round(iterations)) < 1e-9


def test_code_keys_without_overflow_match_the_arithmetic_ones():
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 16, (500, 3), generator=gen)
    small = RQKMeans(3, 16)._code_keys(codes)
    wide = RQKMeans(3, 16)
    wide.codes = 2**21  # codes ** levels = 2**63: the unique-prefix path
    keys = wide._code_keys(codes)
    same = (small[:, None] == small[None, :]) == (keys[:, None] == keys[None, :])
    assert bool(same.all()) and torch.equal(keys % wide.codes, codes[:, -1])

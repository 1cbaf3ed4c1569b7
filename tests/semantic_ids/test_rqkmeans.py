import math

import numpy as np
import pytest
import torch

from movielens_dag.semantic_ids.kmeans import balanced_assign, kmeans, nearest
from movielens_dag.semantic_ids.rqkmeans import RQKMeans
from movielens_dag.semantic_ids.settings import SemanticIdConfigError
from tests.semantic_ids.conftest import clustered


@pytest.mark.parametrize("precision", ["ieee", "fast"])
def test_residuals_add_up_and_match_the_kmeans_objective(precision):
    x = torch.from_numpy(clustered(600, 16, levels=3, branching=6, seed=1))
    rq = RQKMeans(levels=3, codes=9, seed=0, precision=precision)
    codes = rq.fit(x)
    xn = rq.prepare(x)
    partial = [sum(rq.codebooks[lv][codes[:, lv]] for lv in range(level + 1)) for level in range(3)]
    residuals = [xn - p for p in partial]
    # sum of the chosen centroids + the final residual reproduces the (normalised) input
    torch.testing.assert_close(rq.decode(codes) + residuals[-1], xn, rtol=0, atol=1e-5)
    # and each level's residual energy is what the fit reports for it
    for level, r in enumerate(residuals):
        assert (r.double() ** 2).sum().item() == pytest.approx(rq.inertia[level], rel=1e-4)
    energies = [(r**2).sum().item() for r in residuals]
    assert energies == sorted(energies, reverse=True)  # each level explains more
    again, enc_residuals = rq.encode_with_residuals(x)
    torch.testing.assert_close(rq.decode(again) + enc_residuals[-1], xn, rtol=0, atol=1e-5)


def test_fast_search_precision_costs_little():
    x = torch.from_numpy(clustered(3000, 64, levels=2, branching=12, seed=6, noise=0.2))
    exact = [kmeans(x, 32, seed=s, precision="ieee").inertia for s in range(3)]
    fast = [kmeans(x, 32, seed=s, precision="fast").inertia for s in range(3)]
    assert np.mean(fast) <= np.mean(exact) * 1.01
    with pytest.raises(SemanticIdConfigError, match="precision must be one of"):
        kmeans(x, 4, precision="fp8")


def test_same_seed_same_result_other_seed_other_result():
    x = torch.from_numpy(clustered(500, 12, levels=2, branching=10, seed=2, noise=0.3))
    a, b, c = (RQKMeans(2, 24, seed=s) for s in (7, 7, 8))
    ca, cb, _ = a.fit(x), b.fit(x), c.fit(x)
    assert torch.equal(ca, cb) and torch.equal(a.codebooks, b.codebooks)
    assert not torch.equal(a.codebooks, c.codebooks)


def test_kmeans_recovers_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 8) * 20
    truth = rng.integers(4, size=400)
    x = torch.from_numpy((centres[truth] + rng.standard_normal((400, 8))).astype(np.float32))
    for seed in range(3):
        res = kmeans(x, 4, seed=seed)
        labels = res.labels.numpy()
        assert all(len(np.unique(labels[truth == c])) == 1 for c in range(4))  # one cluster per blob
        assert len(np.unique(labels)) == 4
        direct = float(((x - res.centroids[res.labels]) ** 2).sum())
        assert res.inertia == pytest.approx(direct, rel=1e-4)


def test_kmeans_objective_is_no_worse_than_sklearn():
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    x = clustered(1500, 16, levels=2, branching=12, seed=5, noise=0.3)
    ours = [kmeans(torch.from_numpy(x), 24, seed=s).inertia for s in range(4)]
    with threadpool_limits(1):  # OpenMP spin-waits badly on a shared 2-core box
        ref = [KMeans(24, random_state=s, n_init=1).fit(x).inertia_ for s in range(4)]
    assert np.mean(ours) <= np.mean(ref) * 1.01


def test_k_equal_to_n_puts_every_point_in_its_own_cluster():
    x = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
    res = kmeans(x, 20, seed=0)
    assert sorted(res.labels.tolist()) == list(range(20))
    assert res.inertia == pytest.approx(0.0, abs=1e-4)


def test_balanced_assignment_respects_capacity_and_keeps_easy_cases():
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(90, 4, generator=gen) * 0.1, torch.randn(10, 4, generator=gen) * 0.1 + 5])
    c = torch.stack([x[:90].mean(0), x[90:].mean(0), x[0], x[1]])  # the first blob holds 90% of points
    labels, dist = balanced_assign(x, c)
    assert torch.bincount(labels, minlength=4).max().item() <= math.ceil(100 / 4)
    torch.testing.assert_close(dist, ((x - c[labels]) ** 2).sum(1), rtol=1e-4, atol=1e-4)
    even = torch.cat([x[:25], x[90:100], x[25:40]])  # 40 points, capacity 10, nearest already fits
    near, _ = nearest(even[:20], c[:2])
    bal, _ = balanced_assign(even[:20], c[:2])
    if torch.bincount(near, minlength=2).max() <= 10:
        assert torch.equal(near, bal)


def test_balanced_rqkmeans_caps_every_level_and_spreads_codes():
    x = torch.from_numpy(clustered(512, 8, levels=2, branching=3, seed=3, noise=0.2))
    plain = RQKMeans(2, 32, seed=0).fit(x)
    codes = RQKMeans(2, 32, balanced=True, seed=0).fit(x)
    for level in range(2):
        assert torch.bincount(codes[:, level], minlength=32).max().item() <= 16
    # 3 natural top clusters cannot fill 32 codes evenly, so capping must change the first level
    assert torch.bincount(plain[:, 0], minlength=32).max().item() > 16


def test_bad_configs_fail_with_a_clear_message():
    x = torch.randn(100, 8)
    with pytest.raises(SemanticIdConfigError, match="codes=128 is larger than the number of items"):
        RQKMeans(3, 128).fit(x)
    with pytest.raises(SemanticIdConfigError, match=r"codes\*\*levels = 4\*\*3 = 64 is smaller"):
        RQKMeans(3, 4).fit(x)
    rq = RQKMeans(2, 10)
    rq.fit(x)
    with pytest.raises(SemanticIdConfigError, match="do not match the codebook dimension 8"):
        rq.encode(torch.randn(5, 9))
    with pytest.raises(SemanticIdConfigError, match=r"codes must lie in \[0, 10\)"):
        rq.decode(torch.tensor([[0, 10]]))
    with pytest.raises(SemanticIdConfigError, match="not fitted"):
        RQKMeans(2, 10).encode(x)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(SemanticIdConfigError, match=r"NaN or inf in rows \[3\]"):
        RQKMeans(2, 10).fit(bad)
    zero = x.clone()
    zero[7] = 0
    with pytest.raises(SemanticIdConfigError, match=r"rows \[7\] are all-zero"):
        RQKMeans(2, 10).fit(zero)
    RQKMeans(2, 10, normalize=False).fit(zero)  # fine without normalisation


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu_closely():
    x = torch.from_numpy(clustered(2000, 32, levels=2, branching=8, seed=4, noise=0.05))
    cpu = RQKMeans(2, 16, seed=0)
    gpu = RQKMeans(2, 16, seed=0, device="cuda")
    c_cpu, c_gpu = cpu.fit(x), gpu.fit(x).cpu()
    assert (c_cpu == c_gpu).float().mean() > 0.99
    assert torch.equal(gpu.fit(x).cpu(), c_gpu)  # deterministic on the GPU too

"""Bootstrap CIs over users on distributions whose answer is known."""

import numpy as np
import pytest

from movielens_dag.recommender.stats import bootstrap, paired_bootstrap, per_event


def test_per_event_metrics():
    ranks = np.array([0, 1, 9, 10, 49])
    assert per_event(ranks, "hr@10").tolist() == [1, 1, 1, 0, 0]
    assert per_event(ranks, "ndcg@10")[:2] == pytest.approx([1.0, 1 / np.log2(3)])
    assert per_event(ranks, "mrr")[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown metric"):
        per_event(ranks, "auc")


def test_ci_covers_the_true_mean_about_95_percent_of_the_time():
    # 300 users, each with 1-20 events that hit with probability 0.3: both micro and macro estimate 0.3
    rng = np.random.default_rng(0)
    covered = {"micro": 0, "macro": 0}
    widths = []
    trials = 120
    for t in range(trials):
        n = rng.integers(1, 21, size=300)
        users = np.repeat(np.arange(300), n)
        values = (rng.random(users.size) < 0.3).astype(float)
        est = bootstrap(values, users, n_boot=400, seed=t)
        for kind in covered:
            covered[kind] += est[kind].low <= 0.3 <= est[kind].high
        widths.append(est["micro"].high - est["micro"].low)
    for kind, hits in covered.items():
        assert 0.88 <= hits / trials <= 0.995, (kind, hits)
    # ~ 2 * 1.96 * sqrt(p (1 - p) / events) with ~3,150 events
    assert np.mean(widths) == pytest.approx(2 * 1.96 * np.sqrt(0.21 / 3150), rel=0.25)


def test_users_not_events_are_resampled():
    # one user holds 1,000 events that all hit, 99 users hold one miss each: the event-level mean is
    # 0.91, but the CI must reflect that it rests on a single user
    users = np.r_[np.zeros(1000, int), np.arange(1, 100)]
    values = np.r_[np.ones(1000), np.zeros(99)]
    est = bootstrap(values, users, n_boot=2000)
    assert est["micro"].value == pytest.approx(1000 / 1099)
    assert est["micro"].low < 0.5  # samples without that user have no hit at all
    assert est["macro"].value == pytest.approx(0.01)


def test_paired_difference():
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(200), 5)
    base = rng.random(users.size)
    same = paired_bootstrap(base, base, users)
    assert same["micro"].value == 0 and same["micro"].low == 0 and same["micro"].high == 0
    better = paired_bootstrap(base + 0.05, base, users)["micro"]
    assert better.value == pytest.approx(0.05) and better.excludes_zero()
    noisy = paired_bootstrap(base + rng.normal(0, 0.3, users.size), base, users)["micro"]
    assert not noisy.excludes_zero()  # zero-mean noise: the CI straddles 0 (fixed seeds, deterministic)
    with pytest.raises(ValueError, match="align"):
        paired_bootstrap(base[:-1], base, users)

"""Bootstrap confidence intervals over users, for metrics computed per event.

A test set of E events from U users is a sample of users, not of independent events (one heavy user
can hold a third of the events), so the bootstrap resamples *users* with replacement and recomputes:

    micro  = sum over resampled users of their metric sums / sum of their event counts  (all events)
    macro  = mean over resampled users of each user's mean metric                       (per user)

A paired CI of a difference (variant - baseline) applies the same user resample to both, so the
per-user correlation between two models on the same events is kept. Plain numpy.
"""

from dataclasses import dataclass

import numpy as np


def per_event(ranks: np.ndarray, metric: str) -> np.ndarray:
    """[E] float: the metric of each event from its 0-based rank ('hr@k', 'ndcg@k' or 'mrr')."""
    r = np.asarray(ranks, dtype=np.float64)
    if metric == "mrr":
        return 1.0 / (r + 1.0)
    name, _, k = metric.partition("@")
    if name == "hr":
        return (r < int(k)).astype(np.float64)
    if name == "ndcg":
        return np.where(r < int(k), 1.0 / np.log2(r + 2.0), 0.0)
    raise ValueError(f"unknown metric {metric!r}: use hr@k, ndcg@k or mrr")


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _user_sums(values: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """per-user sums [U] and event counts [U] (users in sorted order)."""
    _, inverse = np.unique(users, return_inverse=True)
    return np.bincount(inverse, weights=values), np.bincount(inverse).astype(np.float64)


def _weights(n_users: int, n_boot: int, seed: int) -> np.ndarray:
    """[B, U] how often each user is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=n_boot).astype(np.float64)


def _estimate(point: float, boots: np.ndarray, level: float) -> Estimate:
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots[np.isfinite(boots)], [alpha, 1 - alpha])
    return Estimate(float(point), float(lo), float(hi))


def bootstrap(
    values: np.ndarray, users: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """values [E] (one metric per event), users [E] -> {'micro', 'macro'} estimates with CIs."""
    if len(values) == 0:
        nan = Estimate(float("nan"), float("nan"), float("nan"))
        return {"micro": nan, "macro": nan}
    s, n = _user_sums(np.asarray(values, np.float64), np.asarray(users))
    w = _weights(len(s), n_boot, seed)  # [B, U]
    with np.errstate(invalid="ignore", divide="ignore"):
        micro = (w @ s) / (w @ n)
    macro = (w @ (s / n)) / len(s)
    return {"micro": _estimate(s.sum() / n.sum(), micro, level), "macro": _estimate(np.mean(s / n), macro, level)}


def paired_bootstrap(
    values: np.ndarray, baseline: np.ndarray, users: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """CI of (variant - baseline) over the same events [E]: micro and macro, users resampled jointly."""
    if np.shape(values) != np.shape(baseline) or np.shape(values) != np.shape(users):
        raise ValueError("paired bootstrap needs the same events for both: values, baseline and users must align")
    return bootstrap(np.asarray(values, np.float64) - np.asarray(baseline, np.float64), users, n_boot, level, seed)

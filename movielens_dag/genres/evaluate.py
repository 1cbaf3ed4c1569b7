"""Thresholds chosen on validation, decoding, and precision / recall / F1 (per genre, micro, macro).

All functions take plain arrays: probabilities (n, G) float, labels and predictions (n, G) bool.
"""

from dataclasses import dataclass

import numpy as np

THRESHOLDS = np.round(np.arange(0.02, 0.99, 0.01), 2)  # the grid each genre's threshold is chosen from


def choose_thresholds(p: np.ndarray, y: np.ndarray, grid: np.ndarray = THRESHOLDS) -> np.ndarray:
    """Per genre, the grid value with the best F1 on (p, y) (the lowest of equals; 0.5 with no positives)."""
    pred = p[:, :, None] >= grid[None, None, :]  # (n, G, T)
    tp = (pred & y[:, :, None]).sum(0)  # (G, T)
    fp = (pred & ~y[:, :, None]).sum(0)
    fn = y.sum(0)[:, None] - tp
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    best = grid[np.argmax(f1, axis=1)]
    return np.where(y.sum(0) > 0, best, 0.5)


def choose_shared_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """One threshold for all genres, the one with the best micro-F1 on (p, y) among the distinct values of p.

    For the label-frequency baseline (p = each genre's frequency for every movie) this picks the best
    "always predict the m most frequent genres" rule, the strongest rule that knows only the prior.
    """
    best_t, best_f1 = 1.0, -1.0
    for t in np.unique(p)[::-1]:
        f1 = micro_f1(y, p >= t)
        if f1 > best_f1:
            best_t, best_f1 = float(t), f1
    return best_t


def decode(p: np.ndarray, thresholds: np.ndarray, at_least_one: bool = True) -> np.ndarray:
    """Genres at or above their threshold; a movie with none gets the one closest to its threshold
    (highest p / threshold), as every labelled MovieLens movie has at least one genre."""
    pred = p >= thresholds[None, :]
    if at_least_one:
        empty = ~pred.any(1)
        best = np.argmax(p[empty] / thresholds[None, :], axis=1)
        pred[np.flatnonzero(empty), best] = True
    return pred


@dataclass(frozen=True)
class Scores:
    support: np.ndarray  # (G,) positives
    precision: np.ndarray  # (G,)
    recall: np.ndarray  # (G,)
    f1: np.ndarray  # (G,)
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_f1: float  # mean F1 over genres with at least one positive


def scores(y: np.ndarray, pred: np.ndarray) -> Scores:
    tp, fp, fn = (pred & y).sum(0), (pred & ~y).sum(0), (~pred & y).sum(0)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    TP, FP, FN = tp.sum(), fp.sum(), fn.sum()
    present = y.sum(0) > 0
    return Scores(
        y.sum(0),
        precision,
        recall,
        f1,
        float(TP / max(TP + FP, 1)),
        float(TP / max(TP + FN, 1)),
        float(2 * TP / max(2 * TP + FP + FN, 1)),
        float(f1[present].mean()) if present.any() else 0.0,
    )


def micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    return scores(y, pred).micro_f1


def bootstrap_difference(
    y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile CI of micro-F1(a) - micro-F1(b), resampling movies with replacement (paired)."""
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    diffs = np.empty(resamples)
    for r in range(resamples):
        rows = rng.integers(0, n, n)
        diffs[r] = micro_f1(y[rows], pred_a[rows]) - micro_f1(y[rows], pred_b[rows])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(low), float(high)

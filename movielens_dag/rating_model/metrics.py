"""Rating metrics: RMSE, MAE, per-user NDCG@10 of the held-out movies, and slices.

NDCG@10: for each user with at least ``MIN_NDCG_ITEMS`` held-out ratings, rank those movies by the
predicted rating and score the ranking with the true ratings as gains (DCG = sum of rating / log2(rank
+ 1) over the top 10, divided by the best possible DCG); the mean over users is reported. Ties in the
prediction are broken pessimistically (the lower true rating first), so a constant prediction gets no
credit. ``random_ndcg`` gives the chance level of the same number.

Slices: by how many training ratings the movie has (unseen / <= 5 / > 5) and how many the user has
(unseen / <= 50 / > 50).

Plain code: numpy only.
"""

import itertools

import numpy as np

K = 10
MIN_NDCG_ITEMS = 2  # a user's single held-out movie is always ranked perfectly: not counted
MOVIE_SLICES = {"movie_unseen": (0, 0), "movie_le5": (1, 5), "movie_gt5": (6, None)}
USER_SLICES = {"user_unseen": (0, 0), "user_le50": (1, 50), "user_gt50": (51, None)}


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - y) ** 2))) if len(y) else float("nan")


def mae(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - y))) if len(y) else float("nan")


def _dcg(gains: np.ndarray, k: int) -> float:
    g = gains[:k]
    return float((g / np.log2(np.arange(2, g.size + 2))).sum())


def ndcg_per_user(
    users: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int = K, min_items: int = MIN_NDCG_ITEMS
) -> np.ndarray:
    """NDCG@k of each user with >= min_items ratings (ranking by ``pred``, gains = ``y``) -> [users]."""
    users = np.asarray(users)
    order = np.lexsort((y, -np.asarray(pred, np.float64), users))  # by user, prediction desc, true rating asc
    u, y_sorted = users[order], np.asarray(y, np.float64)[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    bounds = np.r_[starts, u.size]
    out = []
    for a, b in itertools.pairwise(bounds):
        if b - a < min_items:
            continue
        gains = y_sorted[a:b]
        ideal = _dcg(np.sort(gains)[::-1], k)
        out.append(_dcg(gains, k) / ideal if ideal > 0 else 0.0)
    return np.asarray(out, np.float64)


def random_ndcg(users: np.ndarray, y: np.ndarray, k: int = K, draws: int = 20, seed: int = 0) -> float:
    """Chance level: mean NDCG@k when each user's held-out movies are ranked in random order."""
    rng = np.random.default_rng(seed)
    return float(np.mean([ndcg_per_user(users, y, rng.random(len(y)), k).mean() for _ in range(draws)]))


def _in(counts: np.ndarray, bounds: tuple[int, int | None]) -> np.ndarray:
    lo, hi = bounds
    return (counts >= lo) & (counts <= hi) if hi is not None else counts >= lo


def evaluate(
    pred: np.ndarray, y: np.ndarray, users: np.ndarray, movie_train_count: np.ndarray, user_train_count: np.ndarray
) -> dict[str, float]:
    """Every metric of one set of predictions: overall and per slice (``<slice>_rmse``, ``_mae``, ``_n``)."""
    ndcg = ndcg_per_user(users, y, pred)
    out = {
        "rmse": rmse(pred, y),
        "mae": mae(pred, y),
        "ndcg_10": float(ndcg.mean()) if ndcg.size else float("nan"),
        "n": len(y),
        "ndcg_users": int(ndcg.size),
    }
    for slices, counts in ((MOVIE_SLICES, movie_train_count), (USER_SLICES, user_train_count)):
        for name, bounds in slices.items():
            m = _in(counts, bounds)
            out.update(
                {f"{name}_rmse": rmse(pred[m], y[m]), f"{name}_mae": mae(pred[m], y[m]), f"{name}_n": int(m.sum())}
            )
    return out


def paired_bootstrap(
    y: np.ndarray,
    users: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    draws: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """RMSE(a) - RMSE(b) on the same ratings, with a bootstrap CI that resamples *users* (their
    ratings are not independent). ``pred_a``/``pred_b``: [R] or [S, R] (one row per seed: the
    difference is averaged over seeds, as the leaderboard averages the metric)."""
    pa_, pb_ = np.atleast_2d(pred_a).astype(np.float64), np.atleast_2d(pred_b).astype(np.float64)
    _, u = np.unique(users, return_inverse=True)
    n_users = int(u.max()) + 1
    n_u = np.bincount(u, minlength=n_users).astype(np.float64)  # [U]
    sse_a = np.stack([np.bincount(u, (p - y) ** 2, n_users) for p in pa_])  # [S, U]
    sse_b = np.stack([np.bincount(u, (p - y) ** 2, n_users) for p in pb_])  # [S, U]

    def diff(w: np.ndarray) -> np.ndarray:  # w [D, U] user weights -> [D]
        n = w @ n_u  # [D]
        return (np.sqrt((w @ sse_a.T) / n[:, None]) - np.sqrt((w @ sse_b.T) / n[:, None])).mean(1)

    rng = np.random.default_rng(seed)
    w = rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=draws).astype(np.float64)  # [D, U]
    boot = diff(w)
    alpha = (1 - level) / 2
    point = float(diff(np.ones((1, n_users)))[0])
    return {
        "diff": point,
        "lo": float(np.quantile(boot, alpha)),
        "hi": float(np.quantile(boot, 1 - alpha)),
        "p_a_not_better": float(np.mean(boot >= 0)),
        "users": n_users,
        "ratings": len(y),
    }

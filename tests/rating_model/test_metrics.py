"""Metrics and result tables against hand computations."""

import math

import numpy as np
import pandas as pd
import pytest

from movielens_dag.rating_model.metrics import evaluate, mae, ndcg_per_user, paired_bootstrap, random_ndcg, rmse
from movielens_dag.rating_model.results import chart_png, leaderboard, markdown


def test_rmse_and_mae():
    assert rmse(np.array([3.0, 4.0]), np.array([4.0, 2.0])) == pytest.approx(math.sqrt((1 + 4) / 2))
    assert mae(np.array([3.0, 4.0]), np.array([4.0, 2.0])) == pytest.approx(1.5)


def test_ndcg_by_hand_and_pessimistic_ties():
    users = np.array([1, 1, 1, 2])  # user 2 has one rating: not counted
    y = np.array([5.0, 3.0, 1.0, 4.0])
    perfect = ndcg_per_user(users, y, np.array([3.0, 2.0, 1.0, 0.0]))
    assert perfect.tolist() == [1.0]
    # predicted order: 1.0-rated first, then 5.0, then 3.0
    got = ndcg_per_user(users, y, np.array([0.0, -1.0, 9.0, 0.0]))[0]
    dcg = 1 / math.log2(2) + 5 / math.log2(3) + 3 / math.log2(4)
    idcg = 5 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    assert got == pytest.approx(dcg / idcg)
    # all predictions equal: ties put the lowest true rating first (the worst order)
    worst = (1 / math.log2(2) + 3 / math.log2(3) + 5 / math.log2(4)) / idcg
    assert ndcg_per_user(users, y, np.zeros(4))[0] == pytest.approx(worst)
    assert worst < random_ndcg(users, y, draws=200) < 1.0


def test_ndcg_cuts_at_ten():
    users = np.zeros(12, int)
    y = np.r_[np.ones(10), 5.0, 5.0]
    pred = -np.arange(12.0)  # the two 5s ranked 11th and 12th: outside the top 10
    dcg = sum(1 / math.log2(i + 2) for i in range(10))
    idcg = 5 + 5 / math.log2(3) + sum(1 / math.log2(i + 2) for i in range(2, 10))
    assert ndcg_per_user(users, y, pred)[0] == pytest.approx(dcg / idcg)


def test_slices_partition_the_ratings():
    pred, y = np.array([3.0, 3.0, 3.0, 3.0]), np.array([4.0, 2.0, 3.0, 5.0])
    m = evaluate(
        pred,
        y,
        np.array([1, 1, 2, 2]),
        movie_train_count=np.array([0, 3, 6, 100]),
        user_train_count=np.array([0, 0, 50, 51]),
    )
    assert (m["movie_unseen_n"], m["movie_le5_n"], m["movie_gt5_n"]) == (1, 1, 2)
    assert (m["user_unseen_n"], m["user_le50_n"], m["user_gt50_n"]) == (2, 1, 1)
    assert m["movie_gt5_rmse"] == pytest.approx(math.sqrt((0 + 4) / 2))
    assert m["movie_unseen_rmse"] == 1.0 and m["ndcg_users"] == 2


def test_paired_bootstrap_sees_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(100), 10)
    y = rng.uniform(1, 5, users.size)
    good, bad = y + rng.normal(0, 0.5, y.size), y + rng.normal(0, 1.0, y.size)
    res = paired_bootstrap(y, users, good, bad, draws=500)
    assert res["hi"] < 0 and res["diff"] < -0.3 and res["p_a_not_better"] == 0.0
    # two models with the same error distribution (two seeds each): the CI straddles 0
    twin = [y + rng.normal(0, 0.5, y.size) for _ in range(4)]
    same = paired_bootstrap(y, users, np.stack(twin[:2]), np.stack(twin[2:]), draws=500)
    assert abs(same["diff"]) < 0.03 and same["lo"] < 0 < same["hi"]


def fake_runs() -> pd.DataFrame:
    rows = []
    for split in ("temporal", "random"):
        for variant, base in (("bias", 1.0), ("dlrm-id", 0.9)):
            for seed, delta in enumerate((-0.01, 0.0, 0.01)):
                r = {
                    "dataset": "toy",
                    "split": split,
                    "variant": variant,
                    "model": variant.split("-")[0],
                    "seed": seed,
                    "best_epoch": 3,
                    "num_params": 10,
                    "cpu_seconds": 60.0,
                    "test_rmse": base + delta,
                    "valid_rmse": base,
                    "test_mae": base / 2,
                    "test_ndcg_10": 0.9,
                    "test_n": 100,
                    "test_ndcg_users": 10,
                }
                for s in ("movie_unseen", "movie_le5", "movie_gt5", "user_unseen", "user_le50", "user_gt50"):
                    r.update({f"test_{s}_rmse": base, f"test_{s}_n": 10})
                rows.append(r)
    return pd.DataFrame(rows)


def test_leaderboard_mean_std_ci_and_rank():
    board = leaderboard(fake_runs())
    assert board["split"].tolist() == ["temporal", "temporal", "random", "random"]
    top = board.iloc[0]
    assert (top["variant"], top["rank"], top["seeds"]) == ("dlrm-id", 1, 3)
    assert top["test_rmse"] == pytest.approx(0.9) and top["test_rmse_std"] == pytest.approx(0.01)
    assert top["test_rmse_ci95"] == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)
    assert top["cpu_minutes"] == pytest.approx(3.0) and top["cpu_minutes_per_seed"] == pytest.approx(1.0)
    table = markdown(board)
    assert "| temporal | 1 | `dlrm-id` | 3 | 0.9000 ± 0.0100 |" in table
    assert chart_png(board)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no rating-model runs"):
        leaderboard(pd.DataFrame())

import math

import numpy as np
import pytest
import torch

from movielens_dag.recommender.metrics import head_items, metrics_from_ranks, slice_metrics, target_ranks


def test_ranks_against_hand_computed_ranking():
    # 6 item rows (0 = padding). User 0: target 3; item 5 scores higher but is in history, item 1 higher.
    scores = torch.tensor(
        [
            [9.0, 0.9, 0.1, 0.5, 0.2, 0.95],
            [9.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        ]
    )
    targets = torch.tensor([3, 1])
    history = [np.array([5, 2]), np.array([], dtype=np.int64)]
    ranks = target_ranks(scores, targets, history)
    # user 0: candidates {1: .9, 3: .5, 4: .2}; padding and history excluded -> rank 1
    # user 1: candidates {1..5}; target 1 has the lowest score -> rank 4
    assert ranks.tolist() == [1, 4]


def test_ties_are_pessimistic_and_target_in_history_still_ranked():
    scores = torch.zeros(1, 5)
    ranks = target_ranks(scores, torch.tensor([2]), [np.array([2])])
    assert ranks.tolist() == [3]  # 3 other real items tie with the target: all counted above it


def test_nan_scores_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(torch.tensor([[0.0, float("nan")]]), torch.tensor([1]), [np.array([])])


def test_metrics_from_ranks_by_hand():
    m = metrics_from_ranks(np.array([0, 3, 9, 10, 60]))
    assert m["hr@1"] == pytest.approx(1 / 5)
    assert m["hr@10"] == pytest.approx(3 / 5)
    assert m["hr@50"] == pytest.approx(4 / 5)
    assert m["hr@200"] == pytest.approx(1.0)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(11)) / 5)
    assert m["ndcg@50"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(11) + 1 / math.log2(12)) / 5)
    assert m["mrr"] == pytest.approx((1 + 1 / 4 + 1 / 10 + 1 / 11 + 1 / 61) / 5)


def test_slices_cold_head_tail():
    counts = np.array([0, 100, 50, 5, 0, 1, 2, 3, 4, 6, 7])  # 10 items; head = top 2 (rows 1, 2)
    head = head_items(counts)
    assert np.flatnonzero(head).tolist() == [1, 2]
    ranks = np.array([0, 20, 5, 0])
    targets = np.array([1, 4, 3, 10])
    s = slice_metrics(ranks, targets, counts)
    assert s["cold"]["n"] == 2 and s["cold"]["hr@10"] == pytest.approx(0.5)  # rows 4 (0) and 3 (5)
    assert s["head"]["n"] == 1 and s["head"]["hr@1"] == 1.0
    assert s["tail"]["n"] == 3 and s["tail"]["hr@10"] == pytest.approx(2 / 3)

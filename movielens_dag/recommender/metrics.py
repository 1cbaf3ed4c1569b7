"""Full-ranking evaluation: every item is a candidate except padding and the user's history.

Ranks are 0-based and pessimistic about ties (an item scoring exactly the target's score counts as
ranked above it), so a model that scores everything equally gets no credit.
"""

import numpy as np
import torch

from .columns import HR_CUTOFFS, NDCG_CUTOFFS

COLD_MAX_TRAIN = 5  # a target item is "cold" with at most this many training interactions
HEAD_SHARE = 0.2  # "head" = the 20% most-interacted items in training, "tail" = the rest


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, history: list[np.ndarray]) -> torch.Tensor:
    """scores [B, N + 1] (column 0 = padding), targets [B] item rows, history: B arrays of item rows
    to exclude (the target itself is never excluded) -> [B] int64 ranks (0 = top)."""
    if torch.isnan(scores).any():
        raise ValueError("NaN in scores")
    b = torch.arange(len(targets))
    t = scores[b, targets.long()].clone()  # the target keeps its own score even if in history
    scores = scores.clone()
    scores[:, 0] = float("-inf")
    rows = np.concatenate([np.full(len(h), i) for i, h in enumerate(history)]) if history else []
    cols = np.concatenate(history) if history else []
    if len(cols):
        scores[torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)] = float("-inf")
    scores[b, targets.long()] = float("-inf")  # not counted against itself
    return (scores >= t[:, None]).sum(dim=1)


def metrics_from_ranks(ranks: np.ndarray) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        return {
            **{f"hr@{k}": float("nan") for k in HR_CUTOFFS},
            **{f"ndcg@{k}": float("nan") for k in NDCG_CUTOFFS},
            "mrr": float("nan"),
        }
    out = {f"hr@{k}": float(np.mean(r < k)) for k in HR_CUTOFFS}
    gain = 1.0 / np.log2(r + 2.0)
    out.update({f"ndcg@{k}": float(np.mean(np.where(r < k, gain, 0.0))) for k in NDCG_CUTOFFS})
    out["mrr"] = float(np.mean(1.0 / (r + 1.0)))
    return out


def head_items(train_counts: np.ndarray, share: float = HEAD_SHARE) -> np.ndarray:
    """[N + 1] bool: the ceil(share * N) items with the most training interactions (ties -> lower row)."""
    n = len(train_counts) - 1
    order = np.lexsort((np.arange(1, n + 1), -train_counts[1:])) + 1  # by count desc, then row
    head = np.zeros(n + 1, dtype=bool)
    head[order[: int(np.ceil(share * n))]] = True
    return head


def slice_masks(targets: np.ndarray, train_counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per evaluated event, which slice its target item falls in; "new" = no training interaction at all
    (under the temporal protocol: a movie first rated after the training cut)."""
    head = head_items(train_counts)
    return {
        "cold": train_counts[targets] <= COLD_MAX_TRAIN,
        "head": head[targets],
        "tail": ~head[targets],
        "new": train_counts[targets] == 0,
    }


def slice_metrics(ranks: np.ndarray, targets: np.ndarray, train_counts: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for name, m in slice_masks(targets, train_counts).items():
        out[name] = {"n": int(m.sum()), **metrics_from_ranks(ranks[m])}
    return out

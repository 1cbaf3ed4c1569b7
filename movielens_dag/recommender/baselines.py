"""Baselines that need no training: most-popular (in train.py) and content-only.

Content-only: a movie's score for an event is the cosine between its text embedding and the mean
embedding of the user's ``recent`` most recent movies before the event (``movie_embeddings`` vectors,
L2-normalised). It knows nothing about interactions beyond that history, so it scores a brand-new
movie exactly like an old one: what the text alone can do.
"""

import numpy as np
import torch

from .data import ItemIndex, Split
from .train import RunResult, finish, rank_events


def item_matrix(index: ItemIndex, movie_ids: np.ndarray, vectors: np.ndarray) -> torch.Tensor:
    """[N + 1, d] L2-normalised vectors in item-row order (row 0 = zeros), joined on movie id. Raises
    KeyError naming movies of the index that have no vector."""
    ids = np.asarray(movie_ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], np.asarray(vectors, dtype=np.float32)[order]
    pos = np.searchsorted(ids, index.movie_ids)
    found = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == index.movie_ids)
    if not found.all():
        missing = index.movie_ids[~found]
        raise KeyError(
            f"{missing.size} rated movie(s) have no embedding, e.g. movie_id {missing[:5].tolist()}; "
            "re-materialize movie_embeddings for the same release"
        )
    out = np.zeros((index.num_items + 1, vectors.shape[1]), dtype=np.float32)
    out[1:] = vectors[pos]
    return torch.nn.functional.normalize(torch.from_numpy(out), dim=-1)


def content_profiles(split: Split, stage: str, vecs: torch.Tensor, recent: int) -> torch.Tensor:
    """[E, d] the mean vector of each event's ``recent`` last prior movies (normalised)."""
    events = split.events(stage)
    out = torch.zeros(len(events), vecs.shape[1])
    for e, (u, p) in enumerate(zip(events.users, events.positions)):
        out[e] = vecs[split.seqs.items[u][max(0, p - recent) : p]].mean(0)
    return torch.nn.functional.normalize(out, dim=-1)


def content_run(split: Split, vecs: torch.Tensor, recent: int = 10) -> RunResult:
    """Rank every item for every event by cosine to the recent-history profile (history excluded)."""
    if recent < 1:
        raise ValueError(f"recent must be >= 1, got {recent}")
    ranked = {}
    for stage in ("valid", "test"):
        prof = content_profiles(split, stage, vecs, recent)
        ranked[stage] = rank_events(split, stage, lambda idx, prof=prof: prof[idx] @ vecs.T)
    return finish(split, 0, ranked["valid"], ranked["test"])

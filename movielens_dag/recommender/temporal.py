"""The temporal protocol: train before a global cut, validate between the cuts, test after the second.

    events of user u, in time order:  [ train (t < valid_start) | valid | test (t >= test_start) ]

The model trains only on each user's events before ``valid_start`` (the training cut). Every
validation and test event is predicted from the user's full history before it (the last max_len items
of it), which may include earlier validation/test events: the model reads them, never trains on them, and
never reads a later event. A user's very first event has no history and cannot be predicted; such events
are counted in ``Split.info`` (``*_events_without_history``), not silently dropped.

The item index covers every movie of the ratings, including movies first rated after the training cut:
their rows exist, an ID embedding never trains them, and the training loss never uses them as
negatives (``Split.candidates`` = items with a training interaction), so nothing about them leaks in
through the softmax. A *new movie* is one with no interaction before the training cut.
"""

import numpy as np

from movielens_dag.splits import TemporalCuts, TemporalSplitSettings, temporal_cuts

from .data import EvalEvents, Sequences, Split


def temporal_split(
    seqs: Sequences,
    settings: TemporalSplitSettings | None = None,
    cuts: TemporalCuts | None = None,
    max_valid_events: int | None = None,
) -> Split:
    """The Split of the temporal protocol (cuts from ``movielens_dag.splits.temporal_cuts`` unless given).

    ``max_valid_events``: validate (early stopping, selection) on a fixed random subset of that many
    validation events (seed 0, the same for every variant) to bound the per-epoch cost; None = all."""
    if cuts is None:
        cuts = temporal_cuts(np.concatenate(seqs.times), settings or TemporalSplitSettings())
    n_train = np.zeros(len(seqs.items), dtype=np.int64)
    stages: dict[int, tuple[list, list]] = {1: ([], []), 2: ([], [])}
    no_history = {1: 0, 2: 0}
    for u, times in enumerate(seqs.times):
        period = cuts.period(times)  # 0 train, 1 valid, 2 test; times are sorted, so periods are too
        n_train[u] = int((period == 0).sum())
        for stage in (1, 2):
            pos = np.flatnonzero(period == stage)
            no_history[stage] += int((pos == 0).sum())
            pos = pos[pos > 0]
            stages[stage][0].append(np.full(len(pos), u, dtype=np.int64))
            stages[stage][1].append(pos.astype(np.int64))
    valid, test = (EvalEvents(np.concatenate(stages[s][0]), np.concatenate(stages[s][1])) for s in (1, 2))
    all_valid = len(valid)
    if max_valid_events is not None and len(valid) > max_valid_events:
        keep = np.sort(np.random.default_rng(0).choice(len(valid), max_valid_events, replace=False))
        valid = EvalEvents(valid.users[keep], valid.positions[keep])
    if len(test) == 0 or len(valid) == 0:
        raise ValueError(
            f"the temporal cuts leave {len(valid)} validation and {len(test)} test events with history; "
            "move the cut quantiles"
        )
    split = Split(
        seqs=seqs,
        n_train=n_train,
        eval_users=np.unique(test.users),
        valid_events=valid,
        test_events=test,
        protocol="temporal",
    )
    counts = split.train_counts()
    split.candidates = np.flatnonzero(counts[1:] > 0) + 1  # items known before the training cut
    split.info = {
        "valid_start": cuts.valid_start,
        "test_start": cuts.test_start,
        "train_events": int(n_train.sum()),
        "valid_events": len(valid),
        "valid_events_in_period": all_valid,
        "test_events": len(test),
        "valid_users": len(np.unique(valid.users)),
        "test_users": len(split.eval_users),
        "valid_events_without_history": no_history[1],
        "test_events_without_history": no_history[2],
        "known_items": len(split.candidates),
        "items": split.num_items,
    }
    return split


def new_item_mask(split: Split, targets: np.ndarray) -> np.ndarray:
    """[E] bool: the target movie has no interaction before the training cut."""
    return split.train_counts()[targets] == 0

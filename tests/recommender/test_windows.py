"""Long histories: the window sampler makes every training interaction a target."""

import numpy as np
import pandas as pd
import pytest

from movielens_dag.recommender.data import build_sequences, leave_one_out, train_batch, training_windows, window_ends


def split_of(lengths: list[int]):
    rows = [(u, 1000 * u + t, t) for u, n in enumerate(lengths) for t in range(n)]
    return leave_one_out(build_sequences(pd.DataFrame(rows, columns=["user_id", "movie_id", "timestamp"])))


def targets_of(split, users, ends, max_len) -> set[tuple[int, int]]:
    """(user, target index in the train prefix) of every trained position."""
    b = train_batch(split, users, max_len, ends)
    out = set()
    for i, u in enumerate(users):
        valid = b.targets[i] != 0
        n = int(valid.sum())
        out |= {(int(u), int(ends[i]) - k) for k in range(n)}
        rows = split.seqs.items[u]
        assert b.targets[i][valid].tolist() == rows[int(ends[i]) - n + 1 : int(ends[i]) + 1].tolist()
    return out


def every_target(split) -> set[tuple[int, int]]:
    return {(u, t) for u, n in enumerate(split.n_train) for t in range(1, n)}


def test_tiles_cover_each_target_once():
    for n, max_len in [(1, 5), (2, 5), (6, 5), (7, 5), (23, 5), (11, 1)]:
        ends = window_ends(n, max_len)
        covered = [t for e in ends for t in range(max(1, e - max_len + 1), e + 1)]
        assert sorted(covered) == list(range(1, n))


@pytest.mark.parametrize("max_len", [3, 7, 50])
def test_all_windows_cover_every_training_position_in_one_epoch(max_len):
    split = split_of([2, 3, 9, 30, 61, 4])
    users, ends = training_windows(split, max_len, "all")
    assert targets_of(split, users, ends, max_len) == every_target(split)


def test_sampled_windows_cover_every_position_within_the_cycle():
    split = split_of([5, 12, 40, 97])
    max_len = 4
    tiles = max(len(window_ends(int(n), max_len)) for n in split.n_train)
    seen = set()
    for epoch in range(tiles):
        users, ends = training_windows(split, max_len, "sample", epoch=epoch, seed=3)
        assert len(users) == len(np.unique(users))  # one window per user per epoch
        seen |= targets_of(split, users, ends, max_len)
    assert seen == every_target(split)
    # another seed starts each user's cycle elsewhere
    a = training_windows(split, max_len, "sample", epoch=0, seed=3)[1]
    b = training_windows(split, max_len, "sample", epoch=0, seed=4)[1]
    assert not np.array_equal(a, b)


def test_last_window_is_the_published_behaviour():
    split = split_of([12, 4, 3])  # train prefixes of 10, 2 and 1 items (the last has no target)
    users, ends = training_windows(split, 4, "last")
    assert users.tolist() == [0, 1] and ends.tolist() == [9, 1]
    b = train_batch(split, users, 4, ends)
    old = train_batch(split, users, 4)  # default: end of the train prefix
    assert b.items.tolist() == old.items.tolist() and b.targets.tolist() == old.targets.tolist()
    with pytest.raises(ValueError, match="outside"):
        train_batch(split, np.array([0]), 4, np.array([10]))

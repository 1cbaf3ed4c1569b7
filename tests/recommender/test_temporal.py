"""The temporal protocol on a hand-made example: the right events, the right new-movie set, candidates
limited to movies known at the training cut, and no event ever read by the prediction of an earlier one."""

import numpy as np
import pandas as pd
import pytest
import torch

from movielens_dag.recommender.config import EncoderConfig, RecConfig, TrainConfig
from movielens_dag.recommender.data import EvalEvents, build_sequences, event_groups
from movielens_dag.recommender.temporal import new_item_mask, temporal_split
from movielens_dag.recommender.train import build_model, evaluate, event_states, popularity_run
from movielens_dag.splits import TemporalCuts

CUTS = TemporalCuts(valid_start=100, test_start=200)
# (user, movie, time): train < 100 <= valid < 200 <= test
EVENTS = [
    (1, 10, 10),
    (1, 11, 20),
    (1, 12, 150),
    (1, 13, 210),
    (1, 50, 220),  # 50: first rated at 220 -> new
    (2, 11, 30),
    (2, 10, 40),
    (2, 12, 50),
    (2, 60, 160),
    (2, 13, 250),  # 60: first rated in validation
    (3, 70, 205),
    (3, 10, 230),
    (3, 60, 240),
    (3, 50, 260),  # user 3 arrives in the test period; 70 is new
    (4, 12, 60),
    (4, 11, 70),  # train only
]


def split_of(events=EVENTS):
    seqs = build_sequences(pd.DataFrame(events, columns=["user_id", "movie_id", "timestamp"]))
    return temporal_split(seqs, cuts=CUTS)


def movies(split, rows) -> list[int]:
    return split.seqs.item_index.movie_id(np.asarray(rows)).tolist()


def test_periods_events_and_new_movies():
    split = split_of()
    assert split.protocol == "temporal"
    assert split.n_train.tolist() == [2, 3, 0, 2]
    # every event after the cut with some history before it; user 3's first event has none
    valid = split.valid_events
    assert list(zip(valid.users.tolist(), valid.positions.tolist())) == [(0, 2), (1, 3)]
    test = split.test_events
    assert list(zip(test.users.tolist(), test.positions.tolist())) == [(0, 3), (0, 4), (1, 4), (2, 1), (2, 2), (2, 3)]
    assert split.info["test_events_without_history"] == 1 and split.info["valid_events_without_history"] == 0
    targets = test.targets(split.seqs)
    assert movies(split, targets) == [13, 50, 13, 10, 60, 50]
    # new = no interaction before the training cut: 13, 50, 60 (60 was first rated in validation), not 10
    assert new_item_mask(split, targets).tolist() == [True, True, True, False, True, True]
    # the index has rows for movies first seen later; the training loss only uses the known ones
    assert set(split.seqs.item_index.movie_ids.tolist()) == {10, 11, 12, 13, 50, 60, 70}
    assert movies(split, split.candidates) == [10, 11, 12]


def test_popularity_counts_training_events_only():
    split = split_of()
    res = popularity_run(split)
    # user 3 at position 2 (target 60, history 70, 10): 60 has 0 training events, ties with 13, 50 -> rank 4
    assert res.test_ranks[4] == 4
    assert res.test_slices["new"]["n"] == 5


TINY = RecConfig(
    encoder=EncoderConfig(dim=16, num_blocks=2, num_heads=2, max_len=3, dropout=0.0), train=TrainConfig(num_negatives=4)
)


@pytest.mark.parametrize("model", ["hstu", "sasrec"])
def test_a_later_event_never_changes_an_earlier_prediction(model):
    split = split_of()
    torch.manual_seed(0)
    net = build_model(RecConfig(model=model, encoder=TINY.encoder, train=TINY.train), split.num_items, None).eval()
    ranks, _ = evaluate(net, split, "test", max_len=3)
    states = event_states(net, split, "test", max_len=3)
    # change user 1's last test event (movie 50 -> 70, and its time): every other prediction is identical
    changed = [e if e != (1, 50, 220) else (1, 70, 299) for e in EVENTS]
    other = split_of(changed)
    assert np.array_equal(other.seqs.item_index.movie_ids, split.seqs.item_index.movie_ids)
    states2 = event_states(net, other, "test", max_len=3)
    ranks2, _ = evaluate(net, other, "test", max_len=3)
    keep = [0, 2, 3, 4, 5]  # all but the changed event itself
    assert torch.equal(states[keep], states2[keep])
    assert ranks[keep].tolist() == ranks2[keep].tolist()
    # each event's state equals the state computed from exactly its own last max_len items
    for e, (u, p) in enumerate(zip(split.test_events.users, split.test_events.positions)):
        alone = EvalEvents(np.array([u]), np.array([p]))
        split_alone = split_of()
        split_alone.test_events = alone
        assert torch.allclose(event_states(net, split_alone, "test", max_len=3)[0], states[e], atol=1e-6)
    assert len(ranks) == 6


def test_event_groups_share_inputs_only_while_the_history_fits():
    events = EvalEvents(np.array([0, 0, 0, 1]), np.array([2, 3, 7, 1]))
    groups = event_groups(events, max_len=3)
    spans = sorted((g.user, g.start, g.stop, g.positions.tolist()) for g in groups)
    assert spans == [(0, 0, 3, [2, 3]), (0, 4, 7, [7]), (1, 0, 1, [1])]

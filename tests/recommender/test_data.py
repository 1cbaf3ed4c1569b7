import numpy as np
import pandas as pd
import pytest

from movielens_dag.recommender.data import ItemIndex, build_sequences, eval_batch, leave_one_out, pad_left, train_batch


def ratings(rows):
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "timestamp"])


def test_sequences_sorted_by_time_with_stable_ties():
    r = ratings([(7, 30, 5), (7, 10, 1), (7, 20, 5), (3, 20, 2), (7, 40, 3)])
    s = build_sequences(r)
    assert s.item_index.movie_ids.tolist() == [10, 20, 30, 40]
    assert s.user_ids.tolist() == [3, 7]
    movies = [s.item_index.movie_id(x).tolist() for x in s.items]
    assert movies == [[20], [10, 40, 30, 20]]  # 30 and 20 tie at t=5: input order kept
    assert s.times[1].tolist() == [1, 3, 5, 5]


def test_datetime_timestamps_become_seconds():
    ts = pd.to_datetime([1_000, 2_000], unit="s", utc=True).astype("datetime64[ms, UTC]")
    s = build_sequences(pd.DataFrame({"user_id": [1, 1], "movie_id": [5, 6], "timestamp": ts}))
    assert s.times[0].tolist() == [1_000, 2_000]


def test_bad_ratings_give_clear_errors():
    with pytest.raises(ValueError, match="lacks column"):
        build_sequences(pd.DataFrame({"user_id": [1], "movie_id": [1]}))
    with pytest.raises(ValueError, match="empty"):
        build_sequences(ratings([]))
    with pytest.raises(KeyError, match="not in the item index"):
        ItemIndex(np.array([1, 5])).rows(np.array([5, 4]))


def test_leave_one_out_and_batches():
    r = ratings([(1, m, t) for t, m in enumerate([11, 12, 13, 14, 15])] + [(2, 11, 0), (2, 12, 1)])
    split = leave_one_out(build_sequences(r))
    assert split.n_train.tolist() == [3, 2] and split.eval_users.tolist() == [0]
    b = train_batch(split, np.array([0, 1]), max_len=10)
    assert b.items.tolist() == [[1, 2], [0, 1]]  # inputs, left-padded
    assert b.targets.tolist() == [[2, 3], [0, 2]]  # next item per position
    v, hist = eval_batch(split, np.array([0]), max_len=2, stage="valid")
    assert v.items.tolist() == [[2, 3]] and v.targets.tolist() == [4] and hist[0].tolist() == [1, 2, 3]
    t, hist = eval_batch(split, np.array([0]), max_len=10, stage="test")
    assert t.items.tolist() == [[1, 2, 3, 4]] and t.targets.tolist() == [5] and hist[0].tolist() == [1, 2, 3, 4]
    assert split.train_counts().tolist() == [0, 2, 2, 1, 0, 0]


def test_train_batch_truncates_to_the_most_recent_items():
    r = ratings([(1, m, t) for t, m in enumerate(range(100, 110))])
    split = leave_one_out(build_sequences(r))
    b = train_batch(split, np.array([0]), max_len=3)  # train = rows 1..8
    assert b.items.tolist() == [[5, 6, 7]] and b.targets.tolist() == [[6, 7, 8]]


def test_pad_left():
    assert pad_left([np.array([1, 2]), np.array([3])]).tolist() == [[1, 2], [0, 3]]
    with pytest.raises(ValueError):
        pad_left([np.array([1, 2, 3])], width=2)


def test_sequences_table_round_trip():
    from movielens_dag.recommender.data import sequences_from_table, sequences_table

    r = ratings([(1, m, t) for t, m in enumerate([11, 12, 13, 14])] + [(2, 12, 7), (2, 99, 3)])
    s = build_sequences(r)
    table = sequences_table(s)
    assert table.column("movie_ids").to_pylist() == [[11, 12, 13, 14], [99, 12]]
    assert table.column("valid_movie_id").to_pylist() == [13, None]
    assert table.column("test_movie_id").to_pylist() == [14, None]
    back = sequences_from_table(table)
    assert [x.tolist() for x in back.items] == [x.tolist() for x in s.items]
    assert [x.tolist() for x in back.times] == [x.tolist() for x in s.times]
    assert back.item_index.movie_ids.tolist() == s.item_index.movie_ids.tolist()


def test_user_sequences_table_equals_the_per_user_path():
    import pyarrow as pa

    from movielens_dag.recommender.data import sequences_table, user_sequences_table

    rng = np.random.default_rng(0)
    n = 5_000
    r = pd.DataFrame(
        {
            "user_id": rng.integers(1, 400, n),
            "movie_id": rng.integers(1, 300, n),
            # few distinct times (many ties) and sub-second parts, which round down
            "timestamp": pd.to_datetime(rng.integers(0, 40, n) * 1_000_000 + 999_999, unit="us", utc=True),
        }
    )
    r = pd.concat(
        [
            r,
            ratings([(10_001, 5, 7), (10_002, 6, 8), (10_002, 7, 8)]).assign(
                timestamp=lambda d: pd.to_datetime(d["timestamp"], unit="s", utc=True)
            ),
        ]
    )  # users with 1 and 2 ratings
    expected = sequences_table(build_sequences(r))
    got = user_sequences_table(pa.Table.from_pandas(r, preserve_index=False))
    assert got.equals(expected)
    assert got.column("test_movie_id").null_count == expected.column("test_movie_id").null_count > 0
    with pytest.raises(ValueError, match="lacks column"):
        user_sequences_table(pa.table({"user_id": [1], "movie_id": [1]}))
    with pytest.raises(ValueError, match="nulls"):
        user_sequences_table(pa.table({"user_id": [1, None], "movie_id": [1, 2], "timestamp": [1, 2]}))

"""User sequences, the leave-one-out split, padded batches and the SID lookup table.

Item indices are dense: row ``i >= 1`` is ``ItemIndex.movie_ids[i - 1]`` and row 0 is padding. Every
movie_id -> row translation goes through ``ItemIndex.rows`` (an explicit, checked lookup); nothing
in this package computes a row from a movie id by arithmetic.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch

from movielens_dag.semantic_ids.ids import SemanticIds

@dataclass(frozen=True)
class ItemIndex:
    """The item vocabulary: sorted, unique movie ids; item row = position + 1 (0 is padding)."""

    movie_ids: np.ndarray  # [N] int64, strictly increasing

    def __post_init__(self) -> None:
        ids = np.asarray(self.movie_ids, dtype=np.int64)
        if ids.ndim != 1 or (ids.size > 1 and not np.all(ids[1:] > ids[:-1])):
            raise ValueError("ItemIndex.movie_ids must be a 1-D, strictly increasing array")
        object.__setattr__(self, "movie_ids", ids)

    @property
    def num_items(self) -> int:
        return int(self.movie_ids.size)

    def rows(self, movie_ids: np.ndarray) -> np.ndarray:
        """movie ids -> item rows (1..N). Raises KeyError naming ids that are not in the index."""
        ids = np.asarray(movie_ids, dtype=np.int64)
        pos = np.searchsorted(self.movie_ids, ids)
        pos_c = np.minimum(pos, max(self.num_items - 1, 0))
        found = (pos < self.num_items) & (self.movie_ids[pos_c] == ids) if self.num_items else ids != ids
        if not np.all(found):
            missing = np.unique(ids[~found])
            raise KeyError(f"{missing.size} movie id(s) not in the item index, e.g. {missing[:5].tolist()}")
        return pos + 1

    def movie_id(self, rows: np.ndarray) -> np.ndarray:
        """item rows (1..N) -> movie ids."""
        rows = np.asarray(rows, dtype=np.int64)
        if np.any((rows < 1) | (rows > self.num_items)):
            raise IndexError("item rows must be in 1..num_items (0 is padding)")
        return self.movie_ids[rows - 1]


@dataclass
class Sequences:
    """Every user's interactions in time order (item rows and unix seconds)."""

    user_ids: np.ndarray  # [U] int64
    items: list[np.ndarray]  # U x [n_u] int64 item rows
    times: list[np.ndarray]  # U x [n_u] int64 unix seconds
    item_index: ItemIndex


def build_sequences(ratings: pd.DataFrame) -> Sequences:
    """Group ratings (user_id, movie_id, timestamp) into time-ordered sequences.

    Ties in timestamp keep the input row order (stable sort), so the result is deterministic.
    """
    missing = {"user_id", "movie_id", "timestamp"} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings lacks column(s) {sorted(missing)}")
    if len(ratings) == 0:
        raise ValueError("ratings is empty")
    if ratings[["user_id", "movie_id", "timestamp"]].isna().any().any():
        raise ValueError("ratings has nulls in user_id, movie_id or timestamp")
    ts = ratings["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(ts):
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts
        epoch = pd.Timestamp("1970-01-01", tz="UTC")
        secs = ((ts - epoch) // pd.Timedelta(seconds=1)).to_numpy(np.int64)  # any unit -> seconds
    else:
        secs = ts.to_numpy(np.int64)
    users = ratings["user_id"].to_numpy(np.int64)
    movies = ratings["movie_id"].to_numpy(np.int64)
    order = np.lexsort((secs, users))  # lexsort is stable: equal keys keep row order
    users, movies, secs = users[order], movies[order], secs[order]
    index = ItemIndex(np.unique(movies))
    rows = index.rows(movies)
    user_ids, starts = np.unique(users, return_index=True)
    bounds = np.append(starts, users.size)
    items = [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    times = [secs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return Sequences(user_ids=user_ids, items=items, times=times, item_index=index)


def sequences_table(seqs: Sequences) -> pa.Table:
    """One row per user: movie ids and times in order, plus the leave-one-out targets (null when the
    user has fewer than 3 interactions and is not evaluated)."""
    lengths = np.array([len(x) for x in seqs.items], dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    flat_items = np.concatenate(seqs.items) if len(seqs.items) else np.zeros(0, np.int64)
    flat_times = np.concatenate(seqs.times) if len(seqs.times) else np.zeros(0, np.int64)
    movies = pa.ListArray.from_arrays(offsets, pa.array(seqs.item_index.movie_id(flat_items), pa.int32()))
    times = pa.ListArray.from_arrays(offsets, pa.array(flat_times, pa.timestamp("s", tz="UTC")))
    ev = lengths >= 3
    last = lambda k: pa.array([int(seqs.item_index.movie_id(x[-k])) if e else None  # noqa: E731
                               for x, e in zip(seqs.items, ev)], pa.int32())
    return pa.table({"user_id": pa.array(seqs.user_ids, pa.int32()), "movie_ids": movies, "timestamps": times,
                     "n_interactions": pa.array(lengths, pa.int32()),
                     "n_train": pa.array(np.where(ev, lengths - 2, lengths), pa.int32()),
                     "valid_movie_id": last(2), "test_movie_id": last(1)})


def sequences_from_table(table: pa.Table) -> Sequences:
    """Inverse of ``sequences_table`` (reads user_id, movie_ids, timestamps)."""
    missing = {"user_id", "movie_ids", "timestamps"} - set(table.column_names)
    if missing:
        raise ValueError(f"user_sequences lacks column(s) {sorted(missing)}")
    movies = table.column("movie_ids").combine_chunks()
    times = table.column("timestamps").combine_chunks()
    offsets = movies.offsets.to_numpy()
    if not np.array_equal(offsets, times.offsets.to_numpy()):
        raise ValueError("movie_ids and timestamps have different lengths in some row")
    flat_movies = movies.flatten().to_numpy().astype(np.int64)
    flat_times = pc.cast(times.flatten(), pa.timestamp("s", tz="UTC")).cast(pa.int64()).to_numpy()
    index = ItemIndex(np.unique(flat_movies))
    rows = index.rows(flat_movies)
    bounds = list(zip(offsets[:-1], offsets[1:]))
    return Sequences(user_ids=table.column("user_id").to_numpy().astype(np.int64),
                     items=[rows[a:b] for a, b in bounds], times=[flat_times[a:b] for a, b in bounds],
                     item_index=index)


@dataclass
class Split:
    """Leave-one-out: last item = test, second-to-last = validation, the rest = train.

    Users with fewer than 3 interactions keep everything in train and are not evaluated.
    """

    seqs: Sequences
    n_train: np.ndarray  # [U] length of each user's train prefix
    eval_users: np.ndarray  # [E] positions (into seqs) of the users that are evaluated

    @property
    def num_items(self) -> int:
        return self.seqs.item_index.num_items

    def train_items(self, u: int) -> np.ndarray:
        return self.seqs.items[u][: self.n_train[u]]

    def train_counts(self) -> np.ndarray:
        """[N + 1] number of training interactions per item row (row 0 = 0)."""
        flat = np.concatenate([self.train_items(u) for u in range(len(self.n_train))])
        return np.bincount(flat, minlength=self.num_items + 1)


def leave_one_out(seqs: Sequences) -> Split:
    lengths = np.array([len(s) for s in seqs.items], dtype=np.int64)
    evaluated = lengths >= 3
    n_train = np.where(evaluated, lengths - 2, lengths)
    return Split(seqs=seqs, n_train=n_train, eval_users=np.flatnonzero(evaluated))


def pad_left(rows: list[np.ndarray], width: int | None = None) -> torch.Tensor:
    """Left-pad 1-D int arrays with 0 into a [B, T] int64 tensor (T = longest, or ``width``)."""
    t = max((len(r) for r in rows), default=1) if width is None else width
    out = np.zeros((len(rows), max(t, 1)), dtype=np.int64)
    for i, r in enumerate(rows):
        if len(r) > t:
            raise ValueError(f"sequence of length {len(r)} does not fit width {t}")
        if len(r):
            out[i, t - len(r) :] = r
    return torch.from_numpy(out)


@dataclass
class Batch:
    items: torch.Tensor  # [B, T] int64 item rows, 0 = padding (left)
    times: torch.Tensor  # [B, T] int64 unix seconds (0 at padding)
    targets: torch.Tensor  # train: [B, T] next item per position (0 = no loss); eval: [B]


def train_batch(split: Split, users: np.ndarray, max_len: int) -> Batch:
    """Next-item training on the train prefix: position t sees items[:t+1] and predicts items[t+1]."""
    ins, tms, tgs = [], [], []
    for u in users:
        s = split.train_items(u)[-(max_len + 1) :]
        t = split.seqs.times[u][: split.n_train[u]][-(max_len + 1) :]
        ins.append(s[:-1])
        tms.append(t[:-1])
        tgs.append(s[1:])
    return Batch(items=pad_left(ins), times=pad_left(tms), targets=pad_left(tgs))


def eval_batch(split: Split, users: np.ndarray, max_len: int, stage: str) -> tuple[Batch, list[np.ndarray]]:
    """Validation: input = train prefix, target = second-to-last item.
    Test: input = train prefix + validation item, target = last item.
    Also returns each user's full history (the items excluded from the ranking)."""
    if stage not in ("valid", "test"):
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")
    extra = 0 if stage == "valid" else 1
    ins, tms, tgs, hist = [], [], [], []
    for u in users:
        n = split.n_train[u] + extra
        h = split.seqs.items[u][:n]
        ins.append(h[-max_len:])
        tms.append(split.seqs.times[u][:n][-max_len:])
        tgs.append(split.seqs.items[u][n])
        hist.append(h)
    batch = Batch(items=pad_left(ins), times=pad_left(tms), targets=torch.tensor(tgs, dtype=torch.int64))
    return batch, hist


@dataclass(frozen=True)
class ItemSids:
    """The SID of every item row: ``codes`` [N + 1, C] int64 (row 0 = padding, zeros); the first
    ``levels`` columns are quantiser levels, a last column beyond them is the uniqueness digit."""

    codes: torch.Tensor
    levels: int

    @property
    def has_digit(self) -> bool:
        return self.codes.shape[1] > self.levels


def item_sids(index: ItemIndex, sids: SemanticIds) -> ItemSids:
    """Row i holds the SID of movie ``index.movie_ids[i - 1]``, joined on movie id (never on position,
    so the table is right whatever order the SID rows come in and however sparse the ids are)."""
    full = sids.full_codes()
    table = np.zeros((index.num_items + 1, full.shape[1]), dtype=np.int64)
    table[1:] = full[sids.rows_for(index.movie_ids)]
    return ItemSids(torch.from_numpy(table), sids.levels)

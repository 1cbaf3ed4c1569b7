"""User sequences, the leave-one-out split, padded batches and the SID lookup table.

Item indices are dense: row ``i >= 1`` is ``ItemIndex.movie_ids[i - 1]`` and row 0 is padding. Every
movie_id -> row translation goes through ``ItemIndex.rows`` (an explicit, checked lookup); nothing
in this package computes a row from a movie id by arithmetic.
"""

from dataclasses import dataclass, field

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


def _seconds(timestamps: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps of any unit (or plain integers, already seconds) -> int64 unix seconds, rounded down."""
    if not pa.types.is_timestamp(timestamps.type):
        return np.asarray(timestamps.to_numpy(), dtype=np.int64)
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[timestamps.type.unit]
    ticks = pc.cast(timestamps, pa.int64()).to_numpy()
    return ticks // per_second if per_second > 1 else ticks


def user_sequences_table(ratings: pa.Table) -> pa.Table:
    """``sequences_table(build_sequences(ratings))`` computed on columns: the same table (time order, ties
    in input order, leave-one-out targets) without a pandas copy or a Python object per user.

    ``ratings`` needs user_id, movie_id and timestamp. Memory is a few flat arrays over the ratings
    (for ML-32M's 32M ratings about 1.5 GiB at the peak, against ~5 GiB through pandas and per-user arrays).
    """
    missing = {"user_id", "movie_id", "timestamp"} - set(ratings.column_names)
    if missing:
        raise ValueError(f"ratings lacks column(s) {sorted(missing)}")
    if ratings.num_rows == 0:
        raise ValueError("ratings is empty")
    if any(ratings[c].null_count for c in ("user_id", "movie_id", "timestamp")):
        raise ValueError("ratings has nulls in user_id, movie_id or timestamp")
    users = ratings["user_id"].to_numpy()
    secs = _seconds(ratings["timestamp"])
    order = np.lexsort((secs, users))  # stable: equal (user, time) keep input order
    users, secs = users[order], secs[order]
    movies = ratings["movie_id"].to_numpy()[order].astype(np.int32)
    del order
    starts = np.flatnonzero(np.concatenate([[True], users[1:] != users[:-1]]))
    ends = np.append(starts[1:], users.size)
    lengths = ends - starts
    offsets = pa.array(np.append(starts, users.size), pa.int32())
    evaluated = lengths >= 3
    target = lambda k: pa.array(
        np.where(evaluated, movies[np.maximum(ends - k, starts)], 0), pa.int32(), mask=~evaluated
    )
    return pa.table(
        {
            "user_id": pa.array(users[starts], pa.int32()),
            "movie_ids": pa.ListArray.from_arrays(offsets, pa.array(movies, pa.int32())),
            "timestamps": pa.ListArray.from_arrays(offsets, pa.array(secs, pa.timestamp("s", tz="UTC"))),
            "n_interactions": pa.array(lengths, pa.int32()),
            "n_train": pa.array(np.where(evaluated, lengths - 2, lengths), pa.int32()),
            "valid_movie_id": target(2),
            "test_movie_id": target(1),
        }
    )


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
    last = lambda k: pa.array(
        [int(seqs.item_index.movie_id(x[-k])) if e else None for x, e in zip(seqs.items, ev)], pa.int32()
    )
    return pa.table(
        {
            "user_id": pa.array(seqs.user_ids, pa.int32()),
            "movie_ids": movies,
            "timestamps": times,
            "n_interactions": pa.array(lengths, pa.int32()),
            "n_train": pa.array(np.where(ev, lengths - 2, lengths), pa.int32()),
            "valid_movie_id": last(2),
            "test_movie_id": last(1),
        }
    )


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
    return Sequences(
        user_ids=table.column("user_id").to_numpy().astype(np.int64),
        items=[rows[a:b] for a, b in bounds],
        times=[flat_times[a:b] for a, b in bounds],
        item_index=index,
    )


@dataclass(frozen=True)
class EvalEvents:
    """Events to predict: user ``users[e]`` (a position into ``Sequences``) at index ``positions[e]`` of
    that user's full sequence. The input is everything before it (the last max_len items), the target the
    item at it, and the user's history before it is excluded from the ranking."""

    users: np.ndarray  # [E] int64
    positions: np.ndarray  # [E] int64, >= 1 (an event with no history before it cannot be predicted)

    def __len__(self) -> int:
        return int(self.users.size)

    def targets(self, seqs: Sequences) -> np.ndarray:
        """[E] item rows."""
        return np.array([seqs.items[u][p] for u, p in zip(self.users, self.positions)], dtype=np.int64)


@dataclass
class Split:
    """Training prefixes and the events to validate and test on.

    Leave-one-out: last item = test, second-to-last = validation, the rest = train (users with fewer than
    3 interactions keep everything in train and are not evaluated). The temporal protocol (temporal.py)
    builds the same object from global time cuts.
    """

    seqs: Sequences
    n_train: np.ndarray  # [U] length of each user's train prefix
    eval_users: np.ndarray  # [E] positions (into seqs) of the users that are tested
    valid_events: EvalEvents | None = None
    test_events: EvalEvents | None = None
    protocol: str = "leave_one_out"
    # item rows the training loss may use as candidates/negatives; None = every row 1..N
    candidates: np.ndarray | None = None
    info: dict = field(default_factory=dict)  # protocol facts for metadata (cuts, skipped events, ...)

    @property
    def num_items(self) -> int:
        return self.seqs.item_index.num_items

    def train_items(self, u: int) -> np.ndarray:
        return self.seqs.items[u][: self.n_train[u]]

    def train_counts(self) -> np.ndarray:
        """[N + 1] number of training interactions per item row (row 0 = 0)."""
        flat = np.concatenate([self.train_items(u) for u in range(len(self.n_train))])
        return np.bincount(flat, minlength=self.num_items + 1)

    def events(self, stage: str) -> EvalEvents:
        if stage not in ("valid", "test"):
            raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")
        return self.valid_events if stage == "valid" else self.test_events


def leave_one_out(seqs: Sequences) -> Split:
    lengths = np.array([len(s) for s in seqs.items], dtype=np.int64)
    evaluated = lengths >= 3
    n_train = np.where(evaluated, lengths - 2, lengths)
    users = np.flatnonzero(evaluated)
    return Split(
        seqs=seqs,
        n_train=n_train,
        eval_users=users,
        valid_events=EvalEvents(users, n_train[users]),
        test_events=EvalEvents(users, n_train[users] + 1),
    )


def window_ends(n_train: int, max_len: int) -> np.ndarray:
    """The tiles of a train prefix of ``n_train`` items: each window predicts up to ``max_len``
    consecutive targets, and together they cover every target index 1..n_train-1 exactly once.
    Returns each tile's last target index, most recent first ([] when there is no target)."""
    return np.arange(n_train - 1, 0, -max_len, dtype=np.int64)


def training_windows(
    split: Split, max_len: int, mode: str, epoch: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Which windows an epoch trains on -> (users [W], last target index [W]).

    last: each user's most recent tile. all: every tile. sample: one tile per user per epoch, cycling
    from a per-user random offset, so a user with k tiles has every training interaction as a target
    in any k consecutive epochs."""
    users, ends = [], []
    offsets = np.random.default_rng([seed, 0x5EED]).integers(0, 1 << 30, len(split.n_train))
    for u, n in enumerate(split.n_train):
        tiles = window_ends(int(n), max_len)
        if not len(tiles):
            continue
        if mode == "last":
            tiles = tiles[:1]
        elif mode == "sample":
            tiles = tiles[[(offsets[u] + epoch) % len(tiles)]]
        elif mode != "all":
            raise ValueError(f"windows must be 'last', 'sample' or 'all', got {mode!r}")
        users += [u] * len(tiles)
        ends.append(tiles)
    return np.array(users, dtype=np.int64), np.concatenate(ends) if ends else np.zeros(0, np.int64)


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


def train_batch(split: Split, users: np.ndarray, max_len: int, ends: np.ndarray | None = None) -> Batch:
    """Next-item training on the train prefix: position t sees items[:t+1] and predicts items[t+1].

    ``ends`` [B]: the last target index of each user's window (default: the end of the train prefix)."""
    ins, tms, tgs = [], [], []
    for i, u in enumerate(users):
        e = split.n_train[u] - 1 if ends is None else int(ends[i])
        if not 1 <= e < split.n_train[u]:
            raise ValueError(f"window end {e} is outside user {u}'s train prefix of {split.n_train[u]} items")
        a = max(0, e - max_len)
        s, t = split.seqs.items[u][a : e + 1], split.seqs.times[u][a : e + 1]
        ins.append(s[:-1])
        tms.append(t[:-1])
        tgs.append(s[1:])
    return Batch(items=pad_left(ins), times=pad_left(tms), targets=pad_left(tgs))


@dataclass
class EventGroup:
    """One encoder input that serves one or more events of one user: the items [start, stop) of the
    user's sequence; the state after item p - 1 predicts the event at position p."""

    user: int
    start: int
    stop: int
    events: np.ndarray  # [k] indices into the EvalEvents
    positions: np.ndarray  # [k] their positions p, start < p <= stop


def event_groups(events: EvalEvents, max_len: int) -> list[EventGroup]:
    """Every event's input is exactly its last ``max_len`` prior items. Events whose whole history fits
    (position <= max_len) share one input per user (the encoders are causal and left-padded, so the
    state after item p - 1 is the same as with the input cut at p); later events get their own window."""
    groups: list[EventGroup] = []
    order = np.lexsort((events.positions, events.users))
    users, positions = events.users[order], events.positions[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    for idx, u, pos in zip(np.split(order, bounds), np.split(users, bounds), np.split(positions, bounds)):
        if not len(idx):
            continue
        short = pos <= max_len
        if short.any():
            groups.append(EventGroup(int(u[0]), 0, int(pos[short].max()), idx[short], pos[short]))
        for i, p in zip(idx[~short], pos[~short]):
            groups.append(EventGroup(int(u[0]), int(p) - max_len, int(p), np.array([i]), np.array([p])))
    return groups


def group_batch(seqs: Sequences, groups: list[EventGroup]) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """Left-padded items/times [B, T] of the groups and, per group, the column of each event's state:
    item i of the sequence sits at column T - (stop - i), and event p reads the state after item p - 1."""
    items = pad_left([seqs.items[g.user][g.start : g.stop] for g in groups])
    times = pad_left([seqs.times[g.user][g.start : g.stop] for g in groups])
    width = items.shape[1]
    return items, times, [width - g.stop + g.positions - 1 for g in groups]


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

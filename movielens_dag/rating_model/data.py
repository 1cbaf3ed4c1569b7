"""Explicit ratings as arrays, the temporal and random splits, and id vocabularies with an UNK row.

The temporal split uses the shared global cuts (``movielens_dag.splits.temporal_cuts``): train on
ratings before the first cut, validate between the cuts, test after the second, so no rating from a
user's future trains the model. The random 80/10/10 split is what most papers report; it lets the
future leak into training and is labelled ``random`` everywhere.

Plain code: numpy and pandas only.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from movielens_dag.splits import TemporalCuts, TemporalSplitSettings, temporal_cuts

TRAIN, VALID, TEST = 0, 1, 2
STAGES = {"train": TRAIN, "valid": VALID, "test": TEST}
UNK = 0  # row 0 of every id vocabulary: anything not seen in training
DEFAULT_CUTS = TemporalSplitSettings()


@dataclass(frozen=True)
class Ratings:
    """One entry per rating, in input order."""

    user_ids: np.ndarray  # [R] int64
    movie_ids: np.ndarray  # [R] int64
    ratings: np.ndarray  # [R] float32
    seconds: np.ndarray  # [R] int64 unix seconds

    def __len__(self) -> int:
        return int(self.ratings.size)

    def take(self, rows: np.ndarray) -> "Ratings":
        return Ratings(self.user_ids[rows], self.movie_ids[rows], self.ratings[rows], self.seconds[rows])


def unix_seconds(timestamps: pd.Series) -> np.ndarray:
    """A datetime column (any unit, naive = UTC) or integer seconds -> int64 unix seconds."""
    if pd.api.types.is_datetime64_any_dtype(timestamps):
        ts = timestamps.dt.tz_localize("UTC") if timestamps.dt.tz is None else timestamps
        return ((ts - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    return timestamps.to_numpy(np.int64)


def ratings_from_frame(frame: pd.DataFrame) -> Ratings:
    """``movielens.ratings`` (user_id, movie_id, rating, timestamp) -> arrays; bad rows are an error."""
    missing = {"user_id", "movie_id", "rating", "timestamp"} - set(frame.columns)
    if missing:
        raise ValueError(f"ratings lacks column(s) {sorted(missing)}; expected movielens.ratings")
    if len(frame) == 0:
        raise ValueError("ratings is empty: materialize movielens.ratings first")
    nulls = frame[["user_id", "movie_id", "rating", "timestamp"]].isna()
    if nulls.any().any():
        row = int(np.flatnonzero(nulls.any(axis=1).to_numpy())[0])
        raise ValueError(
            f"ratings row {row} has a null in {nulls.columns[nulls.iloc[row]].tolist()}; fix movielens.ratings"
        )
    return Ratings(
        frame["user_id"].to_numpy(np.int64),
        frame["movie_id"].to_numpy(np.int64),
        frame["rating"].to_numpy(np.float32),
        unix_seconds(frame["timestamp"]),
    )


@dataclass(frozen=True)
class RatingSplit:
    """Which stage each rating belongs to (0 train, 1 validation, 2 test)."""

    name: str  # "temporal" | "random"
    stage: np.ndarray  # [R] int8
    cuts: TemporalCuts | None = None  # the temporal split's global cut times

    def rows(self, stage: str) -> np.ndarray:
        return np.flatnonzero(self.stage == STAGES[stage])

    def counts(self) -> dict[str, int]:
        return {name: int((self.stage == code).sum()) for name, code in STAGES.items()}


def temporal_split(ratings: Ratings, settings: TemporalSplitSettings = DEFAULT_CUTS) -> RatingSplit:
    """Train before the first global cut, validate between the cuts, test from the second one on."""
    cuts = temporal_cuts(ratings.seconds, settings)
    return RatingSplit("temporal", cuts.period(ratings.seconds), cuts)


def random_split(ratings: Ratings, seed: int = 0, fractions: tuple[float, ...] = (0.8, 0.1, 0.1)) -> RatingSplit:
    """Shuffle every rating and cut at the given shares (train/valid/test). Not a forecast: see module doc."""
    n = len(ratings)
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_valid = round(fractions[0] * n), round(fractions[1] * n)
    stage = np.full(n, TEST, dtype=np.int8)
    stage[order[:n_train]] = TRAIN
    stage[order[n_train : n_train + n_valid]] = VALID
    if min(n_train, n_valid, n - n_train - n_valid) == 0:
        raise ValueError(f"{n} ratings are too few for a {list(fractions)} split: a stage would be empty")
    return RatingSplit("random", stage)


def make_split(
    name: str,
    ratings: Ratings,
    temporal: TemporalSplitSettings = DEFAULT_CUTS,
    seed: int = 0,
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1),
) -> RatingSplit:
    if name == "temporal":
        return temporal_split(ratings, temporal)
    if name == "random":
        return random_split(ratings, seed, fractions)
    raise ValueError(f"unknown split {name!r}: use 'temporal' or 'random'")


@dataclass(frozen=True)
class Vocab:
    """Sorted unique ids; row = position + 1, and row 0 (UNK) for any id not in the vocabulary."""

    ids: np.ndarray  # [N] int64, strictly increasing

    @classmethod
    def fit(cls, ids: np.ndarray) -> "Vocab":
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def rows_with_unk(self) -> int:
        return len(self) + 1

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """ids -> rows 1..N, or 0 (UNK) for ids the vocabulary does not hold. Never raises."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos_c = np.minimum(pos, max(len(self) - 1, 0))
        found = (pos < len(self)) & (self.ids[pos_c] == ids) if len(self) else np.zeros(ids.shape, bool)
        return np.where(found, pos + 1, UNK).astype(np.int64)


def train_counts(ids: np.ndarray, train_ids: np.ndarray) -> np.ndarray:
    """For each entry of ``ids``: how many training ratings that id has (0 = unseen in training)."""
    uniq, counts = np.unique(np.asarray(train_ids, dtype=np.int64), return_counts=True)
    pos = np.searchsorted(uniq, ids)
    pos_c = np.minimum(pos, max(uniq.size - 1, 0))
    found = (pos < uniq.size) & (uniq[pos_c] == ids) if uniq.size else np.zeros(np.shape(ids), bool)
    return np.where(found, counts[pos_c], 0).astype(np.int64)

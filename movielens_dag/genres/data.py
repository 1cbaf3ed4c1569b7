"""Labels and the split: a multi-hot genre matrix and a fixed train/valid/test assignment per movie."""

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from movielens_dag.semantic_ids.tables import NO_GENRES

SPLITS = ("train", "valid", "test")
UNLABELLED = "unlabelled"  # MovieLens lists no genre: nothing to learn from or score against


@dataclass(frozen=True)
class GenreData:
    movie_ids: np.ndarray  # (N,) int64 sorted
    x: np.ndarray  # (N, d) float32
    y: np.ndarray  # (N, G) bool, MovieLens genres (all False for unlabelled movies)
    genres: list[str]  # the G genres predicted
    split: np.ndarray  # (N,) object: train / valid / test / unlabelled
    dropped_genres: dict[str, int]  # genres with too few training movies -> their training count

    def rows(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)


def split_of(movie_ids: np.ndarray, valid_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """train / valid / test per movie from a hash of (seed, movie_id): a movie keeps its split when others
    are added or removed, and the same seed always gives the same split."""
    u = (
        np.array(
            [
                int.from_bytes(hashlib.blake2b(f"{seed}:{int(m)}".encode(), digest_size=8).digest(), "big")
                for m in movie_ids
            ],
            dtype=np.float64,
        )
        / 2.0**64
    )
    return np.where(u < test_fraction, "test", np.where(u < test_fraction + valid_fraction, "valid", "train")).astype(
        object
    )


def genre_data(
    movie_ids: np.ndarray,
    x: np.ndarray,
    movies: pa.Table,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    min_genre_movies: int,
) -> GenreData:
    """Multi-hot labels of the embedded movies, their split, and the genres frequent enough to learn."""
    by_id = {
        int(m): [g for g in (gs or []) if g != NO_GENRES]
        for m, gs in zip(movies["movie_id"].to_pylist(), movies["genres"].to_pylist())
    }
    ids = np.asarray(movie_ids, dtype=np.int64)
    missing = [int(m) for m in ids if int(m) not in by_id]
    if missing:
        raise ValueError(
            f"{len(missing)} embedded movie(s) are not in movies, e.g. movie_id {missing[:5]}; "
            "re-materialize the genre-blind embeddings for the same release"
        )
    labels = [by_id[int(m)] for m in ids]
    split = split_of(ids, valid_fraction, test_fraction, seed)
    split[np.array([not gs for gs in labels], dtype=bool)] = UNLABELLED
    all_genres = sorted({g for gs in labels for g in gs})
    train = split == "train"
    counts = {g: sum(1 for gs, t in zip(labels, train) if t and g in gs) for g in all_genres}
    genres = [g for g in all_genres if counts[g] >= min_genre_movies]
    if not genres:
        raise ValueError(f"no genre has {min_genre_movies} labelled training movies; lower min_genre_movies")
    col = {g: j for j, g in enumerate(genres)}
    y = np.zeros((ids.size, len(genres)), dtype=bool)
    for i, gs in enumerate(labels):
        for g in gs:
            if g in col:
                y[i, col[g]] = True
    for name in SPLITS:
        if not (split == name).any():
            raise ValueError(f"the {name} split is empty ({ids.size} movies): use more movies or other fractions")
    return GenreData(
        ids, np.asarray(x, dtype=np.float32), y, genres, split, {g: c for g, c in counts.items() if g not in col}
    )

"""Small made-up rating data for the rating-model tests: a catalogue and ratings with a planted rule."""

import numpy as np
import pandas as pd

from movielens_dag.rating_model.data import Ratings


def catalogue(n_movies: int, seed: int = 0) -> pd.DataFrame:
    """movie_id 1..n, alternating genre 'A'/'B', years 1950..2019."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_movies + 1)
    return pd.DataFrame(
        {
            "movie_id": ids,
            "year": rng.integers(1950, 2020, n_movies).astype(float),
            "genres": [["A"] if i % 2 else ["B"] for i in ids],
        }
    )


def planted(
    n_users: int = 200, n_movies: int = 300, per_user: int = 60, noise: float = 0.1, seed: int = 0
) -> tuple[Ratings, pd.DataFrame]:
    """Even users love genre 'B' and dislike 'A', odd users the reverse: rating 4.5 on a match, 1.5 on
    a mismatch, plus a little noise. Timestamps increase with the row, so the temporal split holds."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, n_users + 1), per_user)
    movies = np.concatenate([rng.choice(np.arange(1, n_movies + 1), per_user, replace=False) for _ in range(n_users)])
    match = (users % 2) == (movies % 2 == 0)  # even user & genre B (even movie id), odd user & genre A
    rating = np.where(match, 4.5, 1.5) + rng.normal(0, noise, users.size)
    order = rng.permutation(users.size)
    return (
        Ratings(
            users[order].astype(np.int64),
            movies[order].astype(np.int64),
            np.clip(rating[order], 0.5, 5.0).astype(np.float32),
            np.arange(users.size, dtype=np.int64) * 60,
        ),
        catalogue(n_movies, seed),
    )

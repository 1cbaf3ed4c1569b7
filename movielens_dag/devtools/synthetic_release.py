"""A synthetic MovieLens release with a chosen shape (default: ML-32M's), in the ml-32m CSV format.

``write_release(folder, ML_32M)`` writes movies.csv, ratings.csv, tags.csv, links.csv and a README.txt
that says the data is synthetic. What it imitates:

- exact counts: movies, users (ids 1..N, each with at least ``min_ratings_per_user`` ratings), ratings
  and tags; every movie has at least one rating; no user rates a movie twice; movie ids are sparse
  (1..~3.3 N) like the real ones;
- popularity: Zipf-Mandelbrot weights 1/(rank + q)^s over movies (s = 1.9, q = 120 for 87,585 movies
  gives ~107k ratings for the top movie, ~5.7k for the 1000th and a median of ~6, the ML-32M picture),
  each user's movies drawn without replacement from them; per-user counts are log-normal;
- ratings: movie quality + user bias + noise, on the half-star scale, whole stars favoured; timestamps
  inside 1995-01-09 .. 2023-10-12, never before the movie's year;
- text: titles, genres and tags from ``synthetic_text`` (MovieLens title conventions, genre
  co-occurrence, genre-flavoured tags and people's names).

Memory is bounded: users are generated and written in blocks (``block_users``), sorted by userId then
movieId as in the real files. Deterministic for a seed.
"""

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from movielens_dag.devtools import synthetic_text as text

FIRST_RATING = int(datetime(1995, 1, 9, tzinfo=UTC).timestamp())
LAST_RATING = int(datetime(2023, 10, 12, tzinfo=UTC).timestamp())
FIRST_TAG = int(datetime(2006, 1, 13, tzinfo=UTC).timestamp())
DAY = 86_400
RATING_LABELS = pa.array([f"{r / 2:.1f}" for r in range(1, 11)])  # "0.5" .. "5.0"


@dataclass(frozen=True)
class ReleaseShape:
    movies: int
    users: int
    ratings: int
    tags: int
    tag_users: int
    min_ratings_per_user: int = 20
    zipf_s: float = 1.9
    zipf_q: float = 120 / 87_585  # times the number of movies
    seed: int = 0
    block_users: int = 4096

    def check(self) -> None:
        if self.ratings < max(self.movies, self.users * self.min_ratings_per_user):
            raise ValueError(
                f"{self.ratings:,} ratings cannot give every one of {self.movies:,} movies a rating "
                f"and every one of {self.users:,} users {self.min_ratings_per_user}; raise `ratings`"
            )
        if self.users * self.min_ratings_per_user > self.ratings or self.min_ratings_per_user > self.movies // 2:
            raise ValueError("min_ratings_per_user is too large for this many movies")
        if self.tags and not 0 < self.tag_users <= self.users:
            raise ValueError("tag_users must be between 1 and users")


ML_32M = ReleaseShape(movies=87_585, users=200_948, ratings=32_000_204, tags=2_000_072, tag_users=16_000)
ML_20M = ReleaseShape(movies=27_278, users=138_493, ratings=20_000_263, tags=465_564, tag_users=7_801)


@dataclass
class Movies:
    ids: np.ndarray  # (M,) int32, sorted
    titles: list[str]
    genres: list[list[str]]
    years: np.ndarray  # (M,) int32, 0 when the title has no year
    weights: np.ndarray  # (M,) float64 popularity, sums to 1
    quality: np.ndarray  # (M,) float32 mean rating before user bias
    profiles: list[list[str]]  # tags each movie attracts, most typical first


def make_movies(shape: ReleaseShape, rng: np.random.Generator) -> Movies:
    m = shape.movies
    ids = np.sort(rng.choice(np.arange(2, int(3.34 * m) + 2), size=m - 1, replace=False))
    ids = np.concatenate([[1], ids]).astype(np.int32)
    decades = np.arange(1900, 2024)
    p_year = np.exp((decades - 2023) / 28.0)
    p_year[(decades >= 1995) & (decades <= 2019)] *= 1.6  # MovieLens's busiest years
    years = rng.choice(decades, size=m, p=p_year / p_year.sum()).astype(np.int32)
    years[rng.random(m) < 0.005] = 0  # a few titles carry no year
    titles, genres, profiles, plain = [], [], [], []
    for i in range(m):
        g = text.genres_for(rng)
        raw, base = text.raw_title(rng, g, int(years[i]) or None, plain)
        titles.append(raw)
        plain.append(base)
        genres.append(g)
        profiles.append(text.tag_profile(rng, g, int(rng.integers(3, 12))))
    quality = rng.normal(3.2, 0.5, m)
    score = 0.6 * (quality - 3.2) / 0.5 + rng.gumbel(size=m) + 0.8 * ((years >= 1985) & (years <= 2018))
    rank = np.empty(m, np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(1, m + 1)
    weights = 1.0 / (rank + shape.zipf_q * m) ** shape.zipf_s
    quality = quality + 0.25 * (rank < m // 100)  # the most-rated movies are rated a little higher
    return Movies(ids, titles, genres, years, weights / weights.sum(), quality.astype(np.float32), profiles)


def ratings_per_user(shape: ReleaseShape, rng: np.random.Generator) -> np.ndarray:
    """(U,) int64 log-normal counts, each in [min_ratings_per_user, 0.35 movies], summing to ``ratings``."""
    low, high = shape.min_ratings_per_user, max(shape.min_ratings_per_user, int(0.35 * shape.movies))
    raw = rng.lognormal(0.0, 1.15, shape.users)
    counts = np.clip(np.round(raw / raw.sum() * shape.ratings), low, high).astype(np.int64)
    for _ in range(100):  # spread the rounding/clipping remainder over users that have room
        gap = shape.ratings - int(counts.sum())
        if gap == 0:
            return counts
        room = np.flatnonzero(counts < high) if gap > 0 else np.flatnonzero(counts > low)
        pick = rng.choice(room, size=min(abs(gap), room.size), replace=False)
        counts[pick] += 1 if gap > 0 else -1
    raise ValueError(f"cannot spread {shape.ratings:,} ratings over {shape.users:,} users within [{low}, {high}]")


HEAVY_USER = 1500  # users with more ratings than this use Gumbel top-k over every movie


def _sample_without_replacement(rng, cdf, log_w, k: np.ndarray, fixed: list[np.ndarray]) -> list[np.ndarray]:
    """For each user: the ``fixed`` movies plus distinct draws ∝ weight, k in all (successive sampling).

    Light users, all at once: draw with replacement (fixed movies first), keep each user's first
    occurrences in draw order, redo the few that fall short with twice the draws. Heavy users (and
    the few still short after that): Gumbel top-k over every movie, which samples the same distribution.
    """
    out: list[np.ndarray | None] = [None] * len(k)
    todo, factor = np.flatnonzero(k <= HEAVY_USER), 2.0
    heavy = list(np.flatnonzero(k > HEAVY_USER))
    for _ in range(2):  # users still short after two rounds join the heavy ones
        if not todo.size:
            break
        n_draw = (factor * k[todo]).astype(np.int64) + 16
        drawn = np.searchsorted(cdf, rng.random(int(n_draw.sum())))
        segments = np.split(drawn, np.cumsum(n_draw)[:-1])
        movie = np.concatenate([np.concatenate([fixed[u], d]) for u, d in zip(todo, segments)])
        sizes = np.array([fixed[u].size for u in todo]) + n_draw
        user = np.repeat(np.arange(todo.size), sizes)
        _, first = np.unique(user * cdf.size + movie, return_index=True)
        first = np.sort(first)  # each user's distinct movies, in draw order
        owner = user[first]
        rank = np.arange(first.size) - np.searchsorted(owner, owner)  # position within the user
        distinct = np.bincount(owner, minlength=todo.size)
        keep = rank < k[todo][owner]
        chosen = np.split(movie[first[keep]], np.cumsum(np.minimum(distinct, k[todo]))[:-1])
        short = distinct < k[todo]
        for i in np.flatnonzero(~short):
            out[todo[i]] = chosen[i]
        todo, factor = todo[short], factor * 2
    for u in heavy + list(todo):
        keys = log_w + rng.gumbel(size=log_w.size)
        keys[fixed[u]] = np.inf
        out[u] = np.argpartition(-keys, int(k[u]) - 1)[: k[u]]
    return out


def write_ratings(
    path: Path, shape: ReleaseShape, movies: Movies, rng: np.random.Generator, log: Callable[[str], None]
) -> dict:
    counts = ratings_per_user(shape, rng)
    # Every movie gets one guaranteed rater (heavier users likelier), so no movie is left unrated.
    owner = rng.choice(shape.users, size=shape.movies, p=counts / counts.sum())
    fixed_order = np.argsort(owner, kind="stable")
    fixed_bounds = np.searchsorted(owner[fixed_order], np.arange(shape.users + 1))
    cdf = np.cumsum(movies.weights)
    cdf /= cdf[-1]
    log_w = np.log(movies.weights)
    bias = rng.normal(0.0, 0.45, shape.users).astype(np.float32)
    start = FIRST_RATING + (LAST_RATING - FIRST_RATING) * rng.beta(1.3, 1.0, shape.users)
    span = np.minimum(np.exp(rng.normal(math.log(20 * DAY), 2.0, shape.users)), LAST_RATING - start)
    release = np.array(
        [int(datetime(max(int(y), 1995), 1, 1, tzinfo=UTC).timestamp()) if y else FIRST_RATING for y in movies.years],
        dtype=np.int64,
    )
    schema = pa.schema(
        [("userId", pa.int32()), ("movieId", pa.int32()), ("rating", pa.string()), ("timestamp", pa.int64())]
    )
    written, t0 = 0, time.perf_counter()
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.OSFile(str(path), "wb") as sink, pacsv.CSVWriter(sink, schema, write_options=options) as writer:
        sink.write(b"userId,movieId,rating,timestamp\n")  # Arrow would quote the header
        for lo in range(0, shape.users, shape.block_users):
            users = np.arange(lo, min(lo + shape.block_users, shape.users))
            fixed = [fixed_order[fixed_bounds[u] : fixed_bounds[u + 1]] for u in users]
            if any(f.size > counts[u] for f, u in zip(fixed, users)):
                raise ValueError("a user was given more guaranteed movies than ratings; use a larger `ratings`")
            picked = _sample_without_replacement(rng, cdf, log_w, counts[users], fixed)
            sizes = np.array([p.size for p in picked])
            user = np.repeat(users, sizes)
            movie = np.concatenate(picked)
            order = np.lexsort((movies.ids[movie], user))  # userId, then movieId, as GroupLens sorts
            user, movie = user[order], movie[order]
            stars = movies.quality[movie] + bias[user] + rng.normal(0.0, 0.85, movie.size).astype(np.float32)
            half = np.clip(np.round(stars * 2), 1, 10)
            whole = np.clip(np.round(stars), 1, 5) * 2
            half = np.where(rng.random(movie.size) < 0.4, whole, half).astype(np.int64)
            when = start[user] + span[user] * rng.random(movie.size) ** 1.5
            when = np.maximum(when, release[movie] + rng.random(movie.size) * 200 * DAY)
            when = np.minimum(when, LAST_RATING).astype(np.int64)
            writer.write_table(
                pa.table(
                    [
                        pa.array(user + 1, pa.int32()),
                        pa.array(movies.ids[movie]),
                        RATING_LABELS.take(pa.array(half - 1)),
                        pa.array(when),
                    ],
                    schema=schema,
                )
            )
            written += movie.size
            if (lo // shape.block_users) % 10 == 0:
                log(f"ratings: {written:,}/{shape.ratings:,} ({time.perf_counter() - t0:.0f} s)")
    return {"ratings": written, "users": shape.users, "max_user_ratings": int(counts.max())}


def write_tags(path: Path, shape: ReleaseShape, movies: Movies, rng: np.random.Generator) -> int:
    """Tag applications: few very active taggers (Zipf), popular movies tagged more, typical tags first.

    A (user, movie, tag) triple appears once; draws are kept in first-drawn order until ``tags`` distinct.
    """
    taggers = np.sort(rng.choice(shape.users, size=shape.tag_users, replace=False))
    activity = 1.0 / np.arange(1, shape.tag_users + 1) ** 1.1
    activity = rng.permutation(activity / activity.sum())
    movie_p = movies.weights**0.6
    movie_p /= movie_p.sum()
    sizes = np.array([len(p) for p in movies.profiles])
    keys = np.empty(0, np.int64)
    when = np.empty(0, np.int64)
    while True:
        need = int((shape.tags - keys.size) * 1.2) + 16
        who = rng.choice(shape.tag_users, size=need, p=activity)
        what = rng.choice(shape.movies, size=need, p=movie_p)
        which = np.floor(rng.pareto(1.2, need)).astype(np.int64) % sizes[what]  # the first tags are typical
        keys = np.concatenate([keys, (who.astype(np.int64) * shape.movies + what) * 16 + which])
        when = np.concatenate([when, rng.integers(FIRST_TAG, LAST_RATING, need)])
        _, first = np.unique(keys, return_index=True)
        if first.size >= shape.tags:
            break
        keys, when = keys[np.sort(first)], when[np.sort(first)]
    keep = np.sort(np.sort(first)[: shape.tags])  # the first ``tags`` distinct draws
    keys, when = keys[keep], when[keep]
    order = np.argsort(keys, kind="stable")  # user, then movie (ids are sorted), then tag
    keys, when = keys[order], when[order]
    user, movie, which = taggers[keys // 16 // shape.movies] + 1, keys // 16 % shape.movies, keys % 16
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["userId", "movieId", "tag", "timestamp"])
        writer.writerows(
            (u, movies.ids[m], movies.profiles[m][j], t)
            for u, m, j, t in zip(user.tolist(), movie.tolist(), which.tolist(), when.tolist())
        )
    return int(keys.size)


def write_movies_and_links(folder: Path, movies: Movies, rng: np.random.Generator) -> None:
    with open(folder / "movies.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for movie_id, title, genres in zip(movies.ids.tolist(), movies.titles, movies.genres):
            writer.writerow([movie_id, title, "|".join(genres) or text.NO_GENRES])
    m = movies.ids.size
    imdb = rng.choice(np.arange(1, 12_000_000), size=m, replace=False)
    tmdb = rng.choice(np.arange(2, 1_300_000), size=m, replace=False)
    no_tmdb = rng.random(m) < 0.0015
    with open(folder / "links.csv", "w", newline="", encoding="utf-8") as f:
        f.write("movieId,imdbId,tmdbId\n")
        for movie_id, i, t, missing in zip(movies.ids.tolist(), imdb.tolist(), tmdb.tolist(), no_tmdb.tolist()):
            f.write(f"{movie_id},{i:07d},{'' if missing else t}\n")


def write_release(
    folder: Path, shape: ReleaseShape = ML_32M, log: Callable[[str], None] = print, with_ratings: bool = True
) -> dict:
    """Write the release into ``folder``; returns counts, seconds per file and file sizes.

    ``with_ratings=False`` skips ratings.csv (the slow part); movies, links and tags are the same
    bytes either way, so their documents match the full release's.
    """
    shape.check()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(shape.seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    movies = make_movies(shape, rng)
    write_movies_and_links(folder, movies, rng)
    seconds["movies+links"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats = (
        write_ratings(folder / "ratings.csv", shape, movies, np.random.default_rng(shape.seed + 1), log)
        if with_ratings
        else {"ratings": 0, "users": shape.users}
    )
    seconds["ratings"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tags = write_tags(folder / "tags.csv", shape, movies, np.random.default_rng(shape.seed + 2)) if shape.tags else 0
    if not shape.tags:
        (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n")
    seconds["tags"] = time.perf_counter() - t0
    (folder / "README.txt").write_text(
        f"SYNTHETIC data in the MovieLens ml-32m CSV format, not GroupLens data.\n"
        f"Made by movielens_dag.devtools.synthetic_release with {shape}.\n"
    )
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    return {"movies": shape.movies, **stats, "tags": tags, "seconds": seconds, "bytes": sizes}


def movie_documents(folder: Path):
    """The MovieLens-only ``movie_documents`` texts of a release folder (csv format), as the pipeline builds
    them: ``readers.read_movies`` + tags.csv through ``documents.build_documents`` (no enrichment)."""
    import pandas as pd

    from movielens_dag.documents import build_documents
    from movielens_dag.movielens.readers import read_movies
    from movielens_dag.movielens.variants import get_variant

    movies, _ = read_movies(folder, get_variant("ml-latest"))
    tags = pd.read_csv(folder / "tags.csv", dtype={"tag": str}, keep_default_na=False)
    tags = tags.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    return build_documents(movies.to_pandas(), tags).to_pandas()

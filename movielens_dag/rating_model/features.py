"""Feature tables for the rating models, built from the training ratings and the movie catalogue.

Every id goes through a ``Vocab`` fitted on the *training* ratings only, so a user or movie first
seen at validation or test time gets row 0 (UNK) instead of an error. Movie content (genres, year,
semantic IDs, text/poster vectors, TMDB numbers) is indexed by the catalogue row of the movie
(``movielens.movies``), which covers movies nobody rated in training; row 0 is "not in the
catalogue" and holds zeros. User activity is counted on the training ratings only.

Plain code: numpy and pandas only. The model turns these arrays into buffers.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.semantic_ids.ids import SemanticIds

from .data import Ratings, RatingSplit, Vocab, train_counts
from .settings import FeatureSettings

TMDB_COLUMNS = ("runtime", "budget", "popularity", "vote_count", "vote_average")
# measured when fetched (today), not when the rating was given: using them on a temporal split lets
# the test period's popularity into the features. runtime and budget are fixed at release.
TMDB_LEAKY = ("popularity", "vote_count", "vote_average")
_LOG_SCALED = {"runtime", "budget", "popularity", "vote_count"}


@dataclass(frozen=True)
class MovieVectors:
    """One vector per movie (text or poster embeddings), rows in ``movie_ids`` order."""

    movie_ids: np.ndarray  # [M] int64, strictly increasing
    vectors: np.ndarray  # [M, d] float32
    name: str = "unknown"  # the model that made them

    @classmethod
    def from_table(
        cls, table: pa.Table, model_id: str | None = None, source: str = "movie_embeddings"
    ) -> "MovieVectors":
        """A ``movie_embeddings``-shaped table (movie_id, model_id, embedding); ``model_id`` picks one model."""
        missing = {"movie_id", "embedding"} - set(table.column_names)
        if missing:
            raise ValueError(f"{source} lacks column(s) {sorted(missing)}")
        models = sorted(pc.unique(table["model_id"]).to_pylist()) if "model_id" in table.column_names else []
        if model_id is None and len(models) > 1:
            raise ValueError(f"{source} holds vectors of several models {models}: choose one (text_model_id)")
        if model_id is not None:
            if model_id not in models:
                raise ValueError(f"model {model_id!r} is not in {source} (it has {models})")
            table = table.filter(pc.equal(table["model_id"], model_id))
        ids = table["movie_id"].to_numpy().astype(np.int64)
        if np.unique(ids).size != ids.size:
            raise ValueError(f"{source} has duplicate movie ids; one vector per movie is expected")
        flat = table["embedding"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float32).reshape(table.num_rows, -1)
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], vectors[order], model_id or (models[0] if models else "unknown"))


@dataclass
class FeatureInputs:
    """Everything features may be made of; only ``movies`` is required."""

    movies: pd.DataFrame  # movielens.movies: movie_id, year, genres (list)
    text: MovieVectors | None = None
    sids: SemanticIds | None = None
    tmdb: pd.DataFrame | None = None  # enrichment.tmdb_movies: movie_id + TMDB_COLUMNS
    posters: MovieVectors | None = None


@dataclass
class FeatureTables:
    """Lookup tables indexed by user row (users), catalogue row (movie content) or movie row (ids)."""

    num_users: int  # user rows including UNK
    num_movies: int  # movie-id rows including UNK
    genres: np.ndarray | None = None  # [C + 1, G] int64 genre rows, 0 = padding
    num_genres: int = 0  # genre rows including padding
    year: np.ndarray | None = None  # [C + 1] int64 bucket rows, 0 = unknown year
    num_years: int = 0
    sid: np.ndarray | None = None  # [C + 1, L] int64 code + 1 per level, 0 = no SID
    sid_sizes: tuple[int, ...] = ()  # rows per level table
    item_dense: np.ndarray | None = None  # [C + 1, Di] float32
    user_dense: np.ndarray | None = None  # [U + 1, Du] float32
    dense_names: list[str] = field(default_factory=list)


@dataclass
class PreparedRatings:
    """Every rating as table rows, plus what the metrics slice by."""

    split: RatingSplit
    user: np.ndarray  # [R] user row (0 = UNK)
    movie: np.ndarray  # [R] movie-id row (0 = UNK)
    item: np.ndarray  # [R] catalogue row (0 = not in the catalogue)
    rating: np.ndarray  # [R] float32
    user_ids: np.ndarray  # [R] raw user ids (per-user NDCG groups by these)
    user_train_count: np.ndarray  # [R] the user's training ratings
    movie_train_count: np.ndarray  # [R] the movie's training ratings
    tables: FeatureTables
    global_mean: float  # mean training rating
    rating_range: tuple[float, float]  # (min, max) training rating: predictions are clipped to it


def _standardise(x: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Columns to mean 0, std 1 over ``fit_rows`` (constant columns are only centred)."""
    mu = x[fit_rows].mean(axis=0) if fit_rows.size else np.zeros(x.shape[1], np.float32)
    sd = x[fit_rows].std(axis=0) if fit_rows.size else np.ones(x.shape[1], np.float32)
    return ((x - mu) / np.where(sd > 1e-8, sd, 1.0)).astype(np.float32)


def _vectors_by_row(catalog: Vocab, vectors: MovieVectors) -> tuple[np.ndarray, np.ndarray]:
    """[C + 1, d] vectors by catalogue row (zeros where a movie has none), and which rows have one."""
    out = np.zeros((catalog.rows_with_unk, vectors.vectors.shape[1]), np.float32)
    rows = catalog.rows(vectors.movie_ids)
    keep = rows > 0  # vectors of movies outside the catalogue are not needed
    out[rows[keep]] = vectors.vectors[keep]
    has = np.zeros(catalog.rows_with_unk, bool)
    has[rows[keep]] = True
    return out, has


def principal_components(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Project ``x`` [N, d] onto the top ``k`` principal components of ``x[rows]`` -> [N, k]."""
    if k <= 0 or k >= x.shape[1] or rows.size == 0:
        return x
    mean = x[rows].mean(axis=0)
    _, _, vt = np.linalg.svd(x[rows] - mean, full_matrices=False)  # vt [d, d], rows = components
    return ((x - mean) @ vt[:k].T).astype(np.float32)


def genre_table(movies: pd.DataFrame, catalog: Vocab) -> tuple[np.ndarray, int]:
    """[C + 1, G] genre rows per catalogue row (padded with 0) and the number of genre rows."""
    genres = movies.set_index("movie_id")["genres"]
    lists = [list(g) if g is not None and not isinstance(g, float) else [] for g in genres.reindex(catalog.ids)]
    names = sorted({g for gs in lists for g in gs})
    index = {g: i + 1 for i, g in enumerate(names)}
    width = max((len(gs) for gs in lists), default=0) or 1
    out = np.zeros((catalog.rows_with_unk, width), np.int64)
    for row, gs in enumerate(lists, start=1):
        out[row, : len(gs)] = [index[g] for g in gs]
    return out, len(names) + 1


def year_table(movies: pd.DataFrame, catalog: Vocab, bucket: int) -> tuple[np.ndarray, int]:
    """[C + 1] release-year bucket row per catalogue row (0 = year unknown) and the number of rows."""
    years = movies.set_index("movie_id")["year"].reindex(catalog.ids).to_numpy(np.float64)
    known = np.isfinite(years)
    out = np.zeros(catalog.rows_with_unk, np.int64)
    if known.any():
        first = years[known].min()
        out[1:][known] = 1 + ((years[known] - first) // bucket).astype(np.int64)
    return out, int(out.max()) + 1


def sid_table(sids: SemanticIds, catalog: Vocab, levels: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """[C + 1, levels] code + 1 per level (0 = no SID), joined on movie id; table sizes per level."""
    if levels > sids.levels:
        raise ValueError(f"sid_levels={levels} but the semantic IDs have {sids.levels} levels")
    out = np.zeros((catalog.rows_with_unk, levels), np.int64)
    rows = catalog.rows(sids.movie_ids)
    keep = rows > 0
    out[rows[keep]] = sids.codes[keep, :levels] + 1
    sizes = tuple(int(sids.codes[:, lv].max()) + 2 if len(sids) else 1 for lv in range(levels))
    return out, sizes


def tmdb_table(tmdb: pd.DataFrame, catalog: Vocab) -> np.ndarray:
    """[C + 1, 6] standardised TMDB numbers (log1p for counts and money) and a 'missing' flag."""
    missing_cols = {"movie_id", *TMDB_COLUMNS} - set(tmdb.columns)
    if missing_cols:
        raise ValueError(f"tmdb_movies lacks column(s) {sorted(missing_cols)}")
    frame = tmdb.drop_duplicates("movie_id", keep="last").set_index("movie_id")
    frame = frame[list(TMDB_COLUMNS)].reindex(catalog.ids).astype("float64")
    values = frame.to_numpy()
    values[:, [i for i, c in enumerate(TMDB_COLUMNS) if c in _LOG_SCALED]] = np.log1p(
        np.clip(values[:, [i for i, c in enumerate(TMDB_COLUMNS) if c in _LOG_SCALED]], 0, None)
    )
    has = np.isfinite(values)
    out = np.zeros((catalog.rows_with_unk, len(TMDB_COLUMNS) + 1), np.float32)
    for j in range(len(TMDB_COLUMNS)):
        col = values[:, j]
        if has[:, j].any():
            mu, sd = col[has[:, j]].mean(), col[has[:, j]].std()
            out[1:, j] = np.where(has[:, j], (col - mu) / (sd if sd > 1e-8 else 1.0), 0.0)
    out[1:, -1] = (~has.all(axis=1)).astype(np.float32)
    out[0, -1] = 1.0
    return out


def build_features(
    ratings: Ratings, split: RatingSplit, inputs: FeatureInputs, features: FeatureSettings
) -> PreparedRatings:
    """Fit vocabularies and user statistics on the training ratings; look every rating up."""
    train = split.rows("train")
    if train.size == 0:
        raise ValueError(f"the {split.name} split has no training ratings")
    users, movies = Vocab.fit(ratings.user_ids[train]), Vocab.fit(ratings.movie_ids[train])
    if not {"movie_id", "year", "genres"} <= set(inputs.movies.columns):
        raise ValueError("movies lacks movie_id, year or genres; expected movielens.movies")
    catalog = Vocab.fit(inputs.movies["movie_id"].to_numpy())
    tables = FeatureTables(num_users=users.rows_with_unk, num_movies=movies.rows_with_unk)
    if features.genres:
        tables.genres, tables.num_genres = genre_table(inputs.movies, catalog)
    if features.year:
        tables.year, tables.num_years = year_table(inputs.movies, catalog, features.year_bucket)
    if features.sid_levels:
        if inputs.sids is None:
            raise ValueError("sid_levels > 0 needs semantic IDs: materialize semantic_ids")
        tables.sid, tables.sid_sizes = sid_table(inputs.sids, catalog, features.sid_levels)

    dense, names = [], []
    for flag, vectors, label, asset in (
        (features.text, inputs.text, "text", "movie_embeddings"),
        (features.poster, inputs.posters, "poster", "poster_embeddings"),
    ):
        if not flag:
            continue
        if vectors is None:
            raise ValueError(f"the {label} feature needs {asset}: materialize it, or switch the feature off")
        x, has = _vectors_by_row(catalog, vectors)
        x = principal_components(x, np.flatnonzero(has), features.vector_components)
        dense.append(
            np.concatenate(
                [_standardise(x, np.flatnonzero(has)) * has[:, None], (~has)[:, None].astype(np.float32)], axis=1
            )
        )
        names += [f"{label}_{i}" for i in range(x.shape[1])] + [f"{label}_missing"]
    if features.tmdb:
        if inputs.tmdb is None:
            raise ValueError("the tmdb feature needs enrichment.tmdb_movies (a TMDB token): switch it off")
        dense.append(tmdb_table(inputs.tmdb, catalog))
        names += [f"tmdb_{c}" for c in TMDB_COLUMNS] + ["tmdb_missing"]
    if dense:
        tables.item_dense = np.concatenate(dense, axis=1)
    if features.user_activity:  # by user row; row 0 (UNK, -1 is no user id) counts 0
        counts = train_counts(np.concatenate([[-1], users.ids]), ratings.user_ids[train])
        activity = np.log1p(counts.astype(np.float32))[:, None]
        tables.user_dense = _standardise(activity, np.arange(1, users.rows_with_unk))
        names.append("user_train_ratings_log1p")
    tables.dense_names = names

    y_train = ratings.ratings[train]
    return PreparedRatings(
        split=split,
        user=users.rows(ratings.user_ids),
        movie=movies.rows(ratings.movie_ids),
        item=catalog.rows(ratings.movie_ids),
        rating=ratings.ratings.astype(np.float32),
        user_ids=ratings.user_ids,
        user_train_count=train_counts(ratings.user_ids, ratings.user_ids[train]),
        movie_train_count=train_counts(ratings.movie_ids, ratings.movie_ids[train]),
        tables=tables,
        global_mean=float(y_train.mean()),
        rating_range=(float(y_train.min()), float(y_train.max())),
    )

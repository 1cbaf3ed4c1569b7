"""Splits, vocabularies and features: no test-period rating reaches training; unseen ids get UNK."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from movielens_dag.paths import BUNDLED_MOVIELENS_DIR
from movielens_dag.rating_model.data import (
    Ratings,
    RatingSplit,
    Vocab,
    random_split,
    ratings_from_frame,
    temporal_split,
    train_counts,
)
from movielens_dag.rating_model.features import FeatureInputs, MovieVectors, build_features, principal_components
from movielens_dag.rating_model.settings import FeatureSettings, TrainSettings, variant_settings
from movielens_dag.rating_model.train import train_model
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.splits import temporal_cuts

from .synthetic import planted

ALL_FEATURES = FeatureSettings(genres=True, year=True, sid_levels=2, text=True, user_activity=True)


@pytest.fixture(scope="module")
def bundled() -> Ratings:
    frame = pd.read_csv(BUNDLED_MOVIELENS_DIR / "ml-latest-small" / "ratings.csv")
    frame = frame.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    return ratings_from_frame(frame)


def test_temporal_split_uses_the_shared_cuts_and_never_trains_on_the_future(bundled):
    split = temporal_split(bundled)
    assert split.cuts == temporal_cuts(bundled.seconds)  # the recommender's cut times, not our own
    train, valid, test = (bundled.seconds[split.rows(s)] for s in ("train", "valid", "test"))
    assert train.max() < split.cuts.valid_start <= valid.min()
    assert valid.max() < split.cuts.test_start <= test.min()
    assert len(train) + len(valid) + len(test) == len(bundled) == 100_836
    assert split.counts() == {"train": 80_668, "valid": 10_084, "test": 10_084}


def test_random_split_is_labelled_shuffled_and_80_10_10(bundled):
    split = random_split(bundled, seed=0)
    assert split.name == "random" and split.cuts is None
    counts = split.counts()
    assert counts["train"] == round(0.8 * len(bundled)) and counts["valid"] == round(0.1 * len(bundled))
    assert np.array_equal(split.stage, random_split(bundled, seed=0).stage)
    assert not np.array_equal(split.stage, random_split(bundled, seed=1).stage)
    # unlike the temporal split, training holds ratings from after the test period starts
    assert bundled.seconds[split.rows("train")].max() > temporal_split(bundled).cuts.test_start


def test_vocab_maps_unseen_ids_to_unk():
    v = Vocab.fit(np.array([30, 10, 20, 10]))
    assert v.rows(np.array([10, 20, 30, 99, -5])).tolist() == [1, 2, 3, 0, 0]
    assert Vocab.fit(np.array([], np.int64)).rows(np.array([1])).tolist() == [0]
    assert train_counts(np.array([10, 30, 7]), np.array([10, 10, 30])).tolist() == [2, 1, 0]


def movie_inputs(movies: pd.DataFrame, dim: int = 8) -> FeatureInputs:
    rng = np.random.default_rng(0)
    ids = movies["movie_id"].to_numpy()
    text = MovieVectors(ids, rng.normal(size=(ids.size, dim)).astype(np.float32), "toy")
    sids = SemanticIds.with_digit(ids, rng.integers(0, 4, (ids.size, 2)))
    return FeatureInputs(movies=movies, text=text, sids=sids)


def future_rewritten(r: Ratings, test_rows: np.ndarray) -> Ratings:
    """Change everything about the test period: ratings, users (all new), movies, plus extra ratings."""
    user_ids, movie_ids, values = r.user_ids.copy(), r.movie_ids.copy(), r.ratings.copy()
    user_ids[test_rows] += 10_000
    movie_ids[test_rows] = movie_ids[test_rows][::-1]
    values[test_rows] = 5.0 - values[test_rows] + 0.5
    extra = np.arange(50)
    return Ratings(
        np.r_[user_ids, 20_000 + extra],
        np.r_[movie_ids, 1 + extra % 7],
        np.r_[values, np.full(50, 0.5, np.float32)].astype(np.float32),
        np.r_[r.seconds, np.full(50, r.seconds.max() + 1)],
    )


def test_nothing_from_the_test_period_reaches_training():
    """Rewriting every test-period rating (and adding more) changes no vocabulary, feature table,
    training statistic or trained weight: the model cannot have learned from the future."""
    r, movies = planted(n_users=60, n_movies=80, per_user=20)
    split = temporal_split(r)
    changed = future_rewritten(r, split.rows("test"))
    # the same cut instants (the extra ratings would move the quantiles a little)
    split2 = RatingSplit("temporal", split.cuts.period(changed.seconds), split.cuts)
    n = len(r)
    assert np.array_equal(split.rows("train"), split2.rows("train"))
    assert np.array_equal(split.rows("valid"), split2.rows("valid"))
    a = build_features(r, split, movie_inputs(movies), ALL_FEATURES)
    b = build_features(changed, split2, movie_inputs(movies), ALL_FEATURES)
    for field in dataclasses.fields(a.tables):
        x, y = getattr(a.tables, field.name), getattr(b.tables, field.name)
        assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y, field.name
    assert (a.global_mean, a.rating_range) == (b.global_mean, b.rating_range)
    for name in ("user", "movie", "item", "rating", "user_train_count", "movie_train_count"):
        keep = np.r_[split.rows("train"), split.rows("valid")]
        assert np.array_equal(getattr(a, name)[keep], getattr(b, name)[:n][keep]), name
    # the test period's users are all new in `changed`: UNK rows, zero training ratings
    assert (b.user[split2.rows("test")] == 0).all() and (b.user_train_count[split2.rows("test")] == 0).all()

    settings = dataclasses.replace(
        variant_settings("dlrm-id-text-sid"),
        features=ALL_FEATURES,
        train=TrainSettings(max_epochs=2, patience=2, batch_size=256),
    )
    wa, wb = train_model(settings, a, seed=0), train_model(settings, b, seed=0)
    np.testing.assert_equal(wa.valid, wb.valid)  # (NaN for empty slices compares equal here)
    assert wa.best_epoch == wb.best_epoch
    assert [h.loss for h in wa.history] == [h.loss for h in wb.history]


def test_unseen_users_and_movies_are_predicted_not_errors():
    r, movies = planted(n_users=40, n_movies=60, per_user=15)
    split = temporal_split(r)
    # a test rating by a brand-new user for a movie outside the catalogue, and one for a catalogued
    # movie nobody rated in training
    extra = Ratings(
        np.r_[r.user_ids, 999, 998],
        np.r_[r.movie_ids, 12345, 61],
        np.r_[r.ratings, 3.0, 4.0].astype(np.float32),
        np.r_[r.seconds, r.seconds.max() + [1, 2]],
    )
    movies = pd.concat([movies, pd.DataFrame({"movie_id": [61], "year": [np.nan], "genres": [["A"]]})])
    split = temporal_split(extra)
    data = build_features(extra, split, movie_inputs(movies), ALL_FEATURES)
    assert data.user[-2:].tolist() == [0, 0] and data.movie[-2:].tolist() == [0, 0]
    assert data.item[-2] == 0 and data.item[-1] > 0  # 61 is in the catalogue: its content is known
    assert data.tables.year[data.item[-1]] == 0  # unknown year: its own bucket
    settings = dataclasses.replace(
        variant_settings("dlrm-id-text-sid"), features=ALL_FEATURES, train=TrainSettings(max_epochs=1, batch_size=256)
    )
    result = train_model(settings, data, seed=0)
    assert np.isfinite(result.test_pred).all() and result.test["movie_unseen_n"] >= 1


def test_features_fail_clearly_when_an_input_is_missing():
    r, movies = planted(n_users=20, n_movies=30, per_user=10)
    split = random_split(r)
    with pytest.raises(ValueError, match="movie_embeddings"):
        build_features(r, split, FeatureInputs(movies=movies), FeatureSettings(text=True))
    with pytest.raises(ValueError, match="semantic_ids"):
        build_features(r, split, FeatureInputs(movies=movies), FeatureSettings(sid_levels=1))
    with pytest.raises(ValueError, match="tmdb_movies"):
        build_features(r, split, FeatureInputs(movies=movies), FeatureSettings(tmdb=True))
    with pytest.raises(ValueError, match="poster_embeddings"):
        build_features(r, split, FeatureInputs(movies=movies), FeatureSettings(poster=True))
    with pytest.raises(ValueError, match="null"):
        ratings_from_frame(
            pd.DataFrame({"user_id": [1, None], "movie_id": [1, 2], "rating": [3.0, 4.0], "timestamp": [1, 2]})
        )


def test_tmdb_numbers_are_scaled_and_missing_movies_flagged():
    r, movies = planted(n_users=20, n_movies=30, per_user=10)
    tmdb = pd.DataFrame(
        {
            "movie_id": [1, 2, 3],
            "runtime": [90, 120, None],
            "budget": [1e6, 1e8, 0],
            "popularity": [1.0, 50.0, 3.0],
            "vote_count": [10, 5000, 2],
            "vote_average": [6.0, 8.0, 5.0],
        }
    )
    data = build_features(
        r, random_split(r), FeatureInputs(movies=movies, tmdb=tmdb), FeatureSettings(tmdb=True, genres=True)
    )
    dense = data.tables.item_dense
    assert data.tables.dense_names[-1] == "tmdb_missing"
    assert dense[[1, 2], -1].tolist() == [0.0, 0.0] and dense[3, -1] == 1.0 and dense[4:, -1].all()
    assert dense[2, 1] > dense[1, 1]  # the bigger budget stays bigger after log1p and standardising
    assert np.isfinite(dense).all()


def test_poster_vectors_and_principal_components():
    """Posters are dense like text; movies without a poster get zeros and a 'missing' flag; PCA keeps
    the requested number of components, ordered by variance."""
    r, movies = planted(n_users=20, n_movies=30, per_user=10)
    rng = np.random.default_rng(0)
    ids = movies["movie_id"].to_numpy()[:20]  # 10 movies have no poster
    posters = MovieVectors(ids, rng.normal(size=(20, 12)).astype(np.float32) * np.linspace(3, 0.1, 12), "clip")
    data = build_features(
        r,
        random_split(r),
        FeatureInputs(movies=movies, posters=posters),
        FeatureSettings(poster=True, vector_components=4),
    )
    dense = data.tables.item_dense
    assert data.tables.dense_names == [f"poster_{i}" for i in range(4)] + ["poster_missing"]
    assert dense.shape == (31, 5)
    assert (dense[21:, :4] == 0).all() and (dense[21:, 4] == 1).all() and (dense[1:21, 4] == 0).all()
    pcs = principal_components(posters.vectors, np.arange(20), 4)
    assert pcs.shape == (20, 4) and np.all(np.diff(pcs.var(axis=0)) <= 1e-6)

"""Tiny models recover a planted rating rule; early stopping selects on validation only."""

import dataclasses

import numpy as np
import pytest

from movielens_dag.rating_model.data import random_split
from movielens_dag.rating_model.experiment import run_variant
from movielens_dag.rating_model.features import FeatureInputs, build_features
from movielens_dag.rating_model.settings import FeatureSettings, RatingRunSettings, TrainSettings, variant_settings
from movielens_dag.rating_model.train import train_model

from .synthetic import planted

FAST = TrainSettings(
    lr=1e-2, batch_size=256, max_epochs=40, patience=4, user_id_dropout=0.0, movie_id_dropout=0.0, l2=1e-5
)


@pytest.fixture(scope="module")
def planted_data():
    r, movies = planted(n_users=200, n_movies=300, per_user=60, noise=0.1)
    return r, movies, random_split(r, seed=0)


def fit(name: str, r, movies, split, **feature_changes):
    settings = variant_settings(name)
    settings = dataclasses.replace(
        settings, train=FAST, features=dataclasses.replace(settings.features, **feature_changes)
    )
    data = build_features(r, split, FeatureInputs(movies=movies), settings.features)
    return train_model(settings, data, seed=0), data


def test_dlrm_recovers_the_planted_rule_that_biases_cannot(planted_data):
    """rating = 4.5 when the user's type matches the movie's genre, else 1.5 (noise 0.1): biases alone
    are stuck near the 1.5 spread; a DLRM with user ids and genres finds the interaction."""
    r, movies, split = planted_data
    bias, _ = fit("bias", r, movies, split)
    dlrm, _ = fit("dlrm-id", r, movies, split, movie_id=False, year=False, user_activity=False)
    assert bias.test["rmse"] > 1.2
    assert dlrm.test["rmse"] < 0.3
    assert dlrm.test["ndcg_10"] > bias.test["ndcg_10"] + 0.05
    # selection used validation: the reported best epoch has the lowest validation RMSE of the run
    best = min(dlrm.history, key=lambda h: h.valid_rmse)
    assert best.epoch == dlrm.best_epoch and dlrm.valid["rmse"] == pytest.approx(best.valid_rmse, abs=1e-6)


def test_mf_recovers_the_rule_for_known_movies(planted_data):
    r, movies, split = planted_data
    mf, data = fit("mf-id", r, movies, split)
    seen = data.movie_train_count[split.rows("test")] > 5
    assert mf.test["movie_gt5_rmse"] < 0.5 and seen.sum() == mf.test["movie_gt5_n"]


def test_content_features_carry_unseen_movies():
    """Movies absent from training (their id is UNK) are still predicted from their genre."""
    r, movies = planted(n_users=200, n_movies=300, per_user=60, noise=0.1, seed=1)
    split = random_split(r, seed=0)
    held_out = np.isin(r.movie_ids, np.arange(1, 301)[::10])  # every 10th movie only in valid/test
    stage = split.stage.copy()
    stage[held_out & (stage == 0)] = 2
    split = dataclasses.replace(split, stage=stage)
    settings = variant_settings("dlrm-id")
    settings = dataclasses.replace(
        settings, train=dataclasses.replace(FAST, movie_id_dropout=0.1), features=FeatureSettings(genres=True)
    )
    data = build_features(r, split, FeatureInputs(movies=movies), settings.features)
    result = train_model(settings, data, seed=0)
    assert result.test["movie_unseen_n"] > 500
    assert result.test["movie_unseen_rmse"] < 0.4


def test_run_variant_gives_one_row_per_split_and_seed():
    r, movies = planted(n_users=40, n_movies=50, per_user=15)
    run = RatingRunSettings(seeds=2, splits=("temporal", "random"))
    settings = dataclasses.replace(variant_settings("bias"), train=dataclasses.replace(FAST, max_epochs=3))
    out = run_variant("bias", settings, r, FeatureInputs(movies=movies), run, "toy", log=lambda m: None)
    assert sorted(zip(out.rows["split"], out.rows["seed"])) == [
        ("random", 0),
        ("random", 1),
        ("temporal", 0),
        ("temporal", 1),
    ]
    assert (out.rows["cpu_seconds"] > 0).all() and out.rows["test_rmse"].notna().all()
    per_split = out.predictions.groupby(["split", "seed"]).size()
    assert per_split[("random", 0)] == out.rows.query("split == 'random'")["test_n"].iloc[0]

"""What the Dagster layer shows: described columns match real output, split facts, floors, the curve plot."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from movielens_dag.rating_model.columns import leaderboard_columns, run_columns
from movielens_dag.rating_model.data import random_split, temporal_split
from movielens_dag.rating_model.experiment import run_variant, split_facts
from movielens_dag.rating_model.features import FeatureInputs
from movielens_dag.rating_model.results import cold_movie_rmse, floors, leaderboard, validation_curve_png
from movielens_dag.rating_model.settings import RatingRunSettings, TrainSettings, variant_settings

from .synthetic import planted

FAST = TrainSettings(lr=1e-2, batch_size=256, max_epochs=3, patience=2)


@pytest.fixture(scope="module")
def small_run():
    r, movies = planted(n_users=40, n_movies=50, per_user=15)
    settings = dataclasses.replace(variant_settings("bias"), train=FAST)
    out = run_variant(
        "bias", settings, r, FeatureInputs(movies=movies), RatingRunSettings(seeds=2), "toy", log=lambda m: None
    )
    return r, out


def test_described_columns_are_exactly_what_runs_and_the_leaderboard_hold(small_run):
    _, out = small_run
    assert list(out.rows.columns) == list(run_columns())
    board = leaderboard(out.rows)
    assert set(board.columns) == set(leaderboard_columns())
    assert all(desc for _, desc in {**run_columns(), **leaderboard_columns()}.values())
    assert str(out.rows["cut_valid_start"].dtype) == "datetime64[us, UTC]"


def test_split_facts_record_what_training_saw(small_run):
    r, out = small_run
    temporal = temporal_split(r)
    facts = split_facts(temporal, r)
    train = temporal.rows("train")
    assert facts["train_n"] == train.size and facts["train_last_at"] == r.seconds[train].max()
    assert facts["train_last_at"] < facts["cut_valid_start"] == temporal.cuts.valid_start < facts["cut_test_start"]
    test = r.ratings[temporal.rows("test")].astype(np.float64)
    mean = r.ratings[train].astype(np.float64).mean()
    assert facts["train_mean_test_rmse"] == pytest.approx(np.sqrt(((test - mean) ** 2).mean()), rel=1e-5)
    random = split_facts(random_split(r), r)
    assert random["cut_valid_start"] is None and random["train_last_at"] > temporal.cuts.test_start
    rows = out.rows.set_index(["split", "seed"])
    assert rows.loc[("temporal", 0), "cut_valid_start"] == pd.Timestamp(temporal.cuts.valid_start, unit="s", tz="UTC")
    assert pd.isna(rows.loc[("random", 0), "cut_valid_start"])


def test_cold_rmse_pools_the_two_slices_exactly():
    rows = pd.DataFrame(
        {
            "test_movie_unseen_n": [3, 0, 0],
            "test_movie_unseen_rmse": [1.0, np.nan, np.nan],
            "test_movie_le5_n": [1, 4, 0],
            "test_movie_le5_rmse": [3.0, 0.5, np.nan],
        }
    )
    pooled = cold_movie_rmse(rows)
    assert pooled[0] == pytest.approx(np.sqrt((3 * 1.0 + 1 * 9.0) / 4)) and pooled[1] == pytest.approx(0.5)
    assert np.isnan(pooled[2])


def fake_runs(dlrm_valid: dict[str, float], test: dict[str, float], cold: dict[str, float]) -> pd.DataFrame:
    rows = []
    for variant in ("bias", *dlrm_valid):
        model = "bias" if variant == "bias" else "dlrm"
        text = "text" in variant
        for seed in range(2):
            rows.append(
                {
                    "split": "temporal",
                    "variant": variant,
                    "model": model,
                    "seed": seed,
                    "settings": json.dumps({"features": {"text": text}}),
                    "valid_rmse": dlrm_valid.get(variant, 1.0),
                    "test_rmse": test[variant],
                    "test_movie_unseen_n": 10,
                    "test_movie_unseen_rmse": cold[variant],
                    "test_movie_le5_n": 10,
                    "test_movie_le5_rmse": cold[variant],
                }
            )
    return pd.DataFrame(rows)


def test_floors_choose_on_validation_and_compare_on_test():
    runs = fake_runs(
        {"dlrm-id": 0.90, "dlrm-id-text": 0.95, "dlrm-id-text-sid": 0.92},
        test={"bias": 1.07, "dlrm-id": 1.05, "dlrm-id-text": 1.00, "dlrm-id-text-sid": 1.10},
        cold={"bias": 1.2, "dlrm-id": 1.15, "dlrm-id-text": 1.0, "dlrm-id-text-sid": 1.2},
    )
    f = floors(runs)
    # floor 1: dlrm-id has the best validation RMSE (not dlrm-id-text, which is best on test)
    assert (f["dlrm_variant"], f["dlrm_test_rmse"], f["bias_test_rmse"], f["dlrm_beats_bias"]) == (
        "dlrm-id",
        1.05,
        1.07,
        True,
    )
    # floor 2: of the text variants, -sid has the better validation RMSE, and it is worse on cold movies
    assert (f["text_variant"], f["text_beats_id_on_cold"], f["cold_ratings"]) == ("dlrm-id-text-sid", False, 20)
    assert f["text_cold_rmse"] == pytest.approx(1.2) and f["id_cold_rmse"] == pytest.approx(1.15)
    only_bias = floors(runs[runs["variant"] == "bias"])
    assert only_bias["dlrm_beats_bias_measured"] is False and only_bias["dlrm_beats_bias"] is None
    assert only_bias["text_beats_id_on_cold_measured"] is False


def test_validation_curve_png(small_run):
    _, out = small_run
    assert validation_curve_png(out.rows)[:8] == b"\x89PNG\r\n\x1a\n"

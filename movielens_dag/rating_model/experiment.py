"""One rating-model experiment: a variant trained on each split with several seeds.

Returns one result row per (split, seed) and the test predictions (for paired comparisons between
variants). Plain code; torch is imported through ``train``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import Ratings, RatingSplit, make_split
from .features import FeatureInputs, build_features
from .metrics import rmse
from .results import run_row
from .settings import RatingModelSettings, RatingRunSettings
from .train import EpochLog, train_model

TIME_COLUMNS = ("train_last_at", "cut_valid_start", "cut_test_start")


@dataclass
class ExperimentResult:
    rows: pd.DataFrame  # one row per (split, seed)
    predictions: pd.DataFrame  # split, seed, rating_row (position in the ratings), prediction


def split_facts(split: RatingSplit, ratings: Ratings) -> dict:
    """What the split gave the model, recorded with each row so a check can audit it: the training
    ratings' count and latest time, the cut times (temporal only), and the test RMSE of predicting the
    training mean (the floor any model must beat)."""
    train, test = split.rows("train"), split.rows("test")
    mean = float(ratings.ratings[train].mean())
    return {
        "train_n": int(train.size),
        "train_last_at": int(ratings.seconds[train].max()),
        "cut_valid_start": split.cuts.valid_start if split.cuts else None,
        "cut_test_start": split.cuts.test_start if split.cuts else None,
        "train_mean_test_rmse": rmse(np.full(test.size, mean), ratings.ratings[test].astype(np.float64)),
    }


def run_variant(
    variant: str,
    settings: RatingModelSettings,
    ratings: Ratings,
    inputs: FeatureInputs | Mapping[str, FeatureInputs],
    run: RatingRunSettings,
    dataset: str,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> ExperimentResult:
    """``inputs``: the same features for every split, or one set per split name (e.g. text vectors of
    documents with only the tags from before the temporal split's first cut)."""
    rows, preds = [], []
    for split_name in run.splits:
        split = make_split(split_name, ratings, run.temporal, run.random_split_seed, run.random_fractions)
        here = inputs if isinstance(inputs, FeatureInputs) else inputs[split_name]
        data = build_features(ratings, split, here, settings.features)
        test_rows = split.rows("test")
        facts = split_facts(split, ratings)
        log(
            f"{variant} / {split_name}: {split.counts()} ratings; {data.tables.num_users - 1} users and "
            f"{data.tables.num_movies - 1} movies in training; {len(data.tables.dense_names)} dense features"
        )
        for seed in range(run.seeds):

            def on_epoch(e: EpochLog, seed: int = seed, split_name: str = split_name) -> None:
                log(
                    f"{variant} / {split_name} seed {seed} epoch {e.epoch}: train MSE {e.loss:.4f}, valid RMSE "
                    f"{e.valid_rmse:.4f}{' (best)' if e.best else ''} [{e.seconds:.1f}s]"
                )

            r = train_model(settings, data, seed, device, on_epoch)
            log(
                f"{variant} / {split_name} seed {seed}: best epoch {r.best_epoch}, valid RMSE {r.valid['rmse']:.4f}, "
                f"test RMSE {r.test['rmse']:.4f}, NDCG@10 {r.test['ndcg_10']:.4f} ({r.cpu_seconds:.0f} CPU s)"
            )
            rows.append(
                run_row(
                    variant,
                    split_name,
                    dataset,
                    settings,
                    r,
                    text_model=here.text.name if settings.features.text and here.text else "-",
                    sid_method=here.sids.method if settings.features.sid_levels and here.sids else "-",
                    **facts,
                )
            )
            preds.append(
                pd.DataFrame(
                    {
                        "split": split_name,
                        "seed": seed,
                        "rating_row": test_rows.astype(np.int64),
                        "prediction": r.test_pred.astype(np.float32),
                    }
                )
            )
    table = pd.DataFrame(rows)
    for c in TIME_COLUMNS:  # unix seconds (None: no cut on the random split) -> UTC timestamps
        table[c] = pd.to_datetime(table[c].astype("Int64"), unit="s", utc=True)
    return ExperimentResult(table, pd.concat(preds, ignore_index=True))

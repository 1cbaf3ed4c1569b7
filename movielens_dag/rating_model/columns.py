"""The columns of the rating-model result tables, with descriptions (no torch: Dagster loads this).

``tests/rating_model/test_columns.py`` checks them against what ``experiment.run_variant`` and
``results.leaderboard`` really produce, so they cannot drift apart.
"""

from .metrics import MOVIE_SLICES, USER_SLICES

SLICE_WHAT = {
    "movie_unseen": "ratings of movies with no training rating",
    "movie_le5": "ratings of movies with 1-5 training ratings",
    "movie_gt5": "ratings of movies with more than 5 training ratings",
    "user_unseen": "ratings of users with no training rating",
    "user_le50": "ratings of users with 1-50 training ratings",
    "user_gt50": "ratings of users with more than 50 training ratings",
}


def _metrics(stage: str, what: str) -> dict[str, tuple[str, str]]:
    out = {
        f"{stage}_rmse": ("double", f"{what} RMSE"),
        f"{stage}_mae": ("double", f"{what} MAE"),
        f"{stage}_ndcg_10": ("double", f"{what} per-user NDCG@10 of the held-out movies ranked by prediction"),
        f"{stage}_n": ("int64", f"{what} ratings"),
        f"{stage}_ndcg_users": ("int64", f"{what} users with >= 2 ratings (the NDCG@10 average)"),
    }
    for s in (*MOVIE_SLICES, *USER_SLICES):
        out.update(
            {
                f"{stage}_{s}_rmse": ("double", f"{what} RMSE on {SLICE_WHAT[s]} (NaN: none)"),
                f"{stage}_{s}_mae": ("double", f"{what} MAE on {SLICE_WHAT[s]} (NaN: none)"),
                f"{stage}_{s}_n": ("int64", f"{what} {SLICE_WHAT[s]}"),
            }
        )
    return out


def run_columns() -> dict[str, tuple[str, str]]:
    """Column types and descriptions of rating_model_runs (one row per split and seed)."""
    return {
        "dataset": ("string", "MovieLens release"),
        "split": ("string", "temporal (global time cuts) or random (80/10/10)"),
        "variant": ("string", "bias, mf-id, dlrm-id, dlrm-id-text, ... (the partition)"),
        "model": ("string", "bias, mf or dlrm"),
        "seed": ("int64", "training seed"),
        "best_epoch": ("int64", "epoch with the best validation RMSE (the one tested)"),
        "epochs_run": ("int64", "epochs until early stopping"),
        "num_params": ("int64", "model parameters"),
        "wall_seconds": ("double", "training + validation + test time"),
        "cpu_seconds": ("double", "process CPU time"),
        "text_model": ("string", "model of the text vectors used ('-': none)"),
        "sid_method": ("string", "quantiser of the semantic IDs fitted on them ('-': none)"),
        "train_n": ("int64", "training ratings"),
        "train_last_at": ("timestamp[us, UTC]", "the latest training rating's time (temporal: before cut_valid_start)"),
        "cut_valid_start": ("timestamp[us, UTC]", "temporal: first instant of the validation period (null: random)"),
        "cut_test_start": ("timestamp[us, UTC]", "temporal: first instant of the test period (null: random)"),
        "train_mean_test_rmse": ("double", "test RMSE of predicting the training mean (the floor)"),
        **_metrics("valid", "validation (at the best epoch)"),
        **_metrics("test", "test (one pass at the best epoch)"),
        "valid_curve": ("string", "JSON list of validation RMSE per epoch"),
        "settings": ("string", "the variant's model, feature and training settings (JSON)"),
    }


def leaderboard_columns() -> dict[str, tuple[str, str]]:
    """Column types and descriptions of rating_leaderboard (one row per dataset, split and variant)."""
    runs = run_columns()
    out = {
        "rank": ("int64", "by test RMSE within the dataset and split (1 = lowest)"),
        "dataset": runs["dataset"],
        "split": runs["split"],
        "variant": runs["variant"],
        "model": runs["model"],
        "seeds": ("int64", "seeds averaged"),
        "num_params": runs["num_params"],
        "best_epoch": ("double", "mean best epoch"),
        "cpu_minutes": ("double", "CPU minutes of all seeds"),
        "cpu_minutes_per_seed": ("double", "mean CPU minutes per seed"),
    }
    out.update({c: d for c, d in runs.items() if c.startswith("test_") and c.endswith(("_n", "_users"))})
    for name, (_, desc) in runs.items():
        if name.startswith(("valid_", "test_")) and name != "valid_curve" and not name.endswith(("_n", "_users")):
            out[name] = ("double", f"mean over seeds of {desc}")
            out[f"{name}_std"] = ("double", f"std (ddof=1) over seeds of {desc}")
            out[f"{name}_ci95"] = ("double", f"95% Student-t half-width over seeds of {desc}")
    return out

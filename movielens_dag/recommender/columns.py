"""The columns of the recommender result tables, with descriptions (no torch: Dagster loads this)."""

HR_CUTOFFS = (1, 10, 50, 200)
NDCG_CUTOFFS = (10, 50, 200)
METRICS = [f"hr@{k}" for k in HR_CUTOFFS] + [f"ndcg@{k}" for k in NDCG_CUTOFFS] + ["mrr"]
SLICES = ("cold", "tail", "head", "new")  # new: the movie had no interaction before the training cut
SLICE_METRICS = ("hr@10", "hr@50", "hr@200", "ndcg@10", "mrr")


def col(name: str) -> str:
    """'hr@10' -> 'hr_10' (column names DuckDB users can type without quotes)."""
    return name.replace("@", "_")


def run_columns() -> dict[str, tuple[str, str]]:
    """Column types and descriptions of recommender_runs (one row per seed)."""
    out = {
        "variant": ("string", "model-representation[-fusion][-lN], e.g. hstu-prefixn_id-sum-l2 (N: SID levels used)"),
        "dataset": ("string", "MovieLens release"),
        "protocol": ("string", "leave_one_out (last item per user) or temporal (events after a global cut)"),
        "model": ("string", "hstu, sasrec, popularity or content"),
        "representation": ("string", "item representation"),
        "fusion": ("string", "SID + ID fusion"),
        "sid_levels": ("int64", "SID levels used (-1: all)"),
        "seed": ("int64", "training seed"),
        "best_epoch": ("int64", "epoch with the best validation NDCG@10 (the one tested)"),
        "epochs_run": ("int64", "epochs until early stopping"),
        "num_params": ("int64", "model parameters"),
        "wall_seconds": ("double", "training + validation time"),
        "cpu_seconds": ("double", "process CPU time"),
    }
    for stage, what in (("valid", "validation"), ("test", "test (one pass at the best epoch)")):
        out.update({f"{stage}_{col(m)}": ("double", f"{what} {m.upper().replace('@', '@')}") for m in METRICS})
        for s in SLICES:
            out.update({f"{stage}_{s}_{col(m)}": ("double", f"{what} {m} on {s} targets") for m in SLICE_METRICS})
    out.update({f"test_{s}_n": ("int64", f"test targets in the {s} slice") for s in SLICES})
    out.update(
        {
            "valid_ranks": ("list<int64>", "rank of every validation target (0 = top)"),
            "test_ranks": ("list<int64>", "rank of every test target (0 = top): the bootstrap CIs resample them"),
            "test_users": ("list<int64>", "the user of each test event"),
            "test_targets": ("list<int64>", "the item row of each test event"),
            "valid_curve": ("string", "JSON list of validation NDCG@10 per epoch"),
            "checkpoint": ("string", "best.pt of this seed"),
            "config": ("string", "the run's full config (JSON)"),
            "sid_method": ("string", "quantiser of the SIDs used ('-' for ID-only)"),
        }
    )
    return out


def leaderboard_columns() -> dict[str, tuple[str, str]]:
    """Column types and descriptions of recommender_leaderboard (one row per variant)."""
    runs = run_columns()
    out = {
        "rank": ("int64", "by test NDCG@10 within the dataset"),
        "dataset": runs["dataset"],
        "variant": runs["variant"],
        "model": runs["model"],
        "representation": runs["representation"],
        "fusion": runs["fusion"],
        "sid_levels": runs["sid_levels"],
        "seeds": ("int64", "seeds averaged"),
        "num_params": runs["num_params"],
        "minutes_per_seed": ("double", "mean wall minutes per seed"),
        "cpu_minutes_per_seed": ("double", "mean CPU minutes per seed"),
        "best_epoch": ("double", "mean best epoch"),
    }
    out["protocol"] = runs["protocol"]
    for name, (typ, desc) in runs.items():
        if name in ("valid_ranks", "test_ranks", "test_users", "test_targets"):
            continue
        if name.startswith(("valid_", "test_")) and name != "valid_curve":
            out[name] = (typ, f"mean over seeds of {desc}" if not name.endswith("_n") else desc)
            if not name.endswith("_n"):
                out[f"{name}_std"] = ("double", f"std (ddof=1) over seeds of {desc}")

    for m in ("ndcg_10", "hr_10"):
        for kind, what in (("micro", "over all test events"), ("macro", "per user, averaged over users")):
            out[f"test_{m}_{kind}"] = ("double", f"test {m.replace('_', '@')} {what}")
            out[f"test_{m}_{kind}_low"] = ("double", "bootstrap 95% CI over users: low")
            out[f"test_{m}_{kind}_high"] = ("double", "bootstrap 95% CI over users: high")
            out[f"diff_{m}_{kind}"] = ("double", f"difference to hstu-id ({kind}), paired over the same events")
            out[f"diff_{m}_{kind}_low"] = ("double", "paired bootstrap 95% CI: low")
            out[f"diff_{m}_{kind}_high"] = ("double", "paired bootstrap 95% CI: high")
    for m in ("hr_10", "hr_50", "ndcg_10"):
        out[f"test_new_{m}_low"] = ("double", "new-movie slice: bootstrap 95% CI over users, low")
        out[f"test_new_{m}_high"] = ("double", "new-movie slice: bootstrap 95% CI over users, high")
        out[f"diff_new_{m}"] = ("double", f"new-movie {m.replace('_', '@')} minus hstu-id's, paired")
        out[f"diff_new_{m}_low"] = ("double", "paired bootstrap 95% CI: low")
        out[f"diff_new_{m}_high"] = ("double", "paired bootstrap 95% CI: high")
    return out

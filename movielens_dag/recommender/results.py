"""Result tables: one row per (variant, seed) run, and the leaderboard (mean ± std over seeds)."""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd

from .columns import METRICS, SLICE_METRICS, SLICES, col
from .config import RecConfig
from .train import RunResult


def run_rows(
    variant: str,
    dataset: str,
    cfg: RecConfig | None,
    results: list[RunResult],
    protocol: str = "leave_one_out",
    model: str | None = None,
) -> pd.DataFrame:
    """One row per seed: config, timings, validation + test metrics, test slices and the per-event test
    ranks (for the bootstrap CIs). ``cfg`` None = a baseline (``model`` names it, default popularity)."""
    rows = []
    for r in results:
        items = cfg.items if cfg else None
        row = {
            "variant": variant,
            "dataset": dataset,
            "protocol": protocol,
            "model": cfg.model if cfg else (model or "popularity"),
            "representation": items.representation if items else "-",
            "fusion": items.fusion if items else "-",
            "sid_levels": -1 if items is None or items.sid_levels is None else items.sid_levels,
            "seed": r.seed,
            "best_epoch": r.best_epoch,
            "epochs_run": r.epochs_run,
            "num_params": r.num_params,
            "wall_seconds": r.wall_seconds,
            "cpu_seconds": r.cpu_seconds,
        }
        row.update({f"valid_{col(m)}": r.valid[m] for m in METRICS})
        row.update({f"test_{col(m)}": r.test[m] for m in METRICS})
        for s in SLICES:
            row[f"test_{s}_n"] = r.test_slices[s]["n"]
            row.update({f"test_{s}_{col(m)}": r.test_slices[s][m] for m in SLICE_METRICS})
            row.update({f"valid_{s}_{col(m)}": r.valid_slices[s][m] for m in SLICE_METRICS})
        row["valid_curve"] = json.dumps([round(h.valid["ndcg@10"], 5) for h in r.history])
        row["checkpoint"] = r.checkpoint or ""
        for name in ("valid_ranks", "test_ranks", "test_users", "test_targets"):
            value = getattr(r, name)
            row[name] = [] if value is None else np.asarray(value, dtype=np.int64).tolist()
        row["config"] = json.dumps(asdict(cfg) if cfg else {}, sort_keys=True)
        rows.append(row)
    return pd.DataFrame(rows)


EVENT_COLUMNS = ("valid_ranks", "test_ranks", "test_users", "test_targets")
BASELINE = "hstu-id"  # the paired differences are against this variant
CI_METRICS = ("ndcg@10", "hr@10")  # all test events: micro and macro, with CIs
NEW_CI_METRICS = ("hr@10", "hr@50", "ndcg@10")  # the new-movie slice (micro), with CIs
# the leave-one-out table's mean ± std columns, in order (each with a `<name>_std` column on the board)
TABLE_METRICS = (
    "test_ndcg_10",
    "test_hr_10",
    "test_hr_50",
    "test_mrr",
    "valid_ndcg_10",
    "test_cold_hr_10",
    "test_cold_hr_200",
    "test_tail_ndcg_10",
    "test_head_ndcg_10",
)


def seed_mean_events(g: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per test event, the metric averaged over the seeds of one variant -> (values, users, targets)."""
    from .stats import per_event

    ranks = [np.asarray(r, dtype=np.int64) for r in g["test_ranks"]]
    if len({len(r) for r in ranks}) != 1 or not len(ranks[0]):
        raise ValueError(f"variant {g['variant'].iloc[0]!r}: seeds have different or empty test events")
    values = np.mean([per_event(r, metric) for r in ranks], axis=0)
    return values, np.asarray(g["test_users"].iloc[0], np.int64), np.asarray(g["test_targets"].iloc[0], np.int64)


def add_intervals(row: dict, g: pd.DataFrame, base: pd.DataFrame | None, new_items: np.ndarray | None) -> None:
    """Bootstrap CIs over users (micro = all events, macro = per-user means) and, when ``base`` is given,
    the paired CI of the difference against it; ``new_items`` [N + 1] bool marks new movies."""
    from .stats import bootstrap, paired_bootstrap

    for m in CI_METRICS:
        v, users, targets = seed_mean_events(g, m)
        for kind, est in bootstrap(v, users).items():
            row.update(
                {
                    f"test_{col(m)}_{kind}": est.value,
                    f"test_{col(m)}_{kind}_low": est.low,
                    f"test_{col(m)}_{kind}_high": est.high,
                }
            )
        if base is not None:
            for kind, est in paired_bootstrap(v, seed_mean_events(base, m)[0], users).items():
                row.update(
                    {
                        f"diff_{col(m)}_{kind}": est.value,
                        f"diff_{col(m)}_{kind}_low": est.low,
                        f"diff_{col(m)}_{kind}_high": est.high,
                    }
                )
    if new_items is None:
        return
    for m in NEW_CI_METRICS:
        v, users, targets = seed_mean_events(g, m)
        new = new_items[targets]
        est = bootstrap(v[new], users[new])["micro"]
        row.update({f"test_new_{col(m)}_low": est.low, f"test_new_{col(m)}_high": est.high})
        if base is not None:
            d = paired_bootstrap(v[new], seed_mean_events(base, m)[0][new], users[new])["micro"]
            row.update(
                {f"diff_new_{col(m)}": d.value, f"diff_new_{col(m)}_low": d.low, f"diff_new_{col(m)}_high": d.high}
            )


def leaderboard(runs: pd.DataFrame, new_items: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Aggregate per-seed rows into one row per (dataset, protocol, variant): mean and std (ddof=1) of
    every metric, seeds, minutes; with per-event ranks, bootstrap CIs over users and paired CIs against
    ``hstu-id``; sorted by test NDCG@10 (best first). ``new_items``: per protocol, [N + 1] bool new-movie
    mask (for the new-movie CIs)."""
    if runs.empty:
        raise ValueError("no recommender runs to rank: materialize some recommender_runs partitions first")
    if "protocol" not in runs.columns:
        runs = runs.assign(protocol="leave_one_out")
    metric_cols = [
        c
        for c in runs.columns
        if c.startswith(("valid_", "test_")) and c != "valid_curve" and not c.endswith("_n") and c not in EVENT_COLUMNS
    ]
    has_events = "test_ranks" in runs.columns
    out = []
    for (dataset, protocol, variant), g in runs.groupby(["dataset", "protocol", "variant"], sort=False):
        row = {
            "dataset": dataset,
            "protocol": protocol,
            "variant": variant,
            "model": g["model"].iloc[0],
            "representation": g["representation"].iloc[0],
            "fusion": g["fusion"].iloc[0],
            "sid_levels": int(g["sid_levels"].iloc[0]),
            "seeds": len(g),
            "num_params": int(g["num_params"].iloc[0]),
            "minutes_per_seed": float(g["wall_seconds"].mean() / 60),
            "cpu_minutes_per_seed": float(g["cpu_seconds"].mean() / 60),
            "best_epoch": float(g["best_epoch"].mean()),
        }
        for s in SLICES:
            if f"test_{s}_n" in g.columns:
                row[f"test_{s}_n"] = int(g[f"test_{s}_n"].iloc[0])
        for c in metric_cols:
            v = g[c].to_numpy(np.float64)
            row[c] = float(v.mean())
            row[f"{c}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        if has_events and len(g["test_ranks"].iloc[0]):
            base = runs[(runs["dataset"] == dataset) & (runs["protocol"] == protocol) & (runs["variant"] == BASELINE)]
            add_intervals(row, g, base if len(base) and variant != BASELINE else None, (new_items or {}).get(protocol))
        out.append(row)
    board = pd.DataFrame(out).sort_values(["dataset", "protocol", "test_ndcg_10"], ascending=[True, True, False])
    board.insert(0, "rank", board.groupby(["dataset", "protocol"]).cumcount() + 1)
    return board.reset_index(drop=True)


def pm(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"


def markdown(board: pd.DataFrame) -> str:
    """The README table: test metrics mean ± std, validation NDCG@10, slices, CPU minutes."""
    header = (
        "| # | variant | seeds | test NDCG@10 | test HR@10 | test HR@50 | test MRR | valid NDCG@10 "
        "| cold HR@10 | cold HR@200 | tail NDCG@10 | head NDCG@10 | params | CPU min/seed "
        "| test NDCG@10 [95% CI] | Δ test NDCG@10 vs hstu-id [paired CI] | Δ test HR@10 vs hstu-id [paired CI] |"
    )
    lines = [header, "|---:|---|---:|---|---|---|---|---|---|---|---|---|---:|---:|---|---|---|"]
    for _, r in board.iterrows():
        cells = [str(r["rank"]), f"`{r['variant']}`", str(r["seeds"])]
        for c in TABLE_METRICS:
            cells.append(pm(r[c], r[f"{c}_std"]))
        cells += [f"{r['num_params']:,}", f"{r['cpu_minutes_per_seed']:.1f}"]
        cells.append(ci(r, "test_ndcg_10_micro") if pd.notna(r.get("test_ndcg_10_micro")) else "—")
        for c in ("diff_ndcg_10_micro", "diff_hr_10_micro"):
            cells.append(ci(r, c) if pd.notna(r.get(c)) and r["variant"] != BASELINE else "—")
        lines.append("| " + " | ".join(cells) + " |")
    r = board.iloc[0]
    lines.append(
        f"\nTest users: {int(r['test_cold_n'] + 0)} cold targets (≤5 training interactions), "
        f"{int(r['test_tail_n'])} tail / {int(r['test_head_n'])} head (head = 20% most-interacted items)."
    )
    return "\n".join(lines)


def ci(r: pd.Series, c: str) -> str:
    """'0.0412 [0.0301, 0.0533]' from columns c, c_low, c_high."""
    return f"{r[c]:.4f} [{r[c + '_low']:.4f}, {r[c + '_high']:.4f}]" if pd.notna(r.get(c + "_low")) else f"{r[c]:.4f}"


def temporal_markdown(board: pd.DataFrame, info: dict | None = None) -> str:
    """The temporal table: all-event (micro) and per-user (macro) NDCG@10 with bootstrap 95% CIs over
    users, the new-movie slice, and each variant's paired difference against hstu-id."""
    header = (
        "| # | variant | seeds | NDCG@10 all events [95% CI] | HR@10 all events | NDCG@10 per user | "
        "new-movie HR@10 | new-movie HR@50 [95% CI] | new-movie NDCG@10 | Δ NDCG@10 vs hstu-id [paired CI] | "
        "Δ new HR@50 vs hstu-id [paired CI] | valid NDCG@10 | CPU min/seed |"
    )
    lines = [header, "|---:|---|---:|---|---|---|---|---|---|---|---|---|---:|"]

    def diff(r: pd.Series, c: str) -> str:
        return ci(r, c) if pd.notna(r.get(c)) else "—"

    for _, r in board.iterrows():
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r["rank"]),
                    f"`{r['variant']}`",
                    str(r["seeds"]),
                    ci(r, "test_ndcg_10_micro"),
                    ci(r, "test_hr_10_micro"),
                    ci(r, "test_ndcg_10_macro"),
                    f"{r['test_new_hr_10']:.4f}",
                    ci(r, "test_new_hr_50"),
                    f"{r['test_new_ndcg_10']:.4f}",
                    diff(r, "diff_ndcg_10_micro"),
                    diff(r, "diff_new_hr_50"),
                    pm(r["valid_ndcg_10"], r["valid_ndcg_10_std"]),
                    f"{r['cpu_minutes_per_seed']:.1f}",
                ]
            )
            + " |"
        )
    r = board.iloc[0]
    lines.append(
        f"\nTest: {int(r['test_new_n'])} new-movie events (movie never rated before the training cut) "
        f"of {int(r['test_head_n'] + r['test_tail_n'])} events."
    )
    if info:
        lines.append("Split: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".")
    return "\n".join(lines)

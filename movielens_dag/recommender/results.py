"""Result tables: one row per (variant, seed) run, and the leaderboard (mean ± std over seeds)."""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd

from .columns import METRICS, SLICE_METRICS, SLICES, col
from .config import RecConfig
from .train import RunResult


def run_rows(variant: str, dataset: str, cfg: RecConfig | None, results: list[RunResult]) -> pd.DataFrame:
    """One row per seed: config, timings, validation + test metrics, test slices. ``cfg`` None = the
    popularity baseline."""
    rows = []
    for r in results:
        items = cfg.items if cfg else None
        row = {"variant": variant, "dataset": dataset, "model": cfg.model if cfg else "popularity",
               "representation": items.representation if items else "-", "fusion": items.fusion if items else "-",
               "sid_levels": -1 if items is None or items.sid_levels is None else items.sid_levels,
               "seed": r.seed, "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
               "num_params": r.num_params, "wall_seconds": r.wall_seconds, "cpu_seconds": r.cpu_seconds}
        row.update({f"valid_{col(m)}": r.valid[m] for m in METRICS})
        row.update({f"test_{col(m)}": r.test[m] for m in METRICS})
        for s in SLICES:
            row[f"test_{s}_n"] = r.test_slices[s]["n"]
            row.update({f"test_{s}_{col(m)}": r.test_slices[s][m] for m in SLICE_METRICS})
            row.update({f"valid_{s}_{col(m)}": r.valid_slices[s][m] for m in SLICE_METRICS})
        row["valid_curve"] = json.dumps([round(h.valid["ndcg@10"], 5) for h in r.history])
        row["checkpoint"] = r.checkpoint or ""
        row["config"] = json.dumps(asdict(cfg) if cfg else {}, sort_keys=True)
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-seed rows into one row per (dataset, variant): mean and std (ddof=1) of every
    metric, seeds, minutes; sorted by test NDCG@10 (best first)."""
    if runs.empty:
        raise ValueError("no recommender runs to rank: materialize some recommender_runs partitions first")
    metric_cols = [c for c in runs.columns if c.startswith(("valid_", "test_"))
                   and c != "valid_curve" and not c.endswith("_n")]
    out = []
    for (dataset, variant), g in runs.groupby(["dataset", "variant"], sort=False):
        row = {"dataset": dataset, "variant": variant, "model": g["model"].iloc[0],
               "representation": g["representation"].iloc[0], "fusion": g["fusion"].iloc[0],
               "sid_levels": int(g["sid_levels"].iloc[0]), "seeds": len(g),
               "num_params": int(g["num_params"].iloc[0]),
               "minutes_per_seed": float(g["wall_seconds"].mean() / 60),
               "cpu_minutes_per_seed": float(g["cpu_seconds"].mean() / 60),
               "best_epoch": float(g["best_epoch"].mean())}
        for s in SLICES:
            row[f"test_{s}_n"] = int(g[f"test_{s}_n"].iloc[0])
        for c in metric_cols:
            v = g[c].to_numpy(np.float64)
            row[c] = float(v.mean())
            row[f"{c}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(row)
    board = pd.DataFrame(out).sort_values(["dataset", "test_ndcg_10"], ascending=[True, False])
    board.insert(0, "rank", board.groupby("dataset").cumcount() + 1)
    return board.reset_index(drop=True)


def pm(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"


def markdown(board: pd.DataFrame) -> str:
    """The README table: test metrics mean ± std, validation NDCG@10, slices, CPU minutes."""
    lines = ["| # | variant | seeds | test NDCG@10 | test HR@10 | test HR@50 | test MRR | valid NDCG@10 "
             "| cold HR@10 | cold HR@200 | tail NDCG@10 | head NDCG@10 | params | CPU min/seed |",
             "|---:|---|---:|---|---|---|---|---|---|---|---|---|---:|---:|"]
    for _, r in board.iterrows():
        cells = [str(r["rank"]), f"`{r['variant']}`", str(r["seeds"])]
        for c in ["test_ndcg_10", "test_hr_10", "test_hr_50", "test_mrr", "valid_ndcg_10",
                  "test_cold_hr_10", "test_cold_hr_200", "test_tail_ndcg_10", "test_head_ndcg_10"]:
            cells.append(pm(r[c], r[f"{c}_std"]))
        cells += [f"{r['num_params']:,}", f"{r['cpu_minutes_per_seed']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    r = board.iloc[0]
    lines.append(f"\nTest users: {int(r['test_cold_n'] + 0)} cold targets (≤5 training interactions), "
                 f"{int(r['test_tail_n'])} tail / {int(r['test_head_n'])} head (head = 20% most-interacted items).")
    return "\n".join(lines)


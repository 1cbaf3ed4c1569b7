"""Result tables: one row per (variant, split, seed), and the leaderboard (mean ± std and a 95% CI
over seeds per variant and split), as a DataFrame, a Markdown table and a chart.

Plain code: pandas/numpy (scipy and matplotlib are imported inside the functions that need them).
"""

import io
import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movielens_dag.settings import as_dict

from .metrics import MOVIE_SLICES, USER_SLICES
from .settings import RatingModelSettings

if TYPE_CHECKING:  # train imports torch; this module must not (the Dagster definitions and the CLI load it)
    from .train import TrainResult

ID_COLUMNS = ("dataset", "split", "variant")


def run_row(
    variant: str, split: str, dataset: str, settings: RatingModelSettings, r: "TrainResult", **extra: object
) -> dict:
    """One seed's row: what ran, how long, and every validation and test metric."""
    row = {
        "dataset": dataset,
        "split": split,
        "variant": variant,
        "model": settings.model.kind,
        "seed": r.seed,
        "best_epoch": r.best_epoch,
        "epochs_run": r.epochs_run,
        "num_params": r.num_params,
        "wall_seconds": r.wall_seconds,
        "cpu_seconds": r.cpu_seconds,
        **extra,
    }
    row.update({f"valid_{k}": v for k, v in r.valid.items()})
    row.update({f"test_{k}": v for k, v in r.test.items()})
    row["valid_curve"] = json.dumps([round(h.valid_rmse, 5) for h in r.history])
    row["settings"] = json.dumps(as_dict(settings), sort_keys=True)
    return row


def _t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, split, variant): every metric's mean, std (ddof=1) and 95% CI half-width
    (Student t over seeds), seeds, CPU minutes; ranked by test RMSE within each split (best first)."""
    if runs.empty:
        raise ValueError("no rating-model runs to rank: materialize some rating_model_runs partitions first")
    metric_cols = [
        c
        for c in runs.columns
        if c.startswith(("valid_", "test_")) and c != "valid_curve" and not c.endswith(("_n", "_users"))
    ]
    count_cols = [c for c in runs.columns if c.startswith("test_") and c.endswith(("_n", "_users"))]
    out = []
    for (dataset, split, variant), g in runs.groupby(list(ID_COLUMNS), sort=False):
        n = len(g)
        row = {
            "dataset": dataset,
            "split": split,
            "variant": variant,
            "model": g["model"].iloc[0],
            "seeds": n,
            "num_params": int(g["num_params"].iloc[0]),
            "best_epoch": float(g["best_epoch"].mean()),
            "cpu_minutes": float(g["cpu_seconds"].sum() / 60),
            "cpu_minutes_per_seed": float(g["cpu_seconds"].mean() / 60),
        }
        row.update({c: int(g[c].iloc[0]) for c in count_cols})
        half = _t_quantile(n - 1) if n > 1 else float("nan")
        for c in metric_cols:
            v = g[c].to_numpy(np.float64)
            sd = float(v.std(ddof=1)) if n > 1 else 0.0
            row.update({c: float(v.mean()), f"{c}_std": sd, f"{c}_ci95": half * sd / np.sqrt(n) if n > 1 else 0.0})
        out.append(row)
    board = pd.DataFrame(out).sort_values(["dataset", "split", "test_rmse"], ascending=[True, False, True])
    board.insert(0, "rank", board.groupby(["dataset", "split"]).cumcount() + 1)
    return board.reset_index(drop=True)


def pm(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


SLICE_LABELS = {
    "movie_unseen": "movie unseen",
    "movie_le5": "movie 1–5",
    "movie_gt5": "movie > 5",
    "user_unseen": "user unseen",
    "user_le50": "user 1–50",
    "user_gt50": "user > 50",
}
TABLE_COLUMNS = [
    ("test_rmse", "test RMSE"),
    ("test_mae", "test MAE"),
    ("test_ndcg_10", "test NDCG@10"),
    ("valid_rmse", "valid RMSE"),
    *((f"test_{s}_rmse", f"RMSE {SLICE_LABELS[s]}") for s in (*MOVIE_SLICES, *USER_SLICES)),
]


def markdown(board: pd.DataFrame) -> str:
    """The README table: per split, test metrics and slices as mean ± std, the 95% CI of test RMSE."""
    head = (
        ["split", "#", "variant", "seeds"]
        + [label for _, label in TABLE_COLUMNS]
        + ["test RMSE 95% CI", "CPU min/seed"]
    )
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|---:|" + "---|" * len(TABLE_COLUMNS) + "---|---:|"]
    for _, r in board.iterrows():
        cells = [r["split"], str(r["rank"]), f"`{r['variant']}`", str(r["seeds"])]
        cells += ["–" if np.isnan(r[c]) else pm(r[c], r[f"{c}_std"]) for c, _ in TABLE_COLUMNS]
        cells += [f"± {r['test_rmse_ci95']:.4f}", f"{r['cpu_minutes_per_seed']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    for split, g in board.groupby("split", sort=False):
        r = g.iloc[0]
        sizes = ", ".join(f"{SLICE_LABELS[s]} {int(r[f'test_{s}_n']):,}" for s in (*MOVIE_SLICES, *USER_SLICES))
        notes.append(
            f"{split}: {int(r['test_n']):,} test ratings ({sizes}); NDCG@10 over "
            f"{int(r['test_ndcg_users'])} users with >= 2 test ratings."
        )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def chart_png(board: pd.DataFrame) -> bytes:
    """Per split: test RMSE ± std per variant (top) and RMSE per movie-popularity slice (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(dict.fromkeys(board["split"]))
    variants = list(dict.fromkeys(board["variant"]))  # one colour per variant in every panel
    colours = {v: f"C{i}" for i, v in enumerate(variants)}
    labels = {"movie_unseen": "unseen", "movie_le5": "1–5", "movie_gt5": "> 5"}
    fig, axes = plt.subplots(2, len(splits), figsize=(5.5 * len(splits), 6.5), dpi=100, squeeze=False)
    for col, split in enumerate(splits):
        g = board[board["split"] == split].sort_values("test_rmse", ascending=False)
        ax = axes[0, col]
        ax.barh(
            g["variant"], g["test_rmse"], xerr=g["test_rmse_std"], color=[colours[v] for v in g["variant"]], capsize=3
        )
        lo = float((g["test_rmse"] - 3 * g["test_rmse_std"]).min())
        ax.set_xlim(max(0.0, lo - 0.02), float((g["test_rmse"] + g["test_rmse_std"]).max()) + 0.01)
        ax.set(title=f"{split} split: test RMSE (mean ± std over seeds)", xlabel="RMSE (lower is better)")
        ax.grid(axis="x", alpha=0.3)
        ax = axes[1, col]
        shown = [v for v in variants if v in set(g["variant"])]
        width = 0.8 / len(shown)
        x = np.arange(len(MOVIE_SLICES))
        values = []
        for i, v in enumerate(shown):
            r = g[g["variant"] == v].iloc[0]
            vals = [r[f"test_{s}_rmse"] for s in MOVIE_SLICES]
            errs = [r[f"test_{s}_rmse_std"] for s in MOVIE_SLICES]
            values += vals
            ax.bar(x + i * width - 0.4 + width / 2, vals, width, yerr=errs, label=v, color=colours[v], capsize=2)
        ax.set_xticks(x, [f"{labels[s]} ({int(g.iloc[0][f'test_{s}_n']):,})" for s in MOVIE_SLICES])
        finite = [v for v in values if np.isfinite(v)]
        if finite:
            ax.set_ylim(min(finite) - 0.05, max(finite) + 0.03)
        ax.set(title="test RMSE by the movie's ratings in training", ylabel="RMSE")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def validation_curve_png(rows: pd.DataFrame) -> bytes:
    """Validation RMSE per epoch, one panel per split and one line per seed; the best epoch dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(dict.fromkeys(rows["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 3.2), dpi=100, squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        for _, r in rows[rows["split"] == split].iterrows():
            curve = json.loads(r["valid_curve"])
            ax.plot(range(1, len(curve) + 1), curve, label=f"seed {r['seed']}")
            ax.axvline(r["best_epoch"], ls=":", lw=0.8, color=ax.lines[-1].get_color())
        ax.set(xlabel="epoch", ylabel="validation RMSE", title=f"{rows['variant'].iloc[0]} / {split}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def cold_movie_rmse(rows: pd.DataFrame) -> pd.Series:
    """Per row: test RMSE on the ratings of movies with at most 5 training ratings (unseen + 1-5), pooled
    exactly from the two slices' RMSEs and counts. NaN when both slices are empty."""
    n_u, n_l = rows["test_movie_unseen_n"].astype(float), rows["test_movie_le5_n"].astype(float)
    sq = n_u * rows["test_movie_unseen_rmse"].fillna(0.0) ** 2 + n_l * rows["test_movie_le5_rmse"].fillna(0.0) ** 2
    return np.sqrt(sq / (n_u + n_l).where(n_u + n_l > 0))


def _uses_text(settings_json: str) -> bool:
    return bool(json.loads(settings_json).get("features", {}).get("text"))


def floors(runs: pd.DataFrame, split: str = "temporal") -> dict:
    """The issue's two floors on ``split``, each comparison chosen on validation RMSE (never on test):

    1. the DLRM variant with the best validation RMSE beats ``bias`` on test RMSE;
    2. the text DLRM variant with the best validation RMSE beats ``dlrm-id`` on the test ratings of movies
       with at most 5 training ratings.

    Means over seeds. ``*_measured`` is False (and the verdict None) when a variant is missing."""
    r = runs[runs["split"] == split].assign(cold_rmse=lambda d: cold_movie_rmse(d))
    means = r.groupby("variant").agg(
        model=("model", "first"),
        settings=("settings", "first"),
        valid_rmse=("valid_rmse", "mean"),
        test_rmse=("test_rmse", "mean"),
        cold_rmse=("cold_rmse", "mean"),
        cold_n=("test_movie_unseen_n", "first"),
        le5_n=("test_movie_le5_n", "first"),
    )
    dlrm = means[means["model"] == "dlrm"].sort_values("valid_rmse")
    text = dlrm[dlrm["settings"].map(_uses_text)]
    out: dict = {"split": split}
    measured = "bias" in means.index and len(dlrm) > 0
    out["dlrm_beats_bias_measured"] = measured
    out["dlrm_beats_bias"] = None
    if measured:
        best, bias = dlrm.iloc[0], means.loc["bias"]
        out.update(
            dlrm_variant=best.name,
            dlrm_test_rmse=float(best["test_rmse"]),
            bias_test_rmse=float(bias["test_rmse"]),
            dlrm_beats_bias=bool(best["test_rmse"] < bias["test_rmse"]),
        )
    measured = "dlrm-id" in means.index and len(text) > 0
    out["text_beats_id_on_cold_measured"] = measured
    out["text_beats_id_on_cold"] = None
    if measured:
        best, ident = text.iloc[0], means.loc["dlrm-id"]
        out.update(
            text_variant=best.name,
            text_cold_rmse=float(best["cold_rmse"]),
            id_cold_rmse=float(ident["cold_rmse"]),
            cold_ratings=int(best["cold_n"] + best["le5_n"]),
            text_beats_id_on_cold=bool(best["cold_rmse"] < ident["cold_rmse"]),
        )
    return out

"""One recommender experiment: a variant trained with several seeds, as result rows and a plot.

Plain code (torch and matplotlib are imported here, so the Dagster asset imports this lazily).
"""

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .config import RecConfig
from .data import ItemSids, Split
from .results import run_rows
from .train import EpochLog, RunResult, train_run


def train_seeds(
    variant: str,
    dataset: str,
    cfg: RecConfig,
    split: Split,
    sids: ItemSids | None,
    seeds: int,
    checkpoint_root: Path,
    *,
    resume: bool = True,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    protocol: str = "leave_one_out",
    first_seed: int = 0,
) -> tuple[pd.DataFrame, list[RunResult]]:
    """Seeds first_seed..first_seed+seeds-1: early stopping on validation NDCG@10, one test pass each.
    One row per seed."""
    results = []
    for seed in range(first_seed, first_seed + seeds):

        def on_epoch(e: EpochLog, seed: int = seed) -> None:
            log(
                f"{variant} seed {seed} epoch {e.epoch}/{cfg.train.max_epochs}: loss {e.loss:.4f}, valid "
                f"NDCG@10 {e.valid['ndcg@10']:.4f} HR@10 {e.valid['hr@10']:.4f}{' (best)' if e.best else ''} "
                f"[{e.seconds:.1f}s]"
            )

        r = train_run(
            cfg, split, sids, seed, checkpoint_root / f"seed{seed}", on_epoch=on_epoch, resume=resume, device=device
        )
        log(f"{variant} seed {seed}: best epoch {r.best_epoch}, test NDCG@10 {r.test['ndcg@10']:.4f}")
        results.append(r)
    return run_rows(variant, dataset, cfg, results, protocol), results


def validation_curve_png(variant: str, results: list[RunResult]) -> bytes:
    """Validation NDCG@10 per epoch, one line per seed, the best epoch dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for r in results:
        ax.plot([h.epoch for h in r.history], [h.valid["ndcg@10"] for h in r.history], label=f"seed {r.seed}")
        ax.axvline(r.best_epoch, ls=":", lw=0.8, color=ax.lines[-1].get_color())
    ax.set(xlabel="epoch", ylabel="validation NDCG@10", title=variant)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()

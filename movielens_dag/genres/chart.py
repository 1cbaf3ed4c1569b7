"""The classifier's per-genre test F1 as a PNG (matplotlib, Agg backend; imported inside the function)."""

from pathlib import Path

import numpy as np

from movielens_dag.genres.pipeline import GenreRun


def f1_chart(run: GenreRun, dest: Path) -> Path:
    """Horizontal bars: test F1 per genre (most frequent genre on top) for every model, std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = run.report_table().to_pylist()
    genres = [g for g in run.data.genres]
    support = {r["genre"]: r["support"] for r in report if r["model"] == run.selected}
    genres.sort(key=lambda g: support[g])
    models = list(run.fits)
    height = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(genres) + 1.5))
    y = np.arange(len(genres))
    for i, model in enumerate(models):
        by_genre = {r["genre"]: r for r in report if r["model"] == model}
        micro = by_genre["micro"]["f1"]
        ax.barh(
            y + i * height,
            [by_genre[g]["f1"] for g in genres],
            height,
            xerr=[by_genre[g]["f1_std"] for g in genres],
            label=f"{model} (micro-F1 {micro:.3f})",
        )
    ax.set_yticks(y + height * (len(models) - 1) / 2, [f"{g} ({support[g]})" for g in genres])
    ax.set_xlabel("test F1 (mean over seeds; bars: std)")
    ax.set_xlim(0, 1)
    ax.set_title(f"Genre classifier on genre-blind document vectors ({run.data.rows('test').size} test movies)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest

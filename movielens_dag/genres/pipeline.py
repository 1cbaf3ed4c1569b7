"""Train, select and evaluate the genre classifier; predict every movie's genres.

1. Split the labelled movies by movie (``data.split_of``); "(no genres listed)" movies are only predicted.
2. Baseline: each genre's training frequency as every movie's probability, with one shared threshold
   chosen on validation micro-F1 (= "always predict the m most frequent genres", m chosen on validation).
   Logistic regression: one per genre, C chosen on validation (deterministic, so one fit serves every
   seed). MLP: one per seed.
3. Each model's per-genre thresholds are chosen on validation (best F1), at least one genre per movie.
4. The model with the best mean validation micro-F1 is selected; test is scored once per model and
   seed; the selected model's first seed predicts every movie (``genre_predictions``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from movielens_dag.genres import evaluate, models
from movielens_dag.genres.data import UNLABELLED, GenreData, genre_data
from movielens_dag.genres.settings import GenreClassifierSettings

BASELINE = "label-frequency"


@dataclass
class Fit:
    """One model at one seed: probabilities for every movie, thresholds from validation, scores."""

    model: str
    seed: int
    p: np.ndarray  # (N, G)
    thresholds: np.ndarray  # (G,)
    valid: evaluate.Scores
    test: evaluate.Scores
    info: dict = field(default_factory=dict)


@dataclass
class GenreRun:
    data: GenreData
    fits: dict[str, list[Fit]]  # model -> one Fit per seed (the baseline: one)
    selected: str
    ci: tuple[float, float]  # 95% CI of test micro-F1 (selected, first seed) - baseline
    review_extra: float = 0.8
    review_missing: float = 0.01

    def summary(self) -> list[dict]:
        """One row per model: validation and test micro-F1 / macro-F1, mean and std over seeds."""
        rows = []
        for name, fits in self.fits.items():
            v = np.array([f.valid.micro_f1 for f in fits])
            t = np.array([f.test.micro_f1 for f in fits])
            m = np.array([f.test.macro_f1 for f in fits])
            rows.append(
                {
                    "model": name,
                    "seeds": len(fits),
                    "selected": name == self.selected,
                    "valid_micro_f1": v.mean(),
                    "valid_micro_f1_std": v.std(),
                    "test_micro_f1": t.mean(),
                    "test_micro_f1_std": t.std(),
                    "test_macro_f1": m.mean(),
                    "test_macro_f1_std": m.std(),
                    "test_micro_precision": float(np.mean([f.test.micro_precision for f in fits])),
                    "test_micro_recall": float(np.mean([f.test.micro_recall for f in fits])),
                    **({"logreg_c": fits[0].info["c"]} if "c" in fits[0].info else {}),
                }
            )
        return rows

    def report_table(self) -> pa.Table:
        """Per (model, genre) test precision / recall / F1 (mean over seeds), then 'micro' and 'macro' rows."""
        rows = []
        for name, fits in self.fits.items():
            for j, genre in enumerate(self.data.genres):
                f1 = np.array([f.test.f1[j] for f in fits])
                rows.append(
                    {
                        "model": name,
                        "genre": genre,
                        "support": int(fits[0].test.support[j]),
                        "train_movies": int(self.data.y[self.data.split == "train", j].sum()),
                        "precision": float(np.mean([f.test.precision[j] for f in fits])),
                        "recall": float(np.mean([f.test.recall[j] for f in fits])),
                        "f1": float(f1.mean()),
                        "f1_std": float(f1.std()),
                        "threshold": float(np.mean([f.thresholds[j] for f in fits])),
                        "seeds": len(fits),
                    }
                )
            micro = np.array([f.test.micro_f1 for f in fits])
            macro = np.array([f.test.macro_f1 for f in fits])
            support = int(fits[0].test.support.sum())
            train = int(self.data.y[self.data.split == "train"].sum())
            rows.append(
                {
                    "model": name,
                    "genre": "micro",
                    "support": support,
                    "train_movies": train,
                    "precision": float(np.mean([f.test.micro_precision for f in fits])),
                    "recall": float(np.mean([f.test.micro_recall for f in fits])),
                    "f1": float(micro.mean()),
                    "f1_std": float(micro.std()),
                    "threshold": None,
                    "seeds": len(fits),
                }
            )
            rows.append(
                {
                    "model": name,
                    "genre": "macro",
                    "support": support,
                    "train_movies": train,
                    "precision": None,
                    "recall": None,
                    "f1": float(macro.mean()),
                    "f1_std": float(macro.std()),
                    "threshold": None,
                    "seeds": len(fits),
                }
            )
        return pa.Table.from_pylist(rows)


def _fit(name: str, seed: int, p: np.ndarray, data: GenreData, info: dict | None = None) -> Fit:
    va, te = data.rows("valid"), data.rows("test")
    if name == BASELINE:
        thr = np.full(p.shape[1], evaluate.choose_shared_threshold(p[va], data.y[va]))
    else:
        thr = evaluate.choose_thresholds(p[va], data.y[va])
    return Fit(
        name,
        seed,
        p,
        thr,
        evaluate.scores(data.y[va], evaluate.decode(p[va], thr)),
        evaluate.scores(data.y[te], evaluate.decode(p[te], thr)),
        info or {},
    )


def train_genre_classifier(
    movie_ids: np.ndarray,
    x: np.ndarray,
    movies: pa.Table,
    settings: GenreClassifierSettings | None = None,
    log: Callable[[str], None] = print,
) -> GenreRun:
    """Everything above, on the genre-blind vectors ``x`` of ``movie_ids``."""
    settings = settings or GenreClassifierSettings()
    settings.validate()
    data = genre_data(
        movie_ids,
        x,
        movies,
        settings.valid_fraction,
        settings.test_fraction,
        settings.split_seed,
        settings.min_genre_movies,
    )
    tr, va = data.rows("train"), data.rows("valid")
    log(
        f"{len(data.movie_ids):,} movies: {tr.size:,} train, {va.size:,} valid, {data.rows('test').size:,} test, "
        f"{data.rows(UNLABELLED).size} without genres; {len(data.genres)} genres"
        + (f" (too rare, not predicted: {data.dropped_genres})" if data.dropped_genres else "")
    )
    n = len(data.movie_ids)
    fits: dict[str, list[Fit]] = {BASELINE: [_fit(BASELINE, 0, models.frequency_probabilities(data.y[tr], n), data)]}

    if "logreg" in settings.models:
        tried = []
        for c in settings.logreg_c:
            p = models.logreg_probabilities(data.x[tr], data.y[tr], data.x, c, settings.threads)
            tried.append(_fit("logreg", 0, p, data, {"c": c}))
            log(f"logreg C={c}: valid micro-F1 {tried[-1].valid.micro_f1:.4f}")
        best = max(tried, key=lambda f: f.valid.micro_f1)
        # lbfgs is deterministic: the same fit for every seed (std 0 by construction).
        fits["logreg"] = [
            Fit("logreg", s, best.p, best.thresholds, best.valid, best.test, best.info) for s in settings.seeds
        ]
    if "mlp" in settings.models:
        fits["mlp"] = []
        for seed in settings.seeds:
            p, info = models.mlp_probabilities(data.x, data.y, tr, va, settings.mlp, seed, settings.threads)
            fits["mlp"].append(_fit("mlp", seed, p, data, info))
            log(f"mlp seed {seed}: valid micro-F1 {fits['mlp'][-1].valid.micro_f1:.4f} ({info})")

    selected = max((m for m in fits if m != BASELINE), key=lambda m: np.mean([f.valid.micro_f1 for f in fits[m]]))
    te = data.rows("test")
    chosen, base = fits[selected][0], fits[BASELINE][0]
    ci = evaluate.bootstrap_difference(
        data.y[te],
        evaluate.decode(chosen.p[te], chosen.thresholds),
        evaluate.decode(base.p[te], base.thresholds),
        settings.bootstrap,
        seed=settings.split_seed,
    )
    return GenreRun(data, fits, selected, ci, settings.review_extra, settings.review_missing)


PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("movie_id", pa.int32()),
        pa.field("title", pa.string()),
        pa.field(
            "split", pa.string(), metadata={"description": "train / valid / test / unlabelled ('(no genres listed)')"}
        ),
        pa.field("movielens_genres", pa.list_(pa.string())),
        pa.field(
            "predicted_genres",
            pa.list_(pa.string()),
            metadata={"description": "genres at or above their threshold (at least one)"},
        ),
        pa.field(
            "probabilities",
            pa.list_(pa.struct([("genre", pa.string()), ("probability", pa.float32()), ("threshold", pa.float32())])),
            metadata={"description": "every genre, most probable first"},
        ),
        pa.field(
            "missing_genres", pa.list_(pa.string()), metadata={"description": "MovieLens has them, the model not"}
        ),
        pa.field(
            "extra_genres", pa.list_(pa.string()), metadata={"description": "the model predicts them, MovieLens not"}
        ),
        pa.field(
            "disagrees",
            pa.bool_(),
            metadata={
                "description": "a confident disagreement: an extra genre with "
                "probability >= review_extra or a MovieLens genre "
                "with probability <= review_missing"
            },
        ),
        pa.field(
            "review",
            pa.string(),
            metadata={
                "description": "'propose genres' for movies without genres, "
                "'check genres' where the model disagrees, else null"
            },
        ),
        pa.field(
            "review_score",
            pa.float32(),
            metadata={"description": "how confident the disagreement is (0..1), the review order"},
        ),
        pa.field("model", pa.string()),
    ]
)


def predictions_table(run: GenreRun, movies: pa.Table) -> pa.Table:
    """Every movie's predicted genres from the selected model (first seed), and where it disagrees."""
    fit, data = run.fits[run.selected][0], run.data
    pred = evaluate.decode(fit.p, fit.thresholds)
    info = {
        int(m): (t, [g for g in (gs or []) if g != "(no genres listed)"])
        for m, t, gs in zip(movies["movie_id"].to_pylist(), movies["title"].to_pylist(), movies["genres"].to_pylist())
    }
    genres = np.array(data.genres, dtype=object)
    rows = []
    for i, movie_id in enumerate(data.movie_ids.tolist()):
        title, ml = info[movie_id]
        predicted = genres[pred[i]].tolist()
        order = np.argsort(-fit.p[i], kind="stable")
        unlabelled = data.split[i] == UNLABELLED
        missing = [g for g in ml if g in data.genres and g not in predicted]
        extra = [g for g in predicted if g not in ml]
        p = dict(zip(data.genres, fit.p[i].tolist()))
        confidence = [p[g] for g in extra if p[g] >= run.review_extra]
        confidence += [1 - p[g] for g in missing if p[g] <= run.review_missing]
        disagrees = not unlabelled and bool(confidence)
        rows.append(
            {
                "movie_id": movie_id,
                "title": title,
                "split": data.split[i],
                "movielens_genres": ml,
                "predicted_genres": predicted,
                "probabilities": [
                    {"genre": genres[j], "probability": float(fit.p[i, j]), "threshold": float(fit.thresholds[j])}
                    for j in order
                ],
                "missing_genres": [] if unlabelled else missing,
                "extra_genres": [] if unlabelled else extra,
                "disagrees": disagrees,
                "review": "propose genres" if unlabelled else ("check genres" if disagrees else None),
                "review_score": float(fit.p[i].max()) if unlabelled else (max(confidence) if disagrees else None),
                "model": run.selected,
            }
        )
    return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)


def summary_markdown(run: GenreRun) -> str:
    lines = [
        "| model | seeds | valid micro-F1 | test micro-F1 | test macro-F1 | test micro P / R |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in run.summary():
        mark = " (selected)" if r["selected"] else ""
        lines.append(
            f"| {r['model']}{mark} | {r['seeds']} | "
            f"{r['valid_micro_f1']:.4f} ± {r['valid_micro_f1_std']:.4f} | "
            f"{r['test_micro_f1']:.4f} ± {r['test_micro_f1_std']:.4f} | "
            f"{r['test_macro_f1']:.4f} ± {r['test_macro_f1_std']:.4f} | "
            f"{r['test_micro_precision']:.3f} / {r['test_micro_recall']:.3f} |"
        )
    low, high = run.ci
    lines.append(
        f"\nTest micro-F1 of {run.selected} (first seed) minus the {BASELINE} baseline: 95% bootstrap CI "
        f"[{low:+.4f}, {high:+.4f}] over {run.data.rows('test').size} test movies."
    )
    return "\n".join(lines)

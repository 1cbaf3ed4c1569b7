"""The rating-model leaderboard on the bundled ml-latest-small: every offline variant x both splits x 3 seeds.

    nice -n 10 .venv/bin/python benchmarks/rating_model.py                 # all 5 variants, both splits
    .venv/bin/python benchmarks/rating_model.py --variants bias,dlrm-id --seeds 1 --splits temporal

Inputs come from the warehouse under ``--data-dir`` (default: MOVIELENS_DATA_DIR or <repo>/data):
``movielens.ratings``, ``movielens.movies`` and ``embeddings.movie_embeddings`` (the bundled MiniLM
vectors of the real ``movie_documents``). Missing ones are materialized first, with Dagster, exactly
as ``make demo`` does (movielens, enrichment without a TMDB token, documents, movie_embeddings).
The semantic IDs are the demo's default fit (``build_semantic_ids``: residual k-means, 3 x 128 codes,
seed 0) of those vectors. No posters and no TMDB numbers: neither is available offline.

Writes, under ``<data dir>/artifacts/rating_model/``: ``runs.parquet`` (one row per variant, split and
seed; a re-run skips the rows already there unless ``--fresh``), ``predictions.parquet`` (test
predictions), ``leaderboard.parquet``, ``leaderboard.md``, ``leaderboard.png`` and ``comparisons.md``
(paired user-bootstrap CIs of RMSE differences). Prints the Markdown table and the comparisons.
"""

import argparse
import dataclasses
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from movielens_dag.paths import DataPaths, resolve_data_dir
from movielens_dag.rating_model.data import ratings_from_frame
from movielens_dag.rating_model.features import MovieVectors
from movielens_dag.rating_model.settings import OFFLINE_VARIANTS, SPLITS, RatingRunSettings, variant_settings
from movielens_dag.warehouse import write_parquet_atomic

NEEDED = (("movielens", "ratings"), ("movielens", "movies"), ("embeddings", "movie_embeddings"))


def ensure_warehouse(paths: DataPaths) -> None:
    """Materialize ratings, movies and movie_embeddings (and what they need) when any is missing."""
    if all(paths.asset_file(g, a).exists() for g, a in NEEDED):
        return
    import dagster as dg

    from movielens_dag.definitions import build_definitions

    print(f"materializing movielens, enrichment, documents and movie_embeddings into {paths.root} ...", flush=True)
    defs = build_definitions(str(paths.root))
    selection = dg.AssetSelection.groups("movielens", "enrichment", "documents") | dg.AssetSelection.assets(
        "movie_embeddings"
    )
    result = dg.materialize(list(defs.assets) + list(defs.asset_checks), selection=selection, resources=defs.resources)
    if not result.success:
        raise SystemExit("materializing the inputs failed; see the log above")


def load_inputs(paths: DataPaths, log=print):
    """Ratings, and per split the feature inputs: the movies, MiniLM text vectors and their SIDs.

    temporal: documents with only the tags applied before the first cut (``documents_as_of``);
    random: ``movie_documents`` as materialized (every tag: the random split lets the future in anyway).
    """
    from movielens_dag.rating_model.data import temporal_split
    from movielens_dag.rating_model.inputs import split_inputs
    from movielens_dag.rating_model.text import changed_documents, documents_as_of, text_vectors

    def table(group: str, asset: str):
        return pq.read_table(paths.asset_file(group, asset))

    ratings = ratings_from_frame(pd.read_parquet(paths.asset_file("movielens", "ratings")))
    movies_table = table("movielens", "movies")
    movies = movies_table.to_pandas()
    all_docs = table("documents", "movie_documents")
    cut = temporal_split(ratings).cuts.valid_start
    docs_at_cut = documents_as_of(
        cut,
        movies,
        pd.read_parquet(paths.asset_file("movielens", "tags")),
        table("enrichment", "tmdb_movies"),
        table("enrichment", "imdb_titles"),
        table("enrichment", "wikipedia_plots"),
    )
    log(
        f"temporal split: {len(changed_documents(all_docs, docs_at_cut))} movie documents lose tags applied after "
        f"the first cut"
    )
    vectors = {
        "random": MovieVectors.from_table(table("embeddings", "movie_embeddings")),
        "temporal": text_vectors(docs_at_cut, paths.cache / "embeddings", logger=log),
    }
    sid_settings = dataclasses.replace(RatingRunSettings().sids, threads=1)  # the demo's default fit, seed 0
    return ratings, split_inputs(movies_table, vectors, sid_settings)


def comparisons(runs: pd.DataFrame, preds: pd.DataFrame, ratings, board: pd.DataFrame) -> str:
    """Paired user-bootstrap 95% CIs, per split, overall and on the unseen / <= 5-ratings movie slices
    (RMSE a - RMSE b; negative = a is better): each DLRM vs bias (the one with the best validation RMSE
    first: that is the comparison chosen without looking at test), each text variant vs dlrm-id.
    Then per variant the mean error on test (calibration), and two reference predictors."""
    from movielens_dag.rating_model.data import make_split, train_counts
    from movielens_dag.rating_model.metrics import paired_bootstrap, random_ndcg, rmse

    lines = [
        "| split | a | b | ratings | RMSE(a) - RMSE(b) | 95% CI (users resampled) | share of draws a not better |",
        "|---|---|---|---|---:|---|---:|",
    ]
    refs = []
    run = RatingRunSettings()
    for split_name in dict.fromkeys(runs["split"]):
        split = make_split(split_name, ratings, run.temporal, run.random_split_seed, run.random_fractions)
        test = split.rows("test")
        y, users = ratings.ratings[test].astype(np.float64), ratings.user_ids[test]
        mean = float(ratings.ratings[split.rows("train")].mean())
        g = board[board["split"] == split_name]
        for variant in g["variant"]:
            err = _pred_matrix(preds, split_name, variant, test) - y  # [seeds, n_test]
            centred = np.sqrt(((err - err.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)).mean()
            refs.append(
                f"- {split_name} `{variant}`: mean prediction minus truth {err.mean():+.3f}; RMSE with that "
                f"offset removed (a diagnostic that looks at the test mean) {centred:.4f}"
            )
        refs.append(
            f"- {split_name}: predicting the training mean {mean:.3f} gives test RMSE "
            f"{rmse(np.full(y.size, mean), y):.4f}; "
            f"ranking each user's test movies in random order gives NDCG@10 {random_ndcg(users, y):.4f}; "
            f"test mean rating {y.mean():.3f}."
        )
        counts = train_counts(ratings.movie_ids[test], ratings.movie_ids[split.rows("train")])
        masks = {"all": np.ones(test.size, bool), "movie unseen + <= 5": counts <= 5, "movie unseen": counts == 0}
        dlrm = g[g["model"] == "dlrm"]
        pairs = []
        if len(dlrm) and (g["variant"] == "bias").any():  # the one chosen on validation first, then the others
            pairs += [(v, "bias") for v in dlrm.sort_values("valid_rmse")["variant"]]
        pairs += [
            (v, "dlrm-id")
            for v in ("dlrm-id-text", "dlrm-id-text-sid")
            if (g["variant"] == v).any() and (g["variant"] == "dlrm-id").any()
        ]
        for a, b in pairs:
            pa_ = _pred_matrix(preds, split_name, a, test)
            pb_ = _pred_matrix(preds, split_name, b, test)
            for label, m in masks.items():
                if not m.any():
                    continue
                res = paired_bootstrap(ratings.ratings[test][m], ratings.user_ids[test][m], pa_[:, m], pb_[:, m])
                lines.append(
                    f"| {split_name} | `{a}` | `{b}` | {label} ({m.sum():,}) | {res['diff']:+.4f} | "
                    f"[{res['lo']:+.4f}, {res['hi']:+.4f}] | {res['p_a_not_better']:.3f} |"
                )
    return "\n".join(lines) + "\n\nReferences:\n" + "\n".join(refs)


def _pred_matrix(preds: pd.DataFrame, split: str, variant: str, test_rows: np.ndarray) -> np.ndarray:
    """[seeds, n_test] predictions in ``test_rows`` order."""
    p = preds[(preds["split"] == split) & (preds["variant"] == variant)]
    out = []
    for _, g in p.groupby("seed"):
        s = g.set_index("rating_row")["prediction"]
        out.append(s.reindex(test_rows).to_numpy(np.float64))
    return np.stack(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--variants", default=",".join(OFFLINE_VARIANTS))
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="ignore runs stored by an earlier call")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)

    import torch

    from movielens_dag.rating_model.experiment import run_variant
    from movielens_dag.rating_model.results import chart_png, leaderboard, markdown

    torch.set_num_threads(args.threads)
    paths = DataPaths(resolve_data_dir(args.data_dir))
    ensure_warehouse(paths)
    ratings, inputs = load_inputs(paths)
    out = paths.artifacts / "rating_model"
    out.mkdir(parents=True, exist_ok=True)
    runs_file, preds_file = out / "runs.parquet", out / "predictions.parquet"
    runs = pd.read_parquet(runs_file) if runs_file.exists() and not args.fresh else pd.DataFrame()
    preds = pd.read_parquet(preds_file) if preds_file.exists() and not args.fresh else pd.DataFrame()
    splits = tuple(s for s in args.splits.split(",") if s)
    started = time.perf_counter()
    for variant in [v for v in args.variants.split(",") if v]:
        done = set() if runs.empty else set(zip(runs["variant"], runs["split"], runs["seed"]))
        todo = tuple(s for s in splits if any((variant, s, seed) not in done for seed in range(args.seeds)))
        if not todo:
            print(f"{variant}: already in {runs_file}", flush=True)
            continue
        if not runs.empty:  # a variant is re-run whole per split, so its seeds share one code version
            keep = ~((runs["variant"] == variant) & runs["split"].isin(todo))
            runs = runs[keep]
            preds = preds[~((preds["variant"] == variant) & preds["split"].isin(todo))]
        run = RatingRunSettings(seeds=args.seeds, splits=todo, threads=args.threads, device="cpu")
        log = (
            (lambda m: None if " epoch " in m else print(m, flush=True))
            if args.quiet
            else (lambda m: print(m, flush=True))
        )
        result = run_variant(variant, variant_settings(variant), ratings, inputs, run, "ml-latest-small", log=log)
        result.predictions.insert(0, "variant", variant)
        runs = pd.concat([runs, result.rows], ignore_index=True)
        preds = pd.concat([preds, result.predictions], ignore_index=True)
        write_parquet_atomic(runs, runs_file)
        write_parquet_atomic(preds, preds_file)
    board = leaderboard(runs)
    table = markdown(board)
    comp = comparisons(runs, preds, ratings, board)
    write_parquet_atomic(board, out / "leaderboard.parquet")
    (out / "leaderboard.md").write_text(table + "\n")
    (out / "comparisons.md").write_text(comp + "\n")
    (out / "leaderboard.png").write_bytes(chart_png(board))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\n{stamp}, {platform.processor() or platform.machine()}, torch threads {args.threads}, "
        f"this call {(time.perf_counter() - started) / 60:.1f} wall minutes\n"
    )
    print(table)
    print(
        "\nCPU minutes per variant (all splits and seeds): "
        + ", ".join(f"{v} {m:.1f}" for v, m in board.groupby("variant", sort=False)["cpu_minutes"].sum().items())
    )
    print("\nPaired comparisons (test):\n" + comp)
    print(f"\nfiles: {out}")


if __name__ == "__main__":
    main()

"""Group ``rating_model``: leak-free text vectors, one partition of training runs per variant, the leaderboard.

* ``rating_text_embeddings``: the temporal split's text vectors, of documents with only the tags applied
  before its first cut (``movie_embeddings`` has every tag, so it would show the model what users said in
  the validation and test periods).
* ``rating_model_runs``: one partition per variant (``bias``, ``mf-id``, ``dlrm-id`` ...), trained on
  the temporal and the random split with several seeds; one row per (split, seed).
* ``rating_leaderboard``: mean ± std and a 95% CI over seeds per variant and split, the two floors.

The models, training and metrics are plain torch in ``movielens_dag.rating_model``; these assets read
inputs through the IO manager, call it and describe the result.
"""

import json
import pathlib
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.assets.conventions import ON_UPSTREAM_CHANGE, OWNERS, code_version, columns
from movielens_dag.assets.embeddings import CACHE_SUBDIR as EMBEDDING_CACHE
from movielens_dag.assets.embeddings import COLUMNS as EMBEDDING_COLUMNS
from movielens_dag.assets.embeddings import POOL as EMBEDDING_POOL
from movielens_dag.assets.embeddings import UNIT_NORM_TOLERANCE
from movielens_dag.rating_model.columns import leaderboard_columns, run_columns
from movielens_dag.rating_model.settings import (
    VARIANTS,
    FeatureSettings,
    ModelSettings,
    RatingRunSettings,
    RatingTextSettings,
    TrainSettings,
    variant_settings,
)
from movielens_dag.resources.config import config_class, to_changes, to_settings
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir
from movielens_dag.settings import as_dict

GROUP = "rating_model"
VERSION = code_version("movielens_dag.rating_model", "movielens_dag.splits")
TEXT_VERSION = code_version(
    "movielens_dag.rating_model.text", "movielens_dag.documents", "movielens_dag.embeddings", "movielens_dag.splits"
)
VARIANT_PARTITIONS = dg.StaticPartitionsDefinition(list(VARIANTS))
OPTIONAL = ("movie_embeddings", "rating_text_embeddings", "tmdb_movies", "poster_embeddings")
RatingTextConfig = config_class(RatingTextSettings, name="RatingTextConfig")
RatingModelConfig = config_class(
    RatingRunSettings,
    name="RatingModelConfig",
    extra=(
        ("model", config_class(ModelSettings, optional=True), "Model overrides (empty: the variant's)."),
        ("features", config_class(FeatureSettings, optional=True), "Feature overrides (empty: the variant's)."),
        ("train", config_class(TrainSettings, optional=True), "Training overrides (empty: the variant's)."),
    ),
)
_EMBEDDING_SCHEMA = EMBEDDING_COLUMNS["dagster/column_schema"].columns


def _temporal_cut(ratings: pathlib.Path, settings) -> int:
    """The temporal split's first cut (unix seconds) for these ratings, exactly as the runs compute it."""
    import pyarrow.parquet as pq

    from movielens_dag.rating_model.data import unix_seconds
    from movielens_dag.splits import temporal_cuts

    stamps = pq.read_table(ratings, columns=["timestamp"]).column("timestamp").to_pandas()
    return temporal_cuts(unix_seconds(stamps), settings).valid_start


@dg.asset(
    group_name=GROUP,
    pool=EMBEDDING_POOL,
    kinds={"pytorch", "parquet"},
    owners=OWNERS,
    code_version=TEXT_VERSION,
    automation_condition=ON_UPSTREAM_CHANGE,
    metadata=columns(
        {
            **{c.name: (c.type, c.description) for c in _EMBEDDING_SCHEMA},
            "document_hash": ("string", "hash of the document as of the cut (the cache key with the model)"),
            "cut": (
                "timestamp[us, UTC]",
                "the temporal split's first cut: only tags applied before it are in the document",
            ),
        }
    ),
)
def rating_text_embeddings(
    context: dg.AssetExecutionContext,
    config: RatingTextConfig,
    data_dir: DataDir,
    ratings: pathlib.Path,
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    tmdb_movies: pa.Table,
    imdb_titles: pa.Table,
    wikipedia_plots: pa.Table,
    movie_documents: pa.Table,
    movie_embeddings: pathlib.Path,
) -> dg.Output:
    """`movie_embeddings` of the documents as they read at the temporal split's first cut: only the user
    tags applied before it (TMDB/IMDb fields as fetched). The temporal runs read these, so no tag from the
    validation or test period reaches the model. Same model and cache as `movie_embeddings`: only the
    documents the cut changes are embedded."""
    import pyarrow.parquet as pq

    from movielens_dag.rating_model.text import changed_documents, documents_as_of, embed_documents

    settings = to_settings(config, RatingTextSettings())
    model = settings.model
    if model is None:
        models = pc.unique(pq.read_table(movie_embeddings, columns=["model_id"])["model_id"]).to_pylist()
        if len(models) != 1:
            raise ValueError(f"movie_embeddings holds vectors of {models or 'no'} model(s): set `model` in the config")
        model = models[0]
    cut = _temporal_cut(ratings, settings.temporal)
    docs = documents_as_of(cut, movies, tags, tmdb_movies, imdb_titles, wikipedia_plots)
    changed = changed_documents(movie_documents, docs)
    paths = data_dir.paths
    run = embed_documents(docs, paths.cache / EMBEDDING_CACHE, model, models_dir=paths.models, logger=context.log.info)
    at = pd.Timestamp(cut, unit="s", tz="UTC")
    table = run.table.append_column("cut", pa.array([at] * run.table.num_rows, pa.timestamp("us", tz="UTC")))
    meta = run.metadata
    return dg.Output(
        table,
        metadata={
            "cut": str(at),
            "model_id": meta["model_id"],
            "dim": meta["dim"],
            "movies": table.num_rows,
            "documents_changed_by_the_cut": len(changed),
            "examples_changed": str(changed[:10].tolist()),
            "embedded": meta["embedded"],
            "reused": meta["reused"],
            "model_loaded": meta["model_loaded"],
        },
    )


@dg.asset_check(asset=rating_text_embeddings, additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def one_unit_vector_per_movie_at_one_cut(rating_text_embeddings: pa.Table, movies: pa.Table) -> dg.AssetCheckResult:
    """Every movie has exactly one finite unit vector (max |norm - 1| <= 1e-3) of one dimension, all made
    for one cut."""
    from movielens_dag.embeddings.quality import vector_report

    report = vector_report(rating_text_embeddings, tolerance=UNIT_NORM_TOLERANCE)
    missing = sorted(set(movies["movie_id"].to_pylist()) - set(rating_text_embeddings["movie_id"].to_pylist()))
    cuts = pc.count_distinct(rating_text_embeddings["cut"]).as_py()
    return dg.AssetCheckResult(
        passed=report.passed and not missing and cuts == 1,
        metadata={
            **report.metadata,
            "missing_movies": len(missing),
            "examples_missing": str(missing[:5]),
            "cuts": cuts,
        },
    )


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(run_columns()),
    partitions_def=VARIANT_PARTITIONS,
    # read only when the variant uses them (text, SIDs, TMDB numbers, posters), so they may be missing
    ins={name: dg.AssetIn(metadata={"allow_missing": True}) for name in OPTIONAL},
    # a backfill launches one run per variant; a run over a range of variants trains them in turn
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
)
def rating_model_runs(
    context: dg.AssetExecutionContext,
    config: RatingModelConfig,
    ratings: pd.DataFrame,
    movies: pa.Table,
    movie_embeddings: pathlib.Path,
    rating_text_embeddings: pathlib.Path,
    tmdb_movies: pathlib.Path,
    poster_embeddings: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Train one rating-model variant (the partition) on the temporal split (the shared global cuts) and the
    random 80/10/10 split, several seeds each: early stopping on validation RMSE, one test pass at the
    best epoch. One row per (split, seed): metrics, slices, what the split held, timings. Test predictions
    go to `<data dir>/artifacts/rating_model/<dataset>/<variant>-predictions.parquet`."""
    from movielens_dag.rating_model.data import ratings_from_frame, temporal_split
    from movielens_dag.rating_model.experiment import run_variant
    from movielens_dag.rating_model.inputs import variant_inputs
    from movielens_dag.rating_model.results import validation_curve_png
    from movielens_dag.runtime import resolve_device, torch_threads
    from movielens_dag.warehouse import read_parquet, write_parquet_atomic

    run = to_settings(config, RatingRunSettings())
    changes = {k: v for k, v in to_changes(config).items() if k in ("model", "features", "train")}
    dataset = movielens_source.get_variant().name
    device = resolve_device(run.device)
    rated = ratings_from_frame(ratings)
    valid_start = temporal_split(rated, run.temporal).cuts.valid_start if "temporal" in run.splits else None
    locations = dict(
        zip(OPTIONAL, (movie_embeddings, rating_text_embeddings, tmdb_movies, poster_embeddings), strict=True)
    )
    out_dir = data_dir.paths.artifacts / GROUP / dataset
    outputs, metadata, started = {}, {}, time.perf_counter()
    for variant in context.partition_keys:
        settings = variant_settings(variant, changes)
        inputs = variant_inputs(
            settings.features, run, movies, lambda name: read_parquet(locations[name], name), valid_start
        )
        context.log.info(f"{variant} on {dataset} ({device}, {run.seeds} seeds, splits {list(run.splits)})")
        with torch_threads(run.threads):
            result = run_variant(variant, settings, rated, inputs, run, dataset, device, log=context.log.info)
        rows = result.rows
        write_parquet_atomic(result.predictions, out_dir / f"{variant}-predictions.parquet")
        plot = out_dir / f"{variant}-valid-curve.png"
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(validation_curve_png(rows))
        prefix = "" if len(context.partition_keys) == 1 else f"{variant}/"
        metadata.update({f"{prefix}{k}": v for k, v in _run_metadata(rows).items()})
        metadata[f"{prefix}validation_curve"] = data_dir.image_markdown(plot, "validation RMSE")
        metadata[f"{prefix}predictions"] = dg.MetadataValue.path(str(out_dir / f"{variant}-predictions.parquet"))
        metadata[f"{prefix}settings"] = dg.MetadataValue.json(json.loads(rows["settings"].iloc[0]))
        outputs[variant] = rows
    metadata.update(
        {
            "dataset": dataset,
            "seeds": run.seeds,
            "device": device,
            "minutes": round((time.perf_counter() - started) / 60, 2),
            "run_settings": dg.MetadataValue.json(as_dict(run)),
        }
    )
    return dg.Output(next(iter(outputs.values())) if len(outputs) == 1 else outputs, metadata=metadata)


def _run_metadata(rows: pd.DataFrame) -> dict:
    from movielens_dag.rating_model.results import pm

    def stat(g: pd.DataFrame, c: str) -> str:
        return pm(g[c].mean(), g[c].std(ddof=1) if len(g) > 1 else 0.0)

    out = {
        "num_params": int(rows["num_params"].iloc[0]),
        "cpu_minutes": round(float(rows["cpu_seconds"].sum()) / 60, 2),
    }
    for split, g in rows.groupby("split", sort=False):
        out.update(
            {
                f"{split}/test_rmse": stat(g, "test_rmse"),
                f"{split}/test_mae": stat(g, "test_mae"),
                f"{split}/test_ndcg@10": stat(g, "test_ndcg_10"),
                f"{split}/valid_rmse": stat(g, "valid_rmse"),
                f"{split}/train_mean_test_rmse": round(float(g["train_mean_test_rmse"].iloc[0]), 4),
                f"{split}/test_share_unseen_users": round(
                    float(g["test_user_unseen_n"].iloc[0]) / float(g["test_n"].iloc[0]), 4
                ),
                f"{split}/best_epochs": str(g["best_epoch"].tolist()),
            }
        )
    return out


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(leaderboard_columns()),
    # rebuilt (with the daemon) whenever a training run lands, once no run is still in progress
    automation_condition=dg.AutomationCondition.any_deps_updated()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress(),
    ins={
        "rating_model_runs": dg.AssetIn(
            partition_mapping=dg.AllPartitionMapping(), metadata={"allow_missing_partitions": True}
        )
    },
)
def rating_leaderboard(rating_model_runs: pd.DataFrame, data_dir: DataDir) -> dg.Output:
    """Every materialized variant per split: test RMSE, MAE, NDCG@10 and slices as mean ± std and a 95%
    CI over seeds, ranked by test RMSE within each split; the two floors (best DLRM against `bias` on the
    temporal test RMSE, text against `dlrm-id` on rarely rated movies), each chosen on validation. Reads
    whichever rating_model_runs partitions exist (the demo materializes `bias`)."""
    from movielens_dag.rating_model.results import chart_png, floors, leaderboard, markdown

    board = leaderboard(rating_model_runs)
    chart = data_dir.paths.artifacts / GROUP / "leaderboard.png"
    chart.parent.mkdir(parents=True, exist_ok=True)
    chart.write_bytes(chart_png(board))
    best = {split: str(g.sort_values("rank")["variant"].iloc[0]) for split, g in board.groupby("split", sort=False)}
    floor = {k: v for k, v in floors(rating_model_runs).items() if v is not None and k != "split"}
    return dg.Output(
        board,
        metadata={
            "variants": int(board["variant"].nunique()),
            "best_by_test_rmse": best,
            "table": dg.MetadataValue.md(markdown(board)),
            "chart": data_dir.image_markdown(chart, "test RMSE per variant"),
            **{f"temporal/{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in floor.items()},
        },
    )


# ---- checks ----------------------------------------------------------------------------------------
@dg.asset_check(
    asset=rating_model_runs,
    partitions_def=VARIANT_PARTITIONS,
    blocking=True,
    additional_ins={"ratings": dg.AssetIn("ratings")},
)
def temporal_training_ends_before_the_cut(
    rating_model_runs: pd.DataFrame, ratings: pathlib.Path
) -> dg.AssetCheckResult:
    """On the temporal split, no training rating is on or after the first cut: the latest training rating
    is before `cut_valid_start`, and the training set is exactly the ratings before that cut."""
    import duckdb

    temporal = rating_model_runs[rating_model_runs["split"] == "temporal"]
    glob = str(ratings / "*.parquet") if ratings.is_dir() else str(ratings)
    late, wrong_n = 0, 0
    with duckdb.connect() as con:
        for cut, g in temporal.groupby("cut_valid_start"):
            before = con.execute(
                f"SELECT count(*) FROM read_parquet('{glob}') WHERE timestamp < ?", [cut.to_pydatetime()]
            ).fetchone()[0]
            late += int((g["train_last_at"] >= cut).sum())
            wrong_n += int((g["train_n"] != before).sum())
    unordered = int((temporal["cut_valid_start"] >= temporal["cut_test_start"]).sum())
    no_cut = int(temporal["cut_valid_start"].isna().sum())
    return dg.AssetCheckResult(
        passed=not (late or wrong_n or unordered or no_cut),
        metadata={
            "temporal_rows": len(temporal),
            "rows_training_on_or_after_the_cut": late,
            "rows_whose_training_set_is_not_the_ratings_before_the_cut": wrong_n,
            "cuts_out_of_order": unordered,
            "rows_without_cut": no_cut,
        },
    )


@dg.asset_check(asset=rating_model_runs, partitions_def=VARIANT_PARTITIONS, blocking=True)
def metrics_finite_one_row_per_split_and_seed(rating_model_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """Every metric is finite (a slice's RMSE/MAE where it holds ratings; NDCG@10 where a user has two test
    ratings), and the rows are exactly seeds × splits: each split of a variant has the same seeds 0..n-1, once."""
    runs = rating_model_runs
    bad = 0
    for stage in ("valid", "test"):
        for c in [c for c in runs.columns if c.startswith(f"{stage}_") and c.endswith(("_rmse", "_mae"))]:
            n = runs[f"{c.rsplit('_', 1)[0]}_n"]
            bad += int((~np.isfinite(runs[c]) & (n > 0)).sum())
        bad += int((~np.isfinite(runs[f"{stage}_ndcg_10"]) & (runs[f"{stage}_ndcg_users"] > 0)).sum())
    # a check over a range of partitions reads them all: each variant must hold the full grid
    grids = {
        variant: {split: sorted(s["seed"]) for split, s in g.groupby("split")} for variant, g in runs.groupby("variant")
    }
    bad_grid = [
        v
        for v, seeds in grids.items()
        if any(s != list(range(len(next(iter(seeds.values()))))) for s in seeds.values())
    ]
    ok = bad == 0 and not bad_grid and len(runs) > 0
    return dg.AssetCheckResult(
        passed=bool(ok),
        metadata={
            "rows": len(runs),
            "non_finite_metrics": bad,
            "variants_without_a_full_grid": ", ".join(bad_grid) or "none",
            "seeds_per_split": str(grids),
        },
    )


@dg.asset_check(asset=rating_model_runs, partitions_def=VARIANT_PARTITIONS)
def temporal_test_beats_the_training_mean(rating_model_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """On the temporal split, the mean test RMSE over seeds is below that of predicting the training mean
    rating for everyone (a model that cannot is broken, not just weak)."""
    temporal = rating_model_runs[rating_model_runs["split"] == "temporal"]
    if temporal.empty:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no temporal split in this run",
            metadata={"temporal_rows": 0},
        )
    by_variant = temporal.groupby("variant").agg(
        test_rmse=("test_rmse", "mean"), floor=("train_mean_test_rmse", "first")
    )
    losing = by_variant[~(by_variant["test_rmse"] < by_variant["floor"])]
    return dg.AssetCheckResult(
        passed=losing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "test_rmse": {v: round(float(x), 4) for v, x in by_variant["test_rmse"].items()},
            "training_mean_test_rmse": float(by_variant["floor"].iloc[0]),
            "variants_not_better": ", ".join(losing.index) or "none",
        },
    )


RUNS_IN = {
    "rating_model_runs": dg.AssetIn(
        "rating_model_runs", partition_mapping=dg.AllPartitionMapping(), metadata={"allow_missing_partitions": True}
    )
}


@dg.asset_check(asset=rating_leaderboard, blocking=True)
def bias_baseline_on_every_split(rating_leaderboard: pd.DataFrame) -> dg.AssetCheckResult:
    """Every (dataset, split) on the board has a `bias` row to compare against, and ranks run 1..n."""
    board = rating_leaderboard
    groups = board.groupby(["dataset", "split"])
    without = [f"{d}/{s}" for (d, s), g in groups if "bias" not in set(g["variant"])]
    ranks_ok = all(sorted(g["rank"]) == list(range(1, len(g) + 1)) for _, g in groups)
    return dg.AssetCheckResult(
        passed=not without and ranks_ok,
        metadata={
            "splits": groups.ngroups,
            "splits_without_bias": ", ".join(without) or "none",
            "ranks_contiguous": ranks_ok,
        },
    )


def _floor_result(runs: pd.DataFrame, name: str, numbers: tuple[str, ...], missing: str) -> dg.AssetCheckResult:
    from movielens_dag.rating_model.results import floors

    f = floors(runs)
    if not f[f"{name}_measured"]:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not measured: {missing} (make rating-leaderboard runs them all)",
            metadata={"measured": False},
        )
    return dg.AssetCheckResult(
        passed=f[name], severity=dg.AssetCheckSeverity.WARN, metadata={"measured": True, **{k: f[k] for k in numbers}}
    )


@dg.asset_check(asset=rating_leaderboard, additional_ins=RUNS_IN)
def best_dlrm_beats_bias_on_temporal_test(rating_model_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """Floor 1: the DLRM variant with the best temporal validation RMSE has a lower temporal test RMSE
    (mean over seeds) than `bias`."""
    return _floor_result(
        rating_model_runs,
        "dlrm_beats_bias",
        ("dlrm_variant", "dlrm_test_rmse", "bias_test_rmse"),
        "needs bias and a DLRM variant on the temporal split",
    )


@dg.asset_check(asset=rating_leaderboard, additional_ins=RUNS_IN)
def text_beats_ids_on_rarely_rated_movies(rating_model_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """Floor 2: the text DLRM variant with the best temporal validation RMSE has a lower temporal test RMSE
    than `dlrm-id` on ratings of movies with at most 5 training ratings (unseen + 1-5), mean over seeds."""
    return _floor_result(
        rating_model_runs,
        "text_beats_id_on_cold",
        ("text_variant", "text_cold_rmse", "id_cold_rmse", "cold_ratings"),
        "needs dlrm-id and a text DLRM variant on the temporal split",
    )

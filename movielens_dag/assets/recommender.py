"""Group ``recommender``: sequences, training runs under two protocols, the leaderboard.

* ``user_sequences``: each user's ratings in time order (both protocols split them).
* ``recommender_runs``: leave-one-out (the published protocol), one partition per variant.
* ``temporal_content`` -> ``temporal_movie_embeddings``, ``temporal_semantic_ids``,
  ``temporal_sid_codebooks``: what content models may know at the temporal training cut.
* ``temporal_recommender_runs``: the temporal protocol (train before a global cut, test after a later
  one), one partition per variant.
* ``recommender_leaderboard``: every stored run of both protocols beside the popularity (and, temporal,
  content-only) baselines, with bootstrap CIs and paired differences against ``hstu-id``.

The models, training and metrics are plain torch in ``movielens_dag.recommender``.
"""

import json
import pathlib
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.assets.conventions import OWNERS, code_version, columns
from movielens_dag.assets.semantic_ids import CODEBOOK_COLUMNS, SID_COLUMNS
from movielens_dag.recommender.columns import leaderboard_columns, run_columns
from movielens_dag.recommender.config import VARIANTS, EncoderConfig, RunSettings, TrainConfig, variant_config
from movielens_dag.recommender.content import TemporalContentSettings
from movielens_dag.resources.config import config_class, to_changes, to_settings
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir

GROUP = "recommender"
VERSION = code_version("movielens_dag.recommender")
VARIANT_PARTITIONS = dg.StaticPartitionsDefinition(list(VARIANTS))
RecommenderConfig = config_class(
    RunSettings,
    name="RecommenderConfig",
    extra=(
        ("encoder", config_class(EncoderConfig, optional=True), "Encoder overrides (empty: the preset's)."),
        ("train", config_class(TrainConfig, optional=True), "Training overrides (empty: the preset's)."),
    ),
)
TemporalContentConfig = config_class(TemporalContentSettings, name="TemporalContentConfig")
COMMON = {"group_name": GROUP, "owners": OWNERS, "code_version": VERSION}
RUNS = {
    **COMMON,
    "kinds": {"pytorch", "parquet"},
    "metadata": columns(run_columns()),
    "partitions_def": VARIANT_PARTITIONS,
    # a backfill launches one run per variant; a run over a range of variants trains them in turn
    "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
}
EMBEDDING_COLUMNS = {
    "movie_id": ("int32", "MovieLens movieId"),
    "model_id": ("string", "the embedding model"),
    "dim": ("int32", "vector length"),
    "document_hash": ("string", "hash of the document as of the cut"),
    "embedding": ("fixed_size_list<float32>", "L2-normalised vector of the document as of the cut"),
}


@dg.asset(
    **COMMON,
    kinds={"python", "parquet"},
    metadata=columns(
        {
            "user_id": ("int32", "MovieLens userId"),
            "movie_ids": ("list<int32>", "every movie the user rated, in time order (ties keep file order)"),
            "timestamps": ("list<timestamp>", "when, aligned with movie_ids"),
            "n_interactions": ("int32", "ratings of the user"),
            "n_train": ("int32", "leave-one-out training prefix length"),
            "valid_movie_id": ("int32", "leave-one-out validation target (second to last); null below 3 ratings"),
            "test_movie_id": ("int32", "leave-one-out test target (last); null below 3 ratings"),
        }
    ),
)
def user_sequences(ratings: pathlib.Path) -> dg.Output:
    """Each user's ratings in time order (ties keep file order) with the leave-one-out targets:
    last item = test, second-to-last = validation, the rest = train."""
    from movielens_dag.recommender.data import user_sequences_table
    from movielens_dag.warehouse import read_parquet

    # only the three columns it needs, sorted as flat arrays: ~1.5 GiB at ML-32M instead of ~5 through pandas
    table = user_sequences_table(read_parquet(ratings, "ratings", columns=["user_id", "movie_id", "timestamp"]))
    n = table.column("n_interactions").to_numpy()
    evaluated = table.column("test_movie_id").null_count
    return dg.Output(
        table,
        metadata={
            "users": len(n),
            "interactions": int(n.sum()),
            "users_evaluated": len(n) - evaluated,
            "median_length": float(pd.Series(n).median()),
            "max_length": int(n.max()),
        },
    )


def _split(protocol: str, user_sequences: pa.Table, run: RunSettings):
    from movielens_dag.recommender.data import leave_one_out, sequences_from_table
    from movielens_dag.recommender.temporal import temporal_split

    seqs = sequences_from_table(user_sequences)
    if protocol == "leave_one_out":
        return leave_one_out(seqs)
    return temporal_split(seqs, run.temporal, max_valid_events=run.max_valid_events)


def _train(
    context: dg.AssetExecutionContext,
    config: dg.Config,
    protocol: str,
    user_sequences: pa.Table,
    semantic_ids: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Train every variant of the run's partitions under ``protocol``: rows, a validation-curve plot each."""
    from movielens_dag.recommender.data import item_sids
    from movielens_dag.recommender.experiment import train_seeds, validation_curve_png
    from movielens_dag.recommender.results import pm
    from movielens_dag.runtime import resolve_device, torch_threads
    from movielens_dag.semantic_ids.ids import SemanticIds
    from movielens_dag.warehouse import read_parquet

    run = to_settings(config, RunSettings())
    changes = {k: v for k, v in to_changes(config).items() if k in ("encoder", "train")}
    dataset = movielens_source.get_variant().name
    preset = run.preset_for(dataset)
    device = resolve_device(run.device)
    split = _split(protocol, user_sequences, run)
    paths, outputs, metadata, started = data_dir.paths, {}, {}, time.perf_counter()
    for variant in context.partition_keys:
        cfg = variant_config(variant, preset, changes)
        semantic = (
            SemanticIds.from_table(read_parquet(semantic_ids, semantic_ids.stem), run.sid_method)
            if cfg.items.uses_sid
            else None
        )
        sids = item_sids(split.seqs.item_index, semantic) if semantic else None
        context.log.info(
            f"{variant}, {protocol}, on {dataset} (preset {preset}, SIDs: "
            f"{semantic.method if semantic else 'none'}, {device}): {split.info or {}}; config {cfg}"
        )
        with torch_threads(run.threads):
            rows, results = train_seeds(
                variant,
                dataset,
                cfg,
                split,
                sids,
                run.seeds,
                paths.checkpoints / GROUP / protocol / dataset / variant,
                resume=run.resume,
                device=device,
                log=context.log.info,
                protocol=protocol,
            )
        rows["sid_method"] = semantic.method if semantic else "-"
        plot = paths.artifacts / GROUP / dataset / f"{protocol}-{variant}-valid-curve.png"
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(validation_curve_png(variant, results))
        stat = lambda c, rows=rows: pm(rows[c].mean(), rows[c].std(ddof=1) if len(rows) > 1 else 0.0)
        prefix = "" if len(context.partition_keys) == 1 else f"{variant}/"
        metadata.update(
            {
                f"{prefix}test_ndcg@10": stat("test_ndcg_10"),
                f"{prefix}test_hr@10": stat("test_hr_10"),
                f"{prefix}valid_ndcg@10": stat("valid_ndcg_10"),
                f"{prefix}best_epochs": str(rows["best_epoch"].tolist()),
                f"{prefix}num_params": int(rows["num_params"].iloc[0]),
                f"{prefix}validation_curve": data_dir.image_markdown(plot, "validation NDCG@10"),
                f"{prefix}config": dg.MetadataValue.json(json.loads(rows["config"].iloc[0])),
            }
        )
        outputs[variant] = rows
    metadata.update(
        {
            "protocol": protocol,
            "dataset": dataset,
            "preset": preset,
            "seeds": run.seeds,
            "device": device,
            "minutes": round((time.perf_counter() - started) / 60, 2),
            "split": dg.MetadataValue.json({k: int(v) for k, v in (split.info or {}).items()}),
            "checkpoints": dg.MetadataValue.path(str(paths.checkpoints / GROUP / protocol / dataset)),
        }
    )
    return dg.Output(next(iter(outputs.values())) if len(outputs) == 1 else outputs, metadata=metadata)


@dg.asset(**RUNS, ins={"semantic_ids": dg.AssetIn(metadata={"allow_missing": True})})  # ID-only runs need no SIDs
def recommender_runs(
    context: dg.AssetExecutionContext,
    config: RecommenderConfig,
    user_sequences: pa.Table,
    semantic_ids: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Leave-one-out (the published protocol): train one variant (the partition) with several seeds; early
    stopping on validation NDCG@10, one test pass at the best epoch. One row per seed."""
    return _train(context, config, "leave_one_out", user_sequences, semantic_ids, data_dir, movielens_source)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "temporal_movie_embeddings": dg.AssetOut(
            description="Vectors of the movie documents as they read at the temporal training cut (tags applied "
            "before it; no TMDB/IMDb fields, which are fetched today).",
            owners=OWNERS,
            code_version=VERSION,
            kinds={"pytorch", "parquet"},
            metadata=columns(EMBEDDING_COLUMNS),
        ),
        "temporal_semantic_ids": dg.AssetOut(
            description="Semantic IDs fitted on the movies rated before the cut; later movies assigned codes "
            "from those codebooks, as a refresh would.",
            owners=OWNERS,
            code_version=VERSION,
            kinds={"pytorch", "parquet"},
            metadata=columns({k: v for k, v in SID_COLUMNS.items() if k != "recon_error"}),
        ),
        "temporal_sid_codebooks": dg.AssetOut(
            description="The codebooks of temporal_semantic_ids.",
            owners=OWNERS,
            code_version=VERSION,
            kinds={"pytorch", "parquet"},
            metadata=columns(CODEBOOK_COLUMNS),
        ),
    },
)
def temporal_content(
    context: dg.AssetExecutionContext,
    config: TemporalContentConfig,
    data_dir: DataDir,
    user_sequences: pa.Table,
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    wikipedia_plots: pa.Table,
):
    """What the temporal protocol's content-based models may know at its training cut: documents with
    only the tags applied before it, their vectors, and SIDs fitted before it (later movies assigned)."""
    from movielens_dag.embeddings.settings import EmbeddingSettings
    from movielens_dag.recommender.content import temporal_content as build
    from movielens_dag.recommender.data import sequences_from_table
    from movielens_dag.recommender.temporal import temporal_split
    from movielens_dag.runtime import torch_threads

    settings = to_settings(config, TemporalContentSettings())
    split = temporal_split(sequences_from_table(user_sequences), settings.split)
    known = split.seqs.item_index.movie_id(split.candidates)
    with torch_threads(settings.threads):
        content = build(
            split.info["valid_start"],
            known,
            movies,
            tags,
            wikipedia_plots,
            EmbeddingSettings(model=settings.embedding_model),
            settings.sid,
            data_dir.paths.cache / "embeddings",
            data_dir.paths.models,
            context.log.info,
        )
    info = {k: (v if isinstance(v, (int, float)) else str(v)) for k, v in content.info.items()}
    yield dg.Output(content.embeddings, output_name="temporal_movie_embeddings", metadata=info)
    yield dg.Output(content.sids.to_table(), output_name="temporal_semantic_ids", metadata=info)
    yield dg.Output(content.codebooks, output_name="temporal_sid_codebooks")


@dg.asset(**RUNS, ins={"semantic_ids": dg.AssetIn("temporal_semantic_ids", metadata={"allow_missing": True})})
def temporal_recommender_runs(
    context: dg.AssetExecutionContext,
    config: RecommenderConfig,
    user_sequences: pa.Table,
    semantic_ids: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """The temporal protocol: train one variant (the partition) on every event before the training cut;
    every validation and test event is predicted from the user's full history before it. SID variants use
    `temporal_semantic_ids`, so movies first rated after the cut have codes. One row per seed, with the
    per-event test ranks the leaderboard's confidence intervals resample."""
    return _train(context, config, "temporal", user_sequences, semantic_ids, data_dir, movielens_source)


ALL_RUNS = {"partition_mapping": dg.AllPartitionMapping(), "metadata": {"allow_missing_partitions": True}}


@dg.asset(
    **COMMON,
    kinds={"duckdb", "parquet"},
    metadata=columns(leaderboard_columns()),
    # rebuilt (with the daemon) whenever a training run lands, once no run is still in progress
    automation_condition=dg.AutomationCondition.any_deps_updated()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress(),
    ins={
        "recommender_runs": dg.AssetIn(**ALL_RUNS),
        "temporal_recommender_runs": dg.AssetIn(**ALL_RUNS),
        "temporal_movie_embeddings": dg.AssetIn(metadata={"allow_missing": True}),
    },
)
def recommender_leaderboard(
    recommender_runs: pd.DataFrame,
    temporal_recommender_runs: pd.DataFrame,
    user_sequences: pa.Table,
    temporal_movie_embeddings: pathlib.Path,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Every stored variant of both protocols (`protocol` column): test metrics as mean ± std over seeds,
    bootstrap 95% CIs over users, paired differences against `hstu-id`, the new-movie slice, beside the
    popularity baseline (and, temporal, a content-only one)."""
    from movielens_dag.recommender.results import markdown, temporal_markdown
    from movielens_dag.recommender.standings import standings

    dataset = movielens_source.get_variant().name
    boards, info = standings(
        dataset,
        user_sequences,
        {"leave_one_out": recommender_runs, "temporal": temporal_recommender_runs},
        temporal_movie_embeddings,
        RunSettings(),
    )
    board = pd.concat(boards.values(), ignore_index=True)
    meta = {"variants": int((board["variant"] != "popularity").sum())}
    if "leave_one_out" in boards:
        meta["leave_one_out"] = dg.MetadataValue.md(markdown(boards["leave_one_out"]))
    if "temporal" in boards:
        meta["temporal"] = dg.MetadataValue.md(temporal_markdown(boards["temporal"], info))
    return dg.Output(board, metadata=meta)


@dg.asset_check(asset=user_sequences, additional_ins={"ratings": dg.AssetIn("ratings")}, blocking=True)
def sequences_hold_every_rating_in_time_order(user_sequences: pa.Table, ratings: pathlib.Path) -> dg.AssetCheckResult:
    """One row per user, every rating once, timestamps never decreasing within a user."""
    from movielens_dag.movielens import quality

    n = user_sequences["n_interactions"].to_numpy()
    lengths = pc.list_value_length(user_sequences["movie_ids"]).to_numpy()
    times = user_sequences["timestamps"].combine_chunks()
    flat = pc.cast(times.flatten(), pa.int64()).to_numpy()
    offsets = times.offsets.to_numpy()
    steps = flat[1:] - flat[:-1]
    inside = np.ones(len(steps), dtype=bool)
    inside[offsets[1:-1] - 1] = False  # a step from one user's last event to the next user's first
    decreasing = int((steps[inside[: len(steps)]] < 0).sum()) if len(steps) else 0
    users = user_sequences["user_id"].to_numpy()
    total = quality.count(ratings)
    ok = decreasing == 0 and len(np.unique(users)) == len(users) and (lengths == n).all() and int(n.sum()) == total
    return dg.AssetCheckResult(
        passed=bool(ok),
        metadata={"users": len(users), "interactions": int(n.sum()), "ratings": total, "decreasing_steps": decreasing},
    )


def _rates_check(runs: pd.DataFrame) -> dg.AssetCheckResult:
    metric_cols = [c for c in runs.columns if c.startswith(("valid_", "test_")) and runs[c].dtype.kind == "f"]
    values = runs[metric_cols].to_numpy()
    out_of_range = int(((values < 0) | (values > 1)).sum())
    dup = int(runs.duplicated(["variant", "seed"]).sum())
    return dg.AssetCheckResult(
        passed=out_of_range == 0 and dup == 0,
        metadata={"rows": len(runs), "out_of_range_values": out_of_range, "duplicate_seeds": dup},
    )


# Partitioned like the asset: a run for one variant checks that variant (an unpartitioned check would
# load every variant and fail on the ones not trained yet).
@dg.asset_check(asset=recommender_runs, partitions_def=VARIANT_PARTITIONS)
def metrics_are_rates_and_seeds_distinct(recommender_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """Every metric lies in [0, 1] and each variant has one row per seed."""
    return _rates_check(recommender_runs)


@dg.asset_check(asset=temporal_recommender_runs, partitions_def=VARIANT_PARTITIONS)
def temporal_metrics_are_rates_and_seeds_distinct(temporal_recommender_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """Every metric lies in [0, 1] and each variant has one row per seed."""
    return _rates_check(temporal_recommender_runs)


@dg.asset_check(
    asset="temporal_semantic_ids", additional_ins={"user_sequences": dg.AssetIn("user_sequences")}, blocking=True
)
def every_rated_movie_has_a_temporal_sid(
    temporal_semantic_ids: pa.Table, user_sequences: pa.Table
) -> dg.AssetCheckResult:
    """Every movie that appears in any user's sequence (before or after the cut) has exactly one SID."""
    rated = set(pc.unique(user_sequences["movie_ids"].combine_chunks().flatten()).to_pylist())
    have = temporal_semantic_ids["movie_id"].to_pylist()
    missing = sorted(rated - set(have))
    return dg.AssetCheckResult(
        passed=not missing and len(have) == len(set(have)),
        metadata={
            "rated_movies": len(rated),
            "missing": len(missing),
            "duplicated": len(have) - len(set(have)),
            "examples": str(missing[:5]),
        },
    )


@dg.asset_check(asset=recommender_leaderboard)
def leaderboard_is_sane(recommender_leaderboard: pd.DataFrame) -> dg.AssetCheckResult:
    """Per protocol: the popularity floor is there, ranks run 1..n, every CI holds its value, and the best
    model beats popularity on test NDCG@10 (a model that cannot is broken, not just weak)."""
    board, problems = recommender_leaderboard, []
    for protocol, g in board.groupby("protocol"):
        pop, models = g[g["variant"] == "popularity"], g[~g["model"].isin(["popularity", "content"])]
        if len(pop) != 1:
            problems.append(f"{protocol}: {len(pop)} popularity rows")
        if sorted(g["rank"]) != list(range(1, len(g) + 1)):
            problems.append(f"{protocol}: ranks are not 1..{len(g)}")
        if len(models) and len(pop) and not models["test_ndcg_10"].max() > pop["test_ndcg_10"].max():
            problems.append(f"{protocol}: no model beats popularity")
        for c in [c for c in g.columns if c.endswith("_low")]:
            value, high = g[c[:-4]], g[c[:-4] + "_high"]
            if ((value < g[c] - 1e-9) | (value > high + 1e-9)).any():
                problems.append(f"{protocol}: {c[:-4]} outside its CI")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": "; ".join(problems) or "none", "protocols": ", ".join(sorted(board["protocol"]))},
    )


@dg.asset_check(asset="temporal_sid_codebooks", blocking=True)
def temporal_codebooks_are_complete_and_finite(temporal_sid_codebooks: pa.Table) -> dg.AssetCheckResult:
    """Every level has the same number of codes, each code appears once, and every centroid is finite."""
    from movielens_dag.assets.semantic_ids import codebooks_are_complete_and_finite

    return codebooks_are_complete_and_finite(sid_codebooks=temporal_sid_codebooks)


@dg.asset_check(
    asset="temporal_movie_embeddings", additional_ins={"user_sequences": dg.AssetIn("user_sequences")}, blocking=True
)
def every_rated_movie_has_one_unit_vector(
    temporal_movie_embeddings: pa.Table, user_sequences: pa.Table
) -> dg.AssetCheckResult:
    """Every rated movie has exactly one vector, of one model, finite and of unit length."""
    from movielens_dag.semantic_ids.tables import embedding_matrix

    rated = set(pc.unique(user_sequences["movie_ids"].combine_chunks().flatten()).to_pylist())
    try:
        ids, x, model = embedding_matrix(temporal_movie_embeddings)
    except ValueError as exc:  # several models, duplicates, nulls or mixed lengths
        return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
    norms = np.linalg.norm(x, axis=1)
    missing = sorted(rated - set(ids.tolist()))
    off = int((~np.isfinite(norms) | (np.abs(norms - 1) > 1e-3)).sum())
    return dg.AssetCheckResult(
        passed=not missing and off == 0,
        metadata={
            "model": model,
            "vectors": len(ids),
            "rated_movies": len(rated),
            "missing": len(missing),
            "not_unit_length": off,
            "examples": str(missing[:5]),
        },
    )

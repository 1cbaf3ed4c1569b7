"""Group ``recommender``: user sequences, one partition of training runs per variant, the leaderboard.

The models, training and metrics are plain torch in ``movielens_dag.recommender``; these assets only
read inputs through the IO manager, call it and describe the result.
"""

import json
import pathlib
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)

from movielens_dag.assets.conventions import OWNERS, code_version, columns
from movielens_dag.recommender.config import VARIANTS, EncoderConfig, RunSettings, TrainConfig, variant_config
from movielens_dag.recommender.columns import leaderboard_columns, run_columns
from movielens_dag.resources.config import config_class, to_changes, to_settings
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir

GROUP = "recommender"
VERSION = code_version("movielens_dag.recommender")
VARIANT_PARTITIONS = dg.StaticPartitionsDefinition(list(VARIANTS))
RecommenderConfig = config_class(
    RunSettings, name="RecommenderConfig",
    extra=(("encoder", config_class(EncoderConfig, optional=True), "Encoder overrides (empty: the preset's)."),
           ("train", config_class(TrainConfig, optional=True), "Training overrides (empty: the preset's).")),
)


@dg.asset(group_name=GROUP, kinds={"python", "parquet"}, owners=OWNERS, code_version=VERSION, metadata=columns({
    "user_id": ("int32", "MovieLens userId"),
    "movie_ids": ("list<int32>", "every movie the user rated, in time order (ties keep file order)"),
    "timestamps": ("list<timestamp>", "when, aligned with movie_ids"),
    "n_interactions": ("int32", "ratings of the user"), "n_train": ("int32", "leave-one-out training prefix length"),
    "valid_movie_id": ("int32", "leave-one-out validation target (second to last); null below 3 ratings"),
    "test_movie_id": ("int32", "leave-one-out test target (last); null below 3 ratings")}))
def user_sequences(ratings: pathlib.Path) -> dg.Output:
    """Each user's ratings in time order (ties keep file order) with the leave-one-out targets:
    last item = test, second-to-last = validation, the rest = train."""
    from movielens_dag.recommender.data import user_sequences_table
    from movielens_dag.warehouse import read_parquet

    # only the three columns it needs, sorted as flat arrays: ~1.5 GiB at ML-32M instead of ~5 through pandas
    table = user_sequences_table(read_parquet(ratings, "ratings", columns=["user_id", "movie_id", "timestamp"]))
    n = table.column("n_interactions").to_numpy()
    evaluated = table.column("test_movie_id").null_count
    return dg.Output(table, metadata={
        "users": len(n), "interactions": int(n.sum()),
        "users_evaluated": len(n) - evaluated,
        "median_length": float(pd.Series(n).median()), "max_length": int(n.max()),
    })


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(run_columns()),
    partitions_def=VARIANT_PARTITIONS,
    # id-only variants (the published ML-1M runs) never read the SIDs, so they may be missing
    ins={"semantic_ids": dg.AssetIn(metadata={"allow_missing": True})},
    # a backfill launches one run per variant; a run over a range of variants trains them in turn
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
)
def recommender_runs(
    context: dg.AssetExecutionContext,
    config: RecommenderConfig,
    user_sequences: pa.Table,
    semantic_ids: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Train one experiment variant (the partition) with several seeds: early stopping on validation
    NDCG@10, one test pass at the best epoch. One row per seed: metrics, slices, timings."""
    from movielens_dag.recommender.data import item_sids, leave_one_out, sequences_from_table
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
    split = leave_one_out(sequences_from_table(user_sequences))
    paths = data_dir.paths
    outputs, lines, started = {}, [], time.perf_counter()
    for variant in context.partition_keys:
        cfg = variant_config(variant, preset, changes)
        semantic = SemanticIds.from_table(read_parquet(semantic_ids, "semantic_ids"), run.sid_method) if cfg.items.uses_sid else None
        sids = item_sids(split.seqs.item_index, semantic) if semantic else None
        context.log.info(f"{variant} on {dataset} (preset {preset}, SIDs: {semantic.method if semantic else 'none'}, {device}): "
                         f"{len(split.eval_users)} evaluated users, {split.num_items} items; config {cfg}")
        with torch_threads(run.threads):
            rows, results = train_seeds(variant, dataset, cfg, split, sids, run.seeds,
                                        paths.checkpoints / GROUP / dataset / variant, resume=run.resume,
                                        device=device, log=context.log.info)
        rows["sid_method"] = semantic.method if semantic else "-"
        plot = paths.artifacts / GROUP / dataset / f"{variant}-valid-curve.png"
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(validation_curve_png(variant, results))
        stat = lambda c: pm(rows[c].mean(), rows[c].std(ddof=1) if len(rows) > 1 else 0.0)  # noqa: E731
        lines.append((variant, stat, rows, plot, cfg))
        outputs[variant] = rows
    metadata = {"dataset": dataset, "preset": preset, "seeds": run.seeds, "device": device,
                "minutes": round((time.perf_counter() - started) / 60, 2),
                "checkpoints": dg.MetadataValue.path(str(paths.checkpoints / GROUP / dataset))}
    for variant, stat, rows, plot, cfg in lines:
        prefix = "" if len(lines) == 1 else f"{variant}/"
        metadata.update({
            f"{prefix}test_ndcg@10": stat("test_ndcg_10"), f"{prefix}test_hr@10": stat("test_hr_10"),
            f"{prefix}valid_ndcg@10": stat("valid_ndcg_10"), f"{prefix}test_cold_hr@10": stat("test_cold_hr_10"),
            f"{prefix}best_epochs": str(rows["best_epoch"].tolist()),
            f"{prefix}num_params": int(rows["num_params"].iloc[0]),
            f"{prefix}validation_curve": data_dir.image_markdown(plot, "validation NDCG@10"),
            f"{prefix}config": dg.MetadataValue.json(json.loads(rows["config"].iloc[0])),
        })
    only = len(outputs) == 1
    return dg.Output(next(iter(outputs.values())) if only else outputs, metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(leaderboard_columns()),
    # rebuilt (with the daemon) whenever a training run lands, once no run is still in progress
    automation_condition=dg.AutomationCondition.any_deps_updated() & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress(),
    ins={"recommender_runs": dg.AssetIn(partition_mapping=dg.AllPartitionMapping(),
                                        metadata={"allow_missing_partitions": True})},
)
def recommender_leaderboard(recommender_runs: pd.DataFrame, user_sequences: pa.Table,
                            movielens_source: MovieLensSource) -> dg.Output:
    """Every materialized variant: test metrics and slices as mean ± std over seeds, sorted by test
    NDCG@10, with a most-popular baseline row. Reads whichever recommender_runs partitions exist
    (the demo materializes two)."""
    from movielens_dag.recommender.data import leave_one_out, sequences_from_table
    from movielens_dag.recommender.results import leaderboard, markdown, run_rows
    from movielens_dag.recommender.train import popularity_run

    dataset = movielens_source.get_variant().name
    pop = run_rows("popularity", dataset, None, [popularity_run(leave_one_out(sequences_from_table(user_sequences)))])
    board = leaderboard(pd.concat([pop, recommender_runs], ignore_index=True))
    return dg.Output(board, metadata={
        "variants": len(board), "best": str(board["variant"].iloc[0]),
        "table": dg.MetadataValue.md(markdown(board)),
    })


@dg.asset_check(asset=user_sequences, additional_ins={"ratings": dg.AssetIn("ratings")}, blocking=True)
def sequences_hold_every_rating_in_time_order(user_sequences: pa.Table, ratings: pathlib.Path) -> dg.AssetCheckResult:
    """One row per user, every rating once, timestamps never decreasing within a user."""
    from movielens_dag.movielens import quality

    n = user_sequences["n_interactions"].to_numpy()
    lengths = pa.compute.list_value_length(user_sequences["movie_ids"]).to_numpy()
    times = user_sequences["timestamps"].combine_chunks()
    flat = pa.compute.cast(times.flatten(), pa.int64()).to_numpy()
    offsets = times.offsets.to_numpy()
    steps = flat[1:] - flat[:-1]
    inside = np.ones(len(steps), dtype=bool)
    inside[offsets[1:-1] - 1] = False  # a step from one user's last event to the next user's first
    decreasing = int((steps[inside[: len(steps)]] < 0).sum()) if len(steps) else 0
    users = user_sequences["user_id"].to_numpy()
    total = quality.count(ratings)
    ok = decreasing == 0 and len(np.unique(users)) == len(users) and (lengths == n).all() and int(n.sum()) == total
    return dg.AssetCheckResult(passed=bool(ok), metadata={
        "users": len(users), "interactions": int(n.sum()), "ratings": total, "decreasing_steps": decreasing})


@dg.asset_check(asset=recommender_runs, partitions_def=VARIANT_PARTITIONS)
def metrics_are_rates_and_seeds_distinct(recommender_runs: pd.DataFrame) -> dg.AssetCheckResult:
    """Every metric lies in [0, 1] and each variant has one row per seed."""
    metric_cols = [c for c in recommender_runs.columns if c.startswith(("valid_", "test_"))
                   and recommender_runs[c].dtype.kind == "f"]
    values = recommender_runs[metric_cols].to_numpy()
    out_of_range = int(((values < 0) | (values > 1)).sum())
    dup = int(recommender_runs.duplicated(["variant", "seed"]).sum())
    return dg.AssetCheckResult(passed=out_of_range == 0 and dup == 0, metadata={
        "rows": len(recommender_runs), "out_of_range_values": out_of_range, "duplicate_seeds": dup})


@dg.asset_check(asset=recommender_leaderboard)
def leaderboard_is_sane(recommender_leaderboard: pd.DataFrame) -> dg.AssetCheckResult:
    """The popularity floor is there, ranks run 1..n per dataset, and the best model beats popularity on
    test NDCG@10 (a model that cannot is broken, not just weak)."""
    board = recommender_leaderboard
    pop = board[board["variant"] == "popularity"]
    models = board[board["variant"] != "popularity"]
    ranks_ok = all(sorted(g["rank"]) == list(range(1, len(g) + 1)) for _, g in board.groupby("dataset"))
    beats = bool(len(pop) and len(models) and models["test_ndcg_10"].max() > pop["test_ndcg_10"].max())
    return dg.AssetCheckResult(passed=bool(len(pop) == board["dataset"].nunique() and ranks_ok and beats), metadata={
        "variants": len(models), "popularity_rows": len(pop), "ranks_contiguous": ranks_ok,
        "best_beats_popularity": beats})

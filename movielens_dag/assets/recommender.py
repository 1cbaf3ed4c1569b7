"""Group ``recommender``: user sequences, one partition of training runs per variant, the leaderboard.

The models, training and metrics are plain torch in ``movielens_dag.recommender``; these assets only
read inputs through the IO manager, call it and describe the result.
"""

import json
import pathlib
import time

import dagster as dg
import pandas as pd
import pyarrow as pa

from movielens_dag.recommender.config import VARIANTS, EncoderConfig, RunSettings, TrainConfig, variant_config
from movielens_dag.resources.config import config_class, to_changes, to_settings
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir

GROUP = "recommender"
VARIANT_PARTITIONS = dg.StaticPartitionsDefinition(list(VARIANTS))
RecommenderConfig = config_class(
    RunSettings, name="RecommenderConfig",
    extra=(("encoder", config_class(EncoderConfig, optional=True), "Encoder overrides (empty: the preset's)."),
           ("train", config_class(TrainConfig, optional=True), "Training overrides (empty: the preset's).")),
)


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def user_sequences(ratings: pd.DataFrame) -> dg.Output:
    """Each user's ratings in time order (ties keep file order) with the leave-one-out targets:
    last item = test, second-to-last = validation, the rest = train."""
    from movielens_dag.recommender.data import build_sequences, sequences_table

    table = sequences_table(build_sequences(ratings))
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
    partitions_def=VARIANT_PARTITIONS,
    # id-only variants (the published ML-1M runs) never read the SIDs, so they may be missing
    ins={"semantic_ids": dg.AssetIn(metadata={"allow_missing": True})},
    # a backfill launches one run per variant; a run over a range (the demo) trains them in turn
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

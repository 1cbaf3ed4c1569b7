import base64
import io
import json
import time
from typing import Optional

import dagster as dg
import pandas as pd
import pyarrow as pa

from movielens_dag import warehouse
from movielens_dag.recsys.config import DEMO_VARIANTS, PRESETS, VARIANTS, parse_variant, preset_for_dataset
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir

GROUP = "recommender"
variant_partitions = dg.StaticPartitionsDefinition(list(VARIANTS))


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def user_sequences(ratings: pd.DataFrame) -> dg.Output:
    """Each user's ratings in time order (ties keep file order) with the leave-one-out targets:
    last item = test, second-to-last = validation, the rest = train."""
    from movielens_dag.recsys.data import build_sequences, sequences_table

    table = sequences_table(build_sequences(ratings))
    n = table.column("n_interactions").to_numpy()
    evaluated = table.column("test_movie_id").null_count
    return dg.Output(table, metadata={
        "users": len(n), "interactions": int(n.sum()),
        "users_evaluated": len(n) - evaluated,
        "median_length": float(pd.Series(n).median()), "max_length": int(n.max()),
    })


class RecommenderConfig(dg.Config):
    """Hyper-parameters. ``preset`` 'auto' = the tuned small preset for ml-latest-small, the published
    HSTU ML-1M settings otherwise; every other field left empty keeps the preset's value."""

    seeds: int = 3
    preset: str = "auto"
    max_epochs: Optional[int] = None
    patience: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    batch_size: Optional[int] = None
    dim: Optional[int] = None
    num_blocks: Optional[int] = None
    num_heads: Optional[int] = None
    max_len: Optional[int] = None
    dropout: Optional[float] = None
    num_negatives: Optional[int] = None
    negative_sampling: Optional[str] = None
    temperature: Optional[float] = None
    sid_method: Optional[str] = None  # which `method` of semantic_ids to use when it holds several
    resume: bool = True  # continue from the last per-epoch checkpoint of an identical run
    # 1 thread: on a shared or busy CPU (other assets run beside this one) more threads made training
    # ~10x slower here (see docs/benchmarks.md); raise it on a dedicated machine.
    torch_threads: int = 1
    device: str = "auto"  # auto = cuda when available, else cpu; or cpu, cuda, cuda:1, ...


def _sid_codes(semantic_ids: pd.DataFrame, method: Optional[str]):
    methods = sorted(semantic_ids["method"].unique()) if "method" in semantic_ids else []
    if method is None and len(methods) > 1:
        raise ValueError(f"semantic_ids holds methods {methods}: set sid_method in the run config")
    if method is not None:
        if method not in methods:
            raise ValueError(f"sid_method {method!r} not in semantic_ids (has {methods})")
        semantic_ids = semantic_ids[semantic_ids["method"] == method]
    return semantic_ids, (method or (methods[0] if methods else "unknown"))


def _curve_plot(variant: str, results) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for r in results:
        xs = [h.epoch for h in r.history]
        ax.plot(xs, [h.valid["ndcg@10"] for h in r.history], label=f"seed {r.seed}")
        ax.axvline(r.best_epoch, ls=":", lw=0.8, color=ax.lines[-1].get_color())
    ax.set(xlabel="epoch", ylabel="validation NDCG@10", title=variant)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    partitions_def=variant_partitions,
    deps=["semantic_ids"],  # read below, only by the variants that use SIDs
    metadata={"demo_partitions": list(DEMO_VARIANTS), "demo_run_config": {"seeds": 1}},
)
def recommender_runs(
    context: dg.AssetExecutionContext,
    config: RecommenderConfig,
    user_sequences: pa.Table,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Train one experiment variant (the partition) with several seeds: early stopping on validation
    NDCG@10, one test pass at the best epoch. One row per seed: metrics, slices, timings."""
    import torch

    from movielens_dag.recsys.config import variant_config
    from movielens_dag.recsys.data import leave_one_out, sequences_from_table, sid_code_table
    from movielens_dag.recsys.results import pm, run_rows
    from movielens_dag.recsys.train import train_run

    variant = context.partition_key
    dataset = movielens_source.get_variant().name
    preset = preset_for_dataset(dataset) if config.preset == "auto" else config.preset
    if preset not in PRESETS:
        raise ValueError(f"preset must be 'auto' or one of {sorted(PRESETS)}, got {config.preset!r}")
    if config.seeds < 1:
        raise ValueError("seeds must be >= 1")
    overrides = {k: getattr(config, k) for k in ("max_epochs", "patience", "lr", "weight_decay", "batch_size",
                                                 "dim", "num_blocks", "num_heads", "max_len", "dropout",
                                                 "num_negatives", "negative_sampling", "temperature")}
    cfg = variant_config(variant, preset, **overrides)
    if config.torch_threads < 1:
        raise ValueError("torch_threads must be >= 1")
    torch.set_num_threads(config.torch_threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device

    split = leave_one_out(sequences_from_table(user_sequences))
    codes, sid_method = None, "-"
    if parse_variant(variant)["representation"] != "id":
        sid_file = data_dir.paths.asset_file("semantic_ids", "semantic_ids")
        if not sid_file.exists():
            raise FileNotFoundError(f"{variant} needs semantic IDs but {sid_file} does not exist: materialize "
                                    "semantic_ids first")
        sids, sid_method = _sid_codes(pd.read_parquet(sid_file, columns=["movie_id", "codes", "method"]),
                                      config.sid_method)
        codes = sid_code_table(split.seqs.item_index, sids["movie_id"].to_numpy(), list(sids["codes"]))
    context.log.info(f"{variant} on {dataset} (preset {preset}, SIDs: {sid_method}, {device}): {len(split.eval_users)} "
                     f"evaluated users, {split.num_items} items; config {cfg}")

    paths = data_dir.paths
    ck_root = paths.checkpoints / "recommender" / dataset / variant
    results = []
    started = time.perf_counter()
    for seed in range(config.seeds):
        def log(e, seed=seed) -> None:
            context.log.info(f"{variant} seed {seed} epoch {e.epoch}/{cfg.max_epochs}: loss {e.loss:.4f}, valid "
                             f"NDCG@10 {e.valid['ndcg@10']:.4f} HR@10 {e.valid['hr@10']:.4f}"
                             f"{' (best)' if e.best else ''} [{e.seconds:.1f}s]")

        results.append(train_run(cfg, split, codes, seed, ck_root / f"seed{seed}", on_epoch=log,
                                 resume=config.resume, device=device))
        r = results[-1]
        context.log.info(f"{variant} seed {seed}: best epoch {r.best_epoch}, test NDCG@10 {r.test['ndcg@10']:.4f}")

    rows = run_rows(variant, dataset, cfg, results)
    rows["sid_method"] = sid_method
    png = _curve_plot(variant, results)
    plot_file = paths.artifacts / "recommender" / dataset / f"{variant}-valid-curve.png"
    plot_file.parent.mkdir(parents=True, exist_ok=True)
    plot_file.write_bytes(png)
    stat = lambda c: pm(rows[c].mean(), rows[c].std(ddof=1) if len(rows) > 1 else 0.0)  # noqa: E731
    return dg.Output(rows, metadata={
        "dataset": dataset, "preset": preset, "seeds": config.seeds, "device": device, "sid_method": sid_method,
        "test_ndcg@10": stat("test_ndcg_10"), "test_hr@10": stat("test_hr_10"),
        "valid_ndcg@10": stat("valid_ndcg_10"), "test_cold_hr@10": stat("test_cold_hr_10"),
        "best_epochs": str(rows["best_epoch"].tolist()), "num_params": int(rows["num_params"].iloc[0]),
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "checkpoints": dg.MetadataValue.path(str(ck_root)),
        "validation_curve": dg.MetadataValue.md(
            f"![validation NDCG@10](data:image/png;base64,{base64.b64encode(png).decode()})"),
        "validation_curve_file": dg.MetadataValue.path(str(plot_file)),
        "config": dg.MetadataValue.json(json.loads(rows["config"].iloc[0])),
    })


@dg.asset(group_name=GROUP, kinds={"duckdb", "parquet"}, deps=[recommender_runs])
def recommender_leaderboard(user_sequences: pa.Table, data_dir: DataDir,
                            movielens_source: MovieLensSource) -> dg.Output:
    """Every materialized variant: test metrics and slices as mean ± std over seeds, sorted by test
    NDCG@10, with a most-popular baseline row. Reads whichever recommender_runs partitions exist
    (the demo materializes two)."""
    from movielens_dag.recsys.data import leave_one_out, sequences_from_table
    from movielens_dag.recsys.results import leaderboard, markdown, run_rows
    from movielens_dag.recsys.train import popularity_run

    files = warehouse.parquet_files(data_dir.paths.asset_location(GROUP, "recommender_runs", partitioned=True))
    if not files:
        raise FileNotFoundError("no recommender_runs partitions are materialized yet")
    dataset = movielens_source.get_variant().name
    pop = run_rows("popularity", dataset, None, [popularity_run(leave_one_out(sequences_from_table(user_sequences)))])
    runs = pd.concat([pop] + [pd.read_parquet(f) for f in files], ignore_index=True)
    board = leaderboard(runs)
    return dg.Output(board, metadata={
        "variants": len(board), "best": str(board["variant"].iloc[0]),
        "table": dg.MetadataValue.md(markdown(board)),
    })

"""Materialize the DAG in dependency order, recorded in the Dagster instance (UI history).

Unpartitioned assets run together; a partitioned asset runs once per partition. Which partitions:
``demo`` = those named in the asset's ``demo_partitions`` definition metadata, with the run config in
its ``demo_run_config`` metadata (a partitioned asset without them is skipped and says so); ``all`` =
every partition; or a comma list of partition keys. ``group`` limits the run to one asset group plus
whatever upstream asset has never been stored. ``jobs`` > 1 runs the partitions of one asset in that
many processes at once (each partition is its own Dagster run).
"""

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import dagster as dg

from movielens_dag import warehouse
from movielens_dag.definitions import build_definitions
from movielens_dag.paths import DataPaths, resolve_data_dir

DEMO_PARTITIONS = "demo_partitions"
DEMO_RUN_CONFIG = "demo_run_config"


@dataclass
class Step:
    keys: list[dg.AssetKey]
    partition: str | None = None
    run_config: dict = field(default_factory=dict)


def _stored(paths: DataPaths, graph, key: dg.AssetKey) -> bool:
    node = graph.get(key)
    group = node.group_name or "default"
    return paths.asset_location(group, key.path[-1], node.partitions_def is not None).exists()


def _selected(graph, paths: DataPaths, group: str | None) -> set[dg.AssetKey]:
    """The group's assets plus every upstream asset (transitively) that was never stored."""
    keys = {k for k in graph.materializable_asset_keys if group is None or graph.get(k).group_name == group}
    if group is not None and not keys:
        groups = sorted({graph.get(k).group_name for k in graph.materializable_asset_keys})
        raise ValueError(f"no asset group {group!r}; groups: {', '.join(groups)}")
    todo = list(keys)
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in keys and graph.get(parent).is_materializable and not _stored(paths, graph, parent):
                keys.add(parent)
                todo.append(parent)
    return keys


def plan(defs: dg.Definitions, which: str = "demo", group: str | None = None,
         paths: DataPaths | None = None) -> list[Step]:
    """Steps in an order that respects dependencies."""
    graph = defs.get_repository_def().asset_graph
    selected = _selected(graph, paths or DataPaths(resolve_data_dir(None)), group)
    steps: list[Step] = []
    batch: list[dg.AssetKey] = []
    for key in graph.toposorted_asset_keys:
        if key not in selected:
            continue
        node = graph.get(key)
        if node.partitions_def is None:
            batch.append(key)
            continue
        if batch:
            steps.append(Step(batch))
            batch = []
        run_config: dict = {}
        known = node.partitions_def.get_partition_keys()
        if which == "all":
            keys = known
        elif which == "demo":
            demo = node.metadata.get(DEMO_PARTITIONS)
            keys = list(getattr(demo, "value", demo) or [])
            if not keys:
                print(f"[movielens-dag] demo skips partitioned asset {key.to_user_string()}")
            demo_config = node.metadata.get(DEMO_RUN_CONFIG)
            if demo_config is not None:
                run_config = {"ops": {key.path[-1]: {"config": dict(getattr(demo_config, "value", demo_config))}}}
        else:
            keys = [p.strip() for p in which.split(",") if p.strip()]
            unknown = [p for p in keys if p not in known]
            if unknown:
                raise ValueError(f"{key.to_user_string()} has no partition(s) {unknown}; it has: {', '.join(known)}")
        steps.extend(Step([key], p, run_config) for p in keys)
    if batch:
        steps.append(Step(batch))
    return steps


def _run_step(data_dir: str | None, step: Step) -> tuple[bool, str]:
    """One Dagster run (also the entry point of worker processes, which rebuild the definitions)."""
    defs = build_definitions(data_dir)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        list(defs.assets or []) + list(defs.asset_checks or []),
        selection=step.keys,
        partition_key=step.partition,
        resources=defs.resources,
        instance=instance,
        run_config=step.run_config or None,
        raise_on_error=False,
        tags={"launched_by": "movielens-dag materialize"},
    )
    return result.success, result.run_id


def _label(step: Step) -> str:
    names = ", ".join(k.to_user_string() for k in step.keys)
    return names + (f" [{step.partition}]" if step.partition else "")


def _groups_of_steps(steps: list[Step]) -> list[list[Step]]:
    """Consecutive partitions of the same asset form one group (they may run in parallel)."""
    out: list[list[Step]] = []
    for s in steps:
        if out and s.partition is not None and out[-1][0].partition is not None and out[-1][0].keys == s.keys:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def materialize_everything(data_dir: str | None = None, which: str = "demo", group: str | None = None,
                           jobs: int = 1) -> bool:
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    paths = DataPaths(resolve_data_dir(data_dir))
    steps = plan(build_definitions(data_dir), which, group, paths)
    started = time.monotonic()
    for batch in _groups_of_steps(steps):
        for s in batch:
            print(f"[movielens-dag] materializing {_label(s)}", flush=True)
        if jobs == 1 or len(batch) == 1:
            outcomes = [_run_step(data_dir, s) for s in batch]
        else:
            import multiprocessing

            # spawn: a fresh interpreter per worker (no forked Dagster/torch state)
            with ProcessPoolExecutor(min(jobs, len(batch)), mp_context=multiprocessing.get_context("spawn")) as pool:
                outcomes = list(pool.map(_run_step, [data_dir] * len(batch), batch))
        failed = [(s, run_id) for s, (ok, run_id) in zip(batch, outcomes) if not ok]
        for s, run_id in failed:
            print(f"[movielens-dag] run {run_id} ({_label(s)}) failed; see the log above or the Dagster UI",
                  flush=True)
        if failed:
            return False
    warehouse.sync_catalog(paths)
    print(
        f"[movielens-dag] done in {time.monotonic() - started:.0f}s; query it with "
        f"movielens-dag sql \"SHOW ALL TABLES\" (warehouse: {paths.duckdb_file})",
        flush=True,
    )
    return True

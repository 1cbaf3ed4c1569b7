"""Materialize the whole DAG in dependency order, recorded in the Dagster instance (UI history).

Unpartitioned assets run together; a partitioned asset runs once per partition — every partition,
or only those named in its ``demo_partitions`` definition metadata for the quick demo (a
partitioned asset without that metadata is skipped in the demo and says so).
"""

import os
import time

import dagster as dg

from movielens_dag import warehouse
from movielens_dag.definitions import build_definitions
from movielens_dag.paths import DataPaths, resolve_data_dir

DEMO_PARTITIONS = "demo_partitions"


def plan(defs: dg.Definitions, which: str = "demo") -> list[tuple[list[dg.AssetKey], str | None]]:
    """[(asset keys, partition key or None)] in an order that respects dependencies."""
    graph = defs.get_repository_def().asset_graph
    steps: list[tuple[list[dg.AssetKey], str | None]] = []
    batch: list[dg.AssetKey] = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        if node.partitions_def is None:
            batch.append(key)
            continue
        if batch:
            steps.append((batch, None))
            batch = []
        if which == "all":
            keys = node.partitions_def.get_partition_keys()
        else:
            demo = node.metadata.get(DEMO_PARTITIONS)
            keys = list(demo.value) if demo is not None else []
            if not keys:
                print(f"[movielens-dag] demo skips partitioned asset {key.to_user_string()}")
        steps.extend(([key], partition) for partition in keys)
    if batch:
        steps.append((batch, None))
    return steps


def materialize_everything(data_dir: str | None = None, which: str = "demo") -> bool:
    defs = build_definitions(data_dir)
    instance = (
        dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    )
    everything = list(defs.assets or []) + list(defs.asset_checks or [])
    started = time.monotonic()
    for keys, partition in plan(defs, which):
        names = ", ".join(k.to_user_string() for k in keys)
        print(f"[movielens-dag] materializing {names}" + (f" [{partition}]" if partition else ""), flush=True)
        result = dg.materialize(
            everything,
            selection=keys,
            partition_key=partition,
            resources=defs.resources,
            instance=instance,
            raise_on_error=False,
            tags={"launched_by": "movielens-dag materialize"},
        )
        if not result.success:
            print(f"[movielens-dag] run {result.run_id} failed; see the log above or the Dagster UI", flush=True)
            return False
    paths = DataPaths(resolve_data_dir(data_dir))
    warehouse.sync_catalog(paths)
    print(
        f"[movielens-dag] done in {time.monotonic() - started:.0f}s; query it with "
        f"movielens-dag sql \"SHOW ALL TABLES\" (warehouse: {paths.duckdb_file})",
        flush=True,
    )
    return True

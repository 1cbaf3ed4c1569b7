"""Six assets that finish together, for the multiprocess-executor test (loaded by file path)."""

import os

import dagster as dg
import pandas as pd

from movielens_dag.resources.storage import DataDir
from movielens_dag.resources.warehouse_io import WarehouseIOManager


def _make(i: int):
    @dg.asset(name=f"table_{i}", group_name="concurrency")
    def table() -> pd.DataFrame:
        return pd.DataFrame({"i": [i] * 1000, "x": range(1000)})

    return table


def concurrent_job() -> dg.JobDefinition:
    storage = DataDir(data_dir=os.environ["CONCURRENCY_TEST_DATA_DIR"])
    defs = dg.Definitions(
        assets=[_make(i) for i in range(6)],
        jobs=[dg.define_asset_job("all_tables", executor_def=dg.multiprocess_executor)],
        resources={"io_manager": WarehouseIOManager(data_dir=storage, catalog_timeout_seconds=60)},
    )
    return defs.resolve_job_def("all_tables")

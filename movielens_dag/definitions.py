"""The `movielens_dag` code location: every asset module in assets/, the jobs, the resources.

The environment is read here, once (``settings.read_environment``); nothing else reads it.
"""

from collections.abc import Mapping

import dagster as dg

from movielens_dag.assets import (
    documents,
    embeddings,
    enrichment,
    movielens,
    publish,
    rating_model,
    recommender,
    search,
    semantic_ids,
)
from movielens_dag.jobs import JOBS
from movielens_dag.monitoring import stuck_runs
from movielens_dag.resources import from_env
from movielens_dag.resources.http import http_fetcher_from_env
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.sources import WikipediaPlotsSource
from movielens_dag.resources.storage import DataDir
from movielens_dag.resources.warehouse_io import WarehouseIOManager
from movielens_dag.settings import Environment, read_environment

ASSET_MODULES = [
    movielens,
    enrichment,
    documents,
    semantic_ids,
    search,
    publish,
    recommender,
    rating_model,
]  # + embeddings.build


def make_resources(data_dir: str | None = None, env: Environment | None = None) -> dict:
    """All resources. ``data_dir`` overrides MOVIELENS_DATA_DIR (tests use a temp folder)."""
    env = env or read_environment()
    storage = DataDir(
        data_dir=str(data_dir) if data_dir else from_env(env, "MOVIELENS_DATA_DIR"),
        artifacts_url=from_env(env, "MOVIELENS_ARTIFACTS_URL"),
    )
    return {
        "data_dir": storage,
        "io_manager": WarehouseIOManager(data_dir=storage),
        "movielens_source": MovieLensSource(
            variant=from_env(env, "MOVIELENS_VARIANT"),
            source_dir=from_env(env, "MOVIELENS_SOURCE_DIR"),
            base_url=from_env(env, "MOVIELENS_BASE_URL"),
            expected_md5=from_env(env, "MOVIELENS_MD5"),
            subset=env.value("MOVIELENS_SUBSET") not in (None, "", "0", "false", "False"),
        ),
        "http_fetcher": http_fetcher_from_env(env),
        "wikipedia_source": WikipediaPlotsSource(csv_path=from_env(env, "WIKIPEDIA_PLOTS_CSV")),
    }


# Evaluates every asset's automation condition (ON_UPSTREAM_CHANGE ...) while the daemon runs. Dagster's
# default automation sensor starts stopped; this one starts running.
AUTOMATION = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


def _module_objects(kind: type | tuple[type, ...]) -> list:
    return [obj for m in ASSET_MODULES for obj in vars(m).values() if isinstance(obj, kind)]


def build_definitions(data_dir: str | None = None, environ: Mapping[str, str] | None = None) -> dg.Definitions:
    env = read_environment(environ)
    return dg.Definitions.merge(
        embeddings.build(env),
        dg.Definitions(
            assets=dg.load_assets_from_modules(ASSET_MODULES),
            asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
            jobs=JOBS,
            schedules=_module_objects(dg.ScheduleDefinition),
            sensors=[*_module_objects(dg.SensorDefinition), AUTOMATION, stuck_runs],
            resources=make_resources(data_dir, env),
        ),
    )


defs = build_definitions()

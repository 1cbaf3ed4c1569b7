"""The `movielens_dag` code location: every asset module in assets/, plus resources from the env."""

import dagster as dg

from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from movielens_dag.assets import documents, embeddings, enrichment, movielens, recommender, semantic_ids
from movielens_dag.movielens.variants import DEFAULT_BASE_URL
from movielens_dag.paths import DEFAULT_DATA_DIR
from movielens_dag.resources import env_or_default
from movielens_dag.resources.http import http_fetcher_from_env
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir
from movielens_dag.resources.warehouse_io import WarehouseIOManager

ASSET_MODULES = [movielens, enrichment, documents, embeddings, semantic_ids, recommender]


def make_resources(data_dir: str | None = None) -> dict:
    """All resources. ``data_dir`` overrides MOVIELENS_DATA_DIR (tests use a temp folder)."""
    storage = DataDir(data_dir=str(data_dir) if data_dir else env_or_default("MOVIELENS_DATA_DIR", str(DEFAULT_DATA_DIR)))
    return {
        "data_dir": storage,
        "io_manager": WarehouseIOManager(data_dir=storage),
        "movielens_source": MovieLensSource(
            variant=env_or_default("MOVIELENS_VARIANT", "ml-latest-small"),
            source_dir=env_or_default("MOVIELENS_SOURCE_DIR", None),
            base_url=env_or_default("MOVIELENS_BASE_URL", DEFAULT_BASE_URL),
            expected_md5=env_or_default("MOVIELENS_MD5", None),
        ),
        "http_fetcher": http_fetcher_from_env(),
    }


def _module_objects(kind: type | tuple[type, ...]) -> list:
    return [obj for m in ASSET_MODULES for obj in vars(m).values() if isinstance(obj, kind)]


def build_definitions(data_dir: str | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules(ASSET_MODULES),
        asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
        jobs=_module_objects((dg.JobDefinition, UnresolvedAssetJobDefinition)),
        schedules=_module_objects(dg.ScheduleDefinition),
        sensors=_module_objects(dg.SensorDefinition),
        resources=make_resources(data_dir),
    )


defs = build_definitions()

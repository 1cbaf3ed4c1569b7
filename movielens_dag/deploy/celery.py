"""The code location with a Celery-executed embedding fan-out: ``-m movielens_dag.deploy.celery``.

Everything in ``movielens_dag.definitions`` plus ``embedding_shards_celery_job``: one shard of
``movie_embedding_shards`` per run, its step executed by whichever Celery worker takes it from the
broker. Run processes and workers load this same module and share ``DAGSTER_HOME`` (instance storage)
and ``MOVIELENS_DATA_DIR`` (warehouse and embedding cache). ``celery.yaml`` beside this file is the
executor config the job uses and the workers start with (broker and result backend from
``CELERY_BROKER_URL`` / ``CELERY_RESULT_BACKEND``; late acks, so a killed worker's step is redelivered).
Needs the ``celery`` extra: ``pip install -e '.[celery]'``.
"""

from pathlib import Path

import dagster as dg
import yaml
from dagster_celery import celery_executor

from movielens_dag.definitions import build_definitions

CELERY_YAML = Path(__file__).with_name("celery.yaml")

embedding_shards_celery_job = dg.define_asset_job(
    "embedding_shards_celery_job",
    selection=["movie_embedding_shards"],
    executor_def=celery_executor,
    config=yaml.safe_load(CELERY_YAML.read_text()),
    description="One shard of movie_embedding_shards per run, executed by a Celery worker; backfill all "
    "shards to fan out across the workers (one per GPU).",
)

defs = dg.Definitions.merge(build_definitions(), dg.Definitions(jobs=[embedding_shards_celery_job]))

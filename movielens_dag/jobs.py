"""Named jobs: what `make demo`, `make leaderboard` and the UI launch (runs carry these names).

* ``demo_job``: the whole DAG on the configured release, with the two demo recommender variants
  (one seed each) trained in the same run. The multiprocess executor runs independent steps at once.
* ``recommender_job``: one ``recommender_runs`` partition per run; a backfill over its partitions
  is the full leaderboard (`make leaderboard`, or Backfill in the UI).
* ``leaderboard_job``: rebuild ``recommender_leaderboard`` from whichever variants are stored.
* ``enrichment_refresh`` and ``embedding_shards_job`` live with their groups (the latter is built from the
  environment, which sets its shard count).
"""

import dagster as dg

from movielens_dag.assets.enrichment import enrichment_refresh_job
from movielens_dag.recommender.config import DEMO_VARIANTS, VARIANTS

# The demo trains a contiguous range of variants in one run (a partition range of recommender_runs).
assert list(DEMO_VARIANTS) == list(VARIANTS[VARIANTS.index(DEMO_VARIANTS[0]):][: len(DEMO_VARIANTS)])

demo_job = dg.define_asset_job(
    "demo_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("movie_embedding_shards"),
    tags={"dagster/asset_partition_range_start": DEMO_VARIANTS[0],
          "dagster/asset_partition_range_end": DEMO_VARIANTS[-1]},
    config={"ops": {"recommender_runs": {"config": {"seeds": 1}}}},
    description="The whole DAG on the configured release: ingest, enrich (no token: from what is stored), "
    f"documents, embeddings, semantic IDs, and the demo recommenders {', '.join(DEMO_VARIANTS)} with one "
    "seed each, then the leaderboard.",
)

recommender_job = dg.define_asset_job(
    "recommender_job",
    selection=dg.AssetSelection.assets("recommender_runs"),
    description="Train one recommender variant (the partition) with 3 seeds. Backfill every partition for "
    "the full leaderboard, then run leaderboard_job.",
)

leaderboard_job = dg.define_asset_job(
    "leaderboard_job",
    selection=dg.AssetSelection.assets("recommender_leaderboard"),
    description="Rank every stored recommender variant against the popularity baseline.",
)

JOBS = [demo_job, recommender_job, leaderboard_job, enrichment_refresh_job]  # + embedding_shards_job (built)

"""Named jobs: what `make demo`, `make leaderboard` and the UI launch (runs carry these names).

* ``demo_job``: the whole DAG on the configured release up to the recommender inputs (ingest, enrich
  from what is stored, documents, embeddings, semantic IDs, sequences). The multiprocess executor runs
  independent steps at once.
* ``recommender_job``: one ``recommender_runs`` partition (variant) per run. `make demo` runs the two
  demo variants with one seed, side by side; a backfill over every partition is the full leaderboard
  (`make leaderboard`, or Backfill in the UI).
* ``leaderboard_job``: rank whichever variants are stored against the popularity baseline.
* ``enrichment_refresh`` and ``embedding_shards_job`` live with their groups (the latter is built from
  the environment, which sets its shard count).
"""

import dagster as dg

from movielens_dag.assets.enrichment import enrichment_refresh_job

demo_job = dg.define_asset_job(
    "demo_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("movie_embedding_shards", "recommender_runs",
                                                                  "recommender_leaderboard"),
    description="The DAG on the configured release up to what the recommenders read: ingest, enrich (no "
    "token: from what is stored), documents, embeddings, semantic IDs and their map, user sequences.",
)

recommender_job = dg.define_asset_job(
    "recommender_job",
    selection=dg.AssetSelection.assets("recommender_runs"),
    description="Train one recommender variant (the partition). Backfill every partition for the full "
    "leaderboard, then run leaderboard_job.",
)

leaderboard_job = dg.define_asset_job(
    "leaderboard_job",
    selection=dg.AssetSelection.assets("recommender_leaderboard"),
    description="Rank every stored recommender variant against the popularity baseline.",
)

JOBS = [demo_job, recommender_job, leaderboard_job, enrichment_refresh_job]  # + embedding_shards_job (built)

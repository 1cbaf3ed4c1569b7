"""Named jobs: what `make demo`, `make leaderboard` and the UI launch (runs carry these names).

* ``demo_job``: the whole DAG on the configured release up to the recommender inputs (ingest, enrich
  from what is stored, documents, embeddings, semantic IDs, sequences). The multiprocess executor runs
  independent steps at once.
* ``recommender_job``: one ``recommender_runs`` partition (variant, leave-one-out protocol) per run.
  `make demo` runs the two demo variants with one seed, side by side; a backfill over every partition is
  the full leaderboard (`make leaderboard`, or Backfill in the UI).
* ``temporal_recommender_job``: the same under the temporal protocol (`make temporal-leaderboard`).
* ``leaderboard_job``: rank whichever variants are stored, per protocol, against the baselines.
* ``enrichment_refresh`` and ``embedding_shards_job`` live with their groups (the latter is built from
  the environment, which sets its shard count).
"""

import dagster as dg

from movielens_dag.assets.enrichment import enrichment_refresh_job

demo_job = dg.define_asset_job(
    "demo_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(
        "movie_embedding_shards", "recommender_runs", "temporal_recommender_runs", "recommender_leaderboard"),
    description="The DAG on the configured release up to what the recommenders read: ingest, enrich (no "
    "token: from what is stored), documents, embeddings, semantic IDs and their map, search, the genre "
    "classifier, the published dataset, user sequences and the temporal protocol's content.",
)

recommender_job = dg.define_asset_job(
    "recommender_job",
    selection=dg.AssetSelection.assets("recommender_runs"),
    description="Train one recommender variant (the partition). Backfill every partition for the full "
    "leaderboard, then run leaderboard_job.",
)

temporal_recommender_job = dg.define_asset_job(
    "temporal_recommender_job",
    selection=dg.AssetSelection.assets("temporal_recommender_runs"),
    description="Train one recommender variant (the partition) under the temporal protocol: train before a "
    "global cut, test after a later one; SID variants use temporal_semantic_ids.",
)

leaderboard_job = dg.define_asset_job(
    "leaderboard_job",
    selection=dg.AssetSelection.assets("recommender_leaderboard"),
    description="Rank every stored recommender variant, per protocol, against the popularity (and, "
    "temporal, content-only) baselines, with bootstrap CIs.",
)

JOBS = [demo_job, recommender_job, temporal_recommender_job, leaderboard_job, enrichment_refresh_job]  # + embedding_shards_job (built)

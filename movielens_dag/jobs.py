"""Named jobs: what `make demo`, `make leaderboard` and the UI launch (runs carry these names).

* ``demo_job``: the whole DAG on the configured release up to the recommender inputs (ingest, enrich
  from what is stored, documents, embeddings, semantic IDs, sequences). The multiprocess executor runs
  independent steps at once.
* ``recommender_job``: one ``recommender_runs`` partition (variant, leave-one-out protocol) per run.
  `make demo` runs the two demo variants with one seed, side by side; a backfill over every partition is
  the full leaderboard (`make leaderboard`, or Backfill in the UI).
* ``temporal_recommender_job``: the same under the temporal protocol (`make temporal-leaderboard`).
* ``leaderboard_job``: rank whichever variants are stored, per protocol, against the baselines.
* ``rating_model_job`` / ``rating_leaderboard_job``: the same pair for the rating model
  (``rating_model_runs``, one variant per run; `make demo` trains ``bias`` with one seed, `make
  rating-leaderboard` every offline variant with three).
* ``enrichment_refresh`` and ``embedding_shards_job`` live with their groups (the latter is built from
  the environment, which sets its shard count).
"""

import dagster as dg

from movielens_dag.assets.enrichment import enrichment_refresh_job

demo_job = dg.define_asset_job(
    "demo_job",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(
        "movie_embedding_shards",
        "recommender_runs",
        "temporal_recommender_runs",
        "recommender_leaderboard",
        "rating_model_runs",
        "rating_leaderboard",
    ),
    description="The DAG on the configured release up to what the models read: ingest, enrich (no token: "
    "from what is stored, no posters), documents, embeddings, semantic IDs and their map, search, the genre "
    "classifier, the published dataset, user sequences, the temporal protocol's content and the rating "
    "model's leak-free text vectors.",
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

rating_model_job = dg.define_asset_job(
    "rating_model_job",
    selection=dg.AssetSelection.assets("rating_model_runs"),
    description="Train one rating-model variant (the partition) on the temporal and random splits. Backfill "
    "every partition for the full leaderboard, then run rating_leaderboard_job.",
)

rating_leaderboard_job = dg.define_asset_job(
    "rating_leaderboard_job",
    selection=dg.AssetSelection.assets("rating_leaderboard"),
    description="Rank every stored rating-model variant per split, with the bias baseline and the two floors.",
)

JOBS = [
    demo_job,
    recommender_job,
    temporal_recommender_job,
    leaderboard_job,
    rating_model_job,
    rating_leaderboard_job,
    enrichment_refresh_job,
]  # + embedding_shards_job (built)

"""Group ``embeddings``: one vector per movie document, and one per poster image.

* ``movie_embeddings``: every movie, unpartitioned, the table downstream assets read.
* ``poster_embeddings``: a CLIP image vector per movie whose poster ``poster_images`` fetched; with no
  poster (no TMDB token, the offline demo) an empty table, and CLIP is never loaded.
* ``movie_embedding_shards``: the same, split into static movie-id shards (``movie_id % N``) so the
  work can run in parallel on several GPUs / pods through a run executor (k8s, celery, multiprocess).
  Shards and the unpartitioned asset share one cache, so after a sharded backfill
  ``movie_embeddings`` reuses every shard's vectors and loads no model at all.

The work is in ``movielens_dag.embeddings`` (plain code). The shard count, the default model and device
and the Celery queue are deployment settings, so the assets are built from the environment
(``build``), which ``definitions.py`` reads once.
"""

import dagster as dg
import pyarrow as pa

from movielens_dag.assets.conventions import ON_UPSTREAM_CHANGE, OWNERS, code_version, columns
from movielens_dag.embeddings.pipeline import embed_movie_documents
from movielens_dag.embeddings.posters import PosterEmbeddingSettings
from movielens_dag.embeddings.settings import EmbeddingSettings
from movielens_dag.embeddings.shards import select_shard, shard_keys
from movielens_dag.resources.config import config_class, to_settings
from movielens_dag.resources.storage import DataDir
from movielens_dag.settings import Environment, override

GROUP = "embeddings"
CACHE_SUBDIR = "embeddings"
# Concurrency pool: how many embedding steps may hold a model at once, across all runs. The instance
# default (dagster.yaml) is 1, right for one GPU or a small CPU; with N GPUs / pods:
# `dagster instance concurrency set embedding_model N`.
POOL = "embedding_model"
UNIT_NORM_TOLERANCE = 1e-3
VERSION = code_version("movielens_dag.embeddings")
COLUMNS = columns(
    {
        "movie_id": ("int32", "MovieLens movieId"),
        "model_id": ("string", "the embedding model (hub id or local folder name)"),
        "dim": ("int32", "vector length"),
        "document_hash": ("string", "hash of the embedded document (the cache key with the model)"),
        "embedding": ("fixed_size_list<float32>", "L2-normalised vector: the dot product of two is their cosine"),
    }
)
POSTER_CACHE_SUBDIR = "poster_embeddings"
POSTER_COLUMNS = columns(
    {
        "movie_id": ("int32", "MovieLens movieId (movies whose poster is ok in poster_images)"),
        "model_id": ("string", "the CLIP checkpoint (hub id or local folder name)"),
        "dim": ("int32", "vector length (the model's projection_dim)"),
        "image_sha256": ("string", "SHA-256 of the poster file (the cache key with the model)"),
        "embedding": ("fixed_size_list<float32>", "L2-normalised CLIP image vector (a variable list when empty)"),
    }
)
NO_POSTERS = (
    "no posters: poster_images has no row with status ok (without TMDB_READ_ACCESS_TOKEN none are fetched), so "
    "nothing was embedded and CLIP was not loaded"
)


def _metadata(meta: dict) -> dict:
    out = {}
    for key, value in meta.items():
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(value)
        elif key.endswith("_dir") or key.endswith("_file"):
            out[key] = dg.MetadataValue.path(str(value))
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def build(env: Environment) -> tuple:
    """`movie_embeddings`, `movie_embedding_shards` and `embedding_shards_job` for this deployment."""
    defaults = override(
        EmbeddingSettings(),
        {"model": env.value("MOVIELENS_EMBEDDING_MODEL"), "device": env.value("MOVIELENS_EMBEDDING_DEVICE")},
    )
    EmbeddingConfig = config_class(EmbeddingSettings, name="EmbeddingConfig", defaults=defaults)
    poster_defaults = override(PosterEmbeddingSettings(), {"device": env.value("MOVIELENS_EMBEDDING_DEVICE")})
    PosterEmbeddingConfig = config_class(
        PosterEmbeddingSettings, name="PosterEmbeddingConfig", defaults=poster_defaults
    )
    num_shards = env.int("MOVIELENS_EMBEDDING_SHARDS")
    queue = env.value("MOVIELENS_EMBEDDING_CELERY_QUEUE")
    # With the celery executor, route embedding steps to a GPU worker queue (e.g. "gpu"); unset: no tag.
    op_tags = {"dagster-celery/queue": queue} if queue else None
    shards = dg.StaticPartitionsDefinition(shard_keys(num_shards))

    def run(
        context: dg.AssetExecutionContext, config: dg.Config, data_dir: DataDir, documents: pa.Table, writer: str
    ) -> dg.Output:
        paths = data_dir.paths
        result = embed_movie_documents(
            documents,
            to_settings(config, defaults),
            cache_root=paths.cache / CACHE_SUBDIR,
            writer=writer,
            models_dir=paths.models,
            logger=context.log.info,
        )
        return dg.Output(result.table, metadata=_metadata(result.metadata))

    common = {
        "group_name": GROUP,
        "pool": POOL,
        "op_tags": op_tags,
        "kinds": {"pytorch", "parquet"},
        "owners": OWNERS,
        "code_version": VERSION,
    }

    @dg.asset(**common, metadata=COLUMNS, automation_condition=ON_UPSTREAM_CHANGE)
    def movie_embeddings(
        context: dg.AssetExecutionContext, config: EmbeddingConfig, data_dir: DataDir, movie_documents: pa.Table
    ) -> dg.Output:
        """One L2-normalised float32 vector per movie document (sentence-transformers).

        Columns: movie_id, model_id, dim, document_hash, embedding (fixed-size float32 list). Incremental:
        vectors are cached by (model fingerprint + prompt + lengths, document_hash), so a re-run embeds only
        new or changed documents and, with nothing changed, does not load the model.
        """
        return run(context, config, data_dir, movie_documents, writer="all")

    @dg.asset(
        **common,
        partitions_def=shards,
        metadata={**COLUMNS, "num_shards": num_shards, "sharding": "movie_id % num_shards"},
    )
    def movie_embedding_shards(
        context: dg.AssetExecutionContext, config: EmbeddingConfig, data_dir: DataDir, movie_documents: pa.Table
    ) -> dg.Output:
        """`movie_embeddings` split into static shards (movie_id % N) to run on several GPUs or pods.

        Same columns and config as `movie_embeddings`; each shard writes its own cache file, which
        `movie_embeddings` then reuses (run it after a backfill: it loads no model).
        """
        key = context.partition_key
        shard = select_shard(movie_documents, key)
        context.log.info(f"{key}: {shard.num_rows:,} of {movie_documents.num_rows:,} documents")
        return run(context, config, data_dir, shard, writer=key)

    shards_job = dg.define_asset_job(
        "embedding_shards_job",
        selection=[movie_embedding_shards],
        description="Embed one movie-id shard per run; launch a backfill over all shards to fan out across "
        "GPUs / pods (see the README's executor example).",
    )

    @dg.asset_check(
        asset=movie_embeddings, additional_ins={"movie_documents": dg.AssetIn("movie_documents")}, blocking=True
    )
    def one_unit_vector_per_document(movie_embeddings: pa.Table, movie_documents: pa.Table) -> dg.AssetCheckResult:
        """One finite, unit-length vector of the model's dimension per movie document, for its current text."""
        return _check_vectors(movie_embeddings, movie_documents)

    @dg.asset_check(asset=movie_embedding_shards, blocking=True, partitions_def=shards)  # checks its own shard
    def shard_holds_its_movies_as_unit_vectors(
        context: dg.AssetCheckExecutionContext, movie_embedding_shards: pa.Table
    ) -> dg.AssetCheckResult:
        """Every row belongs to this shard (movie_id % N) and is a finite unit vector."""
        return _check_vectors(
            movie_embedding_shards, None, shard=context.partition_key if context.has_partition_key else None
        )

    @dg.asset(**{**common, "group_name": "search"}, metadata=COLUMNS, automation_condition=ON_UPSTREAM_CHANGE)
    def genre_blind_embeddings(
        context: dg.AssetExecutionContext, config: EmbeddingConfig, data_dir: DataDir, genre_blind_documents: pa.Table
    ) -> dg.Output:
        """`movie_embeddings` of the genre-blind documents (same model, config and cache), the genre
        classifier's input."""
        return run(context, config, data_dir, genre_blind_documents, writer="genre-blind")

    @dg.asset_check(
        asset=genre_blind_embeddings,
        blocking=True,
        additional_ins={"genre_blind_documents": dg.AssetIn("genre_blind_documents")},
    )
    def one_unit_vector_per_blind_document(
        genre_blind_embeddings: pa.Table, genre_blind_documents: pa.Table
    ) -> dg.AssetCheckResult:
        """One finite unit vector per genre-blind document, for its current text."""
        return _check_vectors(genre_blind_embeddings, genre_blind_documents)

    @dg.asset(**common, metadata=POSTER_COLUMNS, automation_condition=ON_UPSTREAM_CHANGE)
    def poster_embeddings(
        context: dg.AssetExecutionContext, config: PosterEmbeddingConfig, data_dir: DataDir, poster_images: pa.Table
    ) -> dg.Output:
        """One L2-normalised CLIP image vector per movie whose poster is `ok` in `poster_images` (the
        image tower and projection of a `transformers` CLIP checkpoint, GPU when available). Incremental:
        vectors are cached by (model, image SHA-256), so a re-run embeds only new images and, with none,
        does not load the model. With no poster at all (no TMDB token) it writes an empty table without
        resolving or loading CLIP, and says so."""
        from movielens_dag.embeddings.posters import embed_posters

        paths = data_dir.paths
        run = embed_posters(
            poster_images,
            paths.posters,
            to_settings(config, poster_defaults),
            cache_root=paths.cache / POSTER_CACHE_SUBDIR,
            models_dir=paths.models,
            logger=context.log.info,
        )
        meta = _metadata(run.metadata)
        meta["posters"] = dg.MetadataValue.text(
            NO_POSTERS if run.table.num_rows == 0 else f"{run.table.num_rows} movies with a poster vector"
        )
        return dg.Output(run.table, metadata=meta)

    @dg.asset_check(
        asset=poster_embeddings, blocking=True, additional_ins={"poster_images": dg.AssetIn("poster_images")}
    )
    def one_unit_vector_per_ok_poster(poster_embeddings: pa.Table, poster_images: pa.Table) -> dg.AssetCheckResult:
        """Exactly the `ok` posters of `poster_images`, each for its current image, as finite unit vectors
        (max |norm - 1| < 1e-3) of one dimension."""
        return _check_poster_vectors(poster_embeddings, poster_images)

    return dg.Definitions(
        assets=[movie_embeddings, movie_embedding_shards, genre_blind_embeddings, poster_embeddings],
        asset_checks=[
            one_unit_vector_per_document,
            shard_holds_its_movies_as_unit_vectors,
            one_unit_vector_per_blind_document,
            one_unit_vector_per_ok_poster,
        ],
        jobs=[shards_job],
    )


def _check_vectors(table: pa.Table, documents: pa.Table | None, shard: str | None = None) -> dg.AssetCheckResult:
    from movielens_dag.embeddings.quality import vector_report

    report = vector_report(table, documents, shard, UNIT_NORM_TOLERANCE)
    return dg.AssetCheckResult(passed=report.passed, metadata=report.metadata)


def _check_poster_vectors(table: pa.Table, poster_images: pa.Table) -> dg.AssetCheckResult:
    import pyarrow.compute as pc

    from movielens_dag.embeddings.quality import vector_report

    ok = poster_images.filter(pc.equal(poster_images["status"], "ok"))
    want = dict(zip(ok["movie_id"].to_pylist(), ok["sha256"].to_pylist(), strict=True))
    have = dict(zip(table["movie_id"].to_pylist(), table["image_sha256"].to_pylist(), strict=True))
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    stale = sorted(m for m, h in have.items() if m in want and want[m] != h)
    report = vector_report(table, tolerance=UNIT_NORM_TOLERANCE) if table.num_rows else None
    passed = (report is None or report.passed) and not (missing or extra or stale)
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            **(report.metadata if report else {"rows": 0}),
            "ok_posters": len(want),
            "missing_movies": len(missing),
            "movies_without_ok_poster": len(extra),
            "stale_images": len(stale),
            "examples": str({"missing": missing[:5], "extra": extra[:5], "stale": stale[:5]}),
        },
    )

"""Dagster wiring for the `embeddings` group: one vector per movie document.

* ``movie_embeddings``: every movie, unpartitioned, the table downstream assets read.
* ``movie_embedding_shards``: the same, split into static movie-id shards (``movie_id % N``) so the
  work can run in parallel on several GPUs / pods through a run executor (k8s, celery, multiprocess).
  Shards and the unpartitioned asset share one cache, so after a sharded backfill
  ``movie_embeddings`` reuses every shard's vectors and loads no model at all.

The work is in ``movielens_dag.embeddings`` (plain code); torch and sentence-transformers are imported
only when a model has to be loaded.
"""

import os
from typing import Optional

import dagster as dg
import pyarrow as pa
from pydantic import Field

from movielens_dag.embeddings.models import BUNDLED
from movielens_dag.embeddings.pipeline import (
    EmbeddingSettings,
    embed_movie_documents,
    select_shard,
    shard_keys,
)
from movielens_dag.resources.storage import DataDir

GROUP = "embeddings"
CACHE_SUBDIR = "embeddings"
NUM_SHARDS = int(os.environ.get("MOVIELENS_EMBEDDING_SHARDS", "8"))
# Concurrency pool: how many embedding steps may hold a model at once, across all runs. The instance
# default (dagster.yaml) is 1, right for one GPU or a small CPU; with N GPUs / pods:
# `dagster instance concurrency set embedding_model N`.
POOL = "embedding_model"
# With the celery executor, route embedding steps to a GPU worker queue (e.g. "gpu"); unset: no tag.
_CELERY_QUEUE = os.environ.get("MOVIELENS_EMBEDDING_CELERY_QUEUE")
OP_TAGS = {"dagster-celery/queue": _CELERY_QUEUE} if _CELERY_QUEUE else None
SHARDS = dg.StaticPartitionsDefinition(shard_keys(NUM_SHARDS))


class EmbeddingConfig(dg.Config):
    """How documents become vectors. Defaults suit the bundled MiniLM on a CPU."""

    model: str = Field(
        default=os.environ.get("MOVIELENS_EMBEDDING_MODEL", BUNDLED),
        description="'bundled' (all-MiniLM-L6-v2, offline), a hub id such as 'Qwen/Qwen3-Embedding-0.6B', "
        "or a local model folder (absolute, relative to the working dir, or under <data>/models/). "
        "Default from MOVIELENS_EMBEDDING_MODEL.",
    )
    revision: Optional[str] = Field(default=None, description="Hub revision (branch, tag or commit).")
    prompt: Optional[str] = Field(
        default=None,
        description="Instruction prepended to every document, e.g. for Qwen3 "
        "'Instruct: Represent this movie for finding similar movies\\nQuery:'. None: no prompt.",
    )
    prompt_name: Optional[str] = Field(
        default=None, description="Use one of the model's saved prompts by name (ignored if prompt is set)."
    )
    truncate_dim: Optional[int] = Field(
        default=None, description="Keep the first N dimensions (Matryoshka models), then re-normalise."
    )
    max_seq_length: Optional[int] = Field(
        default=None,
        description="Tokens per document; longer ones are truncated and counted. "
        "None: the model's own limit, capped at 8192.",
    )
    device: str = Field(
        default=os.environ.get("MOVIELENS_EMBEDDING_DEVICE", "auto"),
        description="auto (cuda > mps > cpu), cpu, cuda, cuda:1 ... Default from MOVIELENS_EMBEDDING_DEVICE.",
    )
    dtype: str = Field(default="auto", description="auto (bf16/fp16 on GPU, fp32 on CPU), float32, bfloat16, float16.")
    attn_implementation: str = Field(
        default="auto", description="auto (flash_attention_2 if installed on GPU, else sdpa), sdpa, eager, ..."
    )
    token_budget: Optional[int] = Field(
        default=None,
        description="Padded tokens per batch. None: 8192 on CPU, estimated from free GPU memory. "
        "Halved automatically on out-of-memory.",
    )
    max_batch_size: int = Field(default=512, description="Upper bound on documents per batch.")
    num_threads: Optional[int] = Field(
        default=None,
        description="torch CPU threads while embedding (None: torch's default, one per core). "
        "On a CPU shared with other work, 1 is often faster.",
    )
    empty_documents: str = Field(
        default="error",
        description="'error': fail naming the movies with empty documents; 'skip': leave them out "
        "(count and ids in the metadata).",
    )
    use_cache: bool = Field(default=True, description="Reuse vectors of unchanged documents.")

    def settings(self) -> EmbeddingSettings:
        return EmbeddingSettings(
            model=self.model,
            revision=self.revision,
            prompt=self.prompt,
            prompt_name=self.prompt_name,
            truncate_dim=self.truncate_dim,
            max_seq_length=self.max_seq_length,
            device=self.device,
            dtype=self.dtype,
            attn_implementation=self.attn_implementation,
            token_budget=self.token_budget,
            max_batch_size=self.max_batch_size,
            num_threads=self.num_threads,
            empty_documents=self.empty_documents,  # type: ignore[arg-type]
            use_cache=self.use_cache,
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


def _run(context: dg.AssetExecutionContext, config: EmbeddingConfig, data_dir: DataDir,
         documents: pa.Table, writer: str) -> dg.Output:
    paths = data_dir.paths
    run = embed_movie_documents(
        documents,
        config.settings(),
        cache_root=paths.cache / CACHE_SUBDIR,
        writer=writer,
        models_dir=paths.models,
        logger=context.log.info,
    )
    return dg.Output(run.table, metadata=_metadata(run.metadata))


@dg.asset(group_name=GROUP, pool=POOL, op_tags=OP_TAGS, kinds={"pytorch", "parquet"})
def movie_embeddings(
    context: dg.AssetExecutionContext,
    config: EmbeddingConfig,
    data_dir: DataDir,
    movie_documents: pa.Table,
) -> dg.Output:
    """One L2-normalised float32 vector per movie document (sentence-transformers).

    Columns: movie_id, model_id, dim, document_hash, embedding (fixed-size float32 list). Incremental:
    vectors are cached by (model fingerprint + prompt + lengths, document_hash), so a re-run embeds only
    new or changed documents and, with nothing changed, does not load the model.
    """
    return _run(context, config, data_dir, movie_documents, writer="all")


@dg.asset(
    group_name=GROUP,
    pool=POOL,
    op_tags=OP_TAGS,
    kinds={"pytorch", "parquet"},
    partitions_def=SHARDS,
    metadata={"num_shards": NUM_SHARDS, "sharding": "movie_id % num_shards"},
)
def movie_embedding_shards(
    context: dg.AssetExecutionContext,
    config: EmbeddingConfig,
    data_dir: DataDir,
    movie_documents: pa.Table,
) -> dg.Output:
    """``movie_embeddings`` split into static shards (movie_id % N) to run on several GPUs or pods.

    Same columns and config as ``movie_embeddings``; each shard writes its own cache file, which
    ``movie_embeddings`` then reuses (run it after a backfill: it loads no model).
    """
    key = context.partition_key
    shard = select_shard(movie_documents, key)
    context.log.info(f"{key}: {shard.num_rows:,} of {movie_documents.num_rows:,} documents")
    return _run(context, config, data_dir, shard, writer=key)


embedding_shards_job = dg.define_asset_job(
    "embedding_shards_job",
    selection=[movie_embedding_shards],
    description="Embed one movie-id shard per run; launch a backfill over all shards to fan out "
    "across GPUs / pods (see the README's executor example).",
)

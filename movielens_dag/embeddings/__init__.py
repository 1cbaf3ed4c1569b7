"""Sentence embeddings for movie documents (plain code: no Dagster; torch is imported lazily).

``resolve_model`` finds and fingerprints a model, ``load_encoder`` loads it, ``Encoder.encode`` embeds
texts in token-length-sorted, memory-adaptive batches; ``cache`` keeps previous vectors by
(embedding key, document hash) so re-runs only embed what changed.
"""

from movielens_dag.embeddings.batching import BatchStats, DocumentTooLargeError, run_batches
from movielens_dag.embeddings.models import (
    BUNDLED,
    MINILM_MODEL_ID,
    QWEN3_EMBEDDING_06B,
    ModelNotFoundError,
    ModelSource,
    resolve_model,
)

__all__ = [
    "BUNDLED",
    "BatchStats",
    "DocumentTooLargeError",
    "MINILM_MODEL_ID",
    "ModelNotFoundError",
    "ModelSource",
    "QWEN3_EMBEDDING_06B",
    "resolve_model",
    "run_batches",
]

"""How documents become vectors: the one settings dataclass of the embeddings package (no torch)."""

from dataclasses import dataclass

from movielens_dag.embeddings.models import BUNDLED
from movielens_dag.runtime import check_threads
from movielens_dag.settings import setting

EMPTY_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class EmbeddingSettings:
    """How documents become vectors. Defaults suit the bundled MiniLM on a CPU."""

    model: str = setting(
        BUNDLED,
        "'bundled' (all-MiniLM-L6-v2, offline), a hub id such as "
        "'Qwen/Qwen3-Embedding-0.6B', or a local model folder (absolute, relative to "
        "the working dir, or under <data>/models/).",
    )
    revision: str | None = setting(None, "Hub revision (branch, tag or commit).")
    prompt: str | None = setting(
        None,
        "Instruction prepended to every document, e.g. for Qwen3 'Instruct: "
        "Represent this movie for finding similar movies\\nQuery:'. None: no prompt.",
    )
    prompt_name: str | None = setting(None, "Use one of the model's saved prompts by name (ignored if prompt is set).")
    truncate_dim: int | None = setting(None, "Keep the first N dimensions (Matryoshka models), then re-normalise.")
    max_seq_length: int | None = setting(
        None, "Tokens per document; longer ones are truncated and counted. None: the model's own limit, capped at 8192."
    )
    device: str = setting("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:1 ...")
    dtype: str = setting("auto", "auto (bf16/fp16 on GPU, fp32 on CPU), float32, bfloat16, float16.")
    attn_implementation: str = setting(
        "auto", "auto (flash_attention_2 if installed on GPU, else sdpa), sdpa, eager, ..."
    )
    token_budget: int | None = setting(
        None,
        "Padded tokens per batch. None: 8192 on CPU, estimated from free GPU "
        "memory. Halved automatically on out-of-memory.",
    )
    max_batch_size: int = setting(512, "Upper bound on documents per batch.")
    threads: int | None = setting(
        None,
        "torch CPU threads while embedding (None: torch's default, one per core). "
        "On a CPU shared with other work, 1 is often faster.",
    )
    empty_documents: str = setting(
        "error",
        "'error': fail naming the movies with empty documents; 'skip': leave them out (count and ids in the metadata).",
    )
    use_cache: bool = setting(True, "Reuse vectors of unchanged documents.")
    commit_every: int = setting(
        1024, "Documents embedded between two commits to the cache: a crash loses at most this many."
    )

    def validate(self) -> None:
        if self.truncate_dim is not None and self.truncate_dim < 1:
            raise ValueError(f"truncate_dim must be >= 1, got {self.truncate_dim}")
        if self.max_seq_length is not None and self.max_seq_length < 2:
            raise ValueError(f"max_seq_length must be >= 2, got {self.max_seq_length}")
        if self.token_budget is not None and self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {self.token_budget}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.commit_every < 1:
            raise ValueError(f"commit_every must be >= 1, got {self.commit_every}")
        check_threads(self.threads)
        if self.empty_documents not in EMPTY_POLICIES:
            raise ValueError(f"empty_documents must be one of {EMPTY_POLICIES}, got {self.empty_documents!r}")

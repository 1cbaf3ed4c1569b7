"""Loading a sentence-transformers model and embedding texts with it (plain code, no Dagster).

What ``Encoder.encode`` does, and why:

* Every text (with the optional instruction prompt in front) is tokenized once, truncated to
  ``max_seq_length``; the truncated ones are counted. The token ids are reused to build the batches,
  so nothing is tokenized twice (except on the flash-attention unpadded path, which goes through
  sentence-transformers' own preprocessing).
* Batches are grouped by token length under a token budget and adapt to memory (see ``batching``).
* bf16 (or fp16) on GPU, fp32 on CPU; SDPA attention, flash-attention 2 when ``flash_attn`` is
  installed. Decoder models (Qwen3) use left padding and last-token pooling.
* The result is truncated to ``truncate_dim`` (Matryoshka) and then L2-normalised in float32: the
  model's own Normalize layer runs before sentence-transformers truncates, so truncated vectors would
  otherwise not have unit length.
"""

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from movielens_dag.embeddings import st_compat
from movielens_dag.embeddings.batching import BatchStats, ProgressFn, run_batches
from movielens_dag.embeddings.models import (
    DEFAULT_MAX_SEQ_LENGTH_CAP,
    LAST_TOKEN_MODEL_TYPES,
    ModelSource,
    pick_attention,
    pick_dtype,
)
from movielens_dag.embeddings.settings import EmbeddingSettings
from movielens_dag.runtime import resolve_device, torch_threads

log = logging.getLogger(__name__)

CPU_TOKEN_BUDGET = 8192
GPU_TOKEN_BUDGET_CAP = 131072
DEFAULT_MAX_BATCH_SIZE = 512
_TOKENIZE_CHUNK = 2048


class EmptyDocumentError(ValueError):
    """A text that tokenizes to nothing cannot be embedded."""


@dataclass
class Tokenized:
    ids: list[np.ndarray]  # per text, truncated, with special tokens: what the model sees
    lengths: np.ndarray  # int64, len(ids[i])
    full_lengths: np.ndarray  # int64, tokens before truncation
    truncated: np.ndarray  # bool


@dataclass
class EmbeddingResult:
    vectors: np.ndarray  # float32 [n, dim], unit length
    lengths: np.ndarray  # tokens fed per text
    full_lengths: np.ndarray  # tokens before truncation
    truncated: np.ndarray  # bool per text
    stats: BatchStats
    tokenize_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def truncated_count(self) -> int:
        return int(self.truncated.sum())


@contextlib.contextmanager
def _quiet_loading():
    """Hide transformers' per-load weight progress bar (it spams Dagster's captured logs)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_sentence_transformer(source: ModelSource, device: str, model_kwargs: dict[str, Any]):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    path = str(source.path)
    if (source.path / "modules.json").exists():
        return SentenceTransformer(path, device=device, local_files_only=True, model_kwargs=model_kwargs)
    # A plain Hugging Face checkpoint: build the pipeline. Decoder models pool their last token.
    transformer = Transformer(
        path,
        model_kwargs=model_kwargs,
        processor_kwargs={"local_files_only": True},
        config_kwargs={"local_files_only": True},
    )
    mode = "lasttoken" if transformer.config.model_type in LAST_TOKEN_MODEL_TYPES else "mean"
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode=mode)
    return SentenceTransformer(modules=[transformer, pooling, Normalize()], device=device)


def load_encoder(source: ModelSource, settings: EmbeddingSettings = EmbeddingSettings()) -> "Encoder":
    """Load the model on the configured device and precision, adapted by ``st_compat``."""
    device = resolve_device(settings.device)
    torch_dtype = pick_dtype(device, settings.dtype)
    attn = pick_attention(device, torch_dtype, settings.attn_implementation)
    with _quiet_loading():
        try:
            model = _load_sentence_transformer(source, device, {"dtype": torch_dtype, "attn_implementation": attn})
        except (ValueError, ImportError) as exc:
            about_attention = "attn" in str(exc).lower() or "attention" in str(exc).lower()
            if settings.attn_implementation != "auto" or not about_attention:
                raise
            log.warning("attention %r not supported by %s (%s); falling back to eager", attn, source.model_id, exc)
            attn = "eager"
            model = _load_sentence_transformer(source, device, {"dtype": torch_dtype, "attn_implementation": attn})
    model.eval()
    return Encoder(model, source, settings, device=device, dtype=torch_dtype, attn_implementation=attn)


class Encoder:
    """A loaded model plus the settings that decide its vectors."""

    def __init__(
        self,
        model: Any,
        source: ModelSource,
        settings: EmbeddingSettings,
        *,
        device: str,
        dtype: Any,
        attn_implementation: str,
    ):
        self.model = model
        self.source = source
        self.device = device
        self.dtype = dtype
        self.attn_implementation = attn_implementation
        adapted = st_compat.adapt(model, source.model_id)
        self.transformer, self.tokenizer, self.pooling = adapted.transformer, adapted.tokenizer, adapted.pooling
        transformer = self.transformer

        max_seq_length = settings.max_seq_length
        model_max = self._model_max_length()
        if max_seq_length is None:
            current = transformer.max_seq_length or model_max or DEFAULT_MAX_SEQ_LENGTH_CAP
            max_seq_length = min(current, DEFAULT_MAX_SEQ_LENGTH_CAP)
        if max_seq_length < 2:
            raise ValueError(f"max_seq_length must be >= 2, got {max_seq_length}")
        if model_max is not None and max_seq_length > model_max:
            raise ValueError(f"max_seq_length {max_seq_length} exceeds what {source.model_id} supports ({model_max})")
        transformer.max_seq_length = max_seq_length
        self.max_seq_length = int(max_seq_length)

        prompt = settings.prompt
        if prompt is None and settings.prompt_name is not None:
            if settings.prompt_name not in model.prompts:
                raise ValueError(
                    f"{source.model_id} has no prompt named {settings.prompt_name!r}; it has {sorted(model.prompts)}"
                )
            prompt = model.prompts[settings.prompt_name]
        self.prompt = prompt or ""
        self.prompt_length = transformer._get_prompt_length(self.prompt) if self.prompt else None

        self.full_dim = int(model.get_embedding_dimension() or 0)
        truncate_dim = settings.truncate_dim
        if truncate_dim is not None and not (0 < truncate_dim <= self.full_dim):
            raise ValueError(f"truncate_dim must be in 1..{self.full_dim} for {source.model_id}, got {truncate_dim}")
        self.truncate_dim = truncate_dim
        self.dim = truncate_dim or self.full_dim
        self.n_special = int(self.tokenizer.num_special_tokens_to_add(pair=False))
        self._model_input_names = set(self.tokenizer.model_input_names)
        # FA2 unpadding packs sequences; then sentence-transformers' own preprocessing builds them.
        self.use_st_preprocess = bool(getattr(transformer, "can_flatten_inputs", False))

    # ------------------------------------------------------------------------------------------ #

    def _model_max_length(self) -> int | None:
        value = getattr(self.transformer.config, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            # BERT-style learned positions: absolute. RoPE (Qwen3) extrapolates, but stay within training.
            return value
        return None

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "model_id": self.source.model_id,
            "model_fingerprint": self.source.fingerprint,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "attn_implementation": self.attn_implementation,
            "pooling": self.pooling,
            "padding_side": self.tokenizer.padding_side,
            "max_seq_length": self.max_seq_length,
            "prompt": self.prompt,
            "truncate_dim": self.truncate_dim,
            "dim": self.dim,
        }

    def auto_token_budget(self) -> int:
        """CPU: a fixed 8k tokens. GPU: what half the free memory holds, by a per-token activation estimate."""
        if not self.device.startswith("cuda"):
            return CPU_TOKEN_BUDGET
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(self.device))
        cfg = self.transformer.config
        hidden = int(getattr(cfg, "hidden_size", 1024))
        inter = int(getattr(cfg, "intermediate_size", 4 * hidden))
        elem = torch.finfo(self.dtype).bits // 8
        per_token = elem * (10 * hidden + 4 * inter) + 4 * hidden  # + fp32 pooled copy
        budget = int(free * 0.5 // per_token)
        return max(1024, min(GPU_TOKEN_BUDGET_CAP, budget))

    # ------------------------------------------------------------------------------------------ #

    def tokenize(self, texts: Sequence[str]) -> Tokenized:
        """Tokenize ``prompt + text`` once, truncated to ``max_seq_length``; count truncations."""
        tok = self.tokenizer
        ids: list[np.ndarray] = []
        full = np.zeros(len(texts), dtype=np.int64)
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            chunk = [self.prompt + t for t in texts[start : start + _TOKENIZE_CHUNK]]
            enc = tok(
                chunk,
                truncation=True,
                max_length=self.max_seq_length,
                return_overflowing_tokens=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            mapping = enc["overflow_to_sample_mapping"]
            seen = -1
            for row, sample in enumerate(mapping):
                row_ids = enc["input_ids"][row]
                if sample != seen:  # first row of a sample: the part the model sees
                    ids.append(np.asarray(row_ids, dtype=np.int64))
                    full[start + sample] = len(row_ids)
                    seen = sample
                else:  # overflow: tokens cut off by truncation
                    full[start + sample] += len(row_ids) - self.n_special
        if len(ids) != len(texts):
            raise RuntimeError(f"tokenizer returned {len(ids)} sequences for {len(texts)} texts")
        lengths = np.fromiter((len(a) for a in ids), dtype=np.int64, count=len(ids))
        return Tokenized(ids, lengths, full, full > lengths)

    def features(self, ids: Sequence[np.ndarray]) -> dict[str, Any]:
        """Pad token ids into a batch on the device (same tensors as sentence-transformers' preprocess)."""
        import torch

        longest = max(len(a) for a in ids)
        input_ids = np.full((len(ids), longest), self.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        left = self.tokenizer.padding_side == "left"
        for row, a in enumerate(ids):
            if left:
                input_ids[row, longest - len(a) :] = a
                mask[row, longest - len(a) :] = 1
            else:
                input_ids[row, : len(a)] = a
                mask[row, : len(a)] = 1
        features: dict[str, Any] = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if "token_type_ids" in self._model_input_names:
            features["token_type_ids"] = torch.zeros_like(features["input_ids"])
        return self._to_device(features)

    def _st_features(self, texts: Sequence[str]) -> dict[str, Any]:
        return self._to_device(self.model.preprocess(list(texts), prompt=self.prompt or None))

    def _to_device(self, features: dict[str, Any]) -> dict[str, Any]:
        import torch

        cuda = self.device.startswith("cuda")
        out: dict[str, Any] = {}
        for key, value in features.items():
            if isinstance(value, torch.Tensor):
                value = value.pin_memory().to(self.device, non_blocking=True) if cuda else value.to(self.device)
            out[key] = value
        out.setdefault("modality", "text")
        if self.prompt_length is not None:
            out.setdefault("prompt_length", self.prompt_length)
        return out

    def forward(self, features: dict[str, Any]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            emb = self.model(features)["sentence_embedding"].float()
            if self.truncate_dim is not None:
                emb = emb[:, : self.truncate_dim]
            emb = F.normalize(emb, p=2, dim=-1)
            return emb.cpu().numpy()

    def _release_memory(self) -> None:
        import gc

        import torch

        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def encode(
        self,
        texts: Sequence[str],
        *,
        token_budget: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        sort_by_length: bool = True,
        fixed_batch_size: int | None = None,
        prefetch: bool | None = None,
        progress: ProgressFn | None = None,
        threads: int | None = None,
    ) -> EmbeddingResult:
        """Embed ``texts``; rows of ``vectors`` follow the input order. Empty texts are an error.

        ``threads`` sets torch's CPU threads for this call (None: leave torch's default).
        """
        import time

        import torch

        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text #{i} is {type(t).__name__}, not str")
            if not t.strip():
                raise EmptyDocumentError(f"text #{i} is empty: filter empty documents before embedding")
        t0 = time.perf_counter()
        tokens = self.tokenize(texts)
        tokenize_seconds = time.perf_counter() - t0
        budget = token_budget or self.auto_token_budget()
        if prefetch is None:
            prefetch = self.device.startswith("cuda")
        if self.use_st_preprocess:
            prepare: Callable[[np.ndarray], Any] = lambda idx: self._st_features([texts[i] for i in idx])
        else:
            prepare = lambda idx: self.features([tokens.ids[i] for i in idx])
        with torch_threads(threads):
            vectors, stats = run_batches(
                tokens.lengths,
                prepare,
                self.forward,
                token_budget=budget,
                max_batch_size=max_batch_size,
                sort_by_length=sort_by_length,
                fixed_batch_size=fixed_batch_size,
                prefetch=prefetch,
                progress=progress,
                on_oom=self._release_memory,
            )
            used_threads = torch.get_num_threads()
        if len(texts) == 0:
            vectors = np.zeros((0, self.dim), dtype=np.float32)
        return EmbeddingResult(
            vectors=vectors,
            lengths=tokens.lengths,
            full_lengths=tokens.full_lengths,
            truncated=tokens.truncated,
            stats=stats,
            tokenize_seconds=tokenize_seconds,
            settings={
                **self.settings,
                "token_budget": budget,
                "max_batch_size": max_batch_size,
                "sort_by_length": sort_by_length,
                "fixed_batch_size": fixed_batch_size,
                "threads": used_threads,
            },
        )


__all__ = [
    "EmbeddingResult",
    "EmptyDocumentError",
    "Encoder",
    "Tokenized",
    "load_encoder",
]

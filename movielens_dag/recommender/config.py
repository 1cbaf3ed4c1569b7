"""Every knob of a recommender run, the experiment variants and presets. No torch import, so
Dagster definitions can list the variants without loading torch."""

from dataclasses import dataclass

from movielens_dag.settings import override, setting
from movielens_dag.splits import TemporalSplitSettings

MODELS = ("sasrec", "hstu")
SAMPLING = ("per_position", "per_batch")  # negatives: one set per position (published) or shared per batch
LOSSES = ("sampled", "full_softmax", "mixed")  # see loss.py
WINDOWS = ("last", "sample", "all")  # which max_len slices of a long training sequence an epoch trains on
SELECTION_METRIC = "ndcg@10"  # early stopping and model selection use this, on validation only
REPRESENTATIONS = ("id", "ngram", "prefixn", "prefixn_id", "rqsum_id")
FUSIONS = ("sum", "fc", "mlp", "scalar_gate", "vector_gate", "scalar_weight")


@dataclass(frozen=True)
class ItemEmbeddingConfig:
    """How an item becomes a vector: its ID, its semantic ID, or both fused."""

    representation: str = setting("id", f"Item representation, one of {REPRESENTATIONS}.")
    fusion: str = setting("sum", f"How SID and ID parts combine (..._id only), one of {FUSIONS}.")
    sid_levels: int | None = setting(
        None, "Leading SID code positions used; None: every quantiser level (not the uniqueness digit)."
    )
    ngram_n: int = setting(2, "Window length of the 'ngram' representation.")
    id_dropout: float = setting(0.0, "SID+ID only: train-time probability of dropping an item's ID part.")

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if (not self.uses_id or not self.uses_sid) and self.fusion != "sum":
            raise ValueError(
                f"fusion {self.fusion!r} needs both SID and ID parts; {self.representation!r} has one, use fusion 'sum'"
            )
        if self.sid_levels is not None and self.sid_levels < 1:
            raise ValueError("sid_levels must be >= 1")
        if self.ngram_n < 1:
            raise ValueError("ngram_n must be >= 1")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(f"id_dropout must be in [0, 1), got {self.id_dropout}")

    @property
    def uses_id(self) -> bool:
        return self.representation in ("id", "prefixn_id", "rqsum_id")

    @property
    def uses_sid(self) -> bool:
        return self.representation != "id"


@dataclass(frozen=True)
class EncoderConfig:
    """The sequence encoder's shape (SASRec or HSTU)."""

    dim: int = setting(50, "Embedding and hidden size d.")
    num_blocks: int = setting(2, "Attention blocks.")
    num_heads: int = setting(1, "Attention heads (d must be divisible by it).")
    max_len: int = setting(200, "Most recent items a sequence keeps.")
    dropout: float = setting(0.2, "Dropout on inputs, attention outputs and the feed-forward part.")

    def __post_init__(self) -> None:
        if self.dim < 1 or self.num_blocks < 1 or self.num_heads < 1 or self.max_len < 1:
            raise ValueError(f"dim, num_blocks, num_heads and max_len must be >= 1: {self}")
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, negatives and early stopping."""

    loss: str = setting(
        "sampled",
        f"One of {LOSSES}: 'sampled' = uniform negatives (published), 'full_softmax' = "
        "cross-entropy over every item (computed in item chunks), 'mixed' = in-batch + "
        "uniform negatives with logQ popularity correction.",
    )
    windows: str = setting(
        "last",
        f"One of {WINDOWS}: 'last' = only the most recent max_len items of each training "
        "sequence (published); 'sample' = one window per user per epoch, cycling so every "
        "training interaction is a target every ceil(n / max_len) epochs; 'all' = every "
        "window every epoch.",
    )
    softmax_chunk: int = setting(256, "full_softmax: items per logit chunk (bounds memory to positions x chunk).")
    num_negatives: int = setting(128, "Uniform negatives per position (or per batch); 'mixed': per batch.")
    negative_sampling: str = setting(
        "per_position",
        f"One of {SAMPLING}: a set per position (published) or one shared per batch. Only the 'sampled' loss "
        "reads it: 'mixed' always shares one set per batch, 'full_softmax' samples none.",
    )
    temperature: float = setting(0.05, "Softmax temperature over cosine scores.")
    lr: float = setting(1e-3, "AdamW learning rate.")
    weight_decay: float = setting(0.0, "AdamW weight decay.")
    batch_size: int = setting(128, "Users per training batch.")
    max_epochs: int = setting(101, "Epochs at most.")
    patience: int = setting(10, "Epochs without a better validation NDCG@10 before stopping.")
    eval_batch_size: int = setting(64, "Users per ranking batch; small batches are cache-friendly on CPU.")

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.windows not in WINDOWS:
            raise ValueError(f"windows must be one of {WINDOWS}, got {self.windows!r}")
        if self.negative_sampling not in SAMPLING:
            raise ValueError(f"negative_sampling must be one of {SAMPLING}, got {self.negative_sampling!r}")
        for name in ("num_negatives", "batch_size", "max_epochs", "patience", "eval_batch_size", "softmax_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("temperature and lr must be > 0, weight_decay >= 0")


@dataclass(frozen=True)
class RecConfig:
    """Everything that defines a run. Defaults = the published HSTU ML-1M settings."""

    model: str = setting("hstu", f"Sequence encoder, one of {MODELS}.")
    items: ItemEmbeddingConfig = setting(factory=ItemEmbeddingConfig, help="Item representation.")
    encoder: EncoderConfig = setting(factory=EncoderConfig, help="Encoder shape.")
    train: TrainConfig = setting(factory=TrainConfig, help="Training.")

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")


# The leaderboard. The first two are the quick demo (README main command).
VARIANTS = (
    "hstu-id",
    "hstu-prefixn_id-sum-l1",
    "sasrec-id",
    "sasrec-prefixn_id-sum-l1",
    "hstu-prefixn",
    "hstu-ngram",
    "hstu-prefixn_id-sum",
    "hstu-prefixn_id-sum-l2",
    "hstu-rqsum_id-sum",
    "hstu-rqsum_id-vector_gate",
    "hstu-prefixn_id-fc-l1",
    "hstu-prefixn_id-mlp-l1",
    "hstu-prefixn_id-scalar_gate-l1",
    "hstu-prefixn_id-vector_gate-l1",
    "hstu-prefixn_id-scalar_weight-l1",
)
DEMO_VARIANTS = VARIANTS[:2]

# Published HSTU/SASRec ML-1M settings (generative-recommenders configs/ml-1m/*-n128-final.gin).
PUBLISHED = RecConfig()

# ml-latest-small (610 users, 9.7k items, 100k ratings): chosen on validation NDCG@10 (docs/benchmarks.md,
# "Choosing the ml-latest-small objective"). The exact full softmax over the 9.7k items with temperature
# 0.1 beat the mixed loss (in-batch + uniform negatives, logQ) on every seed's validation (0.0591-0.0631
# -> 0.069-0.082) and converges in ~20 epochs, so it also costs less CPU per run. 'all' windows train on
# every interaction of heavy users, not only their last 200. Batches of 32 windows give ~28 optimizer
# steps per epoch; patience 30 outlasts the validation plateaus of 10+ epochs.
SMALL = override(
    PUBLISHED,
    {
        "train": {
            "batch_size": 32,
            "loss": "full_softmax",
            "temperature": 0.1,
            "windows": "all",
            "max_epochs": 200,
            "patience": 30,
        }
    },
)
# The previous small preset (uniform negatives shared per batch, last window only), for comparison runs.
SMALL_SAMPLED = override(
    PUBLISHED, {"train": {"batch_size": 32, "negative_sampling": "per_batch", "max_epochs": 200, "patience": 20}}
)

PRESETS = {"published": PUBLISHED, "ml-1m": PUBLISHED, "small": SMALL, "small-sampled": SMALL_SAMPLED}


def parse_variant(name: str) -> dict:
    """'hstu-prefixn_id-vector_gate-l2' -> {model, representation, fusion, sid_levels}."""
    parts = name.split("-")
    out: dict = {"fusion": "sum", "sid_levels": None}
    if len(parts) < 2 or parts[0] not in MODELS or parts[1] not in REPRESENTATIONS:
        raise ValueError(
            f"variant {name!r} must look like <model>-<representation>[-<fusion>][-l<levels>] "
            f"with model in {MODELS} and representation in {REPRESENTATIONS}"
        )
    out["model"], out["representation"] = parts[0], parts[1]
    for extra in parts[2:]:
        if extra in FUSIONS:
            out["fusion"] = extra
        elif extra.startswith("l") and extra[1:].isdigit():
            out["sid_levels"] = int(extra[1:])
        else:
            raise ValueError(f"variant {name!r}: {extra!r} is neither a fusion {FUSIONS} nor l<levels>")
    return out


def variant_config(name: str, preset: str = "small", changes: dict | None = None) -> RecConfig:
    """The RecConfig of a variant under a preset; ``changes`` (nested, None = keep) override any field."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    parsed = parse_variant(name)
    cfg = override(PRESETS[preset], {"model": parsed.pop("model"), "items": parsed})
    return override(cfg, changes)


def preset_for_dataset(variant: str) -> str:
    """The bundled small set gets the tuned small preset; everything else the published ML-1M one."""
    return "small" if variant == "ml-latest-small" else "published"


@dataclass(frozen=True)
class RunSettings:
    """How one 'recommender_runs' partition is run (the variant and preset give the model)."""

    seeds: int = setting(3, "Seeds trained per variant (mean ± std in the leaderboard).")
    preset: str = setting(
        "auto",
        f"'auto' (the tuned small preset for ml-latest-small, the published one "
        f"otherwise) or one of {sorted(PRESETS)}.",
    )
    resume: bool = setting(True, "Continue from the last per-epoch checkpoint of an identical run.")
    # 1 thread: on a shared or busy CPU (other assets run beside this one) more threads made training
    # ~10x slower here (see docs/benchmarks.md); raise it on a dedicated machine.
    threads: int | None = setting(1, "torch CPU threads (None: one per core).")
    device: str = setting("auto", "auto (CUDA when available), cpu, cuda, cuda:1, ...")
    sid_method: str | None = setting(None, "Which method of semantic_ids to use when it holds several.")
    temporal: TemporalSplitSettings = setting(
        factory=TemporalSplitSettings, help="temporal protocol: where the global time cuts fall."
    )
    max_valid_events: int | None = setting(
        2000, "temporal protocol: validate on a fixed random subset of this many validation events (cost); None = all."
    )

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if self.preset != "auto" and self.preset not in PRESETS:
            raise ValueError(f"preset must be 'auto' or one of {sorted(PRESETS)}, got {self.preset!r}")

    def preset_for(self, dataset: str) -> str:
        return preset_for_dataset(dataset) if self.preset == "auto" else self.preset

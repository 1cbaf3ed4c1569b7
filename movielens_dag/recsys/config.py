"""Every knob of a recommender run, the experiment variants and presets. No torch import, so
Dagster definitions can list the variants without loading torch."""

from dataclasses import dataclass, fields, replace

MODELS = ("sasrec", "hstu")
SAMPLING = ("per_position", "per_batch")  # negatives: one set per position (published) or shared per batch
SELECTION_METRIC = "ndcg@10"  # early stopping and model selection use this, on validation only
REPRESENTATIONS = ("id", "ngram", "prefixn", "prefixn_id", "rqsum_id")
FUSIONS = ("sum", "fc", "mlp", "scalar_gate", "vector_gate", "scalar_weight")


@dataclass(frozen=True)
class ItemEmbeddingConfig:
    representation: str = "id"
    fusion: str = "sum"  # how the SID embedding and the ID embedding are combined (…_id only)
    sid_levels: int | None = None  # None = all semantic levels (codes without the final digit)
    ngram_n: int = 2  # window length for ``ngram``
    id_dropout: float = 0.0  # SID+ID only: train-time probability of dropping an item's ID part

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if not self.uses_id or not self.uses_sid:
            if self.fusion != "sum":
                raise ValueError(f"fusion {self.fusion!r} needs both SID and ID parts; "
                                 f"{self.representation!r} has one, use fusion 'sum'")
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
    dim: int = 50
    num_blocks: int = 2
    num_heads: int = 1
    max_len: int = 200
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.dim < 1 or self.num_blocks < 1 or self.num_heads < 1 or self.max_len < 1:
            raise ValueError(f"dim, num_blocks, num_heads and max_len must be >= 1: {self}")
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class RecConfig:
    """Everything that defines a run. Defaults = the published HSTU ML-1M settings."""

    model: str = "hstu"  # "hstu" | "sasrec"
    representation: str = "id"
    fusion: str = "sum"
    sid_levels: int | None = None
    ngram_n: int = 2
    id_dropout: float = 0.0
    dim: int = 50
    num_blocks: int = 2
    num_heads: int = 1
    max_len: int = 200
    dropout: float = 0.2
    num_negatives: int = 128
    negative_sampling: str = "per_position"
    temperature: float = 0.05
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 101
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    eval_batch_size: int = 64  # users per ranking batch; small batches are cache-friendly on CPU

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.negative_sampling not in SAMPLING:
            raise ValueError(f"negative_sampling must be one of {SAMPLING}, got {self.negative_sampling!r}")
        for name in ("num_negatives", "batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("temperature and lr must be > 0, weight_decay >= 0")
        self.item_config  # validates the representation/fusion combination
        self.encoder_config

    @property
    def item_config(self) -> ItemEmbeddingConfig:
        return ItemEmbeddingConfig(self.representation, self.fusion, self.sid_levels, self.ngram_n, self.id_dropout)

    @property
    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(self.dim, self.num_blocks, self.num_heads, self.max_len, self.dropout)


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

# ml-latest-small (610 users, 9.7k items, 100k ratings): chosen on validation NDCG@10, see README.
# Smaller batches give ~20 optimizer steps per epoch instead of 5; negatives are shared per batch
# (one [K, d] matrix instead of [positions, K, d]), which makes an epoch ~3x cheaper on CPU.
SMALL = replace(PUBLISHED, batch_size=32, negative_sampling="per_batch", max_epochs=200, patience=20)

PRESETS = {"published": PUBLISHED, "ml-1m": PUBLISHED, "small": SMALL}


def parse_variant(name: str) -> dict:
    """'hstu-prefixn_id-vector_gate-l2' -> {model, representation, fusion, sid_levels}."""
    parts = name.split("-")
    out: dict = {"fusion": "sum", "sid_levels": None}
    if len(parts) < 2 or parts[0] not in MODELS or parts[1] not in REPRESENTATIONS:
        raise ValueError(f"variant {name!r} must look like <model>-<representation>[-<fusion>][-l<levels>] "
                         f"with model in {MODELS} and representation in {REPRESENTATIONS}")
    out["model"], out["representation"] = parts[0], parts[1]
    for extra in parts[2:]:
        if extra in FUSIONS:
            out["fusion"] = extra
        elif extra.startswith("l") and extra[1:].isdigit():
            out["sid_levels"] = int(extra[1:])
        else:
            raise ValueError(f"variant {name!r}: {extra!r} is neither a fusion {FUSIONS} nor l<levels>")
    return out


def variant_config(name: str, preset: str = "small", **overrides) -> RecConfig:
    """The RecConfig of a variant under a preset; ``overrides`` replace any field (None = keep)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    known = {f.name for f in fields(RecConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown config field(s) {sorted(unknown)}")
    changes = {**parse_variant(name), **{k: v for k, v in overrides.items() if v is not None}}
    return replace(PRESETS[preset], **changes)


def preset_for_dataset(variant: str) -> str:
    """The bundled small set gets the tuned small preset; everything else the published ML-1M one."""
    return "small" if variant == "ml-latest-small" else "published"

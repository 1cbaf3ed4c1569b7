"""What a semantic-ID fit is configured with (plain dataclasses, no torch: Dagster loads this)."""

import dataclasses
from dataclasses import dataclass

from movielens_dag.runtime import check_threads
from movielens_dag.settings import setting

METHODS = ("rqkmeans", "rqvae")


class SemanticIdConfigError(ValueError):
    """A semantic-ID configuration that cannot work for the given data."""


def check_sizes(n_items: int, codes: int, levels: int) -> None:
    """K must not exceed N, and K^L must be able to give every item its own L-tuple."""
    if codes > n_items:
        raise SemanticIdConfigError(
            f"codes={codes} is larger than the number of items ({n_items}): a level cannot use more codes "
            f"than there are items; lower `codes` to at most {n_items}"
        )
    if codes**levels < n_items:
        need = next(level for level in range(1, 64) if codes**level >= n_items)
        raise SemanticIdConfigError(
            f"codes**levels = {codes}**{levels} = {codes**levels} is smaller than the number of items "
            f"({n_items}), so most SIDs would differ only by the uniqueness digit; raise `levels` to {need} "
            f"or raise `codes`"
        )


@dataclass(frozen=True)
class RqvaeSettings:
    """RQ-VAE architecture and training (the levels and codes come from the SID settings)."""

    hidden_dims: tuple[int, ...] = setting((512, 256, 128), "Encoder MLP widths (the decoder mirrors them).")
    latent_dim: int = setting(32, "Latent size the codebooks live in.")
    epochs: int = setting(200, "Epochs at most (early stopping on validation).")
    batch_size: int = setting(1024, "Batch size (>= codes, for the k-means codebook init).")
    # MiniLM movie vectors, 3 x 128: val error 0.491 after 60 epochs vs 0.512 with 1e-3
    lr: float = setting(2e-3, "AdamW learning rate.")
    weight_decay: float = setting(1e-4, "AdamW weight decay.")
    val_fraction: float = setting(0.1, "Share of items held out for validation.")
    split_seed: int = setting(0, "Seed of the validation split (fixed, so every run validates on the same items).")
    patience: int = setting(20, "Epochs without a better validation error before stopping.")
    dead_code_min_uses: int = setting(1, "Codes used fewer times than this in an epoch are re-seeded.")


# Named variants sid_quality can compare against the configured method (quality table only).
COMPARE_PRESETS = {
    "rqkmeans": {"method": "rqkmeans", "balanced": False},
    "rqkmeans-balanced": {"method": "rqkmeans", "balanced": True},
    "rqvae": {"method": "rqvae", "balanced": False},
}


@dataclass(frozen=True)
class SidSettings:
    """How embeddings become semantic IDs. Defaults: residual k-means, 3 levels x 128 codes + a digit."""

    method: str = setting("rqkmeans", f"Quantiser, one of {METHODS}.")
    levels: int = setting(3, "Quantisation levels L (the uniqueness digit comes on top).")
    codes: int = setting(128, "Codes per level K. Needs K <= movies and K**L >= movies.")
    normalize: bool = setting(True, "L2-normalise embeddings before quantising (cosine geometry).")
    balanced: bool = setting(False, "rqkmeans only: cap each code at ceil(N/K) items to cut collisions.")
    seed: int = setting(0, "Seed for k-means++ seeding, RQ-VAE init and batch order.")
    device: str = setting("cpu", "cpu, cuda, cuda:1 ... or auto (cuda when available).")
    threads: int | None = setting(
        None,
        "CPU threads for torch; None: torch's default (all cores). 1 is often faster when other steps share the CPU.",
    )
    model_id: str | None = setting(
        None, "Embedding model to use when movie_embeddings holds several; None: the only one."
    )
    kmeans_sample_iter: int = setting(
        10,
        "rqkmeans: Lloyd iterations per level on a 64*codes sample, after k-means++ on a 32*codes sample.",
    )
    kmeans_max_iter: int | None = setting(
        None,
        "rqkmeans: Lloyd iterations per level on all movies after the sample fit. None: 1, the refine "
        "sweeps do the rest better (docs/benchmarks.md); 10 with balanced, which has no refine sweeps.",
    )
    kmeans_refine: int = setting(
        3,
        "rqkmeans: sweeps re-fitting each level with the others fixed (lowers "
        "the error; 0: plain greedy residual k-means).",
    )
    spread: float = setting(
        0.1,
        "rqkmeans: an item whose full code another item already has takes the "
        "nearest free last-level code if its squared distance is within (1 + spread) "
        "of its own (fewer collisions, ~0.1 % more error); 0: off.",
    )
    kmeans_precision: str = setting(
        "auto",
        "Matmul precision of k-means++ seeding and the balanced search: "
        "'fast' (bf16 on CPU, tf32 on CUDA), 'ieee' (exact fp32) or "
        "'auto'. Lloyd iterations and final codes are always exact fp32.",
    )
    rqvae: RqvaeSettings = setting(factory=RqvaeSettings, help="RQ-VAE architecture and training.")
    refit: bool = setting(
        False,
        "Fit the quantiser again although stored SIDs exist. Default: keep every stored "
        "SID and give new movies codes from the stored codebooks, so trained "
        "recommenders keep working; a refit changes old SIDs, so recommender "
        "checkpoints trained on them stop resuming. A change of method, levels, codes, "
        "normalize, seed or embedding model always refits; other fit settings "
        "(iterations, refine, spread, RQ-VAE training) take effect only on a refit.",
    )
    compare: tuple[str, ...] = setting(
        (),
        f"Extra variants fitted for sid_quality only, from {sorted(COMPARE_PRESETS)}, with the same levels/codes/seed.",
    )

    def validate(self, n_items: int) -> None:
        if self.method not in METHODS:
            raise SemanticIdConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.balanced and self.method != "rqkmeans":
            raise SemanticIdConfigError("balanced=True applies to method 'rqkmeans' only; unset it for rqvae")
        if self.levels < 1 or self.codes < 2:
            raise SemanticIdConfigError(f"need levels >= 1 and codes >= 2, got {self.levels} and {self.codes}")
        unknown = [name for name in self.compare if name not in COMPARE_PRESETS]
        if unknown:
            raise SemanticIdConfigError(f"compare entries {unknown} are unknown; use any of {sorted(COMPARE_PRESETS)}")
        if self.full_data_iterations < 1 or self.kmeans_sample_iter < 0 or self.kmeans_refine < 0 or self.spread < 0:
            raise SemanticIdConfigError(
                f"need kmeans_max_iter >= 1, kmeans_sample_iter >= 0, kmeans_refine >= 0 and spread >= 0, got "
                f"{self.kmeans_max_iter}, {self.kmeans_sample_iter}, {self.kmeans_refine} and {self.spread}"
            )
        check_threads(self.threads)
        check_sizes(n_items, self.codes, self.levels)

    @property
    def full_data_iterations(self) -> int:
        """``kmeans_max_iter`` or its default for the method (see its help)."""
        if self.kmeans_max_iter is not None:
            return self.kmeans_max_iter
        return 10 if self.balanced else 1

    def variants(self) -> list["SidSettings"]:
        """The configured fit first, then each ``compare`` preset (no repeats)."""
        out = [self]
        for name in self.compare:
            other = dataclasses.replace(self, compare=(), **COMPARE_PRESETS[name])
            if all(other.method != o.method or other.balanced != o.balanced for o in out):
                out.append(other)
        return out

    @property
    def name(self) -> str:
        return self.method + ("-balanced" if self.balanced else "")


UMAP_MAX_ITEMS = 30_000


@dataclass(frozen=True)
class SidMapSettings:
    """The 2-D map of the movie embeddings coloured by first SID code."""

    projection: str = setting(
        "auto",
        "'auto': UMAP up to umap_max_items movies, PCA above; 'umap' (cosine, "
        "minutes on a CPU at large sizes) or 'pca' (seconds at any size).",
    )
    umap_max_items: int = setting(
        UMAP_MAX_ITEMS,
        "With projection 'auto', the most movies UMAP maps; above it PCA "
        "does (see docs/benchmarks.md, scale rehearsal, for the times).",
    )
    seed: int = setting(0, "UMAP seed (fixed seed = reproducible, single-threaded).")
    n_neighbors: int = setting(15, "UMAP neighbourhood size.")
    min_dist: float = setting(0.1, "UMAP minimum distance between points.")

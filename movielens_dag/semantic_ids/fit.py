"""One entry point for both quantisers: embeddings in, semantic IDs (with the uniqueness digit) out."""

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from movielens_dag.semantic_ids.rqkmeans import RQKMeans, l2_normalize
from movielens_dag.semantic_ids.rqvae import RQVAEConfig
from movielens_dag.semantic_ids.rqvae_train import TrainConfig, train_rqvae
from movielens_dag.semantic_ids.uniqueness import append_uniqueness_digit
from movielens_dag.semantic_ids.validation import SemanticIdConfigError, check_embeddings, check_sizes

METHODS = ("rqkmeans", "rqvae")


@dataclass(frozen=True)
class SidConfig:
    method: str = "rqkmeans"
    levels: int = 3
    codes: int = 128
    normalize: bool = True  # L2-normalise embeddings first (cosine geometry)
    seed: int = 0
    device: str = "cpu"  # cpu, cuda, cuda:1, or auto
    balanced: bool = False  # rqkmeans: at most ceil(N/K) items per code, fewer collisions
    kmeans_max_iter: int = 40
    kmeans_precision: str = "auto"  # matmul precision while searching; final codes are exact fp32
    rqvae_hidden_dims: tuple[int, ...] = (512, 256, 128)
    rqvae_latent_dim: int = 32
    rqvae_train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self, n_items: int) -> None:
        if self.method not in METHODS:
            raise SemanticIdConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.balanced and self.method != "rqkmeans":
            raise SemanticIdConfigError("balanced=True applies to method 'rqkmeans' only; unset it for rqvae")
        if self.levels < 1 or self.codes < 2:
            raise SemanticIdConfigError(f"need levels >= 1 and codes >= 2, got {self.levels} and {self.codes}")
        check_sizes(n_items, self.codes, self.levels)


@dataclass
class SidFit:
    method: str
    codes: np.ndarray  # (N, L) int64, the quantiser's codes
    sids: np.ndarray  # (N, L+1) int64, codes plus the uniqueness digit
    x: np.ndarray  # (N, d) float32, the vectors that were quantised (normalised if configured)
    x_hat: np.ndarray  # (N, d) float32, their reconstruction from the codes
    codebooks: np.ndarray  # (L, K, D) float32; D = d (rqkmeans) or the latent dim (rqvae)
    codebook_space: str  # "input" or "latent"
    seconds: float
    details: dict  # method-specific: iterations and inertia, or epochs and validation error
    model: object  # RQKMeans or RQVAE, for encoding new items


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SemanticIdConfigError(f"device={device!r} but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return device


def fit_semantic_ids(
    embeddings: np.ndarray, config: SidConfig = SidConfig(), log: Callable[[str], None] | None = None
) -> SidFit:
    """Quantise embeddings (N, d) row by row; row order decides the uniqueness digit within a tuple."""
    x = check_embeddings(torch.from_numpy(np.array(embeddings, dtype=np.float32)))  # own, writable copy
    config.validate(x.shape[0])
    device = resolve_device(config.device)
    start = time.perf_counter()
    if config.method == "rqkmeans":
        model = RQKMeans(config.levels, config.codes, normalize=config.normalize, balanced=config.balanced,
                         max_iter=config.kmeans_max_iter, precision=config.kmeans_precision, seed=config.seed,
                         device=device)
        codes = model.fit(x)
        xq = model.prepare(x)
        x_hat = model.decode(codes)
        books, space = model.codebooks, "input"
        details = {"kmeans_iterations": model.n_iter, "inertia": model.inertia}
    else:
        xq = (l2_normalize(x) if config.normalize else x).to(device)
        vae_config = RQVAEConfig(input_dim=x.shape[1], hidden_dims=tuple(config.rqvae_hidden_dims),
                                 latent_dim=config.rqvae_latent_dim, levels=config.levels, codes=config.codes)
        train = dataclasses.replace(config.rqvae_train, seed=config.seed, device=device)
        result = train_rqvae(xq, vae_config, train, log=log)
        model = result.model
        codes, x_hat = model.encode(xq), model.reconstruct(xq)
        books = torch.stack([book.embed.detach() for book in model.codebooks])
        space = "latent"
        details = {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                   "best_val_rel_error": result.best_val_error,
                   "reseeded_codes": sum(h["reseeded_codes"] for h in result.history)}
    seconds = time.perf_counter() - start
    codes_np = codes.cpu().numpy().astype(np.int64)
    return SidFit(
        method=config.method,
        codes=codes_np,
        sids=append_uniqueness_digit(codes_np),
        x=xq.cpu().numpy(),
        x_hat=x_hat.detach().cpu().numpy(),
        codebooks=books.cpu().numpy(),
        codebook_space=space,
        seconds=seconds,
        details=details,
        model=model,
    )

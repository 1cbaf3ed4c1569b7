"""One entry point for both quantisers: embeddings in, L codes per item out (the digit comes after)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from movielens_dag.runtime import RuntimeConfigError, resolve_device
from movielens_dag.semantic_ids.rqkmeans import RQKMeans, l2_normalize
from movielens_dag.semantic_ids.rqvae import RQVAEConfig
from movielens_dag.semantic_ids.rqvae_train import train_rqvae
from movielens_dag.semantic_ids.settings import SemanticIdConfigError, SidSettings
from movielens_dag.semantic_ids.validation import check_embeddings


@dataclass
class SidFit:
    method: str
    codes: np.ndarray  # (N, L) int64, the quantiser's codes (no uniqueness digit)
    x: np.ndarray  # (N, d) float32, the vectors that were quantised (normalised if configured)
    x_hat: np.ndarray  # (N, d) float32, their reconstruction from the codes
    codebooks: np.ndarray  # (L, K, D) float32; D = d (rqkmeans) or the latent dim (rqvae)
    codebook_space: str  # "input" or "latent"
    seconds: float
    details: dict  # method-specific: iterations and inertia, or epochs and validation error
    model: object  # RQKMeans or RQVAE, for encoding new items


def rqkmeans_from(config: SidSettings, device: str = "cpu") -> RQKMeans:
    """The residual k-means the pipeline runs for these settings."""
    return RQKMeans(
        config.levels,
        config.codes,
        normalize=config.normalize,
        balanced=config.balanced,
        max_iter=config.full_data_iterations,
        sample_iter=config.kmeans_sample_iter,
        refine=config.kmeans_refine,
        spread=config.spread,
        precision=config.kmeans_precision,
        seed=config.seed,
        device=device,
    )


def fit_semantic_ids(
    embeddings: np.ndarray, config: SidSettings = SidSettings(), log: Callable[[str], None] | None = None
) -> SidFit:
    """Quantise embeddings (N, d) into (N, L) codes (``SemanticIds.with_digit`` adds the digit)."""
    x = check_embeddings(torch.from_numpy(np.array(embeddings, dtype=np.float32)))  # own, writable copy
    config.validate(x.shape[0])
    try:
        device = resolve_device(config.device)
    except RuntimeConfigError as exc:
        raise SemanticIdConfigError(str(exc)) from None
    start = time.perf_counter()
    if config.method == "rqkmeans":
        model = rqkmeans_from(config, device)
        codes = model.fit(x)
        xq = model.prepare(x)
        x_hat = model.decode(codes)
        books, space = model.codebooks, "input"
        details = {
            "kmeans_iterations": model.n_iter,
            "inertia": model.inertia,
            "seconds": {k: round(v, 3) for k, v in model.stage_seconds.items()},
        }
    else:
        xq = (l2_normalize(x) if config.normalize else x).to(device)
        vae_config = RQVAEConfig(
            input_dim=x.shape[1],
            hidden_dims=tuple(config.rqvae.hidden_dims),
            latent_dim=config.rqvae.latent_dim,
            levels=config.levels,
            codes=config.codes,
        )
        result = train_rqvae(xq, vae_config, config.rqvae, seed=config.seed, device=device, log=log)
        model = result.model
        codes, x_hat = model.encode(xq), model.reconstruct(xq)
        books = torch.stack([book.embed.detach() for book in model.codebooks])
        space = "latent"
        details = {
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "best_val_rel_error": result.best_val_error,
            "reseeded_codes": sum(h["reseeded_codes"] for h in result.history),
        }
    seconds = time.perf_counter() - start
    codes_np = codes.cpu().numpy().astype(np.int64)
    return SidFit(
        method=config.method,
        codes=codes_np,
        x=xq.cpu().numpy(),
        x_hat=x_hat.detach().cpu().numpy(),
        codebooks=books.cpu().numpy(),
        codebook_space=space,
        seconds=seconds,
        details=details,
        model=model,
    )

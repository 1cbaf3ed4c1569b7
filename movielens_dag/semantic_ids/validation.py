"""Input checks shared by the quantisers: bad config or data fails early with a message saying what to change."""

import torch
from torch import Tensor

from movielens_dag.semantic_ids.settings import SemanticIdConfigError


def check_embeddings(x: Tensor) -> Tensor:
    """x must be a non-empty (N, d) floating tensor without NaN/inf."""
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise SemanticIdConfigError(f"embeddings must be a non-empty (N, d) matrix, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise SemanticIdConfigError(f"embeddings must be floating point, got {x.dtype}")
    if bool(torch.isfinite(x.sum(1)).all()):  # one cheap pass; a non-finite row sum needs a closer look
        return x
    bad = ~torch.isfinite(x).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).squeeze(1)[:5].tolist()
        raise SemanticIdConfigError(f"embeddings contain NaN or inf in rows {rows}; re-embed those items")
    return x


def check_codebook_dim(x: Tensor, codebook: Tensor) -> None:
    if x.ndim != 2 or x.shape[1] != codebook.shape[-1]:
        raise SemanticIdConfigError(
            f"vectors of shape {tuple(x.shape)} do not match the codebook dimension {codebook.shape[-1]}: "
            "encode with the same embedding model (and dim) the codebooks were fitted on"
        )

"""Input checks shared by the quantisers: bad config or data fails early with a message saying what to change."""

import torch
from torch import Tensor


class SemanticIdConfigError(ValueError):
    """A semantic-ID configuration that cannot work for the given data."""


def check_embeddings(x: Tensor) -> Tensor:
    """x must be a non-empty (N, d) floating tensor without NaN/inf."""
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise SemanticIdConfigError(f"embeddings must be a non-empty (N, d) matrix, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise SemanticIdConfigError(f"embeddings must be floating point, got {x.dtype}")
    bad = ~torch.isfinite(x).all(dim=1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).squeeze(1)[:5].tolist()
        raise SemanticIdConfigError(f"embeddings contain NaN or inf in rows {rows}; re-embed those items")
    return x


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


def check_codebook_dim(x: Tensor, codebook: Tensor) -> None:
    if x.ndim != 2 or x.shape[1] != codebook.shape[-1]:
        raise SemanticIdConfigError(
            f"vectors of shape {tuple(x.shape)} do not match the codebook dimension {codebook.shape[-1]}: "
            "encode with the same embedding model (and dim) the codebooks were fitted on"
        )

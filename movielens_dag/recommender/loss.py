"""Sampled softmax over L2-normalised embeddings (as in the HSTU reference setup)."""

import torch
import torch.nn.functional as F

def sample_negatives(num_items: int, shape: tuple[int, ...], generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform item rows in 1..num_items (never padding)."""
    return torch.randint(1, num_items + 1, shape, generator=generator, device=device)


def sampled_softmax_loss(states: torch.Tensor, item_vecs: torch.Tensor, targets: torch.Tensor,
                         negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    """states [M, d] (normalised), item_vecs [N + 1, d] (normalised), targets [M] item rows,
    negatives [M, K] (one set per position) or [K] (shared) -> mean cross-entropy of the positive
    against the negatives. A negative that equals the positive is masked out."""
    pos = (states * item_vecs[targets]).sum(-1, keepdim=True)  # [M, 1]
    if negatives.dim() == 1:
        neg = states @ item_vecs[negatives].T  # [M, K]
        hit = negatives[None, :] == targets[:, None]
    else:
        neg = torch.einsum("md,mkd->mk", states, item_vecs[negatives])  # [M, K]
        hit = negatives == targets[:, None]
    logits = torch.cat([pos, neg.masked_fill(hit, float("-inf"))], dim=1) / temperature  # [M, 1 + K]
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=states.device))

"""Pieces both encoders share: input embedding, masks."""

import math

import torch
import torch.nn as nn

from ..config import EncoderConfig


def positions(mask: torch.Tensor) -> torch.Tensor:
    """mask [B, T] bool (True = real item, left padding) -> [B, T] int64 position from the first
    real item (0, 1, ...); padding gets 0. Independent of how much padding there is."""
    return (mask.long().cumsum(dim=1) - 1).clamp(min=0)


def allowed_attention(mask: torch.Tensor) -> torch.Tensor:
    """[B, T, T] bool: query i may attend key j iff j <= i and j is real. Padding queries attend to
    themselves only (so no row is empty); their outputs are discarded anyway."""
    t = mask.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=mask.device).tril()
    eye = torch.eye(t, dtype=torch.bool, device=mask.device)
    return (causal & mask[:, None, :]) | eye


class InputEmbedding(nn.Module):
    """item embeddings [B, T, d] -> x [B, T, d] = dropout(e * sqrt(d) + pos), zero at padding."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.scale = math.sqrt(cfg.dim)
        self.pos = nn.Embedding(cfg.max_len, cfg.dim)
        nn.init.trunc_normal_(self.pos.weight, std=0.02)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = positions(mask).clamp(max=self.pos.num_embeddings - 1)
        x = self.drop(emb * self.scale + self.pos(pos))
        return x * mask.unsqueeze(-1)

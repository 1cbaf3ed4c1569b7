"""Sequence encoders and the recommender that ties item embeddings to them."""

import torch
import torch.nn as nn

from ..config import EncoderConfig
from ..item_embeddings import ItemEmbedding, normalize
from .hstu import HSTU
from .sasrec import SASRec

ENCODERS = {"sasrec": SASRec, "hstu": HSTU}


class SeqRecommender(nn.Module):
    """items/times [B, T] -> L2-normalised user states [B, T, d]; items are scored by dot product
    with L2-normalised item embeddings (the same table embeds inputs and candidates)."""

    def __init__(self, encoder: str, enc_cfg: EncoderConfig, items: ItemEmbedding) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"model must be one of {sorted(ENCODERS)}, got {encoder!r}")
        if items.dim != enc_cfg.dim:
            raise ValueError(f"item embedding dim {items.dim} != encoder dim {enc_cfg.dim}")
        self.items = items
        self.encoder = ENCODERS[encoder](enc_cfg)

    def forward(self, items: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        mask = items != 0
        return normalize(self.encoder(self.items(items), mask, times))

    def item_vectors(self) -> torch.Tensor:
        """[N + 1, d] L2-normalised embeddings of every item row (row 0 is padding)."""
        return normalize(self.items.all_items())


__all__ = ["ENCODERS", "EncoderConfig", "HSTU", "SASRec", "SeqRecommender"]

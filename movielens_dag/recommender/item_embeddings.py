"""Item representations: plain ID, semantic-ID tables, and ID+SID fusions.

A semantic ID is a row of codes ``[c_1 .. c_L, d]`` (L quantizer levels + a uniqueness digit). Each
SID table embeds one *key* built from those codes (a level, an n-gram of levels or a prefix). Every
table has its own rows, indexed by the distinct keys that actually occur in the catalogue, so two
different keys never share a row (no modulo hashing, no cross-level collisions).

representation  tables                                            + ID embedding
id              -                                                 yes
ngram           one per window of ``ngram_n`` consecutive levels  no
prefixn         one per prefix (c_1), (c_1,c_2), ... (c_1..c_n)   no
prefixn_id      same as prefixn                                   yes, fused
rqsum_id        one per level (sum of per-level codewords)        yes, fused

``sid_levels`` = how many leading code positions are used (default: the L semantic levels, not the
uniqueness digit; ``L + 1`` includes the digit, which makes the longest prefix unique per item).
With few items per code, deep prefixes are nearly unique too (3 x 128 codes on 9.7k movies: 5.5k
distinct 2-prefixes, 9.4k distinct 3-prefixes), so they add per-item capacity rather than sharing.
``id_dropout`` (SID+ID only) zeroes an item's ID part during training with that probability.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ItemEmbeddingConfig
from .data import ItemSids


def sid_table_keys(sids: ItemSids, cfg: ItemEmbeddingConfig) -> list[tuple[int, ...]]:
    """Which code positions each table embeds, e.g. prefixn with 3 levels -> [(0,), (0,1), (0,1,2)]."""
    n_codes = sids.codes.shape[1]
    levels = sids.levels if cfg.sid_levels is None else cfg.sid_levels
    if levels > n_codes:
        raise ValueError(
            f"sid_levels={levels} but the semantic IDs only have {n_codes} codes "
            f"({sids.levels} levels{' + the uniqueness digit' if sids.has_digit else ''})"
        )
    if cfg.representation in ("prefixn", "prefixn_id"):
        return [tuple(range(n)) for n in range(1, levels + 1)]
    if cfg.representation == "rqsum_id":
        return [(lvl,) for lvl in range(levels)]
    if cfg.representation == "ngram":
        n = min(cfg.ngram_n, levels)
        return [tuple(range(s, s + n)) for s in range(levels - n + 1)]
    return []


def dense_key_index(codes: torch.Tensor, positions: tuple[int, ...]) -> tuple[torch.Tensor, int]:
    """Map each item's key (its codes at ``positions``) to a dense row 1..K; row 0 = padding item.

    codes: [N + 1, C] (row 0 = padding). Returns ([N + 1] int64, K + 1 table rows)."""
    keys = codes[1:, list(positions)].numpy()  # [N, len(positions)]
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    idx = np.zeros(codes.shape[0], dtype=np.int64)
    idx[1:] = inverse.reshape(-1) + 1
    return torch.from_numpy(idx), int(inverse.max()) + 2


class Fusion(nn.Module):
    """Combine a SID embedding s and an ID embedding e, both [..., d], into [..., d]."""

    def __init__(self, kind: str, dim: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "fc":
            self.proj = nn.Linear(2 * dim, dim)
        elif kind == "mlp":
            self.proj = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        elif kind in ("scalar_gate", "vector_gate"):
            self.gate = nn.Linear(2 * dim, 1 if kind == "scalar_gate" else dim)
            nn.init.zeros_(self.gate.weight)  # start at g = 0.5
            nn.init.zeros_(self.gate.bias)
        elif kind == "scalar_weight":
            self.logits = nn.Parameter(torch.zeros(2))  # softmax weights for (s, e)

    def forward(self, s: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        if self.kind == "sum":
            return s + e
        if self.kind in ("fc", "mlp"):
            return self.proj(torch.cat([s, e], dim=-1))
        if self.kind in ("scalar_gate", "vector_gate"):
            g = torch.sigmoid(self.gate(torch.cat([s, e], dim=-1)))  # [..., 1] or [..., d]
            return g * s + (1 - g) * e
        w = torch.softmax(self.logits, dim=0)
        return w[0] * s + w[1] * e


class ItemEmbedding(nn.Module):
    """items [...] int64 rows (0 = padding) -> [..., d]; padding rows are exactly zero."""

    def __init__(
        self, num_items: int, dim: int, cfg: ItemEmbeddingConfig, sids: ItemSids | None = None, init_std: float = 0.02
    ) -> None:
        super().__init__()
        self.cfg, self.num_items, self.dim = cfg, num_items, dim
        self.id_table = nn.Embedding(num_items + 1, dim, padding_idx=0) if cfg.uses_id else None
        self.sid_tables = nn.ModuleList()
        self.table_keys: list[tuple[int, ...]] = []
        index = torch.zeros(num_items + 1, 0, dtype=torch.int64)
        if cfg.uses_sid:
            if sids is None:
                raise ValueError(f"representation {cfg.representation!r} needs semantic IDs")
            if sids.codes.shape[0] != num_items + 1:
                raise ValueError(f"SID table has {sids.codes.shape[0]} rows, expected num_items + 1 = {num_items + 1}")
            self.table_keys = sid_table_keys(sids, cfg)
            cols = []
            for key in self.table_keys:
                idx, rows = dense_key_index(sids.codes, key)
                cols.append(idx)
                self.sid_tables.append(nn.Embedding(rows, dim, padding_idx=0))
            index = torch.stack(cols, dim=1)
        self.register_buffer("sid_index", index, persistent=False)  # [N + 1, n_tables]
        self.fusion = Fusion(cfg.fusion, dim) if cfg.uses_id and cfg.uses_sid else None
        for table in [self.id_table, *self.sid_tables]:
            if table is not None:
                nn.init.trunc_normal_(table.weight, std=init_std)
                with torch.no_grad():
                    table.weight[0].zero_()

    def sid_part(self, items: torch.Tensor) -> torch.Tensor:
        rows = self.sid_index[items]  # [..., n_tables]
        return sum(t(rows[..., i]) for i, t in enumerate(self.sid_tables))

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        if self.cfg.representation == "id":
            out = self.id_table(items)
        elif not self.cfg.uses_id:
            out = self.sid_part(items)
        else:
            e = self.id_table(items)
            if self.training and self.cfg.id_dropout > 0:  # teach the SID part to stand alone (cold items)
                keep = torch.rand(items.shape, device=items.device) >= self.cfg.id_dropout
                e = e * keep.unsqueeze(-1)
            out = self.fusion(self.sid_part(items), e)
        return out * (items != 0).unsqueeze(-1).to(out.dtype)

    def all_items(self) -> torch.Tensor:
        """[N + 1, d] embeddings of every item row (row 0 = zeros)."""
        return self(torch.arange(self.num_items + 1, device=self.sid_index.device))


def normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=eps)

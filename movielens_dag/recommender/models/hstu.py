"""HSTU (Zhai et al. 2024, "Actions Speak Louder than Words").

Per block, with x [B, T, d]:
    u, v, q, k = split(SiLU(LayerNorm(x) @ W_uvqk))
    a = SiLU(q k^T + rab_pos(i - j) + rab_time(t_i - t_j)) / max_len     # no softmax, causal
    x = x + W_o(dropout(u * LayerNorm(a v)))                            # U gating

Differences from the reference code, both deliberate: the time bias uses the query's own timestamp
(the reference reads the *next* item's time, i.e. the target's), and the attention is normalised by
the configured ``max_len`` (a constant), so padding never changes any real position's output.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import EncoderConfig
from .common import InputEmbedding, allowed_attention


def time_buckets(dt: torch.Tensor, num_buckets: int) -> torch.Tensor:
    """|dt| seconds -> log buckets 0..num_buckets (as the reference: log(|dt|) / 0.301)."""
    return (torch.log(dt.abs().clamp(min=1).float()) / 0.301).long().clamp(0, num_buckets)


class RelativeBias(nn.Module):
    """Learned bias for the relative position (i - j) and the bucketed time gap t_i - t_j."""

    def __init__(self, max_len: int, num_buckets: int = 128) -> None:
        super().__init__()
        self.max_len, self.num_buckets = max_len, num_buckets
        self.pos_w = nn.Parameter(torch.empty(max_len).normal_(std=0.02))
        self.time_w = nn.Parameter(torch.empty(num_buckets + 1).normal_(std=0.02))

    def forward(self, rel: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:
        """rel [T, T] clamped i - j, buckets [B, T, T] time buckets -> bias [B, T, T]."""
        return self.pos_w[rel][None] + self.time_w[buckets]


def relative_inputs(times: torch.Tensor, max_len: int, num_buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """times [B, T] -> (i - j clamped to [0, max_len - 1]: [T, T], time buckets of t_i - t_j: [B, T, T])."""
    idx = torch.arange(times.shape[1], device=times.device)
    rel = (idx[:, None] - idx[None, :]).clamp(0, max_len - 1)
    return rel, time_buckets(times[:, :, None] - times[:, None, :], num_buckets)


class HSTUBlock(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.heads, self.d, self.max_len = cfg.num_heads, cfg.dim, cfg.max_len
        self.uvqk = nn.Parameter(torch.empty(cfg.dim, 4 * cfg.dim).normal_(std=0.02))
        self.bias = RelativeBias(cfg.max_len)
        self.o = nn.Linear(cfg.dim, cfg.dim)
        nn.init.xavier_uniform_(self.o.weight)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, rel: torch.Tensor, buckets: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads
        u, v, q, k = F.silu(F.layer_norm(x, (d,), eps=1e-6) @ self.uvqk).split(d, dim=-1)  # 4 x [B, T, d]
        q = q.view(b, t, h, -1).transpose(1, 2)  # [B, H, T, d/H]
        k = k.view(b, t, h, -1).transpose(1, 2)
        v = v.view(b, t, h, -1).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) + self.bias(rel, buckets)[:, None]  # [B, H, T, T]
        attn = F.silu(scores) / self.max_len * allowed[:, None]  # pointwise, masked, no softmax
        av = (attn @ v).transpose(1, 2).reshape(b, t, d)  # [B, T, d]
        return x + self.o(self.drop(u * F.layer_norm(av, (d,), eps=1e-6)))


class HSTU(nn.Module):
    """emb [B, T, d], mask [B, T] bool, times [B, T] int64 -> states [B, T, d]."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = InputEmbedding(cfg)
        self.blocks = nn.ModuleList(HSTUBlock(cfg) for _ in range(cfg.num_blocks))

    def forward(self, emb: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        x = self.inp(emb, mask)
        allowed = allowed_attention(mask) & mask[:, :, None]  # padding queries attend to nothing
        rel, buckets = relative_inputs(times, self.cfg.max_len, self.blocks[0].bias.num_buckets)
        for block in self.blocks:
            x = block(x, rel, buckets, allowed) * mask.unsqueeze(-1)
        return x

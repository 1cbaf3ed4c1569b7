"""SASRec (Kang & McAuley 2018): causal softmax self-attention with learned positions."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import EncoderConfig
from .common import InputEmbedding, allowed_attention


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.heads, self.p = cfg.num_heads, cfg.dropout
        self.q = nn.Linear(cfg.dim, cfg.dim)
        self.kv = nn.Linear(cfg.dim, 2 * cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, q_in: torch.Tensor, kv_in: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, t, d = q_in.shape
        q = self.q(q_in).view(b, t, self.heads, -1).transpose(1, 2)  # [B, H, T, d/H]
        k, v = self.kv(kv_in).view(b, t, 2, self.heads, -1).permute(2, 0, 3, 1, 4)  # 2 x [B, H, T, d/H]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed[:, None], dropout_p=self.p if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class SASRecBlock(nn.Module):
    """As in the reference SASRec: normalised queries, residual from them, then a point-wise FFN."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.dim, eps=1e-8)
        self.attn = CausalSelfAttention(cfg)
        self.ln_ffn = nn.LayerNorm(cfg.dim, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.dim, cfg.dim),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.dim, cfg.dim),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        q = self.ln_attn(x)
        x = q + self.attn(q, x, allowed)
        x = self.ln_ffn(x)
        x = x + self.ffn(x)
        return x * mask.unsqueeze(-1)


class SASRec(nn.Module):
    """emb [B, T, d], mask [B, T] bool, times [B, T] (unused) -> states [B, T, d]."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = InputEmbedding(cfg)
        self.blocks = nn.ModuleList(SASRecBlock(cfg) for _ in range(cfg.num_blocks))
        self.ln_out = nn.LayerNorm(cfg.dim, eps=1e-8)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        x = self.inp(emb, mask)
        allowed = allowed_attention(mask)
        for block in self.blocks:
            x = block(x, mask, allowed)
        return self.ln_out(x)

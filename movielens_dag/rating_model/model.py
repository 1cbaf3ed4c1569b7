"""Rating models in plain torch: biases, biased matrix factorisation, and a DLRM.

Every model maps a batch of (user row, movie row, catalogue row) to a predicted rating and reports
the L2 penalty of the embedding rows it looked up (``penalty``), which the training loop adds to the
squared error. Row 0 of every id table is UNK (see ``features.py``).

DLRM (Naumov et al. 2019): each sparse feature is an embedding vector of size d; the dense features
go through a bottom MLP to one more vector of size d; every pair of these F vectors interacts by a
dot product; the top MLP reads the bottom vector and the F(F-1)/2 dot products and predicts the
rating (here as an offset from the training mean).
"""

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .features import FeatureTables
from .settings import FeatureSettings, ModelSettings


@dataclass
class Batch:
    user: torch.Tensor  # [B] int64 user rows (0 = UNK)
    movie: torch.Tensor  # [B] int64 movie-id rows (0 = UNK)
    item: torch.Tensor  # [B] int64 catalogue rows (0 = not in the catalogue)

    def to(self, device: str) -> "Batch":
        return Batch(self.user.to(device), self.movie.to(device), self.item.to(device))


def _l2(*rows: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the summed squares of the looked-up rows: [B, ...] each -> scalar."""
    return sum(r.pow(2).flatten(1).sum(1).mean() for r in rows)


class BiasModel(nn.Module):
    """r_hat = mu + b_user + b_movie."""

    def __init__(self, tables: FeatureTables, global_mean: float):
        super().__init__()
        self.register_buffer("mu", torch.tensor(float(global_mean)))
        self.user_bias = nn.Embedding(tables.num_users, 1)
        self.movie_bias = nn.Embedding(tables.num_movies, 1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.movie_bias.weight)

    def biases(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_bias(b.user).squeeze(-1), self.movie_bias(b.movie).squeeze(-1)  # [B], [B]

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        bu, bi = self.biases(b)
        return self.mu + bu + bi, _l2(bu[:, None], bi[:, None])  # [B], scalar


class MatrixFactorization(BiasModel):
    """r_hat = mu + b_user + b_movie + <p_user, q_movie>."""

    def __init__(self, tables: FeatureTables, global_mean: float, dim: int):
        super().__init__(tables, global_mean)
        self.user_vec = nn.Embedding(tables.num_users, dim)
        self.movie_vec = nn.Embedding(tables.num_movies, dim)
        nn.init.normal_(self.user_vec.weight, std=0.01)
        nn.init.normal_(self.movie_vec.weight, std=0.01)

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        bu, bi = self.biases(b)  # [B], [B]
        p, q = self.user_vec(b.user), self.movie_vec(b.movie)  # [B, d], [B, d]
        return self.mu + bu + bi + (p * q).sum(-1), _l2(bu[:, None], bi[:, None], p, q)


def mlp(sizes: list[int], dropout: float = 0.0, last_activation: bool = False) -> nn.Sequential:
    """Linear layers sizes[0] -> sizes[1] -> ... with ReLU (and dropout) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DotInteraction(nn.Module):
    """Pairwise dot products of F vectors: [B, F, d] -> [B, F(F-1)/2], pairs (i, j) with i < j in
    row-major order: (0,1), (0,2), ..., (0,F-1), (1,2), ..."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.shape[1]
        z = torch.bmm(x, x.transpose(1, 2))  # [B, F, F] all dot products
        i, j = torch.triu_indices(f, f, offset=1, device=x.device)  # [P], [P]
        return z[:, i, j]  # [B, P]


class SparseFeatures(nn.Module):
    """The sparse features as F_s embedding vectors: ids, genres bag, year bucket, SID levels."""

    def __init__(self, tables: FeatureTables, features: FeatureSettings, dim: int):
        super().__init__()
        self.tables = nn.ModuleDict()
        if features.user_id:
            self.tables["user"] = nn.Embedding(tables.num_users, dim)
        if features.movie_id:
            self.tables["movie"] = nn.Embedding(tables.num_movies, dim)
        if features.genres:
            self.tables["genres"] = nn.Embedding(tables.num_genres, dim, padding_idx=0)
            self.register_buffer("genre_rows", torch.from_numpy(tables.genres))  # [C + 1, G]
        if features.year:
            self.tables["year"] = nn.Embedding(tables.num_years, dim)
            self.register_buffer("year_rows", torch.from_numpy(tables.year))  # [C + 1]
        for level, size in enumerate(tables.sid_sizes):
            self.tables[f"sid{level}"] = nn.Embedding(size, dim)
        if tables.sid_sizes:
            self.register_buffer("sid_rows", torch.from_numpy(tables.sid))  # [C + 1, L]
        for table in self.tables.values():
            nn.init.normal_(table.weight, std=0.05)
            if table.padding_idx is not None:
                table.weight.data[table.padding_idx].zero_()

    @property
    def count(self) -> int:
        return len(self.tables)

    def forward(self, b: Batch) -> list[torch.Tensor]:
        out = []  # F_s tensors of [B, d]
        for name, table in self.tables.items():
            if name == "user":
                out.append(table(b.user))
            elif name == "movie":
                out.append(table(b.movie))
            elif name == "genres":
                rows = self.genre_rows[b.item]  # [B, G]
                n = (rows > 0).sum(1, keepdim=True).clamp(min=1)  # [B, 1]
                out.append(table(rows).sum(1) / n)  # [B, d] mean of the movie's genre vectors
            elif name == "year":
                out.append(table(self.year_rows[b.item]))
            else:
                out.append(table(self.sid_rows[b.item, int(name[3:])]))
        return out


class DLRM(nn.Module):
    """Sparse embeddings + bottom MLP on dense features -> pairwise dots -> top MLP -> rating."""

    def __init__(self, tables: FeatureTables, global_mean: float, features: FeatureSettings, cfg: ModelSettings):
        super().__init__()
        d = cfg.dim
        self.register_buffer("mu", torch.tensor(float(global_mean)))
        self.sparse = SparseFeatures(tables, features, d)
        self.n_item_dense = 0 if tables.item_dense is None else tables.item_dense.shape[1]
        self.n_user_dense = 0 if tables.user_dense is None else tables.user_dense.shape[1]
        if self.n_item_dense:
            self.register_buffer("item_dense", torch.from_numpy(tables.item_dense))  # [C + 1, Di]
        if self.n_user_dense:
            self.register_buffer("user_dense", torch.from_numpy(tables.user_dense))  # [U + 1, Du]
        n_dense = self.n_item_dense + self.n_user_dense
        # the bottom MLP ends in a ReLU-free linear layer of size d: a vector like the embeddings
        self.bottom = mlp([n_dense, *cfg.bottom_mlp, d], cfg.dropout) if n_dense else None
        f = self.sparse.count + (1 if self.bottom is not None else 0)
        if f < 2:
            raise ValueError("DLRM needs at least two vectors to interact")
        self.interact = DotInteraction()
        top_in = f * (f - 1) // 2 + (d if self.bottom is not None else 0)
        self.top = mlp([top_in, *cfg.top_mlp, 1], cfg.dropout)
        self.biases = BiasModel(tables, 0.0) if cfg.biases else None  # optional wide part: b_user + b_movie

    def dense(self, b: Batch) -> torch.Tensor:
        parts = []
        if self.n_item_dense:
            parts.append(self.item_dense[b.item])  # [B, Di]
        if self.n_user_dense:
            parts.append(self.user_dense[b.user])  # [B, Du]
        return torch.cat(parts, dim=1)  # [B, Di + Du]

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        vecs = self.sparse(b)  # F_s x [B, d]
        penalty = _l2(*vecs) if vecs else torch.zeros((), device=self.mu.device)
        top_in = []
        if self.bottom is not None:
            z = self.bottom(self.dense(b))  # [B, d]
            vecs = [z, *vecs]
            top_in.append(z)
        x = torch.stack(vecs, dim=1)  # [B, F, d]
        top_in.append(self.interact(x))  # [B, F(F-1)/2]
        out = self.top(torch.cat(top_in, dim=1)).squeeze(-1)  # [B]
        if self.biases is not None:
            wide, wide_penalty = self.biases(b)  # [B] = b_user + b_movie (its mean is 0 here)
            out, penalty = out + wide, penalty + wide_penalty
        return self.mu + out, penalty


def build_model(cfg: ModelSettings, features: FeatureSettings, tables: FeatureTables, global_mean: float) -> nn.Module:
    if cfg.kind == "bias":
        return BiasModel(tables, global_mean)
    if cfg.kind == "mf":
        return MatrixFactorization(tables, global_mean, cfg.dim)
    return DLRM(tables, global_mean, features, cfg)


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def batch_of(user: np.ndarray, movie: np.ndarray, item: np.ndarray) -> Batch:
    return Batch(
        torch.from_numpy(np.ascontiguousarray(user)),
        torch.from_numpy(np.ascontiguousarray(movie)),
        torch.from_numpy(np.ascontiguousarray(item)),
    )

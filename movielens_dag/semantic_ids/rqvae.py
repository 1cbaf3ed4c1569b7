"""RQ-VAE (Lee et al. 2022, as used for semantic IDs by TIGER, Rajput et al. 2023).

    x (B, d) --encoder MLP--> z (B, D) --L residual codebooks of K codes--> z_q = sum_l e_l[c_l]
    z_q --decoder MLP--> x_hat (B, d)

Loss = ||x - x_hat||^2 + sum_l beta * ||r_l - sg(e_l)||^2 (+ ||sg(r_l) - e_l||^2 without EMA), where
r_l is the residual entering level l. Codebooks start from k-means on the first batch's latents, are
updated by EMA (default) or by the codebook loss, and codes unused for an epoch are re-seeded.
Training itself lives in rqvae_train.py.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from movielens_dag.semantic_ids.kmeans import kmeans, nearest
from movielens_dag.semantic_ids.settings import SemanticIdConfigError


@dataclass(frozen=True)
class RQVAEConfig:
    input_dim: int
    hidden_dims: tuple[int, ...] = (512, 256, 128)
    latent_dim: int = 32
    levels: int = 3
    codes: int = 128
    beta: float = 0.25  # commitment weight
    ema: bool = True  # EMA codebook updates; False: learn codebooks through the codebook loss
    ema_decay: float = 0.99


def mlp(dims: list[int]) -> nn.Sequential:
    """Linear layers with SiLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class Codebook(nn.Module):
    """One level: K codes of size D, with EMA statistics when ``ema``."""

    def __init__(self, codes: int, dim: int, ema: bool, decay: float) -> None:
        super().__init__()
        self.ema, self.decay = ema, decay
        self.embed = nn.Parameter(torch.zeros(codes, dim), requires_grad=not ema)  # (K, D)
        self.register_buffer("cluster_size", torch.ones(codes))  # (K,) EMA of assignment counts
        self.register_buffer("embed_sum", torch.zeros(codes, dim))  # (K, D) EMA of assigned sums

    def forward(self, r: Tensor) -> tuple[Tensor, Tensor]:
        """r (B, D) -> chosen code vectors (B, D) and codes (B,)."""
        codes, _ = nearest(r.detach(), self.embed.detach())
        return self.embed[codes], codes

    @torch.no_grad()
    def set_codes(self, idx: Tensor, vectors: Tensor) -> None:
        """Overwrite codes ``idx`` (k-means init, dead-code re-seeding); EMA state restarts from them."""
        self.embed[idx] = vectors
        self.embed_sum[idx] = vectors
        self.cluster_size[idx] = 1.0

    @torch.no_grad()
    def ema_update(self, r: Tensor, codes: Tensor) -> None:
        k = self.embed.shape[0]
        counts = torch.bincount(codes, minlength=k).to(r.dtype)
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, r)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0.
        n = self.cluster_size.sum()
        size = (self.cluster_size + 1e-5) / (n + k * 1e-5) * n
        self.embed.copy_(self.embed_sum / size[:, None])


@dataclass
class RQVAEOutput:
    x_hat: Tensor  # (B, d)
    codes: Tensor  # (B, L)
    recon_loss: Tensor  # scalar, mean over the batch of ||x - x_hat||^2
    commit_loss: Tensor  # scalar, beta * sum over levels
    codebook_loss: Tensor  # scalar, 0 with EMA
    residuals: list[Tensor]  # L x (B, D), the (detached) input of each level

    @property
    def loss(self) -> Tensor:
        return self.recon_loss + self.commit_loss + self.codebook_loss


class RQVAE(nn.Module):
    def __init__(self, config: RQVAEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = mlp([c.input_dim, *c.hidden_dims, c.latent_dim])
        self.decoder = mlp([c.latent_dim, *reversed(c.hidden_dims), c.input_dim])
        self.codebooks = nn.ModuleList(Codebook(c.codes, c.latent_dim, c.ema, c.ema_decay) for _ in range(c.levels))

    def quantize(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor]]:
        """z (B, D) -> z_q (B, D), codes (B, L), commitment loss, codebook loss, residuals."""
        residual, z_q = z, torch.zeros_like(z)
        codes, residuals = [], []
        commit = codebook = z.new_zeros(())
        for book in self.codebooks:
            q, c = book(residual)  # (B, D), (B,)
            commit = commit + ((residual - q.detach()) ** 2).sum(1).mean()
            if not book.ema:
                codebook = codebook + ((residual.detach() - q) ** 2).sum(1).mean()
            if self.training and book.ema:
                book.ema_update(residual.detach(), c)
            residuals.append(residual.detach())
            codes.append(c)
            z_q = z_q + q.detach()
            residual = residual - q.detach()
        return z_q, torch.stack(codes, 1), self.config.beta * commit, codebook, residuals

    def forward(self, x: Tensor) -> RQVAEOutput:
        if x.shape[1] != self.config.input_dim:
            raise SemanticIdConfigError(
                f"input has dim {x.shape[1]} but the RQ-VAE was built for {self.config.input_dim}: "
                "use the embeddings it was trained on"
            )
        z = self.encoder(x)  # (B, D)
        z_q, codes, commit, codebook, residuals = self.quantize(z)
        # Straight-through: the decoder sees z_q, its gradient reaches the encoder as if through z.
        x_hat = self.decoder(z + (z_q - z).detach())  # (B, d)
        recon = ((x - x_hat) ** 2).sum(1).mean()
        return RQVAEOutput(x_hat, codes, recon, commit, codebook, residuals)

    @torch.no_grad()
    def init_codebooks(self, x: Tensor, seed: int) -> None:
        """k-means on the latents of one batch, level by level (batch size must be >= K)."""
        if x.shape[0] < self.config.codes:
            raise SemanticIdConfigError(
                f"the first batch has {x.shape[0]} items but k-means init needs at least codes="
                f"{self.config.codes}; raise batch_size or lower codes"
            )
        residual = self.encoder(x)
        for level, book in enumerate(self.codebooks):
            res = kmeans(residual, self.config.codes, seed=seed * 1000 + level)
            book.set_codes(torch.arange(self.config.codes, device=x.device), res.centroids)
            residual = residual - res.centroids[res.labels]

    @torch.no_grad()
    def encode(self, x: Tensor, batch_size: int = 8192) -> Tensor:
        """Codes (N, L) for x (N, d), in eval mode (no EMA updates)."""
        return self._run(x, batch_size)[0]

    @torch.no_grad()
    def reconstruct(self, x: Tensor, batch_size: int = 8192) -> Tensor:
        """x_hat (N, d): the decoder's output from the quantised latent."""
        return self._run(x, batch_size)[1]

    def _run(self, x: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
        was_training = self.training
        self.eval()
        codes, x_hat = [], []
        for s in range(0, x.shape[0], batch_size):
            out = self(x[s : s + batch_size])
            codes.append(out.codes)
            x_hat.append(out.x_hat)
        self.train(was_training)
        return torch.cat(codes), torch.cat(x_hat)

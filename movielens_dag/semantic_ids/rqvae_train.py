"""Training loop for the RQ-VAE: fixed-seed validation split, dead-code re-seeding, early stopping."""

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from movielens_dag.semantic_ids.rqvae import RQVAE, RQVAEConfig
from movielens_dag.semantic_ids.settings import RqvaeSettings, SemanticIdConfigError
from movielens_dag.semantic_ids.validation import check_embeddings


@dataclass
class TrainResult:
    model: RQVAE  # weights of the best validation epoch
    best_epoch: int
    best_val_error: float  # relative reconstruction error on the validation split
    history: list[dict] = field(default_factory=list)  # one row per epoch


def split(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Train / validation row indices, the same for a given (n, val_fraction, seed)."""
    if not 0.0 < val_fraction < 1.0:
        raise SemanticIdConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(n * val_fraction))
    return perm[n_val:], perm[:n_val]


@torch.no_grad()
def relative_error(model: RQVAE, x: Tensor) -> float:
    """sum ||x - x_hat||^2 / sum ||x||^2 through the quantised path."""
    x_hat = model.reconstruct(x)
    return float(((x - x_hat) ** 2).sum() / (x**2).sum())


@torch.no_grad()
def reseed_dead_codes(model: RQVAE, x: Tensor, uses: Tensor, min_uses: int, gen: torch.Generator) -> int:
    """Move codes used < min_uses times onto random residuals of x, level by level. Returns how many."""
    model.eval()
    residual, moved = model.encoder(x), 0
    for level, book in enumerate(model.codebooks):
        dead = torch.nonzero(uses[level] < min_uses).squeeze(1)
        if dead.numel():
            pick = torch.randperm(residual.shape[0], generator=gen)[: dead.numel()].to(x.device)
            book.set_codes(dead.to(x.device), residual[pick])
            moved += dead.numel()
        q, _ = book(residual)
        residual = residual - q
    model.train()
    return moved


def train_rqvae(
    x: Tensor,
    config: RQVAEConfig,
    train: RqvaeSettings = RqvaeSettings(),
    *,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on x (N, d) float32 (already normalised if wanted); return the best model by validation error.

    ``seed`` drives the weights, batch order, k-means init and re-seeding; the split has its own seed."""
    x = check_embeddings(x).to(device, torch.float32)
    if x.shape[1] != config.input_dim:
        raise SemanticIdConfigError(f"embeddings have dim {x.shape[1]} but input_dim={config.input_dim}")
    train_idx, val_idx = split(x.shape[0], train.val_fraction, train.split_seed)
    x_train, x_val = x[train_idx.to(x.device)], x[val_idx.to(x.device)]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's global RNG
        torch.manual_seed(seed)
        model = RQVAE(config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    best = TrainResult(model=model, best_epoch=0, best_val_error=float("inf"))
    best_state, since_best = None, 0
    for epoch in range(1, train.epochs + 1):
        model.train()
        order = torch.randperm(x_train.shape[0], generator=gen).to(x.device)
        uses = torch.zeros(config.levels, config.codes, device=x.device)
        total, batches = 0.0, 0
        for s in range(0, len(order), train.batch_size):
            batch = x_train[order[s : s + train.batch_size]]  # (B, d)
            if epoch == 1 and s == 0:
                model.init_codebooks(batch, seed)
            out = model(batch)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            for level in range(config.levels):
                uses[level] += torch.bincount(out.codes[:, level], minlength=config.codes)
            total, batches = total + out.loss.item(), batches + 1
        moved = reseed_dead_codes(model, x_train, uses, train.dead_code_min_uses, gen)
        val_error = relative_error(model, x_val)
        best.history.append(
            {"epoch": epoch, "train_loss": total / batches, "val_rel_error": val_error, "reseeded_codes": moved}
        )
        if log and (epoch == 1 or epoch % 10 == 0):
            log(
                f"rqvae epoch {epoch}: train loss {total / batches:.4f}, val rel. error {val_error:.4f}, "
                f"re-seeded {moved} codes"
            )
        if val_error < best.best_val_error - 1e-6:
            best.best_val_error, best.best_epoch, since_best = val_error, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= train.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return best

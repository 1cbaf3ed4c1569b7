from collections import Counter

import pytest
import torch

from movielens_dag.semantic_ids import metrics as m
from movielens_dag.semantic_ids.rqvae import RQVAE, RQVAEConfig
from movielens_dag.semantic_ids.rqvae_train import reseed_dead_codes, split, train_rqvae
from movielens_dag.semantic_ids.settings import RqvaeSettings, SemanticIdConfigError
from tests.semantic_ids.conftest import clustered, clustered_with_labels

SMALL = dict(hidden_dims=(64,), latent_dim=8, levels=2, codes=4)


def test_learns_a_clustered_set_with_every_level_in_use():
    x, truth = clustered_with_labels(1024, 16, levels=2, branching=4, seed=0)
    result = train_rqvae(
        torch.from_numpy(x), RQVAEConfig(16, **SMALL), RqvaeSettings(epochs=60, batch_size=256, lr=3e-3)
    )
    model = result.model
    codes = model.encode(torch.from_numpy(x)).numpy()
    assert result.best_val_error < 0.05
    assert m.relative_reconstruction_error(x, model.reconstruct(torch.from_numpy(x)).numpy()) < 0.05
    assert [m.utilisation(codes[:, level], 4) for level in range(2)] == [1.0, 1.0]
    # the 16 true leaf clusters come back as 16 distinct (level 1, level 2) tuples
    true_leaf = truth[:, 0] * 4 + truth[:, 1]
    tuples = [tuple(c) for c in codes]
    for leaf in range(16):
        ((top, count),) = Counter(t for t, lf in zip(tuples, true_leaf) if lf == leaf).most_common(1)
        assert count >= 0.95 * (true_leaf == leaf).sum()
    assert len(set(tuples)) == 16
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] / 5


def test_training_is_deterministic_for_a_seed():
    x = torch.from_numpy(clustered(512, 16, levels=2, branching=4, seed=1))
    cfg, train = RQVAEConfig(16, **SMALL), RqvaeSettings(epochs=3, batch_size=128)
    a, b = train_rqvae(x, cfg, train, seed=3).model, train_rqvae(x, cfg, train, seed=3).model
    for (name, pa_), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa_, pb), name
    other = train_rqvae(x, cfg, train, seed=4).model
    assert not torch.equal(a.codebooks[0].embed, other.codebooks[0].embed)


def test_validation_split_is_fixed_and_disjoint():
    tr, va = split(100, 0.2, seed=0)
    tr2, va2 = split(100, 0.2, seed=0)
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    assert len(va) == 20 and set(tr.tolist()).isdisjoint(va.tolist()) and len(tr) + len(va) == 100
    with pytest.raises(SemanticIdConfigError, match="val_fraction"):
        split(100, 1.0, seed=0)


def test_early_stopping_stops_after_patience_without_improvement():
    x = torch.from_numpy(clustered(300, 8, levels=1, branching=4, seed=2))
    cfg = RQVAEConfig(8, hidden_dims=(16,), latent_dim=4, levels=1, codes=4, ema=False)
    train = RqvaeSettings(epochs=50, batch_size=128, lr=0.0, patience=3, dead_code_min_uses=0)
    result = train_rqvae(x, cfg, train)  # lr 0 and no re-seeding: nothing can improve after epoch 1
    assert result.best_epoch == 1 and len(result.history) == 1 + 3


def test_dead_codes_move_onto_data():
    x = torch.from_numpy(clustered(256, 8, levels=1, branching=4, seed=3))
    model = RQVAE(RQVAEConfig(8, hidden_dims=(16,), latent_dim=4, levels=1, codes=4))
    model.init_codebooks(x, seed=0)
    book = model.codebooks[0]
    book.set_codes(torch.tensor([2]), torch.full((1, 4), 1e3))  # far from everything: never chosen
    uses = torch.bincount(model.encode(x)[:, 0], minlength=4)[None].float()
    assert uses[0, 2] == 0
    moved = reseed_dead_codes(model, x, uses, min_uses=1, gen=torch.Generator().manual_seed(0))
    assert moved == 1
    latents = model.encoder(x).detach()
    assert ((latents - book.embed[2].detach()) ** 2).sum(1).min() < 1e-10  # now sits on a real latent


def test_codebook_loss_mode_learns_codes_by_gradient():
    x = torch.from_numpy(clustered(256, 8, levels=1, branching=4, seed=4))
    model = RQVAE(RQVAEConfig(8, hidden_dims=(16,), latent_dim=4, levels=1, codes=4, ema=False))
    model.init_codebooks(x, seed=0)
    out = model(x)
    assert out.codebook_loss > 0
    out.loss.backward()
    assert model.codebooks[0].embed.grad is not None and model.codebooks[0].embed.grad.abs().sum() > 0


def test_bad_inputs():
    x = torch.randn(64, 8)
    with pytest.raises(SemanticIdConfigError, match="needs at least codes=128"):
        RQVAE(RQVAEConfig(8, levels=1, codes=128)).init_codebooks(x, seed=0)
    with pytest.raises(SemanticIdConfigError, match="input has dim 8 but the RQ-VAE was built for 16"):
        RQVAE(RQVAEConfig(16, levels=1, codes=4))(x)
    with pytest.raises(SemanticIdConfigError, match="embeddings have dim 8 but input_dim=16"):
        train_rqvae(x, RQVAEConfig(16, levels=1, codes=4))

import itertools

import pytest
import torch

from movielens_dag.recommender.config import FUSIONS, EncoderConfig, ItemEmbeddingConfig, RecConfig
from movielens_dag.recommender.data import ItemSids
from movielens_dag.recommender.item_embeddings import ItemEmbedding
from movielens_dag.recommender.loss import sample_negatives, sampled_softmax_loss
from movielens_dag.recommender.models import SeqRecommender
from movielens_dag.recommender.train import build_model

N_ITEMS = 30
CODES = torch.cat(
    [
        torch.zeros(1, 4, dtype=torch.long),
        torch.stack(
            [
                torch.arange(1, N_ITEMS + 1) % 3,
                torch.arange(1, N_ITEMS + 1) % 4,
                torch.arange(1, N_ITEMS + 1) % 5,
                torch.zeros(N_ITEMS, dtype=torch.long),
            ],
            1,
        ),
    ]
)
SIDS = ItemSids(CODES, levels=3)  # 3 quantiser levels + the uniqueness digit


def make(model: str, representation: str = "id", fusion: str = "sum", dropout: float = 0.0) -> SeqRecommender:
    torch.manual_seed(0)
    cfg = RecConfig(
        model=model,
        items=ItemEmbeddingConfig(representation, fusion),
        encoder=EncoderConfig(dim=16, num_blocks=2, num_heads=2, max_len=12, dropout=dropout),
    )
    return build_model(cfg, N_ITEMS, SIDS).eval()


def left_pad(seq: list[int], width: int) -> torch.Tensor:
    return torch.tensor([[0] * (width - len(seq)) + seq])


@pytest.mark.parametrize("model", ["sasrec", "hstu"])
def test_padding_and_batch_mates_never_change_outputs(model):
    m = make(model, "prefixn_id", "vector_gate")
    seq, ts = [3, 7, 1, 9, 4], [10, 50, 400, 5000, 90000]
    base = m(left_pad(seq, 5), left_pad(ts, 5))[0]  # [5, d]
    wide = m(left_pad(seq, 11), left_pad(ts, 11))[0, -5:]
    assert torch.allclose(base, wide, atol=1e-5)
    mates = torch.cat([left_pad(seq, 8), left_pad([2, 2, 5, 6, 8, 1, 3, 2], 8)])
    mate_ts = torch.cat([left_pad(ts, 8), left_pad(list(range(8)), 8)])
    assert torch.allclose(base, m(mates, mate_ts)[0, -5:], atol=1e-5)


@pytest.mark.parametrize("model", ["sasrec", "hstu"])
def test_outputs_are_causal(model):
    m = make(model)
    a = m(torch.tensor([[3, 7, 1, 9]]), torch.tensor([[1, 2, 3, 4]]))
    b = m(torch.tensor([[3, 7, 1, 20]]), torch.tensor([[1, 2, 3, 99999]]))
    assert torch.allclose(a[0, :3], b[0, :3], atol=1e-6) and not torch.allclose(a[0, 3], b[0, 3])


def test_hstu_uses_time_and_positions():
    m = make("hstu")
    a = m(torch.tensor([[3, 7, 1, 9]]), torch.tensor([[1, 2, 3, 4]]))
    b = m(torch.tensor([[3, 7, 1, 9]]), torch.tensor([[1, 2, 3, 10**7]]))
    assert not torch.allclose(a[0, 3], b[0, 3])


COMBOS = [("id", "sum"), ("ngram", "sum"), ("prefixn", "sum")] + [
    (r, f) for r, f in itertools.product(["prefixn_id", "rqsum_id"], FUSIONS)
]


@pytest.mark.parametrize("representation,fusion", COMBOS)
def test_each_representation_and_fusion_trains_a_step(representation, fusion):
    m = make("hstu", representation, fusion, dropout=0.1).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    items = torch.tensor([[0, 0, 4, 5, 6], [1, 2, 3, 4, 5]])
    targets = torch.tensor([[0, 0, 5, 6, 7], [2, 3, 4, 5, 6]])
    before = {k: v.clone() for k, v in m.state_dict().items()}
    keep = targets != 0
    states = m(items, torch.arange(5).expand(2, 5))[keep]
    loss = sampled_softmax_loss(states, m.item_vectors(), targets[keep], sample_negatives(N_ITEMS, (8,)), 0.05)
    opt.zero_grad()
    loss.backward()
    assert torch.isfinite(loss)
    assert m.items(torch.tensor([0])).abs().sum() == 0  # padding embeds to zero whatever the fusion
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    opt.step()
    changed = [k for k, v in m.state_dict().items() if not torch.equal(v, before[k])]
    assert any("items" in k for k in changed) and any("encoder" in k for k in changed)


def test_bad_configs_fail_clearly():
    with pytest.raises(ValueError, match="representation must be one of"):
        ItemEmbeddingConfig("bogus")
    with pytest.raises(ValueError, match="needs both SID and ID"):
        ItemEmbeddingConfig("prefixn", "vector_gate")
    with pytest.raises(ValueError, match="needs semantic IDs"):
        ItemEmbedding(5, 8, ItemEmbeddingConfig("prefixn_id"))
    with pytest.raises(ValueError, match="sid_levels=9"):
        ItemEmbedding(N_ITEMS, 8, ItemEmbeddingConfig("prefixn", sid_levels=9), SIDS)
    with pytest.raises(ValueError, match="not divisible"):
        EncoderConfig(dim=10, num_heads=3)
    with pytest.raises(ValueError, match="model must be one of"):
        RecConfig(model="gru4rec")


def test_loss_matches_manual_softmax_and_masks_the_positive():
    states = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    vecs = torch.nn.functional.normalize(torch.randn(6, 4), dim=-1)
    targets, negs = torch.tensor([1, 2, 3]), torch.tensor([[2, 4], [2, 5], [4, 5]])
    loss = sampled_softmax_loss(states, vecs, targets, negs, temperature=0.5)
    manual = []
    for i in range(3):
        cands = [targets[i].item()] + [n for n in negs[i].tolist() if n != targets[i].item()]
        logits = vecs[cands] @ states[i] / 0.5
        manual.append(-torch.log_softmax(logits, 0)[0])
    assert loss.item() == pytest.approx(torch.stack(manual).mean().item(), rel=1e-5)
    shared = sampled_softmax_loss(states, vecs, targets, torch.tensor([4, 5]), temperature=0.5)
    per_pos = sampled_softmax_loss(states, vecs, targets, torch.tensor([[4, 5]] * 3), temperature=0.5)
    assert shared.item() == pytest.approx(per_pos.item(), rel=1e-6)

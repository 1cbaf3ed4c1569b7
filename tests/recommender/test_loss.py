"""The three training losses: full softmax (chunked) against sampled softmax over every item, exact
gradients of the chunked logsumexp, and the logQ-corrected mixed loss by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from movielens_dag.recommender.loss import ChunkedLogSumExp, full_softmax_loss, mixed_softmax_loss, sampled_softmax_loss

N, D, M = 23, 8, 11


def tensors(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    states = F.normalize(torch.randn(M, D, generator=g), dim=-1).requires_grad_()
    table = torch.randn(N + 1, D, generator=g).requires_grad_()
    targets = torch.randint(1, N + 1, (M,), generator=g)
    return states, table, targets


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_full_softmax_equals_sampled_softmax_with_every_item_as_negative(chunk):
    states, table, targets = tensors()
    vecs = F.normalize(table, dim=-1)
    full = full_softmax_loss(states, vecs, targets, temperature=0.1, chunk=chunk)
    g_full = torch.autograd.grad(full, (states, table))
    vecs = F.normalize(table, dim=-1)
    sampled = sampled_softmax_loss(states, vecs, targets, torch.arange(1, N + 1), temperature=0.1)
    g_sampled = torch.autograd.grad(sampled, (states, table))
    assert full.item() == pytest.approx(sampled.item(), rel=1e-5)
    for a, b in zip(g_full, g_sampled):
        assert torch.allclose(a, b, atol=1e-6)
    assert g_full[1][0].abs().sum() == 0  # padding row is never a candidate


def test_chunked_logsumexp_gradients_are_exact():
    s = torch.randn(6, 4, dtype=torch.double, requires_grad=True)
    c = torch.randn(9, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ChunkedLogSumExp.apply(a, b, 3.0, 4), (s, c))
    assert torch.allclose(ChunkedLogSumExp.apply(s, c, 3.0, 4), torch.logsumexp(3.0 * s @ c.T, dim=1))


def test_candidates_restrict_the_full_softmax():
    states, table, targets = tensors(1)
    vecs = F.normalize(table, dim=-1)
    everything = full_softmax_loss(states, vecs, targets, 0.1, candidates=torch.arange(1, N + 1))
    assert everything.item() == pytest.approx(full_softmax_loss(states, vecs, targets, 0.1).item(), rel=1e-6)
    known = torch.unique(torch.cat([targets, torch.tensor([1, 2])]))
    logits = states @ vecs[known].T / 0.1
    label = (known[None, :] == targets[:, None]).float().argmax(1)
    by_hand = F.cross_entropy(logits, label)
    assert full_softmax_loss(states, vecs, targets, 0.1, candidates=known).item() == pytest.approx(
        by_hand.item(), rel=1e-5
    )


def test_mixed_loss_by_hand():
    states, table, _ = tensors(2)
    vecs = F.normalize(table, dim=-1).detach()
    targets = torch.tensor([3, 5, 3, 7, 5, 3, 9, 9, 3, 5, 7])  # M = 11; in-batch items 3, 5, 7, 9
    log_pop = torch.log(torch.full((N + 1,), 1.0 / N))
    log_pop[3] = math.log(0.3)
    negatives = torch.tensor([5, 12, 20])  # K = 3, the first collides with some positives
    loss = mixed_softmax_loss(states.detach(), vecs, targets, negatives, log_pop, num_candidates=N, temperature=0.5)
    uniq = torch.tensor([3, 5, 7, 9])
    total = 0.0
    for m in range(M):
        s = states[m].detach()
        cols = [(s @ vecs[i]) / 0.5 - (log_pop[i] + math.log(M)) for i in uniq]
        cols += [(s @ vecs[j]) / 0.5 - math.log(3 / N) for j in negatives if j != targets[m]]
        pos = (s @ vecs[targets[m]]) / 0.5 - (log_pop[targets[m]] + math.log(M))
        total += torch.logsumexp(torch.stack(cols), 0) - pos
    assert loss.item() == pytest.approx(total.item() / M, rel=1e-5)


def test_logq_lowers_the_logit_of_items_the_sampler_draws_often():
    # two items with the same score: the popular one (drawn more often in-batch) loses more by log Q, so
    # predicting it as the positive costs more than predicting the rare one
    states = torch.tensor([[1.0, 0.0]])
    vecs = torch.tensor([[0.0, 0.0], [0.6, 0.8], [0.6, 0.8]])
    log_pop = torch.log(torch.tensor([1e-9, 0.9, 0.1]))
    loss_pos_popular = mixed_softmax_loss(states, vecs, torch.tensor([1]), torch.tensor([2]), log_pop, 2, 1.0)
    loss_pos_rare = mixed_softmax_loss(states, vecs, torch.tensor([2]), torch.tensor([1]), log_pop, 2, 1.0)
    assert loss_pos_popular.item() > loss_pos_rare.item()

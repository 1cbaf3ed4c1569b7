"""Training losses over L2-normalised embeddings, all a cross-entropy of the positive against candidates:

sampled       uniform negatives, one set per position or shared per batch (the HSTU reference setup)
full_softmax  every candidate item; logits computed in item chunks, so memory is positions x chunk, not
              positions x catalogue (a 100k-item catalogue fits); exact gradients by recomputation
mixed         in-batch negatives (the batch's targets, drawn ~ popularity) + shared uniform negatives, each
              logit corrected by log Q, the log of how often its sampler draws that item (Yi et al. 2019,
              Yang et al. 2020), so the sampled softmax estimates the full one without popularity bias

``candidates`` (a [C] int64 tensor of item rows) limits what can be a negative, e.g. to the items known
before a temporal training cut; None means every row 1..N.
"""

import torch
import torch.nn.functional as F


def sample_negatives(
    num_items: int,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    candidates: torch.Tensor | None = None,
) -> torch.Tensor:
    """Uniform item rows in 1..num_items (never padding), or uniform over ``candidates`` when given."""
    if candidates is None:
        return torch.randint(1, num_items + 1, shape, generator=generator, device=device)
    pick = torch.randint(0, len(candidates), shape, generator=generator, device=device)
    return candidates.to(device)[pick]


def sampled_softmax_loss(
    states: torch.Tensor, item_vecs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """states [M, d] (normalised), item_vecs [N + 1, d] (normalised), targets [M] item rows,
    negatives [M, K] (one set per position) or [K] (shared) -> mean cross-entropy of the positive
    against the negatives. A negative that equals the positive is masked out."""
    pos = (states * item_vecs[targets]).sum(-1, keepdim=True)  # [M, 1]
    if negatives.dim() == 1:
        neg = states @ item_vecs[negatives].T  # [M, K]
        hit = negatives[None, :] == targets[:, None]
    else:
        neg = torch.einsum("md,mkd->mk", states, item_vecs[negatives])  # [M, K]
        hit = negatives == targets[:, None]
    logits = torch.cat([pos, neg.masked_fill(hit, float("-inf"))], dim=1) / temperature  # [M, 1 + K]
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=states.device))


class ChunkedLogSumExp(torch.autograd.Function):
    """lse[m] = log sum_c exp(scale * states[m] . cand[c]) without materialising [M, C].

    Forward keeps a running logsumexp over chunks of candidates; backward recomputes each chunk's
    logits and uses d lse / d logit = softmax (so memory stays [M, chunk] in both passes)."""

    @staticmethod
    def forward(ctx, states: torch.Tensor, cand: torch.Tensor, scale: float, chunk: int) -> torch.Tensor:
        lse = torch.full((states.shape[0],), float("-inf"), dtype=states.dtype, device=states.device)  # [M]
        for a in range(0, cand.shape[0], chunk):
            logits = (states @ cand[a : a + chunk].T) * scale  # [M, chunk]
            lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
        ctx.save_for_backward(states, cand, lse)
        ctx.scale, ctx.chunk = scale, chunk
        return lse

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        states, cand, lse = ctx.saved_tensors
        scale, chunk = ctx.scale, ctx.chunk
        g_states = torch.zeros_like(states)  # [M, d]
        g_cand = torch.empty_like(cand)  # [C, d]
        for a in range(0, cand.shape[0], chunk):
            c = cand[a : a + chunk]  # [chunk, d]
            p = torch.exp((states @ c.T) * scale - lse[:, None]) * grad[:, None]  # [M, chunk] softmax * dL/dlse
            g_states += (p @ c) * scale
            g_cand[a : a + chunk] = (p.T @ states) * scale
        return g_states, g_cand, None, None


def full_softmax_loss(
    states: torch.Tensor,
    item_vecs: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    candidates: torch.Tensor | None = None,
    chunk: int = 256,
) -> torch.Tensor:
    """states [M, d], item_vecs [N + 1, d], targets [M] -> mean cross-entropy over every candidate item
    (rows 1..N, or ``candidates`` [C], which must contain every target)."""
    cand = item_vecs[1:] if candidates is None else item_vecs[candidates]  # [C, d], autograd back to item_vecs
    pos = (states * item_vecs[targets]).sum(-1) / temperature  # [M]
    lse = ChunkedLogSumExp.apply(states, cand, 1.0 / temperature, chunk)  # [M]
    return (lse - pos).mean()


def mixed_softmax_loss(
    states: torch.Tensor,
    item_vecs: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_popularity: torch.Tensor,
    num_candidates: int,
    temperature: float,
) -> torch.Tensor:
    """In-batch + uniform negatives with logQ correction.

    states [M, d], item_vecs [N + 1, d], targets [M], negatives [K] uniform rows, log_popularity [N + 1]
    = log of each item's share of training targets (the in-batch sampler), num_candidates = C (the
    uniform sampler's range). The in-batch columns are the batch's distinct targets; an item drawn as a
    target appears M * p_i times in expectation, a uniform negative K / C times: each logit is reduced by
    the log of that expected count. A uniform negative that equals the row's positive is masked out."""
    uniq, label = torch.unique(targets, return_inverse=True)  # [U], [M] (the positive's column)
    m, k = len(targets), len(negatives)
    in_batch = states @ item_vecs[uniq].T / temperature - (log_popularity[uniq] + torch.log(torch.tensor(float(m))))
    uniform = states @ item_vecs[negatives].T / temperature - torch.log(torch.tensor(k / num_candidates))  # [M, K]
    uniform = uniform.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    return F.cross_entropy(torch.cat([in_batch, uniform], dim=1), label)  # over [M, U + K]

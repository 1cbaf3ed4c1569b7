"""Training loop: AdamW, early stopping on validation NDCG@10, test once at the best checkpoint.

One call of ``train_run`` trains one seed. It checkpoints after every epoch (``last.pt``, written
atomically) and resumes from there when called again with the same config, data and seed.
"""

import copy
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import SELECTION_METRIC, RecConfig
from .data import ItemSids, Split, event_groups, group_batch, train_batch, training_windows
from .item_embeddings import ItemEmbedding
from .loss import full_softmax_loss, mixed_softmax_loss, sample_negatives, sampled_softmax_loss
from .metrics import metrics_from_ranks, slice_metrics, target_ranks
from .models import SeqRecommender


def build_model(cfg: RecConfig, num_items: int, sids: ItemSids | None) -> SeqRecommender:
    items = ItemEmbedding(num_items, cfg.encoder.dim, cfg.items, sids)
    return SeqRecommender(cfg.model, cfg.encoder, items)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def event_states(model: SeqRecommender, split: Split, stage: str, max_len: int, batch_size: int = 64) -> torch.Tensor:
    """[E, d] the user state that predicts each event of ``stage``, from exactly its last max_len prior items."""
    events = split.events(stage)
    groups = sorted(event_groups(events, max_len), key=lambda g: g.stop - g.start)  # less padding per batch
    dev = model.items.sid_index.device
    out = torch.zeros(len(events), model.items.dim)
    for i in range(0, len(groups), batch_size):
        gs = groups[i : i + batch_size]
        items, times, cols = group_batch(split.seqs, gs)
        states = model(items.to(dev), times.to(dev)).cpu()  # [B, T, d]
        rows = np.concatenate([np.full(len(c), j) for j, c in enumerate(cols)])
        out[np.concatenate([g.events for g in gs])] = states[rows, np.concatenate(cols)]
    return out


def rank_events(
    split: Split, stage: str, scores: Callable[[np.ndarray], torch.Tensor], chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Full ranking of every event of ``stage`` -> (ranks [E], target rows [E]). ``scores(idx)`` gives
    [len(idx), N + 1] item scores for those events; the user's history before each event is excluded."""
    events, seqs = split.events(stage), split.seqs
    targets = events.targets(seqs)
    ranks = np.zeros(len(events), dtype=np.int64)
    for a in range(0, len(events), chunk):
        idx = np.arange(a, min(a + chunk, len(events)))
        hist = [seqs.items[events.users[e]][: events.positions[e]] for e in idx]
        ranks[idx] = target_ranks(scores(idx), torch.from_numpy(targets[idx]), hist).numpy()
    return ranks, targets


@torch.no_grad()
def evaluate(
    model: SeqRecommender, split: Split, stage: str, max_len: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Rank every item for every event of ``stage`` -> (ranks [E], target rows [E])."""
    was_training = model.training
    model.eval()
    vecs = model.item_vectors().cpu()  # [N + 1, d]
    states = event_states(model, split, stage, max_len, batch_size)  # [E, d]
    model.train(was_training)
    return rank_events(split, stage, lambda idx: states[idx] @ vecs.T)


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket: int = 8
) -> list[np.ndarray]:
    """Indices into ``lengths`` (one per training window): shuffle, sort each run of ``bucket`` batches by
    length (less padding, so less wasted attention), cut into batches, shuffle the batch order."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket
    for i in range(0, len(order), chunk):
        order[i : i + chunk] = order[i : i + chunk][np.argsort(lengths[order[i : i + chunk]], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[j] for j in rng.permutation(len(batches))]


@dataclass
class LossContext:
    """What the losses need beyond the batch: candidate rows and the in-batch sampler's log popularity."""

    candidates: torch.Tensor | None  # [C] item rows, None = all
    num_candidates: int
    log_popularity: torch.Tensor  # [N + 1] log share of training targets (-inf for items never a target)

    @classmethod
    def of(cls, split: Split, device: str) -> "LossContext":
        counts = torch.from_numpy(split.train_counts()).double()
        cand = None if split.candidates is None else torch.from_numpy(split.candidates).to(device)
        return cls(
            cand, split.num_items if cand is None else len(cand), torch.log(counts / counts.sum()).float().to(device)
        )


def batch_loss(
    model: SeqRecommender,
    batch_items: torch.Tensor,
    batch_times: torch.Tensor,
    targets: torch.Tensor,
    cfg: RecConfig,
    ctx: LossContext,
    num_items: int,
    gen: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """Forward one training batch and return (loss, number of target positions)."""
    t = cfg.train
    states = model(batch_items, batch_times)  # [B, T, d]
    keep = targets != 0
    states, targets = states[keep], targets[keep]  # [M, d], [M]
    dev = states.device
    vecs = model.item_vectors()  # [N + 1, d]
    if t.loss == "full_softmax":
        loss = full_softmax_loss(states, vecs, targets, t.temperature, ctx.candidates, t.softmax_chunk)
    elif t.loss == "mixed":
        negatives = sample_negatives(num_items, (t.num_negatives,), gen, candidates=ctx.candidates)  # on CPU
        loss = mixed_softmax_loss(
            states, vecs, targets, negatives.to(dev), ctx.log_popularity, ctx.num_candidates, t.temperature
        )
    else:
        shape = (t.num_negatives,) if t.negative_sampling == "per_batch" else (len(targets), t.num_negatives)
        negatives = sample_negatives(num_items, shape, gen, candidates=ctx.candidates)  # same on any device
        loss = sampled_softmax_loss(states, vecs, targets, negatives.to(dev), t.temperature)
    return loss, len(targets)


def train_epoch(
    model: SeqRecommender,
    opt: torch.optim.Optimizer,
    split: Split,
    cfg: RecConfig,
    rng: np.random.Generator,
    gen: torch.Generator,
    epoch: int = 0,
    seed: int = 0,
    ctx: LossContext | None = None,
) -> float:
    model.train()
    total, count = 0.0, 0
    dev = model.items.sid_index.device
    ctx = ctx or LossContext.of(split, str(dev))
    max_len = cfg.encoder.max_len
    users, ends = training_windows(split, max_len, cfg.train.windows, epoch, seed)
    lengths = np.minimum(ends + 1, max_len + 1)
    for idx in length_bucketed_batches(lengths, cfg.train.batch_size, rng):
        batch = train_batch(split, users[idx], max_len, ends[idx])
        loss, n = batch_loss(
            model, batch.items.to(dev), batch.times.to(dev), batch.targets.to(dev), cfg, ctx, split.num_items, gen
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * n
        count += n
    return total / max(count, 1)


@dataclass
class EpochLog:
    epoch: int
    loss: float
    valid: dict[str, float]
    seconds: float
    best: bool


@dataclass
class RunResult:
    seed: int
    valid: dict[str, float]  # at the best epoch
    test: dict[str, float]  # computed once, at the best epoch
    test_slices: dict[str, dict[str, float]]
    valid_slices: dict[str, dict[str, float]]
    best_epoch: int = 0
    epochs_run: int = 0
    history: list[EpochLog] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    num_params: int = 0
    checkpoint: str | None = None
    # per event, for confidence intervals: rank (0 = top), target row, user position (into Split.seqs)
    valid_ranks: np.ndarray | None = None
    test_ranks: np.ndarray | None = None
    test_targets: np.ndarray | None = None
    test_users: np.ndarray | None = None


def finish(
    split: Split, seed: int, valid: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], **kw
) -> RunResult:
    """A RunResult from the (ranks, targets) of the validation and test events."""
    counts = split.train_counts()
    return RunResult(
        seed=seed,
        valid=metrics_from_ranks(valid[0]),
        test=metrics_from_ranks(test[0]),
        test_slices=slice_metrics(*test, counts),
        valid_slices=slice_metrics(*valid, counts),
        valid_ranks=valid[0],
        test_ranks=test[0],
        test_targets=test[1],
        test_users=split.test_events.users,
        **kw,
    )


def fingerprint(cfg: RecConfig, split: Split, sids: ItemSids | None, seed: int) -> str:
    """Identifies (config, data, SIDs, seed): a checkpoint is only resumed when this matches."""
    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    h.update(f"seed={seed}".encode())
    h.update(split.seqs.item_index.movie_ids.tobytes())
    for items in split.seqs.items:
        h.update(items.tobytes())
    h.update(split.n_train.tobytes())
    h.update(split.protocol.encode())
    for stage in ("valid", "test"):
        h.update(split.events(stage).users.tobytes())
        h.update(split.events(stage).positions.tobytes())
    if split.candidates is not None:
        h.update(split.candidates.tobytes())
    if sids is not None and cfg.items.uses_sid:
        h.update(sids.codes.numpy().tobytes())
        h.update(f"levels={sids.levels}".encode())
    return h.hexdigest()[:16]


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_run(
    cfg: RecConfig,
    split: Split,
    sids: ItemSids | None,
    seed: int,
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    resume: bool = True,
    device: str = "cpu",
) -> RunResult:
    torch.manual_seed(seed)
    model = build_model(cfg, split.num_items, sids).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    state = {
        "epoch": 0,
        "best_score": -1.0,
        "best_epoch": 0,
        "bad": 0,
        "history": [],
        "best_model": copy.deepcopy(model.state_dict()),
        "wall": 0.0,
        "cpu": 0.0,
    }
    fp = fingerprint(cfg, split, sids, seed)
    last = checkpoint_dir / "last.pt" if checkpoint_dir is not None else None
    if last is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if resume and last.exists():
            ck = torch.load(last, weights_only=False, map_location=device)
            if ck.get("fingerprint") == fp:
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["optimizer"])
                torch.set_rng_state(ck["torch_rng"].cpu())  # (CUDA dropout RNG is not restored)
                gen.set_state(ck["gen"])
                rng.bit_generator.state = ck["np_rng"]
                state = ck["state"]
    max_len, eval_batch_size = cfg.encoder.max_len, cfg.train.eval_batch_size
    ctx = LossContext.of(split, device)
    while state["epoch"] < cfg.train.max_epochs and state["bad"] < cfg.train.patience:
        t0, c0 = time.perf_counter(), time.process_time()
        loss = train_epoch(model, opt, split, cfg, rng, gen, state["epoch"], seed, ctx)
        ranks, _ = evaluate(model, split, "valid", max_len, eval_batch_size)
        valid = metrics_from_ranks(ranks)
        state["epoch"] += 1
        is_best = valid[SELECTION_METRIC] > state["best_score"]
        if is_best:
            state.update(
                best_score=valid[SELECTION_METRIC],
                best_epoch=state["epoch"],
                bad=0,
                best_model=copy.deepcopy(model.state_dict()),
            )
        else:
            state["bad"] += 1
        log = EpochLog(state["epoch"], loss, valid, time.perf_counter() - t0, is_best)
        state["history"].append(asdict(log))
        state["wall"] += time.perf_counter() - t0
        state["cpu"] += time.process_time() - c0
        if last is not None:
            _save_atomic(
                {
                    "fingerprint": fp,
                    "config": asdict(cfg),
                    "seed": seed,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "gen": gen.get_state(),
                    "np_rng": rng.bit_generator.state,
                    "state": state,
                },
                last,
            )
        if on_epoch is not None:
            on_epoch(log)
    model.load_state_dict(state["best_model"])
    if checkpoint_dir is not None:
        _save_atomic(
            {
                "fingerprint": fp,
                "config": asdict(cfg),
                "seed": seed,
                "model": state["best_model"],
                "best_epoch": state["best_epoch"],
            },
            checkpoint_dir / "best.pt",
        )
    valid = evaluate(model, split, "valid", max_len, eval_batch_size)
    test = evaluate(model, split, "test", max_len, eval_batch_size)  # the one test pass
    return finish(
        split,
        seed,
        valid,
        test,
        best_epoch=state["best_epoch"],
        epochs_run=state["epoch"],
        history=[EpochLog(**h) for h in state["history"]],
        wall_seconds=state["wall"],
        cpu_seconds=state["cpu"],
        num_params=count_params(model),
        checkpoint=str(checkpoint_dir / "best.pt") if checkpoint_dir is not None else None,
    )


def popularity_run(split: Split) -> RunResult:
    """MostPop baseline under the same protocol: rank items by training interactions (history excluded)."""
    scores = torch.from_numpy(split.train_counts()).double()
    scores[0] = -1.0
    ranked = {stage: rank_events(split, stage, lambda idx: scores.expand(len(idx), -1)) for stage in ("valid", "test")}
    return finish(split, 0, ranked["valid"], ranked["test"], best_epoch=0, epochs_run=0)

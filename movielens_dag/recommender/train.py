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
from .data import ItemSids, Split, eval_batch, train_batch
from .item_embeddings import ItemEmbedding
from .loss import sample_negatives, sampled_softmax_loss
from .metrics import metrics_from_ranks, slice_metrics, target_ranks
from .models import SeqRecommender


def build_model(cfg: RecConfig, num_items: int, sids: ItemSids | None) -> SeqRecommender:
    items = ItemEmbedding(num_items, cfg.encoder.dim, cfg.items, sids)
    return SeqRecommender(cfg.model, cfg.encoder, items)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def evaluate(model: SeqRecommender, split: Split, stage: str, max_len: int,
             batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Rank every item for every evaluated user -> (ranks [E], target rows [E])."""
    was_training = model.training
    model.eval()
    vecs = model.item_vectors()  # [N + 1, d]
    dev = vecs.device
    ranks, targets = [], []
    by_length = np.argsort(split.n_train[split.eval_users], kind="stable")  # less padding per batch
    for i in range(0, len(by_length), batch_size):
        users = split.eval_users[by_length[i : i + batch_size]]
        batch, hist = eval_batch(split, users, max_len, stage)
        states = model(batch.items.to(dev), batch.times.to(dev))[:, -1]  # [B, d] after the last item (left pad)
        ranks.append(target_ranks((states @ vecs.T).cpu(), batch.targets, hist).numpy())
        targets.append(batch.targets.numpy())
    model.train(was_training)
    back = np.argsort(by_length)  # results in split.eval_users order
    return np.concatenate(ranks)[back], np.concatenate(targets)[back]


def length_bucketed_batches(split: Split, batch_size: int, max_len: int, rng: np.random.Generator,
                            bucket: int = 8) -> list[np.ndarray]:
    """Shuffle users, sort each run of ``bucket`` batches by sequence length (less padding, so less
    wasted attention), cut into batches, shuffle the batch order."""
    users = np.flatnonzero(split.n_train >= 2)  # need at least one (input, next item) pair
    users = users[rng.permutation(len(users))]
    lengths = np.minimum(split.n_train[users], max_len + 1)
    chunk = batch_size * bucket
    for i in range(0, len(users), chunk):
        order = np.argsort(lengths[i : i + chunk], kind="stable")
        users[i : i + chunk] = users[i : i + chunk][order]
    batches = [users[i : i + batch_size] for i in range(0, len(users), batch_size)]
    return [batches[j] for j in rng.permutation(len(batches))]


def train_epoch(model: SeqRecommender, opt: torch.optim.Optimizer, split: Split, cfg: RecConfig,
                rng: np.random.Generator, gen: torch.Generator) -> float:
    model.train()
    total, count = 0.0, 0
    dev = model.items.sid_index.device
    t = cfg.train
    for users in length_bucketed_batches(split, t.batch_size, cfg.encoder.max_len, rng):
        batch = train_batch(split, users, cfg.encoder.max_len)
        states = model(batch.items.to(dev), batch.times.to(dev))  # [B, T, d]
        keep = batch.targets.to(dev) != 0
        states, targets = states[keep], batch.targets.to(dev)[keep]  # [M, d], [M]
        shape = (t.num_negatives,) if t.negative_sampling == "per_batch" else (len(targets), t.num_negatives)
        negatives = sample_negatives(split.num_items, shape, gen).to(dev)  # drawn on CPU: same on any device
        loss = sampled_softmax_loss(states, model.item_vectors(), targets, negatives, t.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(targets)
        count += len(targets)
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
    best_epoch: int
    epochs_run: int
    valid: dict[str, float]  # at the best epoch
    test: dict[str, float]  # computed once, at the best epoch
    test_slices: dict[str, dict[str, float]]
    valid_slices: dict[str, dict[str, float]]
    history: list[EpochLog] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    num_params: int = 0
    checkpoint: str | None = None


def fingerprint(cfg: RecConfig, split: Split, sids: ItemSids | None, seed: int) -> str:
    """Identifies (config, data, SIDs, seed): a checkpoint is only resumed when this matches."""
    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    h.update(f"seed={seed}".encode())
    h.update(split.seqs.item_index.movie_ids.tobytes())
    for items in split.seqs.items:
        h.update(items.tobytes())
    h.update(split.n_train.tobytes())
    if sids is not None and cfg.items.uses_sid:
        h.update(sids.codes.numpy().tobytes())
        h.update(f"levels={sids.levels}".encode())
    return h.hexdigest()[:16]


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_run(cfg: RecConfig, split: Split, sids: ItemSids | None, seed: int,
              checkpoint_dir: Path | None = None, on_epoch: Callable[[EpochLog], None] | None = None,
              resume: bool = True, device: str = "cpu") -> RunResult:
    torch.manual_seed(seed)
    model = build_model(cfg, split.num_items, sids).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "bad": 0, "history": [],
             "best_model": copy.deepcopy(model.state_dict()), "wall": 0.0, "cpu": 0.0}
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
    while state["epoch"] < cfg.train.max_epochs and state["bad"] < cfg.train.patience:
        t0, c0 = time.perf_counter(), time.process_time()
        loss = train_epoch(model, opt, split, cfg, rng, gen)
        ranks, _ = evaluate(model, split, "valid", max_len, eval_batch_size)
        valid = metrics_from_ranks(ranks)
        state["epoch"] += 1
        is_best = valid[SELECTION_METRIC] > state["best_score"]
        if is_best:
            state.update(best_score=valid[SELECTION_METRIC], best_epoch=state["epoch"], bad=0,
                         best_model=copy.deepcopy(model.state_dict()))
        else:
            state["bad"] += 1
        log = EpochLog(state["epoch"], loss, valid, time.perf_counter() - t0, is_best)
        state["history"].append(asdict(log))
        state["wall"] += time.perf_counter() - t0
        state["cpu"] += time.process_time() - c0
        if last is not None:
            _save_atomic({"fingerprint": fp, "config": asdict(cfg), "seed": seed, "model": model.state_dict(),
                          "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                          "gen": gen.get_state(), "np_rng": rng.bit_generator.state, "state": state}, last)
        if on_epoch is not None:
            on_epoch(log)
    model.load_state_dict(state["best_model"])
    if checkpoint_dir is not None:
        _save_atomic({"fingerprint": fp, "config": asdict(cfg), "seed": seed, "model": state["best_model"],
                      "best_epoch": state["best_epoch"]}, checkpoint_dir / "best.pt")
    counts = split.train_counts()
    v_ranks, v_targets = evaluate(model, split, "valid", max_len, eval_batch_size)
    t_ranks, t_targets = evaluate(model, split, "test", max_len, eval_batch_size)  # the one test pass
    return RunResult(
        seed=seed, best_epoch=state["best_epoch"], epochs_run=state["epoch"],
        valid=metrics_from_ranks(v_ranks), test=metrics_from_ranks(t_ranks),
        test_slices=slice_metrics(t_ranks, t_targets, counts),
        valid_slices=slice_metrics(v_ranks, v_targets, counts),
        history=[EpochLog(**h) for h in state["history"]],
        wall_seconds=state["wall"], cpu_seconds=state["cpu"], num_params=count_params(model),
        checkpoint=str(checkpoint_dir / "best.pt") if checkpoint_dir is not None else None,
    )


def popularity_run(split: Split, batch_size: int = 256) -> RunResult:
    """MostPop baseline under the same protocol: rank items by training interactions (history excluded)."""
    counts = split.train_counts()
    scores = torch.from_numpy(counts).double()
    scores[0] = -1.0
    out = {}
    for stage in ("valid", "test"):
        ranks, targets = [], []
        for i in range(0, len(split.eval_users), batch_size):
            batch, hist = eval_batch(split, split.eval_users[i : i + batch_size], 1, stage)
            ranks.append(target_ranks(scores.expand(len(hist), -1), batch.targets, hist).numpy())
            targets.append(batch.targets.numpy())
        out[stage] = (np.concatenate(ranks), np.concatenate(targets))
    return RunResult(seed=0, best_epoch=0, epochs_run=0, valid=metrics_from_ranks(out["valid"][0]),
                     test=metrics_from_ranks(out["test"][0]), test_slices=slice_metrics(*out["test"], counts),
                     valid_slices=slice_metrics(*out["valid"], counts))


"""Recommender throughput: training sequences/s and full-ranking eval users/s, with model size.

    python benchmarks/recommender.py                      # CPU, 1 and 2 threads
    python benchmarks/recommender.py --device cuda        # on a GPU

Data: the bundled ml-latest-small (610 users, 9,742 items; sequences truncated to max_len). SIDs are
random 3 x 128 codes + digit (speed does not depend on which codes). Configs: the published ML-1M
settings (batch 128, 128 negatives per position) and the small preset (batch 32, 128 negatives
shared per batch). A training step = forward + sampled-softmax loss + backward + AdamW step.
Eval = encode the history and rank all 9,742 items for every user, excluding the history.
Prints a markdown table.
"""

import argparse
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from movielens_dag.paths import BUNDLED_MOVIELENS_DIR
from movielens_dag.recommender.config import PRESETS, variant_config
from movielens_dag.recommender.data import build_sequences, leave_one_out, train_batch, training_windows
from movielens_dag.recommender.train import (
    LossContext,
    batch_loss,
    build_model,
    count_params,
    evaluate,
    length_bucketed_batches,
)

VARIANTS = ("sasrec-id", "hstu-id", "hstu-prefixn_id-sum", "hstu-prefixn_id-vector_gate")


def load_split():
    import pandas as pd

    r = pd.read_csv(BUNDLED_MOVIELENS_DIR / "ml-latest-small" / "ratings.csv")
    r = r.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    return leave_one_out(build_sequences(r))


def random_sids(num_items: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 128, (num_items + 1, 4), generator=g)
    codes[:, 3] = 0
    codes[0] = 0
    return codes


def bench(variant: str, preset: str, split, sids, device: str, steps: int) -> dict:
    cfg = variant_config(variant, preset)
    t, max_len = cfg.train, cfg.encoder.max_len
    torch.manual_seed(0)
    model = build_model(cfg, split.num_items, sids).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr)
    users, ends = training_windows(split, max_len, t.windows)
    order = length_bucketed_batches(np.minimum(ends + 1, max_len + 1), t.batch_size, np.random.default_rng(0))
    order = (order * (1 + (steps + 2) // len(order)))[: steps + 2]
    batches = [train_batch(split, users[i], max_len, ends[i]) for i in order]  # as in training
    ctx, gen = LossContext.of(split, device), torch.Generator().manual_seed(0)

    def step(b) -> None:
        loss, _ = batch_loss(
            model, b.items.to(device), b.times.to(device), b.targets.to(device), cfg, ctx, split.num_items, gen
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for b in batches[:2]:  # warm-up
        step(b)
    sync()
    t0 = time.perf_counter()
    for b in batches[2:]:
        step(b)
    sync()
    train_s = time.perf_counter() - t0
    positions = sum(int((b.targets != 0).sum()) for b in batches[2:])
    t0 = time.perf_counter()
    evaluate(model, split, "valid", max_len, t.eval_batch_size)  # full ranking, history excluded
    sync()
    eval_s = time.perf_counter() - t0
    sequences = sum(len(b.items) for b in batches[2:])
    negatives = t.loss if t.loss != "sampled" else t.negative_sampling
    return {
        "variant": variant,
        "preset": preset,
        "batch": t.batch_size,
        "negatives": f"{negatives}/{t.windows}",
        "params": count_params(model),
        "seq_s": sequences / train_s,
        "pos_s": positions / train_s,
        "eval_users_s": len(split.eval_users) / eval_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default="1,2", help="comma list of torch thread counts (CPU)")
    p.add_argument("--steps", type=int, default=8, help="timed training steps per config")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--presets", default="published,small")
    args = p.parse_args()
    split = load_split()
    sids = random_sids(split.num_items)
    threads = [int(t) for t in args.threads.split(",")] if args.device == "cpu" else [torch.get_num_threads()]
    print(
        f"# Recommender throughput ({datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, device {args.device})\n"
    )
    print(f"ml-latest-small: {len(split.eval_users)} users, {split.num_items} items; {args.steps} timed steps.\n")
    print(
        "| variant | preset | batch | negatives | threads | params | train seq/s | train positions/s | eval users/s |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for n in threads:
        torch.set_num_threads(n)
        for preset in args.presets.split(","):
            assert preset in PRESETS, preset
            for v in args.variants.split(","):
                r = bench(v, preset, split, sids, args.device, args.steps)
                print(
                    f"| `{r['variant']}` | {preset} | {r['batch']} | {r['negatives']} | {n} | {r['params']:,} | "
                    f"{r['seq_s']:.0f} | {r['pos_s']:,.0f} | {r['eval_users_s']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

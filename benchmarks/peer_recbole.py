"""The peer: stock RecBole 1.2.1 SASRec on OUR exact leave-one-out split of ml-latest-small.

RecBole is not a product dependency: it runs in its own virtualenv, with the same torch wheel.

    python3.11 -m venv .venv-recbole
    .venv-recbole/bin/python -m pip install torch==2.13.0        # the CPU wheel from local disk, first
    .venv-recbole/bin/python -m pip install recbole==1.2.1       # its own numpy/scipy/pandas; torch stays
    # RecBole 1.2.1 still writes np.float_ (gone in numpy 2) and needs a pandas/scipy built for numpy 1:
    .venv-recbole/bin/python -m pip install "numpy<2" "pandas<2.3" "scipy<1.15" "scikit-learn<1.7"

    .venv-recbole/bin/python benchmarks/peer_recbole.py recbole --epochs 1          # seconds per epoch
    .venv-recbole/bin/python benchmarks/peer_recbole.py recbole --epochs 200 --seed 0   # to its best epoch
    .venv/bin/python benchmarks/peer_recbole.py ours --epochs 3                      # ours, same machine

The split is built here with plain numpy/csv (no product import, so it runs in either venv) exactly as
``movielens_dag.recommender.data.leave_one_out`` builds it: each user's ratings in time order (ties keep
file order), the last item = test, the one before = validation, the rest = training; users with fewer
than 3 ratings only train. RecBole gets it as benchmark files (``.train/.valid/.test.inter``) with the
history in ``item_id_list``: training rows are every prefix -> next item of the training part (RecBole's
own augmentation, cut to the last 200 items), the validation row's history is the training part, the
test row's adds the validation item. Ranking is over all items with the user's full history excluded
(``HistoryExcludedSASRec``: stock SASRec, whose full-sort scores of the history items are set to -inf),
as our evaluation does. Stock SASRec settings: hidden 50, 2 layers, 1 head, inner size 256 (RecBole's
default), max length 200, dropout 0.2 (hidden and attention), lr 1e-3, batch 128, CE over all items,
early stopping on validation NDCG@10 (patience 10), test at the best validation epoch.
Prints per-epoch train seconds and a JSON line with the results.
"""

import argparse
import csv
import itertools
import json
import os
import sys
import tempfile
import time
import typing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RATINGS = ROOT / "data" / "movielens" / "ml-latest-small" / "ratings.csv"
MAX_LEN = 200


def leave_one_out() -> tuple[list[int], list[list[int]]]:
    """(user ids, each user's movie ids in time order; ties keep file order)."""
    with open(RATINGS, newline="") as f:
        rows = [(int(r["userId"]), int(r["movieId"]), int(r["timestamp"])) for r in csv.DictReader(f)]
    users = np.array([r[0] for r in rows])
    movies = np.array([r[1] for r in rows])
    times = np.array([r[2] for r in rows])
    order = np.lexsort((times, users))  # stable, as build_sequences
    users, movies = users[order], movies[order]
    ids, starts = np.unique(users, return_index=True)
    bounds = list(starts) + [len(users)]
    return ids.tolist(), [movies[a:b].tolist() for a, b in itertools.pairwise(bounds)]


def write_benchmark(folder: Path, name: str) -> dict[str, list[int]]:
    """The three benchmark files; returns each user's full history before its test item (for masking)."""
    users, seqs = leave_one_out()
    folder.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    files = {s: open(folder / f"{name}.{s}.inter", "w") for s in ("train", "valid", "test")}  # noqa: SIM115
    for f in files.values():
        f.write(header)
    history = {}
    for u, seq in zip(users, seqs):
        n_train = len(seq) - 2 if len(seq) >= 3 else len(seq)
        for t in range(1, n_train):
            files["train"].write(f"{u}\t{' '.join(map(str, seq[max(0, t - MAX_LEN) : t]))}\t{seq[t]}\n")
        if len(seq) >= 3:
            files["valid"].write(
                f"{u}\t{' '.join(map(str, seq[max(0, n_train - MAX_LEN) : n_train]))}\t{seq[n_train]}\n"
            )
            files["test"].write(
                f"{u}\t{' '.join(map(str, seq[max(0, n_train + 1 - MAX_LEN) : n_train + 1]))}\t{seq[n_train + 1]}\n"
            )
            history[str(u)] = seq[: n_train + 1]
    for f in files.values():
        f.close()
    return history


def run_recbole(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # RecBole's checkpoints hold its config
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="recbole-"))
    history = write_benchmark(work / "mlsmall", "mlsmall")

    class HistoryExcludedSASRec(SASRec):
        """Stock SASRec; full-sort scores of the user's whole history (train + valid items) are -inf.
        Validation rows carry the history up to the validation item, so its own target is never masked
        in validation (it is in ``history`` only for the test row, where it is history)."""

        mask: typing.ClassVar[dict[int, torch.Tensor]] = {}

        def full_sort_predict(self, interaction):
            scores = super().full_sort_predict(interaction)  # [B, n_items]
            seq = interaction[self.ITEM_SEQ]  # [B, L] history in the row (last 200)
            scores = scores.scatter(1, seq, float("-inf"))
            for i, u in enumerate(interaction[self.USER_ID].tolist()):
                full = self.mask.get(u)
                if full is not None:  # older history beyond the row's 200 items
                    keep = full[full != interaction[self.ITEM_ID][i]]
                    scores[i, keep] = float("-inf")
            scores[:, 0] = float("-inf")  # padding
            return scores

    config = Config(
        model=HistoryExcludedSASRec,
        dataset="mlsmall",
        config_dict={
            "data_path": str(work),
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
            "USER_ID_FIELD": "user_id",
            "ITEM_ID_FIELD": "item_id",
            "MAX_ITEM_LIST_LENGTH": MAX_LEN,
            "hidden_size": 50,
            "n_layers": 2,
            "n_heads": 1,
            # RecBole's SASRec.yaml defaults (a model class, unlike a model name, does not load them)
            "inner_size": 256,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-12,
            "initializer_range": 0.02,
            "hidden_dropout_prob": 0.2,
            "attn_dropout_prob": 0.2,
            "learning_rate": 1e-3,
            "train_batch_size": 128,
            "loss_type": "CE",
            "train_neg_sample_args": None,
            "eval_args": {"order": "TO", "mode": "full", "group_by": "user"},
            "metrics": ["Hit", "NDCG"],
            "topk": [10],
            "valid_metric": "NDCG@10",
            "epochs": args.epochs,
            "stopping_step": 10,
            "eval_batch_size": 256,
            "device": "cpu",
            "use_gpu": False,
            "seed": args.seed,
            "reproducibility": True,
            "show_progress": False,
            "save_dataset": False,
            "save_dataloaders": False,
            "checkpoint_dir": str(work / "saved"),
            "log_wandb": False,
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    uid = dataset.field2token_id["user_id"]
    iid = dataset.field2token_id["item_id"]
    HistoryExcludedSASRec.mask = {
        uid[u]: torch.tensor([iid[str(m)] for m in h if str(m) in iid]) for u, h in history.items()
    }
    model = HistoryExcludedSASRec(config, train.dataset)
    seconds: list[float] = []
    cpu: list[float] = []

    class TimedTrainer(Trainer):
        def _train_epoch(self, *a, **kw):
            t0, c0 = time.perf_counter(), time.process_time()
            out = super()._train_epoch(*a, **kw)
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            print(f"recbole epoch {len(seconds)}: train {seconds[-1]:.1f} s wall, {cpu[-1]:.1f} s CPU", flush=True)
            return out

    trainer = TimedTrainer(config, model)
    cpu0 = time.process_time()
    _, best_valid = trainer.fit(train, valid, saved=True, show_progress=False)
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    return {
        "peer": "recbole-1.2.1-sasrec",
        "seed": args.seed,
        "epochs_run": len(seconds),
        "best_epoch": trainer.best_valid_result and (len(seconds) - trainer.cur_step) or None,
        "train_rows": len(train.dataset),
        "seconds_per_epoch": float(np.mean(seconds)),
        "cpu_seconds_per_epoch": float(np.mean(cpu)),
        "cpu_seconds": time.process_time() - cpu0,
        "threads": args.threads,
        "valid": {k: float(v) for k, v in best_valid.items()},
        "test": {k: float(v) for k, v in result.items()},
    }


def run_ours(args: argparse.Namespace) -> dict:
    """Seconds per epoch of our small-preset training (hstu-id and sasrec-id) on the same split and machine."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from movielens_dag.paths import DataPaths, resolve_data_dir
    from movielens_dag.recommender.config import variant_config
    from movielens_dag.recommender.experiments import load_ratings, make_split
    from movielens_dag.recommender.train import LossContext, build_model, evaluate, train_epoch

    torch.set_num_threads(args.threads)
    split = make_split("leave_one_out", load_ratings(DataPaths(resolve_data_dir(None))))
    out = {}
    for variant in args.variants.split(","):
        cfg = variant_config(variant, "small")
        torch.manual_seed(args.seed)
        model = build_model(cfg, split.num_items, None)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
        rng, gen = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
        ctx = LossContext.of(split, "cpu")
        train_s, cpu_s, eval_s = [], [], []
        for epoch in range(args.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            train_epoch(model, opt, split, cfg, rng, gen, epoch, args.seed, ctx)
            t1 = time.perf_counter()
            cpu_s.append(time.process_time() - c0)
            evaluate(model, split, "valid", cfg.encoder.max_len, cfg.train.eval_batch_size)
            train_s.append(t1 - t0)
            eval_s.append(time.perf_counter() - t1)
            print(
                f"{variant} epoch {epoch + 1}: train {train_s[-1]:.1f} s wall, {cpu_s[-1]:.1f} s CPU, "
                f"validation {eval_s[-1]:.1f} s",
                flush=True,
            )
        out[variant] = {
            "seconds_per_epoch": float(np.mean(train_s)),
            "cpu_seconds_per_epoch": float(np.mean(cpu_s)),
            "validation_seconds": float(np.mean(eval_s)),
            "loss": cfg.train.loss,
            "windows": cfg.train.windows,
            "batch_size": cfg.train.batch_size,
        }
    return {"ours": out, "threads": args.threads}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=["recbole", "ours"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default="hstu-id,sasrec-id")
    args = p.parse_args()
    result = run_recbole(args) if args.which == "recbole" else run_ours(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

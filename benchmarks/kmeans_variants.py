"""Variants of the residual k-means fit that were measured and not adopted (issue 14, docs/benchmarks.md
"Semantic IDs at 27k and 87k movies"): cuts around the defaults, fitting on a sample first, and an int8
nearest-centroid search. Reads the cached MiniLM vectors that `benchmarks/semantic_ids.py` writes.

    python benchmarks/semantic_ids.py --threads 1 --real-like 27278 --no-real --baseline-rev ''  # makes the cache
    python benchmarks/kmeans_variants.py --n 27278 [--only cuts|sample|int8]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from movielens_dag.semantic_ids.kmeans import nearest
from movielens_dag.semantic_ids.rqkmeans import RQKMeans

LEVELS, CODES, SEEDS = 3, 128, (0, 1, 2)


def error(xp: torch.Tensor, residual: torch.Tensor) -> float:
    return float(residual.square().sum() / xp.square().sum())


def fit_default_with(x: torch.Tensor, seed: int, **overrides) -> tuple[float, float]:
    """Seconds and relative error of RQKMeans with some settings changed (spread off: error only)."""
    rq = RQKMeans(LEVELS, CODES, seed=seed, spread=0.0, **overrides)
    start = time.perf_counter()
    codes = rq.fit(x)
    seconds = time.perf_counter() - start
    xp = rq.prepare(x)
    return seconds, error(xp, xp - rq.decode(codes))


def fit_sample_first(x: torch.Tensor, seed: int, fraction: float, sweeps_on_sample: int, sweeps_on_all: int):
    """All levels and refinement sweeps on a random sample, then greedy codes for every point and
    ``sweeps_on_all`` refinement sweeps on all of them."""
    start = time.perf_counter()
    rq = RQKMeans(LEVELS, CODES, seed=seed, refine=sweeps_on_sample)
    xp = rq.prepare(x)
    n = xp.shape[0]
    size = max(64 * CODES, int(n * fraction))
    rows = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size] if size < n else torch.arange(n)
    rq.normalize = False
    rq.fit(xp[rows])
    residual, chosen = xp.clone(), torch.empty_like(xp)
    codes = torch.empty(n, LEVELS, dtype=torch.long)
    for level in range(LEVELS):
        codes[:, level], _ = nearest(residual, rq.codebooks[level])
        residual.sub_(torch.index_select(rq.codebooks[level], 0, codes[:, level], out=chosen))
    rq.refine = sweeps_on_all
    rq._refine(residual, codes, chosen)
    return time.perf_counter() - start, error(xp, residual)


def int8_search(r: torch.Tensor, c: torch.Tensor, margin_sigmas: float = 8.0, chunk: int = 8192):
    """Nearest centroid from an int8 product (torch._int_mm), rows whose best scores are within
    ``margin_sigmas`` estimated error sigmas of each other re-scored in fp32. Returns labels, re-scored rows."""
    n, d = r.shape
    sx = torch.linalg.vector_norm(r, ord=float("inf"), dim=1) / 127.0  # (N,) per-row scale
    q = torch.div(r, sx[:, None]).round_().to(torch.int8)
    sc = c.abs().amax(1) / 127.0  # (K,)
    p = (c / sc[:, None]).round_().to(torch.int8)
    c_err = (c - p.float() * sc[:, None]).norm(dim=1).max()
    c_sq, c_norm = (c * c).sum(1), c.norm(dim=1).max()
    r_norm = r.norm(dim=1)
    p_t = p.T.contiguous()
    labels, best, flagged = torch.empty(n, dtype=torch.long), torch.empty(n), []
    for s in range(0, n, chunk):
        rows = slice(s, min(s + chunk, n))
        scores = torch._int_mm(q[rows], p_t).float().mul_(-2.0 * sc).mul_(sx[rows, None]).add_(c_sq)  # (m, K)
        torch.min(scores, 1, out=(best[rows], labels[rows]))
        # error scale of a score: (||x|| ||e_c|| + ||e_x|| ||c||) / sqrt(d), ||e_x|| ~ sx sqrt(d / 12)
        sigma = 2 * (r_norm[rows] * c_err + sx[rows] * (d / 12) ** 0.5 * c_norm) / d**0.5
        close = (scores <= (best[rows] + margin_sigmas * sigma)[:, None]).sum(1) > 1
        flagged.append(torch.nonzero(close).squeeze(1) + s)
    redo = torch.cat(flagged)
    if redo.numel():
        labels[redo] = (c_sq - 2 * r[redo] @ c.T).argmin(1)
    return labels, redo.numel()


def median_ms(fn, repeats: int = 10) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=27_278, help="real-like vector set (cached by semantic_ids.py)")
    p.add_argument("--only", choices=["cuts", "sample", "int8"], action="append")
    p.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "movielens_dag_bench")
    args = p.parse_args()
    torch.set_num_threads(1)
    cache = args.cache_dir / f"minilm_synthetic_{args.n}_s0.npy"
    if not cache.exists():
        sys.exit(f"{cache} is missing: run benchmarks/semantic_ids.py --real-like {args.n} first")
    x = torch.from_numpy(np.load(cache))
    only = set(args.only or ["cuts", "sample", "int8"])

    def report(name: str, runs: list[tuple[float, float]]) -> None:
        errors = [e for _, e in runs]
        seconds = np.mean([s for s, _ in runs])
        print(f"{name:45s} seconds {seconds:.2f}  error {np.round(errors, 4)} mean {np.mean(errors):.4f}")

    if "cuts" in only:
        for overrides in [
            {},
            {"refine": 2},
            {"sample_iter": 7},
            {"init_sample": 16},
            {"coarse_sample": 48},
            {"refine": 2, "sample_iter": 14},
            {"refine": 4, "sample_iter": 6},
        ]:
            report(f"cuts {overrides or 'defaults'}", [fit_default_with(x, s, **overrides) for s in SEEDS])
    if "sample" in only:
        for fraction, on_sample, on_all in [(0.34, 3, 1), (0.34, 3, 2), (0.5, 3, 1)]:
            name = f"sample-first {fraction} of points, {on_sample}+{on_all} sweeps"
            report(name, [fit_sample_first(x, s, fraction, on_sample, on_all) for s in SEEDS])
    if "int8" in only:  # on the residuals each level of a default fit sees
        rq = RQKMeans(LEVELS, CODES, seed=0)
        codes = rq.fit(x)
        residual = rq.prepare(x)
        for level in range(LEVELS):
            c = rq.codebooks[level]
            exact = (c * c).sum(1) - 2 * residual @ c.T
            labels, redone = int8_search(residual, c)
            agree = float((labels == exact.argmin(1)).float().mean())
            q = residual.to(torch.int8)  # timing only: the product's cost does not depend on the values
            p_t = c.to(torch.int8).T.contiguous()
            print(
                f"int8 level {level}: agrees with fp32 on {agree:.5f} of rows, {redone / len(x):.3f} re-scored; "
                f"whole search {median_ms(lambda r=residual, c=c: int8_search(r, c)):.1f} ms vs fp32 "
                f"{median_ms(lambda r=residual, c=c: ((c * c).sum(1) - 2 * r @ c.T).min(1)):.1f} ms; "
                f"products alone int8 {median_ms(lambda q=q, p_t=p_t: torch._int_mm(q, p_t)):.1f} ms vs fp32 "
                f"{median_ms(lambda r=residual, c=c: r @ c.T):.1f} ms"
            )
            residual = residual - c[codes[:, level]]


if __name__ == "__main__":
    main()

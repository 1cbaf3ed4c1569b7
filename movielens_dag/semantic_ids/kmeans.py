"""Batched k-means in torch (CPU or GPU): greedy k-means++ seeding on a sample, Lloyd iterations on a
larger sample, then Lloyd iterations on all points; optional capacity-balanced assignment.

Distances come from one matrix multiply per chunk of rows (||x||^2 - 2 x.c + ||c||^2) written into a
reused buffer: on a CPU, allocating a fresh tensor of tens of MB costs as much as the matmul itself
(page faults), so the hot loops allocate nothing that large. Seeding and the balanced search may run
their matmuls in bf16 (AMX / tensor cores); Lloyd iterations, centroid sums, the inertia and the
labels are exact fp32. Deterministic for a given seed on a given device.
"""

import functools
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from movielens_dag.semantic_ids.settings import SemanticIdConfigError
from movielens_dag.semantic_ids.validation import check_codebook_dim

# The sample fit sees at least this share of the points: on 87,585 MiniLM movie vectors a fixed 64 * K
# sample left the fit 0.7 % above scikit-learn's error; a fifth of the points brought it below (benchmarks).
_MIN_SAMPLE_FRACTION = 0.2

# Rows per distance chunk: a (chunk, K) float32 block of 4 MiB stays in cache for the row-wise min.
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class KMeansResult:
    centroids: Tensor  # (K, d)
    labels: Tensor  # (N,) int64, index of each point's centroid
    inertia: float  # sum of squared distances to the assigned centroids
    n_iter: int  # full-data Lloyd iterations run
    timings: dict = field(default_factory=dict)  # seconds in seed / coarse / assign / update; distance_passes


def _chunks(n: int, k: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // k)
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


class Scorer:
    """x (N, d) prepared once for many nearest-centroid searches.

    ``scores(c)`` yields (rows, ||c||^2 - 2 x.c) chunk by chunk: the squared distance minus the per-row
    constant ||x||^2, as float32 (rows, K), in a buffer the next chunk overwrites. With ``bf16`` the
    rows carry an extra 1 (padded to a multiple of 32 for AMX tiles), so one bf16 matmul against
    [c, -||c||^2 / 2] gives the whole score: ~2-3x faster than fp32 on AMX / AVX512-BF16 / tensor
    cores, good to ~3 significant digits.
    """

    def __init__(self, x: Tensor, bf16: bool = False) -> None:
        self.n, self.d = x.shape
        self.bf16 = bf16
        if bf16:
            pad = -(self.d + 1) % 32
            x = torch.cat([x, x.new_ones(self.n, 1), x.new_zeros(self.n, pad)], 1).bfloat16()
        self.x = x  # (N, d) or (N, d + 1 + pad)

    def scores(self, c: Tensor) -> Iterator[tuple[slice, Tensor]]:
        c_sq = (c * c).sum(1)  # (K,)
        if self.bf16:
            pad = c.new_zeros(c.shape[0], self.x.shape[1] - self.d - 1)
            c_aug = torch.cat([c, -0.5 * c_sq[:, None], pad], 1).bfloat16()  # (K, d + 1 + pad)
        else:
            c_t = c.T.contiguous()  # (d, K)
        chunks = _chunks(self.n, c.shape[0])
        buf = torch.empty(chunks[0].stop, c.shape[0], dtype=torch.float32, device=c.device)
        for rows in chunks:
            out = buf[: rows.stop - rows.start]
            if self.bf16:
                yield rows, out.copy_(self.x[rows] @ c_aug.T).mul_(-2.0)
            else:
                yield rows, torch.addmm(c_sq, self.x[rows], c_t, beta=1.0, alpha=-2.0, out=out)


def _nearest(scorer: Scorer, c: Tensor, x_sq: Tensor) -> tuple[Tensor, Tensor]:
    labels = torch.empty(scorer.n, dtype=torch.long, device=c.device)
    dist = torch.empty(scorer.n, dtype=torch.float32, device=c.device)
    for rows, scores in scorer.scores(c):
        torch.min(scores, 1, out=(dist[rows], labels[rows]))
    return labels, (dist + x_sq).clamp_min_(0.0)  # rounding can make tiny distances negative


def nearest_to_shifted(x: Tensor, c: Tensor, codes: Tensor) -> Tensor:
    """Index of the nearest centroid to x_i + c[codes_i] for each row of x (N, d), without forming that
    (N, d) sum: (x_i + c_a).c_k = x_i.c_k + G[a, k] with the Gram matrix G = c c^T (K, K). The joint
    refinement's search (x is the residual without one level, ``codes`` that level's current codes)."""
    check_codebook_dim(x, c)
    gram = c @ c.T  # (K, K)
    labels = torch.empty(x.shape[0], dtype=torch.long, device=c.device)
    shift = None
    for rows, scores in Scorer(x).scores(c):  # scores = ||c||^2 - 2 x.c, per chunk (rows, K)
        if shift is None:
            shift = torch.empty_like(scores)
        part = torch.index_select(gram, 0, codes[rows], out=shift[: scores.shape[0]])  # (rows, K)
        torch.argmin(scores.sub_(part, alpha=2.0), 1, out=labels[rows])
    return labels


def _balanced(scorer: Scorer, c: Tensor, x_sq: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest centroid under a capacity of ceil(N/K) points per centroid.

    Rounds of proposals: every unassigned point proposes its nearest centroid that still has room;
    each centroid keeps its closest proposers up to its remaining room. A refused point was refused
    because that centroid filled up, so "nearest with room" is its next choice. Deterministic (ties
    go to the lower row index); usually a handful of rounds.
    """
    n, k = scorer.n, c.shape[0]
    d = torch.cat([scores.clone() for _, scores in scorer.scores(c)])  # each chunk's buffer is reused
    d = (d + x_sq[:, None]).clamp_min_(0.0)  # (N, K) squared distances
    room = torch.full((k,), math.ceil(n / k), dtype=torch.long, device=c.device)
    labels = torch.full((n,), -1, dtype=torch.long, device=c.device)
    todo = torch.arange(n, device=c.device)
    while todo.numel():
        dt = d[todo].masked_fill_((room == 0)[None, :], torch.inf)  # (m, K), full centroids ruled out
        dist, want = dt.min(1)  # (m,) nearest centroid with room
        # Group proposals by centroid, closest first, and rank them inside their group.
        order = dist.argsort(stable=True)
        order = order[want[order].argsort(stable=True)]
        counts = torch.bincount(want, minlength=k)
        rank = torch.arange(order.numel(), device=c.device) - (torch.cumsum(counts, 0) - counts)[want[order]]
        accepted = order[rank < room[want[order]]]
        labels[todo[accepted]] = want[accepted]
        room -= torch.bincount(want[accepted], minlength=k)
        keep = torch.ones(todo.numel(), dtype=torch.bool, device=c.device)
        keep[accepted] = False
        todo = todo[keep]
    return labels, d.gather(1, labels[:, None]).squeeze(1)


def _row_sq_norms(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x, dim=1).square()  # (N,), faster than (x * x).sum(1)


def nearest(x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Index of the nearest centroid for each row of x (N, d) and the squared distance to it (exact fp32)."""
    check_codebook_dim(x, c)
    return _nearest(Scorer(x), c, _row_sq_norms(x))


def balanced_assign(x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Like ``nearest`` but no centroid takes more than ceil(N/K) points (see _balanced)."""
    check_codebook_dim(x, c)
    return _balanced(Scorer(x), c, _row_sq_norms(x))


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """For small or scatter-like CPU ops, extra threads only add sync cost: on a loaded 2-core box,
    2 threads made k-means++ seeding ~30x and index_add_ ~60x slower than 1. Big matmuls keep all threads."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


PRECISIONS = ("auto", "ieee", "fast")


@functools.cache
def _cpu_has_bf16_matmul() -> bool:
    """AMX or AVX512-BF16: bf16 matmuls then run several times faster than fp32 ones."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _use_bf16(device: torch.device, precision: str) -> bool:
    """'fast': bf16 matmuls while searching; 'ieee': fp32 throughout; 'auto': fast on CUDA and on
    CPUs with bf16 matmul units (elsewhere bf16 is emulated and slower than fp32)."""
    if precision not in PRECISIONS:
        raise SemanticIdConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision == "fast" or (precision == "auto" and (device.type == "cuda" or _cpu_has_bf16_matmul()))


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator, fast: bool = False) -> Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; 2 + ln k trials per step as in scikit-learn).

    ``fast``: distances from a bf16 copy of x (seeding only needs rough distances).
    """
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    x_sq = _row_sq_norms(x)
    xm = x.bfloat16() if fast else x

    def dist_to(rows: Tensor) -> Tensor:  # (len(rows), n) squared distances to x[rows]
        dots = (xm @ xm[rows].T).float().T  # (n, d) @ (d, t) is the fastest layout for this skinny product
        return (x_sq[None] - 2 * dots + x_sq[rows, None]).clamp_min_(0.0)

    first = torch.randint(n, (1,), generator=generator, device="cpu").to(x.device)
    centers = [x[first]]
    closest = dist_to(first).squeeze(0)  # (n,) distance to the nearest chosen center
    for _ in range(1, k):
        probs = closest.cpu() + 1e-30  # all-zero when points repeat: sample uniformly
        cand = torch.multinomial(probs, trials, replacement=True, generator=generator).to(x.device)
        new_closest = torch.minimum(closest[None], dist_to(cand))  # (trials, n)
        best = new_closest.sum(1).argmin()  # the trial that lowers the potential most
        centers.append(x[cand[best]][None])
        closest = new_closest[best]
    return torch.cat(centers)


def _update(x: Tensor, labels: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per-centroid sums and counts. index_add_ on CPU; one-hot matmul on GPU (no atomics, so reproducible)."""
    counts = torch.bincount(labels, minlength=k).to(x.dtype)
    if x.device.type == "cpu":
        sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)
    else:
        sums = torch.nn.functional.one_hot(labels, k).to(x.dtype).T @ x
    return sums, counts


def _lloyd(
    x: Tensor, c: Tensor, iters: int, tol: float, timings: dict, balanced: bool = False, bf16: bool = False
) -> tuple[Tensor, Tensor, float, int]:
    """``iters`` Lloyd iterations at most (assign, then move every centroid to its cluster's mean); stops
    early when the inertia improves by less than ``tol`` (relative). Returns the centroids (the means of
    the last assignment's clusters; an empty cluster's centroid moves to a worst-served point, as in
    scikit-learn), the last labels, the exact inertia of those labels about those centroids, and the
    iterations run. ``bf16``: the balanced search's matmuls in bf16 (the nearest search is exact fp32)."""
    k = c.shape[0]
    x_sq = _row_sq_norms(x)
    x_sq_sum = x_sq.double().sum().item()
    scorer = Scorer(x, bf16=balanced and bf16)
    assign = _balanced if balanced else _nearest
    prev, it, labels, inertia = math.inf, 0, None, math.inf
    for it in range(1, iters + 1):  # noqa: B007 - `it` is read after the loop: the iterations run
        tick = time.perf_counter()
        labels, dist = assign(scorer, c, x_sq)
        timings["assign"] += time.perf_counter() - tick
        timings["distance_passes"] += x.shape[0] / timings["n"]
        tick = time.perf_counter()
        with _one_cpu_thread(x.device):
            sums, counts = _update(x, labels, k)  # exact fp32 sums whatever the search precision
        empty = counts == 0
        c = sums / counts.clamp_min(1.0)[:, None]
        inertia = _inertia_about_means(x_sq_sum, sums, counts)
        if empty.any():
            c[empty] = x[dist.argsort(descending=True, stable=True)[: int(empty.sum())]]
        timings["update"] += time.perf_counter() - tick
        if prev - inertia <= tol * inertia:
            break
        prev = inertia
    return c, labels, inertia, it


def _inertia_about_means(x_sq_sum: float, sums: Tensor, counts: Tensor) -> float:
    """sum_i ||x_i - m_{l_i}||^2 with m_k the mean of cluster k: sum ||x||^2 - sum_k ||S_k||^2 / n_k."""
    sums, counts = sums.double(), counts.double()
    return x_sq_sum - ((sums * sums).sum(1) / counts.clamp_min(1.0)).sum().item()


def kmeans(
    x: Tensor,
    k: int,
    *,
    max_iter: int = 100,
    sample_iter: int = 10,
    tol: float = 1e-5,
    seed: int = 0,
    balanced: bool = False,
    init_sample: int | None = 32,
    coarse_sample: int | None = 64,
    precision: str = "auto",
) -> KMeansResult:
    """Lloyd's k-means on x (N, d) float32, most of the work on samples.

    Greedy k-means++ on ``init_sample * k`` random points; ``sample_iter`` Lloyd iterations on a sample
    of ``coarse_sample * k`` points, at least a fifth of all (all of them when that is over half, or
    with ``coarse_sample=None``; ``sample_iter=0`` skips this); then ``max_iter`` iterations on all
    points at most (with ``balanced``, capacity-limited assignments). Residual k-means runs one: on
    MiniLM movie vectors the seeding and the sample fit decide the quality, and its joint refinement
    (``RQKMeans.refine``) does what more full-data iterations would, better.
    Returned: centroids = the means of the returned labels' clusters, labels = the last assignment
    (exact fp32; ``precision``, see _use_bf16, sets only the seeding and balanced-search matmuls), the
    exact inertia of that pair, and ``timings`` (seconds per stage, full-data distance passes).
    """
    n, _ = x.shape
    if k > n:
        raise SemanticIdConfigError(f"k-means with {k} codes needs at least {k} points, got {n}; lower `codes`")
    if max_iter < 1:
        raise SemanticIdConfigError(f"max_iter must be >= 1, got {max_iter}")
    fast = _use_bf16(x.device, precision)
    timings = {"seed": 0.0, "coarse": 0.0, "assign": 0.0, "update": 0.0, "distance_passes": 0.0, "n": n}
    tick = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen).to(x.device)
    seeds = x if init_sample is None or n <= init_sample * k else x[order[: init_sample * k]]
    with _one_cpu_thread(x.device):
        centroids = kmeans_plus_plus(seeds, k, gen, fast)
    timings["seed"] = time.perf_counter() - tick
    if sample_iter > 0:  # on all points when a sample would hold most of them anyway
        tick = time.perf_counter()
        on_sample = {"assign": 0.0, "update": 0.0, "distance_passes": 0.0, "n": n}
        size = n if coarse_sample is None else max(coarse_sample * k, int(n * _MIN_SAMPLE_FRACTION))
        sample = x if 2 * size >= n else x[order[:size]]
        centroids, *_ = _lloyd(sample, centroids, sample_iter, tol, on_sample)
        timings["distance_passes"] += on_sample["distance_passes"]
        timings["coarse"] = time.perf_counter() - tick
    centroids, labels, inertia, it = _lloyd(x, centroids, max_iter, tol, timings, balanced, fast)
    del timings["n"]
    return KMeansResult(centroids=centroids, labels=labels, inertia=inertia, n_iter=it, timings=timings)

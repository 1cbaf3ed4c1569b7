"""Batched k-means in torch (CPU or GPU): greedy k-means++ seeding on a sample, Lloyd to convergence on
a larger sample, then exact Lloyd iterations on all points that recompute only the distances to the
centroids that moved; optional capacity-balanced assignment.

Distances come from one matrix multiply per chunk (||x||^2 - 2 x.c + ||c||^2). Seeding and the
balanced search may run those matmuls in bf16 (AMX / tensor cores); Lloyd iterations, centroid sums,
the inertia and the final assignment are exact fp32. Deterministic for a given seed on a given device.
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

# Rows per distance chunk: bounds the (chunk, K) distance matrix to ~64 MiB of float32.
_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class KMeansResult:
    centroids: Tensor  # (K, d)
    labels: Tensor  # (N,) int64, index of each point's centroid
    inertia: float  # sum of squared distances to the assigned centroids
    n_iter: int  # Lloyd iterations run
    timings: dict = field(default_factory=dict)  # seconds in seed / assign / update / final, checked_rows


def _chunks(n: int, k: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // k)
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


class Scorer:
    """x (N, d) prepared once for many nearest-centroid searches.

    ``scores(c)`` yields (rows, ||c||^2 - 2 x.c) chunk by chunk: the squared distance minus the per-row
    constant ||x||^2, as float32 (rows, K). With ``bf16`` the rows carry an extra 1 (padded to a multiple
    of 32 for AMX tiles), so one bf16 matmul against [c, -||c||^2 / 2] gives the whole score: ~3x
    faster than fp32 on AMX / tensor cores, good to ~3 significant digits.
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
        for rows in _chunks(self.n, c.shape[0]):
            if self.bf16:
                yield rows, (self.x[rows] @ c_aug.T).float().mul_(-2.0)
            else:
                yield rows, torch.addmm(c_sq, self.x[rows], c.T, beta=1.0, alpha=-2.0)


def _nearest(scorer: Scorer, c: Tensor, x_sq: Tensor) -> tuple[Tensor, Tensor]:
    labels = torch.empty(scorer.n, dtype=torch.long, device=c.device)
    dist = torch.empty(scorer.n, dtype=torch.float32, device=c.device)
    for rows, scores in scorer.scores(c):
        dist[rows], labels[rows] = scores.min(1)
    return labels, (dist + x_sq).clamp_min_(0.0)  # rounding can make tiny distances negative


def _balanced(scorer: Scorer, c: Tensor, x_sq: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest centroid under a capacity of ceil(N/K) points per centroid.

    Rounds of proposals: every unassigned point proposes its nearest centroid that still has room;
    each centroid keeps its closest proposers up to its remaining room. A refused point was refused
    because that centroid filled up, so "nearest with room" is its next choice. Deterministic (ties
    go to the lower row index); usually a handful of rounds.
    """
    n, k = scorer.n, c.shape[0]
    d = torch.cat([scores for _, scores in scorer.scores(c)])
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


def _inertia(x_sq_sum: float, c: Tensor, sums: Tensor, counts: Tensor) -> float:
    """sum_i ||x_i - c_{l_i}||^2 from per-cluster sums: sum ||x||^2 - 2 sum_k c_k.S_k + sum_k n_k ||c_k||^2.
    Exact for the given labels even when they came from a reduced-precision matmul."""
    c, sums, counts = c.double(), sums.double(), counts.double()
    return x_sq_sum - 2.0 * (c * sums).sum().item() + (counts * (c * c).sum(1)).sum().item()


# Above this many (point, centroid) scores, Lloyd recomputes every distance each iteration instead of
# keeping the (N, K) table (2^27 float32 = 512 MiB; 87,585 movies x 128 codes is 45 MiB).
_MAX_TABLE = 1 << 27


def _lloyd_moved(
    scorer: Scorer, x: Tensor, c: Tensor, x_sq_sum: float, max_iter: int, tol: float, timings: dict
) -> tuple[Tensor, int]:
    """Lloyd iterations that recompute only the distances to the centroids that moved.

    An (N, K) table holds every score ||c||^2 - 2 x.c. Once the first iterations have settled most
    clusters, few centroids move (on MiniLM movie vectors: half of them after ~10 iterations, a
    handful near the end), so an iteration costs a fraction of a full distance pass. Centroid sums
    are updated from the points that changed cluster and are exact fp32; so is the inertia that
    decides convergence. With an fp32 scorer these are exactly plain Lloyd's iterates.
    """
    k = c.shape[0]
    tick = time.perf_counter()
    table = torch.cat([scores for _, scores in scorer.scores(c)])  # (N, K)
    best, labels = table.min(1)
    sums, counts = _update(x, labels, k)
    timings["assign"] += time.perf_counter() - tick
    passes, prev, it = 1.0, math.inf, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is read after the loop: the iterations run
        tick = time.perf_counter()
        inertia = _inertia(x_sq_sum, c, sums, counts)
        if prev - inertia <= tol * inertia:
            break
        prev = inertia
        new_c = sums / counts.clamp_min(1.0)[:, None]
        empty = counts == 0
        if empty.any():  # re-seed with the worst-served points (largest score + ||x||^2), as scikit-learn does
            far = (best + _row_sq_norms(x)).argsort(descending=True, stable=True)[: int(empty.sum())]
            new_c[empty] = x[far]
        moved = torch.nonzero((new_c != c).any(1)).squeeze(1)
        if moved.numel() == 0:  # a fixed point: nothing can change any more
            break
        c = new_c
        timings["update"] += time.perf_counter() - tick
        tick = time.perf_counter()
        table[:, moved] = torch.cat([scores for _, scores in scorer.scores(c[moved])])
        passes += moved.numel() / k
        best, new_labels = table.min(1)
        changed = torch.nonzero(new_labels != labels).squeeze(1)
        timings["assign"] += time.perf_counter() - tick
        tick = time.perf_counter()
        if changed.numel():
            old, new = labels[changed], new_labels[changed]
            sums.index_add_(0, new, x[changed]).index_add_(0, old, x[changed], alpha=-1.0)
            counts += torch.bincount(new, minlength=k).to(counts.dtype) - torch.bincount(old, minlength=k).to(
                counts.dtype
            )
            labels = new_labels
        if empty.any():  # re-seeded centroids: recount exactly
            sums, counts = _update(x, labels, k)
        timings["update"] += time.perf_counter() - tick
    timings["distance_passes"] = timings.get("distance_passes", 0.0) + passes * x.shape[0] / timings["n"]
    return c, it


def _lloyd_full(
    x: Tensor,
    centroids: Tensor,
    x_sq: Tensor,
    x_sq_sum: float,
    max_iter: int,
    tol: float,
    fast: bool,
    balanced: bool,
    timings: dict,
) -> tuple[Tensor, int]:
    """Plain Lloyd iterations, every distance every iteration (balanced assignment, or too many points
    for the distance table); ``fast``: bf16 search matmuls, exact fp32 sums."""
    k = centroids.shape[0]
    assign = _balanced if balanced else _nearest
    search = Scorer(x, bf16=fast)  # prepared once, not per iteration
    prev, it = math.inf, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is read after the loop: the iterations run
        tick = time.perf_counter()
        labels, dist = assign(search, centroids, x_sq)
        timings["assign"] += time.perf_counter() - tick
        tick = time.perf_counter()
        with _one_cpu_thread(x.device):
            sums, counts = _update(x, labels, k)  # exact fp32 sums whatever the search precision
        inertia = _inertia(x_sq_sum, centroids, sums, counts)
        timings["update"] += time.perf_counter() - tick
        if prev - inertia <= tol * inertia:
            break
        prev = inertia
        empty = counts == 0
        if empty.any():
            far = dist.argsort(descending=True, stable=True)[: int(empty.sum())]
            sums[empty], counts[empty] = x[far], 1.0
        centroids = sums / counts[:, None]
    timings["distance_passes"] = timings.get("distance_passes", 0.0) + float(it) * x.shape[0] / timings["n"]
    return centroids, it


def kmeans(
    x: Tensor,
    k: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    seed: int = 0,
    balanced: bool = False,
    init_sample: int | None = 64,
    coarse_sample: int | None = 64,
    precision: str = "auto",
) -> KMeansResult:
    """Lloyd's k-means on x (N, d) float32.

    Seeding: greedy k-means++ on ``init_sample * k`` random points, then (unless balanced) Lloyd on
    ``coarse_sample * k`` random points to convergence; the full data starts from those centroids, so
    it needs few iterations (None: skip a stage / use all points). Full-data iterations stop after
    ``max_iter`` or when the inertia improves by less than ``tol`` (relative) or no centroid moves;
    they recompute only the distances to moved centroids (``_lloyd_moved``, exact fp32: bf16 distances
    mislabel enough near-boundary points on MiniLM residuals to cost ~4 % error). Empty clusters move
    to the points farthest from their centroid. ``precision`` (see _use_bf16) sets the matmuls of the
    seeding and of the balanced search; centroid sums, the inertia and the returned labels (an
    assignment to the returned centroids) are exact fp32. ``timings`` says where the seconds went.
    """
    n, _ = x.shape
    if k > n:
        raise SemanticIdConfigError(f"k-means with {k} codes needs at least {k} points, got {n}; lower `codes`")
    timings = {"seed": 0.0, "coarse": 0.0, "assign": 0.0, "update": 0.0, "final": 0.0, "n": n}
    tick = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen).to(x.device) if init_sample is not None and n > init_sample * k else None
    fast = _use_bf16(x.device, precision)
    with _one_cpu_thread(x.device):
        centroids = kmeans_plus_plus(x if order is None else x[order[: init_sample * k]], k, gen, fast)
    timings["seed"] = time.perf_counter() - tick
    x_sq = _row_sq_norms(x)
    x_sq_sum = x_sq.double().sum().item()
    full = balanced or k * n > _MAX_TABLE
    if not full and coarse_sample is not None and n > 2 * coarse_sample * k:
        tick = time.perf_counter()
        order = torch.randperm(n, generator=gen).to(x.device) if order is None else order
        sample = x[order[: coarse_sample * k]]
        sample_sq_sum = _row_sq_norms(sample).double().sum().item()
        centroids, _ = _lloyd_moved(Scorer(sample), sample, centroids, sample_sq_sum, max_iter, tol, timings)
        timings["coarse"] = time.perf_counter() - tick
    if full:
        centroids, it = _lloyd_full(x, centroids, x_sq, x_sq_sum, max_iter, tol, fast, balanced, timings)
    else:
        centroids, it = _lloyd_moved(Scorer(x), x, centroids, x_sq_sum, max_iter, tol, timings)
    tick = time.perf_counter()
    assign = _balanced if balanced else _nearest
    labels, dist = assign(Scorer(x), centroids, x_sq)  # the codes we hand out: exact fp32
    timings["final"] = time.perf_counter() - tick
    del timings["n"]
    return KMeansResult(
        centroids=centroids, labels=labels, inertia=dist.double().sum().item(), n_iter=it, timings=timings
    )

"""Residual k-means (RQ-KMeans): L levels of k-means, each fitted on the residual of the previous.

After the greedy level-by-level fit, ``refine`` sweeps revisit each level with the others fixed (its
codes and centroids re-fitted to x minus the other levels' reconstruction; every step lowers the total
error), then the training codes are re-encoded greedily so they are exactly what ``encode`` gives.
``spread`` (off by default here, on in the pipeline's settings) then moves items whose full code is
already taken to a nearly-as-close free last-level code: fewer collisions for a small error cost.
"""

import time

import torch
from torch import Tensor

from movielens_dag.semantic_ids.kmeans import _update, kmeans, nearest
from movielens_dag.semantic_ids.settings import SemanticIdConfigError, check_sizes
from movielens_dag.semantic_ids.validation import check_codebook_dim, check_embeddings


def l2_normalize(x: Tensor) -> Tensor:
    norms = x.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        rows = torch.nonzero(norms.squeeze(1) == 0).squeeze(1)[:5].tolist()
        raise SemanticIdConfigError(
            f"rows {rows} are all-zero vectors and cannot be L2-normalised; fix the embeddings or set normalize=False"
        )
    return x / norms


class RQKMeans:
    """L levels x K codes of residual k-means. ``fit`` learns codebooks (L, K, d) and returns codes."""

    def __init__(
        self,
        levels: int = 3,
        codes: int = 128,
        *,
        normalize: bool = True,
        balanced: bool = False,
        max_iter: int = 10,
        tol: float = 1e-5,
        seed: int = 0,
        init_sample: int | None = 64,
        coarse_sample: int | None = 64,
        refine: int = 2,
        spread: float = 0.0,
        precision: str = "auto",
        device: str | torch.device = "cpu",
    ) -> None:
        if levels < 1 or codes < 2:
            raise SemanticIdConfigError(f"need levels >= 1 and codes >= 2, got levels={levels}, codes={codes}")
        self.levels, self.codes = levels, codes
        self.normalize, self.balanced = normalize, balanced
        self.max_iter, self.tol, self.seed, self.init_sample = max_iter, tol, seed, init_sample
        self.coarse_sample = coarse_sample
        if refine < 0 or spread < 0:
            raise SemanticIdConfigError(f"refine and spread must be >= 0, got {refine} and {spread}")
        self.refine, self.spread = refine, spread
        self.precision = precision
        self.device = torch.device(device)
        self.codebooks: Tensor | None = None  # (L, K, d)
        self.inertia: list[float] = []  # per level, after fitting
        self.n_iter: list[int] = []
        self.timings: list[dict] = []  # per level: seconds in seed / coarse / assign / update / final
        self.stage_seconds: dict[str, float] = {}  # levels / refine / spread

    def prepare(self, x: Tensor) -> Tensor:
        """The vectors that are quantised: float32 on the device, L2-normalised if configured."""
        x = check_embeddings(x).to(self.device, torch.float32)
        return l2_normalize(x) if self.normalize else x

    def fit(self, x: Tensor) -> Tensor:
        """Fit on x (N, d); return the training codes (N, L) int64 (balanced codes if ``balanced``)."""
        x = self.prepare(x)
        check_sizes(x.shape[0], self.codes, self.levels)
        residual, books, codes = x, [], []
        self.inertia, self.n_iter, self.timings = [], [], []
        tick = time.perf_counter()
        for level in range(self.levels):
            res = kmeans(
                residual,
                self.codes,
                max_iter=self.max_iter,
                tol=self.tol,
                seed=self.seed * 1000 + level,
                balanced=self.balanced,
                init_sample=self.init_sample,
                coarse_sample=self.coarse_sample,
                precision=self.precision,
            )
            books.append(res.centroids)
            codes.append(res.labels)
            residual = residual - res.centroids[res.labels]  # (N, d) what the next level must explain
            self.inertia.append(res.inertia)
            self.n_iter.append(res.n_iter)
            self.timings.append(res.timings)
        self.codebooks = torch.stack(books)  # (L, K, d)
        codes_t = torch.stack(codes, dim=1)
        self.stage_seconds = {"levels": time.perf_counter() - tick, "refine": 0.0, "spread": 0.0}
        if self.balanced:  # refining or spreading would break the per-code capacity
            return codes_t
        if self.refine:
            tick = time.perf_counter()
            self.codebooks = self._refine(x, codes_t)
            codes_t, residuals = self.encode_with_residuals(x)  # training codes == encode(x), exactly
            self.inertia = [(r.double() ** 2).sum().item() for r in residuals]
            self.stage_seconds["refine"] = time.perf_counter() - tick
        if self.spread:
            tick = time.perf_counter()
            codes_t = self._spread(x, codes_t)
            self.stage_seconds["spread"] = time.perf_counter() - tick
        return codes_t

    def _refine(self, x: Tensor, codes: Tensor) -> Tensor:
        """``refine`` sweeps of block coordinate descent on ||x - sum_l C_l[codes_l]||^2, one level at a time."""
        books = self._books().clone()  # (L, K, d)
        codes = codes.clone()
        residual = x - sum(books[level][codes[:, level]] for level in range(self.levels))  # (N, d)
        for _ in range(self.refine):
            for level in range(self.levels):
                target = residual + books[level][codes[:, level]]  # x minus every other level
                labels, _ = nearest(target, books[level])
                sums, counts = _update(target, labels, self.codes)
                used = counts > 0  # an unused code keeps its centroid
                books[level][used] = sums[used] / counts[used, None]
                codes[:, level] = labels
                residual = target - books[level][labels]
        return books

    def _spread(self, x: Tensor, codes: Tensor) -> Tensor:
        """Items sharing a full code, best-fitting first, keep it or take the nearest last-level code that no
        item with the same prefix has, if its squared distance is within (1 + spread) of theirs."""
        _, group, size = torch.unique(codes, dim=0, return_inverse=True, return_counts=True)
        shared = torch.nonzero(size[group] > 1).squeeze(1)  # (S,) items in a collision
        if shared.numel() == 0:
            return codes
        books, last = self._books(), self.levels - 1
        before_last = x[shared] - sum(books[level][codes[shared, level]] for level in range(last))  # (S, d)
        dist = torch.cdist(before_last, books[last]).square_()  # (S, K)
        own = dist.gather(1, codes[shared, last:]).squeeze(1)  # (S,)
        ranked = dist.argsort(dim=1, stable=True)[:, :8].tolist()  # candidate codes, nearest first
        taken = {tuple(c) for c in codes[size[group] == 1].tolist()}
        out = codes.clone()
        prefixes, limits = codes[shared, :last].tolist(), (own * (1 + self.spread)).tolist()
        for s in own.argsort(stable=True).tolist():
            chosen = codes[shared[s], last].item()
            for j in ranked[s]:
                if dist[s, j].item() > limits[s]:
                    break
                if tuple(prefixes[s] + [j]) not in taken:
                    chosen = j
                    break
            out[shared[s], last] = chosen
            taken.add(tuple(prefixes[s] + [chosen]))
        return out

    def encode(self, x: Tensor) -> Tensor:
        """Greedy nearest-centroid codes (N, L) for new vectors (no capacity limit)."""
        return self.encode_with_residuals(x)[0]

    def encode_with_residuals(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Codes (N, L) and the residual left after each level, L x (N, d)."""
        books = self._books()
        residual = self.prepare(x)
        check_codebook_dim(residual, books[0])
        codes, residuals = [], []
        for level in range(self.levels):
            labels, _ = nearest(residual, books[level])
            residual = residual - books[level][labels]
            codes.append(labels)
            residuals.append(residual)
        return torch.stack(codes, dim=1), residuals

    def decode(self, codes: Tensor) -> Tensor:
        """Sum of the chosen centroids, (N, L) -> (N, d); extra columns (a uniqueness digit) are ignored."""
        books = self._books()
        codes = codes.to(self.device, torch.long)
        if codes.ndim != 2 or codes.shape[1] < self.levels:
            raise SemanticIdConfigError(f"codes must be (N, >= {self.levels}), got {tuple(codes.shape)}")
        used = codes[:, : self.levels]
        if codes.numel() and (int(used.min()) < 0 or int(used.max()) >= self.codes):
            raise SemanticIdConfigError(f"codes must lie in [0, {self.codes}) for a codebook of {self.codes} codes")
        return sum(books[level][codes[:, level]] for level in range(self.levels))

    def _books(self) -> Tensor:
        if self.codebooks is None:
            raise SemanticIdConfigError("RQKMeans is not fitted yet: call fit(x) first")
        return self.codebooks

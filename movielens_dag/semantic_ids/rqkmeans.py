"""Residual k-means (RQ-KMeans): L levels of k-means, each fitted on the residual of the previous.

After the greedy level-by-level fit, ``refine`` sweeps revisit each level with the others fixed (its
codes and centroids re-fitted to x minus the other levels' reconstruction; every step lowers the total
error). The training codes are the refined ones; ``encode`` gives new vectors codes the same way: greedy
nearest centroids, then ``encode_rounds`` rounds that re-pick each level's code with the others fixed
(greedy alone would lose ~1.5 % of the refined error on MiniLM movie vectors). ``spread`` (off by
default here, on in the pipeline's settings) then moves items whose full code is already taken to a
nearly-as-close free last-level code: fewer collisions for a small error cost.

Every (N, d) update happens in place: on a CPU a fresh tensor of that size costs as much as a
distance pass (see kmeans.py).
"""

import time

import torch
from torch import Tensor

from movielens_dag.semantic_ids.kmeans import _update, kmeans, nearest, nearest_to_shifted
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
        max_iter: int = 1,
        sample_iter: int = 10,
        tol: float = 1e-5,
        seed: int = 0,
        init_sample: int | None = 32,
        coarse_sample: int | None = 64,
        refine: int = 3,
        encode_rounds: int = 1,
        spread: float = 0.0,
        precision: str = "auto",
        device: str | torch.device = "cpu",
    ) -> None:
        if levels < 1 or codes < 2:
            raise SemanticIdConfigError(f"need levels >= 1 and codes >= 2, got levels={levels}, codes={codes}")
        if refine < 0 or spread < 0 or encode_rounds < 0:
            raise SemanticIdConfigError(
                f"refine, encode_rounds and spread must be >= 0, got {refine}, {encode_rounds} and {spread}"
            )
        self.levels, self.codes = levels, codes
        self.normalize, self.balanced = normalize, balanced
        self.max_iter, self.sample_iter, self.tol, self.seed = max_iter, sample_iter, tol, seed
        self.init_sample, self.coarse_sample = init_sample, coarse_sample
        self.refine, self.encode_rounds, self.spread = refine, encode_rounds, spread
        self.precision = precision
        self.device = torch.device(device)
        self.codebooks: Tensor | None = None  # (L, K, d)
        self.inertia: list[float] = []  # per level: residual energy left after levels 0..l, training codes
        self.n_iter: list[int] = []
        self.timings: list[dict] = []  # per level: seconds in seed / coarse / assign / update, distance passes
        self.stage_seconds: dict[str, float] = {}  # levels / refine / spread

    def prepare(self, x: Tensor) -> Tensor:
        """The vectors that are quantised: float32 on the device, L2-normalised if configured."""
        x = check_embeddings(x).to(self.device, torch.float32)
        return l2_normalize(x) if self.normalize else x

    def fit(self, x: Tensor) -> Tensor:
        """Fit on x (N, d); return the training codes (N, L) int64 (balanced codes if ``balanced``)."""
        x = self.prepare(x)
        check_sizes(x.shape[0], self.codes, self.levels)
        residual = x.clone()  # (N, d) what the next level must explain, updated in place
        chosen = torch.empty_like(x)  # (N, d) scratch: the centroids picked for each row
        books, codes = [], []
        self.n_iter, self.timings = [], []
        tick = time.perf_counter()
        for level in range(self.levels):
            res = kmeans(
                residual,
                self.codes,
                max_iter=self.max_iter,
                sample_iter=self.sample_iter,
                tol=self.tol,
                seed=self.seed * 1000 + level,
                balanced=self.balanced,
                init_sample=self.init_sample,
                coarse_sample=self.coarse_sample,
                precision=self.precision,
            )
            books.append(res.centroids)
            codes.append(res.labels)
            residual.sub_(torch.index_select(res.centroids, 0, res.labels, out=chosen))
            self.n_iter.append(res.n_iter)
            self.timings.append(res.timings)
        self.codebooks = torch.stack(books)  # (L, K, d)
        codes_t = torch.stack(codes, dim=1)  # (N, L)
        self.stage_seconds = {"levels": time.perf_counter() - tick, "refine": 0.0, "spread": 0.0}
        if not self.balanced and self.refine:  # refining or spreading would break the per-code capacity
            tick = time.perf_counter()
            self._refine(residual, codes_t, chosen)
            self.stage_seconds["refine"] = time.perf_counter() - tick
        self.inertia = self._energies(residual, codes_t, chosen)
        if not self.balanced and self.spread:
            tick = time.perf_counter()
            codes_t = self._spread(x, codes_t)
            self.stage_seconds["spread"] = time.perf_counter() - tick
        return codes_t

    def _refine(self, residual: Tensor, codes: Tensor, chosen: Tensor) -> None:
        """``refine`` sweeps of block coordinate descent on ||x - sum_l C_l[codes_l]||^2, one level at a
        time; updates the codebooks, codes (N, L) and residual (N, d) in place.

        Each level's target is t = residual + C[old codes] (x minus every other level), but it is never
        formed: the search uses the Gram trick (``nearest_to_shifted``), the new cluster sums add the old
        centroids per (new, old) code pair, and the residual moves by one gather from the few distinct
        pairs' differences C[old] - C'[new]. On a CPU each skipped (N, d) pass costs about a fifth of
        the search (see kmeans.py)."""
        books, k = self._books(), self.codes
        for _ in range(self.refine):
            for level in range(self.levels):
                book, old = books[level], codes[:, level]
                labels = nearest_to_shifted(residual, book, old)  # (N,)
                pairs, inverse, pair_counts = torch.unique(
                    labels * k + old, return_inverse=True, return_counts=True
                )  # (P,) distinct (new, old) code pairs, P << N
                new_codes, old_codes = pairs // k, pairs % k
                sums, counts = _update(residual, labels, k)  # sum of t = sum of residual + sum of C[old]
                sums.index_add_(0, new_codes, book[old_codes] * pair_counts[:, None].to(book.dtype))
                new_book = book.clone()
                used = counts > 0  # an unused code keeps its centroid
                new_book[used] = sums[used] / counts[used, None]
                delta = book[old_codes] - new_book[new_codes]  # (P, d)
                residual.add_(torch.index_select(delta, 0, inverse, out=chosen))  # t - C'[new]
                books[level] = new_book
                codes[:, level] = labels

    def _energies(self, residual: Tensor, codes: Tensor, chosen: Tensor) -> list[float]:
        """Residual energy sum ||x - sum_{l' <= l} C_l'[codes_l']||^2 after each level l, from the final
        residual (N, d), which this adds the later levels back into, in place."""
        out = [torch.linalg.vector_norm(residual).double().square().item()]
        for level in range(self.levels - 1, 0, -1):
            residual.add_(torch.index_select(self._books()[level], 0, codes[:, level], out=chosen))
            out.append(torch.linalg.vector_norm(residual).double().square().item())
        return out[::-1]

    def _spread(self, x: Tensor, codes: Tensor) -> Tensor:
        """Items sharing a full code, best-fitting first, keep it or take the nearest last-level code that no
        item with the same prefix has, if its squared distance is within (1 + spread) of theirs."""
        key = self._code_keys(codes)  # (N,) one integer per full code, prefix * K + last code
        _, group, size = torch.unique(key, return_inverse=True, return_counts=True)
        shared = torch.nonzero(size[group] > 1).squeeze(1)  # (S,) items in a collision
        if shared.numel() == 0:
            return codes
        books, last = self._books(), self.levels - 1
        before_last = x[shared] - sum(books[level][codes[shared, level]] for level in range(last))  # (S, d)
        dist = torch.cdist(before_last, books[last]).square_()  # (S, K)
        own = dist.gather(1, codes[shared, last:]).squeeze(1)  # (S,)
        cand_dist, cand = dist.topk(min(8, self.codes), dim=1, largest=False)  # nearest codes first
        fits = (cand_dist <= (own * (1 + self.spread))[:, None]).tolist()  # within budget, per candidate
        cand = cand.tolist()
        taken = set(key[size[group] == 1].tolist())
        out = codes.clone()
        prefix = (key[shared] - codes[shared, last]).tolist()
        mine = codes[shared, last].tolist()
        for s in own.argsort(stable=True).tolist():
            chosen = mine[s]
            for j, ok in zip(cand[s], fits[s]):
                if not ok:
                    break
                if prefix[s] + j not in taken:
                    chosen = j
                    break
            out[shared[s], last] = chosen
            taken.add(prefix[s] + chosen)
        return out

    def _code_keys(self, codes: Tensor) -> Tensor:
        """(N, L) codes -> (N,) int64 keys, equal iff the codes are, with key = prefix key * K + last code."""
        if self.codes**self.levels < 2**62:
            weights = self.codes ** torch.arange(self.levels - 1, -1, -1, device=codes.device)  # (L,)
            return (codes * weights).sum(1)
        _, prefix = torch.unique(codes[:, :-1], dim=0, return_inverse=True)  # too many codes for one int64
        return prefix * self.codes + codes[:, -1]

    def encode(self, x: Tensor) -> Tensor:
        """Codes (N, L) for new vectors: greedy nearest centroids, then ``encode_rounds`` rounds that
        re-pick each level's code given the others (no capacity limit)."""
        return self.encode_with_residuals(x)[0]

    def encode_with_residuals(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Codes (N, L) and the residual left after each level, L x (N, d)."""
        books = self._books()
        x = self.prepare(x)
        check_codebook_dim(x, books[0])
        residual, chosen = x.clone(), torch.empty_like(x)
        codes = torch.empty(x.shape[0], self.levels, dtype=torch.long, device=x.device)
        for level in range(self.levels):
            codes[:, level], _ = nearest(residual, books[level])
            residual.sub_(torch.index_select(books[level], 0, codes[:, level], out=chosen))
        for _ in range(self.encode_rounds):
            for level in range(self.levels):
                target = residual.add_(torch.index_select(books[level], 0, codes[:, level], out=chosen))
                codes[:, level], _ = nearest(target, books[level])
                residual.sub_(torch.index_select(books[level], 0, codes[:, level], out=chosen))
        residuals, left = [], x.clone()
        for level in range(self.levels):
            left = left - books[level][codes[:, level]]
            residuals.append(left)
        return codes, residuals

    def decode(self, codes: Tensor) -> Tensor:
        """Sum of the chosen centroids, (N, L) -> (N, d); extra columns (a uniqueness digit) are ignored."""
        books = self._books()
        codes = codes.to(self.device, torch.long)
        if codes.ndim != 2 or codes.shape[1] < self.levels:
            raise SemanticIdConfigError(f"codes must be (N, >= {self.levels}), got {tuple(codes.shape)}")
        used = codes[:, : self.levels]
        if codes.numel() and (int(used.min()) < 0 or int(used.max()) >= self.codes):
            raise SemanticIdConfigError(f"codes must lie in [0, {self.codes}) for a codebook of {self.codes} codes")
        offsets = torch.arange(self.levels, device=self.device) * self.codes  # row of (level, code) in (L*K, d)
        return torch.nn.functional.embedding_bag(used + offsets, books.reshape(-1, books.shape[2]), mode="sum")

    def _books(self) -> Tensor:
        if self.codebooks is None:
            raise SemanticIdConfigError("RQKMeans is not fitted yet: call fit(x) first")
        return self.codebooks

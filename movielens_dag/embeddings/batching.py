"""Token-budget batching with an adaptive batch size (plain code, no torch at import).

Documents are sorted by token length (longest first) and packed greedily so that
``batch_size * longest_in_batch <= token_budget``: short documents travel in big batches, long ones in
small batches, and little padding is computed (a batch also ends early when more than ``max_padding``
of it would be padding). The longest documents go first so that an
out-of-memory error shows up on the first batches; on one, the failed batch is split in half and the
budget halved for the rest of the run. A single document that does not fit alone is an error that
names it (lower ``max_seq_length``).

``prepare`` (tokens -> tensors on the device) can run one batch ahead in a thread, so the host work
overlaps with the device computing the previous batch.
"""

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


class DocumentTooLargeError(RuntimeError):
    """One document alone does not fit in memory."""

    def __init__(self, index: int, tokens: int, cause: BaseException):
        super().__init__(
            f"document #{index} ({tokens} tokens) does not fit in memory even alone ({cause}); lower max_seq_length"
        )
        self.index = index
        self.tokens = tokens


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA / MPS / CPU allocator failures (torch raises them as RuntimeError subclasses)."""
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    if isinstance(exc, (MemoryError,)):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return "out of memory" in msg or "can't allocate memory" in msg
    return False


@dataclass
class BatchStats:
    docs: int = 0
    tokens: int = 0  # real tokens fed to the model
    padded_tokens: int = 0  # batch_size * longest, summed: what was computed
    batches: int = 0
    oom_retries: int = 0
    seconds: float = 0.0
    token_budget: int = 0  # at the end of the run (after any halving)
    max_batch_size: int = 0  # at the end of the run

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def padding_overhead(self) -> float:
        """Fraction of computed positions that were padding."""
        return 1.0 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(docs_per_s=self.docs_per_s, tokens_per_s=self.tokens_per_s, padding_overhead=self.padding_overhead)
        return d


ProgressFn = Callable[[int, int, BatchStats], None]


def _plan(
    lengths: np.ndarray,
    order: np.ndarray,
    pos: int,
    budget: int,
    max_bs: int,
    fixed: int | None,
    max_padding: float,
    min_batch: int,
) -> np.ndarray:
    n = len(order)
    if fixed is not None:
        return order[pos : min(n, pos + fixed)]
    count, longest, real = 0, 0, 0
    while pos + count < n and count < max_bs:
        length = int(lengths[order[pos + count]])
        new_longest = max(longest, length)
        padded = new_longest * (count + 1)
        if count > 0 and padded > budget:
            break
        # a long tail of short documents would be padded to the longest: start a new batch instead
        if count >= min_batch and 1.0 - (real + length) / padded > max_padding:
            break
        longest, real = new_longest, real + length
        count += 1
    return order[pos : pos + count]


def run_batches(
    lengths: Sequence[int] | np.ndarray,
    prepare: Callable[[np.ndarray], Any],
    run: Callable[[Any], np.ndarray],
    *,
    token_budget: int,
    max_batch_size: int,
    sort_by_length: bool = True,
    fixed_batch_size: int | None = None,
    prefetch: bool = False,
    progress: ProgressFn | None = None,
    on_oom: Callable[[], None] | None = None,
    max_padding: float = 0.1,
    min_batch: int = 16,
) -> tuple[np.ndarray, BatchStats]:
    """Embed every item; returns ``(vectors in input order, stats)``.

    ``prepare(indices)`` builds the model inputs for those items; ``run(inputs)`` returns a float32
    array with one row per item. ``fixed_batch_size`` switches off the token budget (the prior-art mode
    the benchmark compares against); it is halved on out-of-memory like the budget. A batch of at
    least ``min_batch`` items also ends where adding the next item would make more than
    ``max_padding`` of it padding (only matters when lengths are spread and items few).
    """
    if token_budget < 1 or max_batch_size < 1:
        raise ValueError("token_budget and max_batch_size must be >= 1")
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    stats = BatchStats(token_budget=token_budget, max_batch_size=max_batch_size)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32), stats
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(n)
    budget, max_bs, fixed = token_budget, max_batch_size, fixed_batch_size
    out: np.ndarray | None = None
    pos = 0
    pending: tuple[np.ndarray, Any] | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-prefetch") if prefetch else None
    start = time.perf_counter()
    try:
        while pos < n:
            if pending is not None:
                idx, fut = pending
                features = fut.result()
            else:
                idx = _plan(lengths, order, pos, budget, max_bs, fixed, max_padding, min_batch)
                features = prepare(idx)
            pending = None
            if pool is not None and pos + len(idx) < n:
                nxt = _plan(lengths, order, pos + len(idx), budget, max_bs, fixed, max_padding, min_batch)
                pending = (nxt, pool.submit(prepare, nxt))
            longest = int(lengths[idx].max())
            try:
                vectors = run(features)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                del features
                if pending is not None:
                    pending[1].result()  # let the thread finish before freeing memory
                    pending = None
                if on_oom is not None:
                    on_oom()
                if len(idx) == 1:
                    raise DocumentTooLargeError(int(idx[0]), longest, exc) from exc
                stats.oom_retries += 1
                budget = max(1, (len(idx) * longest) // 2)
                max_bs = max(1, len(idx) // 2)
                if fixed is not None:
                    fixed = max(1, len(idx) // 2)
                stats.token_budget, stats.max_batch_size = budget, max_bs
                continue
            del features
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.shape[0] != len(idx):
                raise RuntimeError(f"model returned {vectors.shape[0]} rows for {len(idx)} inputs")
            if out is None:
                out = np.empty((n, vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
            pos += len(idx)
            stats.docs += len(idx)
            stats.tokens += int(lengths[idx].sum())
            stats.padded_tokens += len(idx) * longest
            stats.batches += 1
            stats.seconds = time.perf_counter() - start
            if progress is not None:
                progress(pos, n, stats)
    finally:
        if pending is not None:
            with contextlib.suppress(BaseException):
                pending[1].result()
        if pool is not None:
            pool.shutdown(wait=True)
    stats.seconds = time.perf_counter() - start
    assert out is not None
    return out, stats

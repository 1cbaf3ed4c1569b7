"""Token-budget batching: every item once, in order, within budget, and out-of-memory recovery."""

import numpy as np
import pytest
import torch

from movielens_dag.embeddings.batching import DocumentTooLargeError, is_out_of_memory, run_batches


def _lengths(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(5, 60, n - 20), rng.integers(200, 512, 20)])


def _recorder(lengths, fail_above=None):
    """run() returns row i = [i, len_i] so the output order can be checked; records batch shapes."""
    batches = []

    def prepare(idx):
        return np.asarray(idx)

    def run(idx):
        padded = len(idx) * int(lengths[idx].max())
        if fail_above is not None and padded > fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        batches.append((len(idx), int(lengths[idx].max())))
        return np.stack([idx, lengths[idx]], axis=1).astype(np.float32)

    return prepare, run, batches


def test_every_item_once_in_input_order_and_within_budget():
    lengths = _lengths()
    prepare, run, batches = _recorder(lengths)
    out, stats = run_batches(lengths, prepare, run, token_budget=2048, max_batch_size=64)
    np.testing.assert_array_equal(out[:, 0], np.arange(len(lengths)))
    np.testing.assert_array_equal(out[:, 1], lengths)
    assert stats.docs == len(lengths) == sum(b for b, _ in batches)
    assert stats.tokens == lengths.sum()
    for size, longest in batches:
        assert size <= 64
        assert size == 1 or size * longest <= 2048
    # longest first: the batches' longest lengths never increase
    longest = [lg for _, lg in batches]
    assert longest == sorted(longest, reverse=True)


def test_sorting_removes_most_padding():
    lengths = _lengths()
    p, r, _ = _recorder(lengths)
    _, sorted_stats = run_batches(lengths, p, r, token_budget=2048, max_batch_size=64)
    p, r, _ = _recorder(lengths)
    _, unsorted_stats = run_batches(
        lengths, p, r, token_budget=10**9, max_batch_size=16, sort_by_length=False, fixed_batch_size=16
    )
    assert unsorted_stats.padding_overhead > 0.3
    assert sorted_stats.padding_overhead < unsorted_stats.padding_overhead / 3


def test_fixed_batch_size_keeps_input_order():
    lengths = _lengths(50)
    p, r, batches = _recorder(lengths)
    out, stats = run_batches(lengths, p, r, token_budget=1, max_batch_size=1, sort_by_length=False, fixed_batch_size=2)
    assert [b for b, _ in batches] == [2] * 25
    np.testing.assert_array_equal(out[:, 0], np.arange(50))


def test_out_of_memory_halves_the_batch_and_finishes():
    lengths = _lengths()
    p, r, batches = _recorder(lengths, fail_above=1500)
    released = []
    out, stats = run_batches(lengths, p, r, token_budget=8192, max_batch_size=512, on_oom=lambda: released.append(1))
    np.testing.assert_array_equal(out[:, 0], np.arange(len(lengths)))
    assert stats.oom_retries >= 1 and len(released) == stats.oom_retries
    assert stats.token_budget <= 1500
    assert all(size * longest <= 1500 for size, longest in batches)


def test_a_document_that_never_fits_is_named():
    lengths = np.array([10, 900, 20])
    p, r, _ = _recorder(lengths, fail_above=500)
    with pytest.raises(DocumentTooLargeError, match=r"document #1 \(900 tokens\).*max_seq_length"):
        run_batches(lengths, p, r, token_budget=4096, max_batch_size=8)


def test_other_errors_are_not_retried():
    calls = []

    def run(idx):
        calls.append(1)
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):
        run_batches([3, 4, 5], lambda i: i, run, token_budget=100, max_batch_size=8)
    assert len(calls) == 1


def test_prefetch_gives_the_same_result():
    lengths = _lengths(300, seed=3)
    p, r, _ = _recorder(lengths, fail_above=900)
    a, sa = run_batches(lengths, p, r, token_budget=4096, max_batch_size=64, prefetch=False)
    p, r, _ = _recorder(lengths, fail_above=900)
    b, sb = run_batches(lengths, p, r, token_budget=4096, max_batch_size=64, prefetch=True)
    np.testing.assert_array_equal(a, b)
    assert sa.batches == sb.batches


def test_progress_reports_reach_the_total():
    lengths = _lengths(100)
    p, r, _ = _recorder(lengths)
    seen = []
    run_batches(
        lengths, p, r, token_budget=512, max_batch_size=16, progress=lambda done, total, s: seen.append((done, total))
    )
    assert seen[-1] == (100, 100)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_out_of_memory_detection():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("expected scalar type Float"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_a_long_head_does_not_pad_a_tail_of_short_documents():
    lengths = np.array([100] + [10] * 200)
    p, r, _ = _recorder(lengths)
    _, capped = run_batches(lengths, p, r, token_budget=10**6, max_batch_size=512)
    p, r, _ = _recorder(lengths)
    _, uncapped = run_batches(lengths, p, r, token_budget=10**6, max_batch_size=512, max_padding=1.0)
    assert uncapped.batches == 1 and uncapped.padding_overhead > 0.85
    assert capped.padding_overhead < 0.5 and capped.batches >= 2

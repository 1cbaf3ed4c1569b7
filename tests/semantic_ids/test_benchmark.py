"""benchmarks/semantic_ids.py runs end to end at a tiny size (Gaussian mixture only, no model download)."""

import importlib.util
import sys

from movielens_dag.paths import PROJECT_ROOT


def test_benchmark_prints_every_table(capsys, monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_sids", PROJECT_ROOT / "benchmarks" / "semantic_ids.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "semantic_ids.py",
            "--no-real",
            "--real-like",
            "--synthetic",
            "700",
            "--dim",
            "16",
            "--levels",
            "2",
            "--codes",
            "32",
            "--threads",
            "1",
            "--cache-dir",
            str(tmp_path),
        ],
    )
    bench.main()
    out = capsys.readouterr().out
    assert "| mixture 700x16 | ours (pipeline defaults) |" in out
    assert "| mixture 700x16 | sklearn KMeans per level |" in out
    assert "Where our time goes" in out and "PCs for 50 %" in out and "target (mixture 700x16)" in out
    assert "before (main)" in out or "fatal" not in out  # the baseline needs a git checkout with `main`


def test_kmeans_variants_int8_search_and_sample_first_fit_run_small():
    import torch

    spec = importlib.util.spec_from_file_location("kmeans_variants", PROJECT_ROOT / "benchmarks" / "kmeans_variants.py")
    variants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(variants)
    gen = torch.Generator().manual_seed(0)
    x, c = torch.randn(3000, 32, generator=gen), torch.randn(16, 32, generator=gen)
    labels, redone = variants.int8_search(x, c)
    exact = ((c * c).sum(1) - 2 * x @ c.T).argmin(1)
    assert (labels == exact).float().mean() > 0.999 and 0 < redone < 3000  # near-ties re-scored, not all rows
    variants.CODES = 16  # the module-level setting is 128 codes; a small run needs fewer
    seconds, err = variants.fit_sample_first(torch.randn(3000, 32, generator=gen), 0, 0.5, 1, 1)
    assert seconds > 0 and 0 < err < 1

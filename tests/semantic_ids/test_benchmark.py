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

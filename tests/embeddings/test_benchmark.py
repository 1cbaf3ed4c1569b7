"""benchmarks/embeddings.py runs end to end on CPU with tiny settings (the GPU mode's code path too)."""

import importlib.util
import json

import numpy as np
import pytest

from movielens_dag.paths import PROJECT_ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_embeddings", PROJECT_ROOT / "benchmarks" / "embeddings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_length_mix(bench):
    docs = bench.synthetic_documents(2000, vocab=500, seed=0)
    words = np.array([len(d.split()) for d in docs])
    assert len(docs) == 2000
    assert 0.30 < (words < 60).mean() < 0.40  # MovieLens-only texts
    assert 0.01 < (words >= 1200).mean() < 0.05  # very long plots
    assert words.max() <= 6000 and words.min() >= 15


def test_qwen3_mode_with_a_tiny_model_on_cpu(bench, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = bench.main(
        [
            "--mode",
            "qwen3",
            "--device",
            "cpu",
            "--qwen3-size",
            "tiny",
            "--docs",
            "40",
            "--baseline-docs",
            "20",
            "--repeats",
            "1",
            "--max-seq-length",
            "512",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    methods = [r["method"] for r in report["rows"]]
    assert methods[2] == "prior art: fp32, batch 2, unsorted" and methods[1].startswith("fp32 + our batching")
    assert report["rows"][2]["batches"] == 10  # 20 docs, 2 per batch
    assert report["rows"][0]["docs"] == 40 and report["ratio"] > 0
    assert "Projected ML-32M" in capsys.readouterr().out


def test_minilm_mode_on_the_real_documents(bench, tmp_path, foundation_warehouse, capsys):
    out = tmp_path / "r.json"
    rc = bench.main(
        [
            "--docs",
            "60",
            "--baseline-docs",
            "30",
            "--repeats",
            "1",
            "--no-library",
            "--data-dir",
            str(foundation_warehouse.root),
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["documents"].endswith("movie_documents.parquet")
    assert [r["docs"] for r in report["rows"]] == [30, 30, 60]
    assert report["rows"][1]["batches"] == 15
    assert "| prior art: fp32, batch 2, unsorted |" in capsys.readouterr().out

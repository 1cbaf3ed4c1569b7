"""benchmarks/search.py runs end to end at a tiny size (figures go to docs/benchmarks.md, not asserts)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSS_PYTHON = ROOT / ".venv-vss" / "bin" / "python"


def run(tmp_path, *extra) -> dict:
    out = tmp_path / "result.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "search.py"),
            "--sizes",
            "1500x32",
            "--queries",
            "12",
            "--sql-queries",
            "3",
            "--allpairs-rows",
            "200",
            "--json",
            str(out),
            *extra,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(out.read_text())["sizes"][0]


def test_exact_methods_and_incremental_update(tmp_path):
    size = run(tmp_path, "--no-hnsw")
    for method in ("numpy", "torch", "sql_array_cosine", "sql_list_dot", "sql_parquet_list_cosine"):
        assert size[method]["median_ms"] > 0
    for method in ("sql_array_cosine", "sql_list_dot", "sql_parquet_list_cosine"):
        assert size[method]["recall_at_10"] == 1.0  # exact SQL agrees with numpy
    assert size["incremental_top20"]["recomputed"] < 1500


def test_hnsw_loads_offline_and_uses_the_index(tmp_path):
    if not VSS_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("no .venv-vss: .ci/run makes it (python benchmarks/search.py --setup-vss)")
        pytest.skip("no .venv-vss (python benchmarks/search.py --setup-vss)")
    size = run(tmp_path, "--ef-search", "64")
    hnsw = size["hnsw"]
    assert hnsw["vss_loaded"] and hnsw["duckdb"] == "1.5.5"
    assert hnsw["runs"][0]["uses_index"] and hnsw["runs"][0]["recall_at_10"] > 0.5

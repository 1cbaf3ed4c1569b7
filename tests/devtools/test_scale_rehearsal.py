"""benchmarks/scale.py rehearse, on a tiny release and two steps: what it records per asset and its table."""

import importlib.util
import json
from pathlib import Path

import pytest

from movielens_dag.paths import PROJECT_ROOT

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists() or not (PROJECT_ROOT / ".venv/bin/dg").exists(),
    reason="needs Linux /proc and the project's .venv (dg)",
)
TINY = [
    "--movies",
    "300",
    "--users",
    "120",
    "--ratings",
    "6000",
    "--tags",
    "400",
    "--tag-users",
    "20",
    "--block-users",
    "64",
]


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("bench_scale", PROJECT_ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rehearsal_records_time_memory_rows_and_checks_per_asset(scale, tmp_path):
    report = scale.main(["rehearse", str(tmp_path), *TINY, "--steps", "movielens_files,movies"])
    assert [s["step"] for s in report["steps"]] == ["movielens_files", "movies"]
    movies = report["steps"][1]
    assert movies["ok"] and movies["rows"] == {"movies": 300}
    assert {c["check"]: c["passed"] for c in movies["checks"]} == {"movies_unique_movie_id": True}
    # the asset ran in its own step process, whose peak is part of the tree's
    assert 0.05 < movies["asset_peak_rss_gib"] <= movies["max_process_rss_gib"] <= movies["peak_tree_rss_gib"]
    assert 0 < movies["asset_seconds"] < movies["wall_seconds"] and movies["cpu_seconds"] > 0
    saved = json.loads((tmp_path / "rehearsal.json").read_text())
    assert saved["shape"]["movies"] == 300 and len(saved["steps"]) == 2
    table = (tmp_path / "rehearsal.md").read_text()
    assert "| movies | " in table and "| 300 | 1/1 |" in table and "**total (non-training DAG)**" in table
    # a second rehearsal reuses the release (same shape) and starts from a fresh warehouse
    again = scale.main(["rehearse", str(tmp_path), *TINY, "--steps", "movielens_files"])
    assert again["generated"] is None and again["steps"][0]["ok"]


def test_unknown_steps_are_refused(scale, tmp_path):
    with pytest.raises(SystemExit):
        scale.main(["rehearse", str(tmp_path), "--steps", "movies,nope"])


def test_token_counts_of_documents(scale, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "data" / "warehouse" / "documents"
    folder.mkdir(parents=True)
    docs = ["Toy Story (1995). Genres: Animation, Children.", "Heat", "Heat"]
    pq.write_table(pa.table({"document": docs}), folder / "movie_documents.parquet")
    stats = scale.main(["tokens", str(tmp_path), "--sample", "10"])
    # "Heat" is [CLS] heat [SEP]: 3 tokens; the first document is longer
    assert stats["documents"] == 3 and stats["sampled"] == 3 and stats["max_tokens"] > 3
    assert stats["mean_tokens"] == round((stats["max_tokens"] + 3 + 3) / 3, 1)

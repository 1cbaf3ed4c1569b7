"""kill -9 while embedding loses at most one batch: the next run embeds only what was not committed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow.parquet as pq
import pytest

from movielens_dag.embeddings.cache import EmbeddingCache
from movielens_dag.paths import PROJECT_ROOT

N_DOCS, BATCH = 400, 50


@pytest.mark.slow
def test_kill_dash_9_mid_run_keeps_committed_batches(tmp_path, bundled_documents):
    docs = tmp_path / "docs.parquet"
    pq.write_table(bundled_documents.slice(0, N_DOCS), docs)
    script = textwrap.dedent(f"""
        import sys, pyarrow.parquet as pq, torch
        torch.set_num_threads(1)
        from movielens_dag.embeddings.pipeline import embed_movie_documents
        from movielens_dag.embeddings.settings import EmbeddingSettings
        run = embed_movie_documents(pq.read_table({str(docs)!r}), EmbeddingSettings(commit_every={BATCH}),
                                    cache_root={str(tmp_path / "cache")!r}, logger=lambda m: print(m, flush=True))
        print("EMBEDDED", run.metadata["embedded"], "DISTINCT", run.metadata["distinct_documents"], flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    parts: list = []
    while time.monotonic() < deadline and proc.poll() is None:
        parts = list((tmp_path / "cache").rglob("all.part-*.parquet"))
        if len(parts) >= 2:  # at least two batches committed: kill it in the middle of the run
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise N_DOCS"
    committed = sum(pq.read_metadata(p).num_rows for p in (tmp_path / "cache").rglob("all.part-*.parquet"))
    assert committed >= 2 * BATCH and committed % BATCH == 0 and committed < N_DOCS

    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    embedded = int(out.stdout.split("EMBEDDED")[1].split()[0])
    distinct = int(out.stdout.split("DISTINCT")[1].split()[0])
    assert embedded == distinct - committed  # nothing committed was embedded again
    key_dir = next(p.parent for p in (tmp_path / "cache").rglob("key.json"))
    cache = EmbeddingCache(key_dir.parent, key_dir.name)
    assert [p.name for p in cache.files()] == ["all.parquet"]  # compacted: parts gone, no duplicates
    assert pq.read_metadata(cache.writer_file("all")).num_rows == distinct

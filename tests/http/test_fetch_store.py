"""FetchStore: batches are atomic, compaction never double-counts, a kill -9 loses nothing committed."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from movielens_dag.devtools.api_emulator import EmulatorConfig
from movielens_dag.enrichment import tmdb
from movielens_dag.enrichment.pipeline import fetch_needed
from movielens_dag.http.fetch_store import FetchRecord, FetchStore
from movielens_dag.http.fetcher import RateLimitedFetcher
from movielens_dag.paths import PROJECT_ROOT
from tests.http.conftest import fast_policy

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def record(key: str, status: str = "ok", when: datetime = NOW, payload: str | None = '{"id": 1}') -> FetchRecord:
    return FetchRecord(
        "tmdb_movie",
        key,
        status,
        200 if status == "ok" else 503,
        f"http://x/{key}",
        payload if status == "ok" else None,
        None if status == "ok" else "HTTP 503",
        1,
        5,
        when,
        "run",
    )


def test_batches_commit_as_whole_files(tmp_path):
    store = FetchStore(tmp_path, batch_size=3)
    for i in range(7):
        store.append(record(str(i)))
    assert store.should_flush()
    store.flush()
    assert len(store.files()) == 1 and not list(tmp_path.glob(".*"))  # no temp file left behind
    assert pq.read_table(store.files()[0]).num_rows == 7


def test_latest_and_payload_prefer_newest_but_keep_old_good_payloads(tmp_path):
    store = FetchStore(tmp_path)
    store.append(record("1", when=NOW, payload='{"v": 1}'))
    store.append(record("1", when=NOW + timedelta(days=1), payload='{"v": 2}'))
    store.append(record("2", when=NOW, payload='{"v": 3}'))
    store.append(record("2", "failed", when=NOW + timedelta(days=1)))
    latest = store.latest("tmdb_movie")
    assert latest["1"].status == "ok" and latest["2"].status == "failed"
    payloads = {k: p for k, p, _ in store.iter_ok_payloads("tmdb_movie")}
    assert payloads == {"1": '{"v": 2}', "2": '{"v": 3}'}  # a failed refresh keeps the older good copy
    assert {k for k, _, _ in store.iter_ok_payloads("tmdb_movie", ["2"])} == {"2"}


def test_compaction_keeps_every_row_once_even_if_interrupted(tmp_path):
    store = FetchStore(tmp_path, batch_size=2)
    for i in range(10):
        store.append(record(str(i)))
        if store.should_flush():
            store.flush()
    parts = store.files()
    assert len(parts) == 5
    # simulate a crash after writing the compacted file but before deleting the parts
    saved = {p: p.read_bytes() for p in parts}
    compacted = store.compact()
    for path, data in saved.items():
        path.write_bytes(data)
    assert store.files() == [compacted]
    assert store.log_table().num_rows == 10
    FetchStore(tmp_path)  # reopening removes the leftovers
    assert sorted(tmp_path.glob("*.parquet")) == [compacted]


def test_log_table_leaves_payloads_out(tmp_path):
    store = FetchStore(tmp_path)
    store.append(record("1", payload='{"abc": 1}'))
    log = store.log_table()
    assert "payload" not in log.column_names and log["payload_bytes"].to_pylist() == [10]
    assert store.log_table(with_payload=True)["payload"].to_pylist() == ['{"abc": 1}']
    assert FetchStore(tmp_path / "empty").log_table().num_rows == 0


def test_kill_dash_9_resumes_without_refetch_or_duplicates(make_emulator, tmp_path):
    count = 400
    emu = make_emulator(EmulatorConfig(latency_s=0.02))
    store_dir = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    worker = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "tests/http/resume_worker.py"), str(emu.port), str(store_dir), str(count)],
        env=env,
    )
    deadline = time.monotonic() + 60
    while len(list(store_dir.glob("part-*.parquet"))) < 3:
        assert worker.poll() is None, "the worker finished before it could be killed: make it slower"
        assert time.monotonic() < deadline, "the worker never committed 3 batches"
        time.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    assert worker.returncode == -signal.SIGKILL

    store = FetchStore(store_dir)
    committed = {k for k, s in store.latest("tmdb_movie").items() if s.status == "ok"}
    assert 60 <= len(committed) < count, len(committed)
    hits_before = Counter({p: n for p, n in emu.hits.items()})

    async def resume():
        async with RateLimitedFetcher({f"127.0.0.1:{emu.port}": fast_policy()}, store) as fetcher:
            requests = [tmdb.movie_request(emu.tmdb_url, n) for n in range(1, count + 1)]
            return await fetch_needed(requests, store, fetcher, datetime.now(UTC), 30)

    report = asyncio.run(resume())
    assert report.reasons == {"new": count - len(committed)}
    resumed = Counter(emu.hits) - hits_before
    assert all(resumed[f"/3/movie/{k}"] == 0 for k in committed)  # nothing committed is fetched again
    assert sum(resumed.values()) == count - len(committed)
    log = store.log_table()
    keys = log["key"].to_pylist()
    assert len(keys) == len(set(keys)) == count  # every movie exactly once


def test_paths_with_quotes(tmp_path):
    store = FetchStore(tmp_path / 'it\'s a "dir"')
    store.append(record("1"))
    assert store.latest("tmdb_movie")["1"].status == "ok" and store.log_table().num_rows == 1

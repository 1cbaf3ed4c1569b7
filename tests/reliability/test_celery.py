"""The embedding fan-out on a real distributed engine: dagster-celery, a Redis broker this test starts,
and two Celery workers as separate processes sharing the data dir and the instance.

Every shard runs once to success even though one worker is killed (SIGKILL) while it holds a step
(late acknowledgement: the broker hands the step to the other worker); the cache holds no duplicate
row; and `movie_embeddings` assembled from the shards equals a single-process run.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from movielens_dag import warehouse
from movielens_dag.paths import PROJECT_ROOT, DataPaths

pytestmark = pytest.mark.slow
N_DOCS, SHARDS = 240, 4
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def _env(home: Path, data: Path, redis_url: str) -> dict:
    return os.environ | {
        "DAGSTER_HOME": str(home),
        "MOVIELENS_DATA_DIR": str(data),
        "MOVIELENS_EMBEDDING_SHARDS": str(SHARDS),
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CELERY_RESULT_BACKEND": f"{redis_url}/1",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }  # the worker CLI runs `celery`


def _worker(name: str, env: dict, log: Path) -> subprocess.Popen:
    # --pool=solo: the step runs in the worker process itself, so killing the worker kills the step
    return subprocess.Popen(
        [
            str(BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-n",
            name,
            "-y",
            str(PROJECT_ROOT / "movielens_dag" / "deploy" / "celery.yaml"),
            "--",
            "--pool=solo",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _workers_by_run(home: Path) -> dict[str, set[str]]:
    """Which Celery workers started a step of each run (from Dagster's engine events)."""
    import dagster as dg

    seen: dict[str, set[str]] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                worker = record.dagster_event.engine_event_data.metadata.get("Celery worker")
                if worker is not None:
                    seen.setdefault(run.run_id, set()).add(str(worker.value).split("@")[0])
    return seen


def _cache_rows(data: Path) -> list[str]:
    files = [p for p in (data / "cache" / "embeddings").rglob("*.parquet")]
    return [h for f in files for h in pq.read_table(f, columns=["document_hash"])["document_hash"].to_pylist()]


def test_shards_on_celery_survive_a_killed_worker(tmp_path, redis_url, bundled_documents):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    docs = bundled_documents.slice(0, N_DOCS)
    warehouse.write_parquet_atomic(docs, DataPaths(data).asset_file("documents", "movie_documents"))
    env = _env(home, data, redis_url)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)):
        pass  # create the instance's SQLite schema once, before six processes open it at the same moment

    # w2 starts only once w1 holds a step: started together, an idle w2 can take every shard first
    workers = {"w1": _worker("w1", env, tmp_path / "w1.log")}
    runs = []
    try:
        for k in range(SHARDS):
            with open(tmp_path / f"run{k}.log", "w") as log:  # the child keeps its own copy of the descriptor
                runs.append(
                    subprocess.Popen(
                        [
                            str(BIN / "dg"),
                            "launch",
                            "-m",
                            "movielens_dag.deploy.celery",
                            "--job",
                            "embedding_shards_celery_job",
                            "--partition",
                            f"shard-{k:02d}-of-{SHARDS:02d}",
                        ],
                        cwd=PROJECT_ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 600
        while not any("w1" in names for names in _workers_by_run(home).values()):
            assert time.monotonic() < deadline, "w1 never started a step:\n" + (tmp_path / "w1.log").read_text()[-3000:]
            failed = [k for k, r in enumerate(runs) if r.poll() not in (None, 0)]
            assert not failed, (tmp_path / f"run{failed[0]}.log").read_text()[-4000:]
            time.sleep(0.5)
        workers["w2"] = _worker("w2", env, tmp_path / "w2.log")
        os.killpg(workers["w1"].pid, signal.SIGKILL)  # mid-step: late ack leaves the step to w2
        for k, run in enumerate(runs):
            code = run.wait(timeout=900)
            assert code == 0, (tmp_path / f"run{k}.log").read_text()[-4000:] + (tmp_path / "w2.log").read_text()[-3000:]
    finally:
        for proc in [*workers.values(), *runs]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL) if proc in workers.values() else proc.kill()

    with dg.DagsterInstance.from_config(str(home)) as instance:
        finished = [r for r in instance.get_runs() if r.job_name == "embedding_shards_celery_job"]
        assert sorted(r.tags["dagster/partition"] for r in finished) == [
            f"shard-{k:02d}-of-{SHARDS:02d}" for k in range(SHARDS)
        ]
        assert {r.status for r in finished} == {dg.DagsterRunStatus.SUCCESS}  # every shard once, all succeeded

    # the step w1 held when it was killed was redelivered to w2 and ran there again
    assert sorted(map(sorted, _workers_by_run(home).values())) == [["w1", "w2"], ["w2"], ["w2"], ["w2"]]

    hashes = _cache_rows(data)
    assert not list((data / "cache").rglob("*.part-*.parquet"))  # every shard compacted its commits
    assert len(hashes) == len(set(hashes)) == N_DOCS  # no duplicate cache row, none missing

    # assemble movie_embeddings from the shards' cache (no model load) and embed the same documents in one
    # process elsewhere: the same movies, the same documents, the same vectors
    single = tmp_path / "single"
    warehouse.write_parquet_atomic(docs, DataPaths(single).asset_file("documents", "movie_documents"))
    for root in (data, single):
        out = subprocess.run(
            [str(BIN / "dg"), "launch", "--assets", "movie_embeddings"],
            cwd=PROJECT_ROOT,
            env=_env(home, root, redis_url),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    a = pq.read_table(DataPaths(data).asset_file("embeddings", "movie_embeddings")).sort_by("movie_id")
    b = pq.read_table(DataPaths(single).asset_file("embeddings", "movie_embeddings")).sort_by("movie_id")
    assert a["movie_id"].equals(b["movie_id"]) and a["document_hash"].equals(b["document_hash"])
    va = a["embedding"].combine_chunks().flatten().to_numpy().reshape(N_DOCS, -1)
    vb = b["embedding"].combine_chunks().flatten().to_numpy().reshape(N_DOCS, -1)
    np.testing.assert_allclose(va, vb, atol=1e-5)  # batch composition differs: equal to float rounding

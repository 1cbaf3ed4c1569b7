"""A run killed with kill -9 while it holds a pool slot must not block the next run of that pool."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from movielens_dag import warehouse
from movielens_dag.monitoring import process_alive
from movielens_dag.paths import PROJECT_ROOT, DataPaths

BIN = Path(sys.executable).parent


def test_process_alive_tells_live_dead_and_zombie_processes():
    assert process_alive(os.getpid())
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not process_alive(done.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exits, and is not reaped until wait()
    time.sleep(1.5)
    assert not process_alive(zombie.pid)
    zombie.wait()


def _slot_holders(home: Path, pool: str) -> set[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(pool)
        return {slot.run_id for slot in info.claimed_slots}


@pytest.mark.slow
def test_a_killed_run_frees_its_pool_slot_and_the_next_run_completes(tmp_path, bundled_documents):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse.write_parquet_atomic(
        bundled_documents.slice(0, 3000), DataPaths(data).asset_file("documents", "movie_documents")
    )
    env = os.environ | {"DAGSTER_HOME": str(home), "MOVIELENS_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    launch = [str(BIN / "dg"), "launch", "--assets", "movie_embeddings"]

    with open(tmp_path / "first.log", "w") as log:  # the child keeps its own copy of the descriptor
        first = subprocess.Popen(
            launch, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 300
    while not _slot_holders(home, "embedding_model"):  # the embedding step holds the pool's only slot
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the first run never claimed its pool slot"
        time.sleep(0.5)
    [holder] = _slot_holders(home, "embedding_model")
    os.killpg(first.pid, signal.SIGKILL)  # the run's process and its step process, mid-step
    first.wait()

    with open(tmp_path / "daemon.log", "w") as log:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        second = subprocess.run(launch, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
        waited = time.monotonic() - started
        assert second.returncode == 0, second.stdout[-3000:] + (tmp_path / "daemon.log").read_text()[-3000:]
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(60)
    print(f"second run finished {waited:.0f} s after it started")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = instance.get_run_by_id(holder)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        reasons = [r.message for r in instance.all_logs(holder) if "is gone" in (r.message or "")]
        assert reasons and "killed or crashed" in reasons[0]
        # the second run (its id is in every log line it printed); with the daemon up, the automation
        # sensor may launch downstream runs too, which are not this test's business
        [second_id] = {r.run_id for r in instance.get_runs() if r.run_id in second.stdout + second.stderr}
        assert instance.get_run_by_id(second_id).status == dg.DagsterRunStatus.SUCCESS
        waiting = [
            r for r in instance.all_logs(second_id) if "waits for a slot of pool 'embedding_model'" in (r.message or "")
        ]
        assert waiting and waiting[0].level >= 20 and holder in waiting[0].message  # said at INFO, naming the holder

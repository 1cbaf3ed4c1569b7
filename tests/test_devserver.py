"""`movielens-dag dev` (what `make dev` runs): plots served over http, and SIGINT/SIGTERM stop everything,
also when started in the background by a non-interactive shell (which makes SIGINT ignored)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from movielens_dag import devserver
from movielens_dag.paths import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_artifacts_server_serves_files_read_only(tmp_path):
    (tmp_path / "semantic_ids").mkdir()
    (tmp_path / "semantic_ids" / "sid_map.png").write_bytes(b"\x89PNG fake")
    port = free_port()
    server = devserver.serve_artifacts(tmp_path, f"http://127.0.0.1:{port}")
    try:
        url = f"http://127.0.0.1:{port}/semantic_ids/sid_map.png"
        assert httpx.get(url).content == b"\x89PNG fake"
        assert httpx.put(url, content=b"x").status_code in (405, 501)
        assert httpx.get(f"http://127.0.0.1:{port}/../../etc/passwd").status_code == 404
    finally:
        server.shutdown()


def _start(home: Path, ui: int, artifacts: int) -> subprocess.Popen:
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "MOVIELENS_DATA_DIR": str(home / "data"),
        "MOVIELENS_ARTIFACTS_URL": f"http://127.0.0.1:{artifacts}",
    }
    cli = Path(sys.executable).parent / "movielens-dag"

    def like_a_background_job() -> None:  # what `make dev &` in a script gets: SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [str(cli), "dev", "--port", str(ui)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=open(home / "dev.log", "w"),
        stderr=subprocess.STDOUT,
        preexec_fn=like_a_background_job,
    )


def _wait_for(url: str, proc: subprocess.Popen, log: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not answer in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_dev_stops_cleanly_on_sigint_and_sigterm_even_in_the_background(tmp_path, sig):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    ui, artifacts = free_port(), free_port()
    proc = _start(home, ui, artifacts)
    try:
        _wait_for(f"http://127.0.0.1:{ui}/server_info", proc, home / "dev.log")
        _wait_for(f"http://127.0.0.1:{artifacts}/", proc, home / "dev.log", 30)
        tree = _descendants(proc.pid)
        assert tree, "dg dev should be running under movielens-dag dev"
        proc.send_signal(sig)
        assert proc.wait(timeout=90) == 0, (home / "dev.log").read_text()[-3000:]
        time.sleep(1)
        alive = [
            p
            for p in tree
            if Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()
        ]
        assert not alive, f"left running: {alive}\n" + (home / "dev.log").read_text()[-2000:]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{ui}/server_info", timeout=2)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

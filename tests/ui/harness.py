"""What the browser tests need besides the browser: a small MovieLens release, a private Dagster
instance, a pre-materialized warehouse and `movielens-dag dev` on free ports.

Plain helpers (no pytest), so the same setup can be started by hand to look at the UI: from the repo
root, ``.venv/bin/python -m tests.ui.harness [FOLDER] [--no-demo]`` runs demo_job (unless --no-demo),
prints the URL and keeps the server up until Ctrl-C or SIGTERM.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from movielens_dag.paths import BUNDLED_MOVIELENS_DIR, PROJECT_ROOT
from movielens_dag.settings import ENVIRONMENT

BIN = Path(sys.executable).parent
# The most-rated movies of the bundled release: enough for 128-code semantic IDs and a recommender,
# small enough that MiniLM embeds them in seconds. Loaded as MOVIELENS_VARIANT=ml-latest (a release
# without pinned counts) from MOVIELENS_SOURCE_DIR.
SMALL_RELEASE_MOVIES = 600
# demo_job in one process (no step subprocesses on a busy machine) and a PCA map instead of UMAP
# (same plot code, no numba compilation).
DEMO_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}, "ops": {"sid_map": {"config": {"projection": "pca"}}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_small_release(folder: Path, movies: int = SMALL_RELEASE_MOVIES) -> Path:
    """The ``movies`` most-rated movies of the bundled ml-latest-small with all their rows, same format."""
    source = BUNDLED_MOVIELENS_DIR / "ml-latest-small"
    counts: dict[str, int] = {}
    with open(source / "ratings.csv", encoding="utf-8") as f:
        next(f)
        for line in f:
            movie = line.split(",", 2)[1]
            counts[movie] = counts.get(movie, 0) + 1
    keep = set(sorted(counts, key=lambda m: (-counts[m], int(m)))[:movies])
    folder.mkdir(parents=True, exist_ok=True)
    for name, column in (("movies.csv", 0), ("links.csv", 0), ("ratings.csv", 1), ("tags.csv", 1)):
        with open(source / name, encoding="utf-8") as f, open(folder / name, "w", encoding="utf-8") as out:
            out.write(next(f))
            out.writelines(line for line in f if line.split(",", 2)[column] in keep)
    return folder


def private_instance(home: Path) -> Path:
    """A DAGSTER_HOME holding the repo's dagster.yaml: the instance stores everything under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


@dataclass
class DevServer:
    url: str
    artifacts_url: str
    home: Path
    data_dir: Path
    env: dict
    log: Path
    proc: subprocess.Popen | None = None

    def stop(self, grace: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # movielens-dag dev stops its whole process group
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def prepare(root: Path) -> DevServer:
    """Folders, ports and environment of one private UI; nothing started yet."""
    home = private_instance(root / "dagster_home")
    data = root / "data"
    ui, artifacts = free_port(), free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in {s.name for s in ENVIRONMENT}}
    env = inherited | {  # nothing of the caller's deployment (models, tokens, data dirs) leaks in
        "DAGSTER_HOME": str(home),
        "MOVIELENS_DATA_DIR": str(data),
        "MOVIELENS_VARIANT": "ml-latest",
        "MOVIELENS_SOURCE_DIR": str(make_small_release(root / "release")),
        "MOVIELENS_ARTIFACTS_URL": f"http://127.0.0.1:{artifacts}",
        "VIRTUAL_ENV": sys.prefix,  # the project's venv is the active one (else `dg launch` warns)
    }
    return DevServer(f"http://127.0.0.1:{ui}", env["MOVIELENS_ARTIFACTS_URL"], home, data, env, root / "dev.log")


def launch_job(server: DevServer, job: str, config: dict, log_name: str, timeout: float = 900) -> None:
    """`dg launch --job ...` into the private instance, the way `make demo` runs (a named run)."""
    log = server.home.parent / log_name
    with open(log, "w") as out:
        done = subprocess.run(
            [str(BIN / "dg"), "launch", "--job", job, "--config-json", json.dumps(config)],
            cwd=PROJECT_ROOT,
            env=server.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    if done.returncode != 0:
        raise RuntimeError(f"dg launch --job {job} failed ({done.returncode}):\n{log.read_text()[-4000:]}")


def start(server: DevServer, timeout: float = 300) -> DevServer:
    """`movielens-dag dev` (what `make dev` runs) on the server's ports; returns once the UI answers."""
    port = server.url.rsplit(":", 1)[1]
    with open(server.log, "w") as log:  # the child keeps its own copy of the descriptor
        server.proc = subprocess.Popen(
            [str(BIN / "movielens-dag"), "dev", "--port", port],
            cwd=PROJECT_ROOT,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"movielens-dag dev exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/server_info", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    server.stop()
    raise RuntimeError(f"the UI did not answer in {timeout:.0f} s:\n{server.log_tail()}")


if __name__ == "__main__":
    import tempfile

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="movielens-ui-"))
    srv = prepare(root)
    if "--no-demo" not in sys.argv:
        t = time.monotonic()
        launch_job(srv, "demo_job", DEMO_RUN_CONFIG, "demo_job.log")
        print(f"demo_job: {time.monotonic() - t:.0f} s", flush=True)
    t = time.monotonic()
    start(srv)
    print(
        f"UI {srv.url} (artifacts {srv.artifacts_url}) after {time.monotonic() - t:.0f} s; home {srv.home}; "
        f"log {srv.log}",
        flush=True,
    )

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        srv.proc.wait()
    except KeyboardInterrupt:
        srv.stop()

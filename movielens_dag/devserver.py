"""`movielens-dag dev`: the Dagster UI (``dg dev``) plus a read-only server for the plots it links to.

Asset metadata shows plots as short markdown images whose URLs point at ``<data dir>/artifacts`` served
here (``MOVIELENS_ARTIFACTS_URL``, default http://127.0.0.1:3001), because the UI renders small
markdown inline but refuses ``file://`` links.

It also makes stopping reliable. A program started in the background by a non-interactive shell
inherits SIGINT as *ignored*, and Dagster maps SIGTERM onto whatever SIGINT does, so `make dev &` used
to ignore both. Here both signals are restored in ``dg dev``'s process, forwarded to it as SIGINT (its
graceful shutdown), and followed by SIGKILL for the whole process group after a grace period. When the
parent (make, a service manager) dies, the kernel sends us SIGTERM (Linux ``PR_SET_PDEATHSIG``).

The console stays quiet while nothing happens: Dagster's daemon logs every sensor tick at INFO (two lines
per tick of ``tmdb_overrides_sensor``, seven per tick of the ``automation`` sensor, each every 30 s), so
``dg dev`` runs at ``--log-level warning``; the ticks are in the UI (Automation), and run logs still print.

Plain code: no Dagster import.
"""

import contextlib
import ctypes
import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

GRACE_SECONDS = 30.0
# Dagster services (webserver, daemon) log at this level; their INFO lines are per-tick chatter.
SERVICES_LOG_LEVEL = "warning"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the stdlib's parameter names
        pass

    def do_PUT(self) -> None:  # read-only: GET and HEAD only
        self.send_error(405)

    do_POST = do_DELETE = do_PUT


def serve_artifacts(root: Path, url: str) -> http.server.ThreadingHTTPServer:
    """Serve ``root`` read-only at ``url``'s host and port, in a daemon thread."""
    parsed = urllib.parse.urlparse(url)
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((parsed.hostname or "127.0.0.1", parsed.port or 80), handler)
    threading.Thread(target=server.serve_forever, name="artifacts", daemon=True).start()
    return server


def _die_with_parent() -> None:
    """Ask Linux to send us SIGTERM when the parent process exits (no-op elsewhere)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _child_signals() -> None:
    # Undo an inherited "ignore SIGINT" (background jobs of a non-interactive shell), so Python in the
    # child installs its KeyboardInterrupt handler and Dagster's SIGTERM -> SIGINT mapping works.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run(command: list[str], artifacts: Path, artifacts_url: str, grace: float = GRACE_SECONDS) -> int:
    """Run ``command`` (``dg dev ...``) until it exits or we are told to stop; returns its exit code."""
    _die_with_parent()
    server = serve_artifacts(artifacts, artifacts_url)
    print(f"[movielens-dag] serving {artifacts} at {artifacts_url}", flush=True)
    print(f"[movielens-dag] Dagster UI on {_ui_url(command)} (sensor and automation ticks: Automation tab)", flush=True)
    child = subprocess.Popen(command, preexec_fn=_child_signals, start_new_session=True, env=_child_env())
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        print(f"[movielens-dag] {signal.Signals(signum).name}: stopping Dagster (up to {grace:.0f} s)", flush=True)
        _signal_group(child.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping.is_set():
                    try:
                        code = child.wait(timeout=grace)
                    except subprocess.TimeoutExpired:
                        print("[movielens-dag] Dagster did not stop in time: killing it", flush=True)
                        _signal_group(child.pid, signal.SIGKILL)
                        code = child.wait()
                    break
    finally:
        _signal_group(child.pid, signal.SIGKILL)  # nothing of the group outlives us (no-op when gone)
        server.shutdown()
    return 0 if stopping.is_set() else code


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _child_env() -> dict[str, str]:
    # `dg` warns twice that "the active virtual environment does not match" the project's when it is
    # started as .venv/bin/... without activating: the venv we run in *is* the active one.
    env = dict(os.environ)
    if sys.prefix != sys.base_prefix:
        env.setdefault("VIRTUAL_ENV", sys.prefix)
    return env


def dg_dev_command(host: str, port: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "dg"),
        "dev",
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        SERVICES_LOG_LEVEL,
    ]


def _ui_url(command: list[str]) -> str:
    options = dict(zip(command, command[1:]))
    return f"http://{options.get('--host', '127.0.0.1')}:{options.get('--port', '3000')}"

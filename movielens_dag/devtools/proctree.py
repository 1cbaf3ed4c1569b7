"""Peak memory and CPU time of a process and everything it starts, read from Linux's /proc.

``ProcessTreeSampler(pid)`` polls, every ``interval`` seconds, the process and its descendants:

- per process: its own peak resident set (``VmHWM``, kept by the kernel, so no spike between two polls
  is missed), its CPU seconds (user + system) and its command line;
- for the tree: the largest sum of the processes' current resident sets (``VmRSS``) seen at one poll,
  which is what the machine had to hold at once (a spike shorter than ``interval`` can be missed).

Plain code, no Dagster; Linux only (``/proc``). A process that exits between polls keeps the figures of
its last poll.
"""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessFigures:
    pid: int
    command: str
    peak_rss_bytes: int = 0  # VmHWM at the last poll
    cpu_seconds: float = 0.0  # user + system at the last poll
    first_seen: float = 0.0  # time.time()
    last_seen: float = 0.0


@dataclass
class TreeFigures:
    processes: dict[int, ProcessFigures] = field(default_factory=dict)
    peak_tree_rss_bytes: int = 0  # largest sum of VmRSS over the tree at one poll
    peak_tree_at: float = 0.0
    polls: int = 0


def _status_kib(pid: int, *names: str) -> dict[str, int]:
    out = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[key] = int(value.split()[0])
    return out


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds) from /proc/<pid>/stat (the command may contain spaces and parentheses)."""
    text = (PROC / str(pid) / "stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (one scan of /proc)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                parent, _ = _stat(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # exited during the scan
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _command(pid: int) -> str:
    raw = (PROC / str(pid) / "cmdline").read_bytes()
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:300]


class ProcessTreeSampler:
    """Poll ``root``'s process tree in a background thread until ``stop()``; read ``figures``."""

    def __init__(self, root: int, interval: float = 0.25):
        self.root, self.interval = root, interval
        self.figures = TreeFigures()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="proctree-sampler", daemon=True)

    def __enter__(self) -> "ProcessTreeSampler":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> TreeFigures:
        self._stop.set()
        self._thread.join()
        return self.figures

    def poll(self) -> None:
        now, total = time.time(), 0
        for pid in descendants(self.root):
            try:
                kib = _status_kib(pid, "VmHWM", "VmRSS")
                _, cpu = _stat(pid)
                figures = self.figures.processes.get(pid)
                if figures is None:
                    figures = self.figures.processes[pid] = ProcessFigures(pid, _command(pid), first_seen=now)
            except (OSError, ValueError, IndexError):
                continue  # exited, or a zombie without memory figures
            figures.peak_rss_bytes = max(figures.peak_rss_bytes, kib.get("VmHWM", 0) * 1024)
            figures.cpu_seconds, figures.last_seen = cpu, now
            total += kib.get("VmRSS", 0) * 1024
        self.figures.polls += 1
        if total > self.figures.peak_tree_rss_bytes:
            self.figures.peak_tree_rss_bytes, self.figures.peak_tree_at = total, now

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)
        self.poll()  # whatever is still alive when stopped

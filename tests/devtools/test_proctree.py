"""ProcessTreeSampler: per-process peaks and the tree's peak, grandchildren included (Linux /proc)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from movielens_dag.devtools.proctree import ProcessTreeSampler, descendants

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")

MIB = 1 << 20
# The child holds 64 MiB, starts a grandchild that holds 160 MiB, and both live a moment together.
CHILD = """
import subprocess, sys, time
held = bytearray(64 << 20)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(160 << 20); time.sleep(1.5)"])
grandchild.wait()
time.sleep(0.3)
"""


def test_peaks_of_a_child_and_its_grandchild():
    process = subprocess.Popen([sys.executable, "-c", CHILD])
    with ProcessTreeSampler(process.pid, interval=0.05) as sampler:
        process.wait()
    figures = sampler.figures
    child = figures.processes[process.pid]
    (grandchild,) = [p for pid, p in figures.processes.items() if pid != process.pid]
    assert 64 * MIB <= child.peak_rss_bytes < 140 * MIB
    assert 160 * MIB <= grandchild.peak_rss_bytes < 240 * MIB
    # both alive at once: the tree held at least what the two allocated
    assert figures.peak_tree_rss_bytes >= (64 + 160) * MIB
    assert figures.polls > 5 and child.cpu_seconds >= 0.0


def test_descendants_of_a_process_without_children_is_itself():
    assert descendants(os.getpid())[0] == os.getpid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    try:
        time.sleep(0.2)
        assert sleeper.pid in descendants(os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()

"""Emulator + fetcher fixtures for the HTTP tests (everything on 127.0.0.1)."""

import contextlib

import pytest

from movielens_dag.devtools.api_emulator import EmulatorConfig, running_emulator
from movielens_dag.http.fetcher import HostPolicy


@pytest.fixture
def make_emulator():
    """``make_emulator(config=None, catalog=())`` → a running Emulator, stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda config=None, catalog=(): stack.enter_context(running_emulator(config or EmulatorConfig(), catalog))


@pytest.fixture
def emulator(make_emulator):
    return make_emulator()


def fast_policy(**overrides) -> HostPolicy:
    """Generous rate, short waits: tests measure behaviour, not patience."""
    settings = dict(
        requests_per_second=500, max_concurrency=8, timeout_s=2.0, max_attempts=4, initial_wait_s=0.01, max_wait_s=2.0
    )
    settings.update(overrides)
    return HostPolicy(**settings)

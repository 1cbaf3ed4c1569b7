"""Fixtures of the browser tests: headless Chromium (browser.py says which, and what happens without
one) and one private `movielens-dag dev` with a pre-materialized small warehouse (harness.py).

Screenshots of every step go to ``tests/ui/artifacts/`` (git-ignored, emptied at the start of each run),
with the server's and the demo job's logs; the path is printed in pytest's summary.
"""

import re
import shutil
from pathlib import Path

import pytest

from tests.ui import browser as chromium
from tests.ui import harness

ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1600, "height": 1000}
TIMEOUT_MS = 60_000  # one UI action on a busy 2-core machine; runs have their own, longer waits


@pytest.fixture(scope="module")
def browser():
    chromium.require()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium.CHROMIUM), args=chromium.CHROMIUM_ARGS)
        yield launched
        launched.close()


class Shots:
    """Numbered screenshots in ARTIFACTS, in the order the steps ran."""

    def __init__(self, folder: Path):
        self.folder, self.count = folder, 0

    def take(self, page, name: str, **kwargs) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), **kwargs)
        return path


@pytest.fixture(scope="module")
def shots(request) -> Shots:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    request.config.stash[_ARTIFACTS_USED] = True
    return Shots(ARTIFACTS)


@pytest.fixture(scope="module")
def ui(browser, shots, tmp_path_factory):
    """`movielens-dag dev` on free ports over a private instance, after `demo_job` (600 movies) ran in it."""
    server = harness.prepare(tmp_path_factory.mktemp("ui"))
    try:
        harness.launch_job(server, "demo_job", harness.DEMO_RUN_CONFIG, "demo_job.log")
        harness.start(server)
        yield server
    finally:
        server.stop()
        for log in (server.log, server.home.parent / "demo_job.log"):
            if log.exists():
                shutil.copy(log, ARTIFACTS / log.name)


@pytest.fixture
def page(browser, ui, shots, request):
    """A new browser context (a first-time visitor) on the UI; a screenshot is kept when a test fails."""
    context = browser.new_context(viewport=VIEWPORT, base_url=ui.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = shots.take(tab, f"FAILED-{request.node.name}")
        shot.with_suffix(".html").write_text(tab.content())
    context.close()


_ARTIFACTS_USED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


def pytest_terminal_summary(terminalreporter, config):
    if config.stash.get(_ARTIFACTS_USED, False):
        terminalreporter.write_line(f"UI screenshots and server logs: {ARTIFACTS}")

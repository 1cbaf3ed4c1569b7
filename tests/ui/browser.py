"""Which browser the UI tests drive, and what happens without one.

Debian's ``chromium`` package through Playwright (``executable_path``): Playwright's own browser download
(``playwright install``) cannot reach its servers here. Without a browser the tests skip, saying what to
install — except where the environment variable ``CI`` is set (CI sets ``CI=true``; `.ci/run` sets it
when run by hand too, after installing chromium), where a missing browser is an error.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# A headless, offline, throw-away browser. Playwright adds --headless itself and gives every launch a
# fresh temporary user-data-dir (it refuses --user-data-dir in args); each test opens a new context,
# i.e. empty cookies and local storage, like a first visit.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why no browser can be driven here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    if not CHROMIUM.exists():
        return f"no {CHROMIUM}: apt-get install chromium (Debian), as .ci/run does"
    return None


def require() -> None:
    """Skip the calling test module without a browser; fail it in CI."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

"""Without a browser the UI tests skip, except in CI, where they fail (tests/ui/browser.py)."""

import pytest

from tests.ui import browser


def test_no_browser_skips_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.require()


def test_no_browser_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        browser.require()


def test_a_browser_is_used_when_there_is_one(monkeypatch, tmp_path):
    pytest.importorskip("playwright")
    fake = tmp_path / "chromium"
    fake.touch()
    monkeypatch.setattr(browser, "CHROMIUM", fake)
    monkeypatch.setenv("CI", "true")
    assert browser.missing() is None
    browser.require()

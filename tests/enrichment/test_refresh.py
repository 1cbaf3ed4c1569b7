"""Which keys a refresh fetches, and which change-feed windows it asks for."""

from datetime import UTC, date, datetime, timedelta

from movielens_dag.enrichment.refresh import changes_windows, keys_to_fetch
from movielens_dag.http.fetch_store import LatestState

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def state(status, days_ago):
    return LatestState(status, 200, NOW - timedelta(days=days_ago), None)


def test_reasons():
    latest = {
        "fresh": state("ok", 1),
        "old": state("ok", 100),
        "failed": state("failed", 0),
        "gone": state("not_found", 1),
        "bad": state("client_error", 1),
        "changed": state("ok", 3),
    }
    wanted = ["fresh", "old", "failed", "gone", "bad", "changed", "new"]
    todo = keys_to_fetch(
        wanted, latest, NOW, 90, {"changed": NOW - timedelta(days=1), "fresh": NOW - timedelta(days=2)}
    )
    assert todo == {"old": "stale", "failed": "retry_failed", "changed": "changed", "new": "new"}


def test_nothing_changed_means_nothing_to_fetch():
    latest = {str(i): state("ok", 1) for i in range(100)}
    assert keys_to_fetch(latest, latest, NOW, 90) == {}
    assert keys_to_fetch(latest, latest, NOW, None) == {}


def test_changes_windows():
    assert changes_windows(None, date(2025, 6, 1)) == []  # nothing fetched yet: nothing can have changed
    assert changes_windows(date(2025, 6, 1), date(2025, 6, 1)) == []  # checked today already
    assert changes_windows(date(2025, 5, 25), date(2025, 6, 1)) == [(date(2025, 5, 25), date(2025, 6, 1))]
    windows = changes_windows(date(2025, 5, 1), date(2025, 6, 1))
    assert windows[0] == (date(2025, 5, 1), date(2025, 5, 14)) and windows[-1][1] == date(2025, 6, 1)
    assert all((end - start).days <= 13 for start, end in windows)

"""Incremental refresh: which keys to (re)fetch, and which /movie/changes windows to ask for.

A key is fetched when it is new, its newest outcome is a retryable failure, its newest outcome is
older than ``max_age_days``, or a change feed says it changed after we fetched it. Otherwise the
stored response is reused, so a re-run with nothing changed makes no HTTP call at all.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from movielens_dag.http.fetch_store import LatestState

CHANGES_MAX_DAYS = 14  # TMDB answers /movie/changes for at most 14 days per query


def keys_to_fetch(
    wanted: Iterable[str],
    latest: Mapping[str, LatestState],
    now: datetime,
    max_age_days: float | None,
    changed: Mapping[str, datetime] | None = None,
) -> dict[str, str]:
    """key -> reason ('new', 'retry_failed', 'stale', 'changed') for the keys that need a request.

    ``changed`` maps a key to when a change feed reported it; it is refetched if our copy is older.
    """
    todo: dict[str, str] = {}
    horizon = None if max_age_days is None else now - timedelta(days=max_age_days)
    for key in wanted:
        state = latest.get(key)
        if state is None:
            todo[key] = "new"
        elif state.status == "failed":
            todo[key] = "retry_failed"
        elif horizon is not None and state.fetched_at < horizon:
            todo[key] = "stale"
        elif changed and key in changed and state.fetched_at < changed[key]:
            todo[key] = "changed"
    return todo


def changes_windows(since: date | None, today: date, min_interval_days: int = 1) -> list[tuple[date, date]]:
    """Windows of at most 14 days covering ``since``..``today``; none if checked recently or never fetched."""
    if since is None or (today - since).days < min_interval_days:
        return []
    windows = []
    start = since
    while start < today:
        end = min(start + timedelta(days=CHANGES_MAX_DAYS - 1), today)
        windows.append((start, end))
        start = end
    return windows

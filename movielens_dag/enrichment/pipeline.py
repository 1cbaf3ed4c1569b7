"""Async orchestration of the enrichment fetches: id resolution, TMDB details, change feed, IMDb.

Every step asks the ``FetchStore`` first and fetches only what ``refresh.keys_to_fetch`` says is
missing, failed, stale or changed; everything is then read back from the store, so a killed run
resumes where it stopped and a repeated run makes no request. ``fetcher=None`` (no token) means
"use what is stored, fetch nothing".
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from movielens_dag.enrichment import imdb, tmdb
from movielens_dag.enrichment.overrides import Override
from movielens_dag.enrichment.refresh import changes_windows, keys_to_fetch
from movielens_dag.enrichment.titles import title_variants
from movielens_dag.http.fetch_store import FetchRecord, FetchStore
from movielens_dag.http.fetcher import AuthError, FetchRequest, RateLimitedFetcher

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MovieRef:
    movie_id: int
    title: str
    year: int | None
    alt_titles: tuple[str, ...] = ()
    imdb_id: str | None = None
    links_tmdb_id: int | None = None


@dataclass
class Resolution:
    movie_id: int
    tmdb_id: int | None
    imdb_id: str | None
    method: str  # override | links | find | search | unresolved
    confidence: float
    reason: str
    candidates: list[dict] = field(default_factory=list)


@dataclass
class FetchReport:
    wanted: int = 0
    reasons: Counter = field(default_factory=Counter)  # new / retry_failed / stale / changed
    outcomes: Counter = field(default_factory=Counter)  # ok / not_found / client_error / failed
    skipped: int = 0  # needed a request but there is no fetcher (no token / source disabled)
    disabled: str | None = None

    def add(self, other: "FetchReport") -> None:
        self.wanted += other.wanted
        self.reasons.update(other.reasons)
        self.outcomes.update(other.outcomes)
        self.skipped += other.skipped
        self.disabled = self.disabled or other.disabled

    @property
    def requested(self) -> int:
        return sum(self.reasons.values()) - self.skipped


async def fetch_needed(
    requests: list[FetchRequest],
    store: FetchStore,
    fetcher: RateLimitedFetcher | None,
    now: datetime,
    max_age_days: float | None,
    changed: dict[str, datetime] | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch the requests whose stored outcome is missing, failed, stale or changed."""
    report = FetchReport(wanted=len({(r.source, r.key) for r in requests}))
    todo: list[FetchRequest] = []
    for source in sorted({r.source for r in requests}):
        mine = {r.key: r for r in requests if r.source == source}
        reasons = keys_to_fetch(mine, store.latest(source), now, max_age_days, changed)
        report.reasons.update(reasons.values())
        todo += [mine[k] for k in reasons]
    if fetcher is None:
        report.skipped = len(todo)
        return report
    done = 0

    def on_result(record: FetchRecord) -> None:
        nonlocal done
        done += 1
        report.outcomes[record.status] += 1
        if progress and (done % 500 == 0 or done == len(todo)):
            progress(f"{done}/{len(todo)} fetched ({dict(report.outcomes)})")

    await fetcher.fetch_many(todo, on_result, collect=False)
    return report


# ---- TMDB id resolution -------------------------------------------------------------------------
async def resolve_tmdb_ids(
    movies: list[MovieRef],
    overrides: dict[int, Override],
    store: FetchStore,
    fetcher: RateLimitedFetcher | None,
    base_url: str,
    now: datetime,
    max_age_days: float | None,
    progress: Progress | None = None,
) -> tuple[list[Resolution], FetchReport]:
    """override > links.csv tmdbId > /find by IMDb id > /search by title (+ alternates) and year."""
    done: dict[int, Resolution] = {}
    report = FetchReport()
    need_find: list[tuple[MovieRef, str]] = []
    for m in movies:
        ov = overrides.get(m.movie_id)
        imdb_id = ov.imdb_id if ov and ov.imdb_id else m.imdb_id
        if ov and ov.tmdb_id:
            done[m.movie_id] = Resolution(
                m.movie_id,
                ov.tmdb_id,
                imdb_id,
                "override",
                1.0,
                f"overrides line {ov.line}" + (f": {ov.note}" if ov.note else ""),
            )
        elif m.links_tmdb_id and not (ov and ov.imdb_id):
            done[m.movie_id] = Resolution(m.movie_id, m.links_tmdb_id, imdb_id, "links", 0.9, "links.csv tmdbId")
        elif imdb_id:
            need_find.append((m, imdb_id))
    unreadable: dict[str, str] = {}  # response key -> why its payload does not fit the schema
    # /find/{imdb_id}
    found = await fetch_needed(
        [tmdb.find_request(base_url, i) for _, i in need_find], store, fetcher, now, max_age_days, progress=progress
    )
    report.add(found)
    payloads = {k: p for k, p, _ in store.iter_ok_payloads(tmdb.SOURCE_FIND, [i for _, i in need_find])}
    for m, imdb_id in need_find:
        candidates = _candidates(payloads, imdb_id, unreadable)
        if len(candidates) == 1:
            done[m.movie_id] = Resolution(
                m.movie_id,
                candidates[0].tmdb_id,
                imdb_id,
                "find",
                0.9,
                "TMDB /find by IMDb id",
                [candidates[0].as_dict()],
            )
        elif candidates:
            choice = tmdb.choose(candidates, title_variants(m.title, list(m.alt_titles)), m.year)
            done[m.movie_id] = Resolution(
                m.movie_id,
                choice.candidate.tmdb_id,
                imdb_id,
                "find",
                min(choice.confidence, 0.85),
                f"/find gave {len(candidates)} movies; {choice.reason}",
                [c.as_dict() for c in candidates],
            )
    # /search/movie with each title variant and the year; then without the year if nothing came back
    pending = [m for m in movies if m.movie_id not in done]
    for with_year in (True, False):
        queries = {
            m.movie_id: [(v, m.year if with_year else None) for v in title_variants(m.title, list(m.alt_titles))]
            for m in pending
            if with_year or m.year is not None
        }
        if not queries:
            continue
        requests = [tmdb.search_request(base_url, q, y) for qs in queries.values() for q, y in qs]
        report.add(await fetch_needed(requests, store, fetcher, now, max_age_days, progress=progress))
        payloads = {k: p for k, p, _ in store.iter_ok_payloads(tmdb.SOURCE_SEARCH, [r.key for r in requests])}
        still: list[MovieRef] = []
        for m in pending:
            pool = {
                c.tmdb_id: c
                for q, y in queries.get(m.movie_id, [])
                for c in _candidates(payloads, tmdb.search_key(q, y), unreadable)
            }
            if not pool:
                still.append(m)
                continue
            choice = tmdb.choose(list(pool.values()), title_variants(m.title, list(m.alt_titles)), m.year)
            ranked = sorted(pool.values(), key=lambda c: -c.vote_count)[:5]
            done[m.movie_id] = Resolution(
                m.movie_id,
                choice.candidate.tmdb_id,
                m.imdb_id,
                "search",
                choice.confidence,
                ("" if with_year else "searched without year; ") + choice.reason,
                [c.as_dict() for c in ranked],
            )
        pending = still
    for m in pending:
        if fetcher is None and report.skipped:
            why = "no TMDB_READ_ACCESS_TOKEN: /find and /search not called"
        else:
            why = "no TMDB candidates for any title variant"
        keys = [m.imdb_id] + [
            tmdb.search_key(v, y) for v in title_variants(m.title, list(m.alt_titles)) for y in (m.year, None)
        ]
        bad = [f"{k!r}: {unreadable[k]}" for k in dict.fromkeys(keys) if k in unreadable]
        if bad:  # a response we could not read may have held the right movie: say so in the review queue
            why += "; unreadable TMDB responses (parse_error): " + "; ".join(bad)
        done[m.movie_id] = Resolution(m.movie_id, None, m.imdb_id, "unresolved", 0.0, why)
    return [done[m.movie_id] for m in movies], report


def _candidates(payloads: dict[str, str], key: str, unreadable: dict[str, str]) -> list[tmdb.Candidate]:
    """Candidates of one stored /find or /search response; one that does not fit its schema is noted, not raised."""
    if key not in payloads:
        return []
    try:
        return tmdb.parse_candidates(json.loads(payloads[key]))
    except ValueError as exc:  # ResponseSchemaError, or JSON that does not decode
        unreadable[key] = str(exc)
        return []


# ---- TMDB details and change feed -----------------------------------------------------------------
def _changes_state(store: FetchStore) -> tuple[date | None, dict[str, datetime]]:
    """(end of the last fully fetched changes window, tmdb id -> time of the check that listed it)."""
    pages: dict[tuple[str, str], dict[int, tuple[int, list[int]]]] = {}
    checked_at: dict[tuple[str, str], datetime] = {}
    for key, payload, fetched_at in store.iter_ok_payloads(tmdb.SOURCE_CHANGES):
        window, _, page = key.partition(":p")
        start, _, end = window.partition("..")
        try:
            ids, total = tmdb.parse_changes(json.loads(payload))
        except ValueError:  # an unreadable page leaves its window incomplete: asked again next run
            continue
        pages.setdefault((start, end), {})[int(page)] = (total, ids)
        checked_at[(start, end)] = max(fetched_at, checked_at.get((start, end), fetched_at))
    last_end: date | None = None
    changed: dict[str, datetime] = {}
    for window, got in pages.items():
        total = got.get(1, (10**9, []))[0]
        if all(p in got for p in range(1, total + 1)):
            last_end = max(last_end or date.min, date.fromisoformat(window[1]))
            for _, ids in got.values():
                for i in ids:
                    changed[str(i)] = max(changed.get(str(i), checked_at[window]), checked_at[window])
    return last_end, changed


async def check_changes(
    store: FetchStore, fetcher: RateLimitedFetcher, base_url: str, today: date, min_interval_days: int = 1
) -> int:
    """Ask /movie/changes for the days since the last complete check (or our oldest fetch). Returns requests made."""
    last_end, _ = _changes_state(store)
    if last_end is None:
        oldest = [s.fetched_at.date() for s in store.latest(tmdb.SOURCE_MOVIE).values() if s.status == "ok"]
        last_end = min(oldest) if oldest else None
    made = 0
    for start, end in changes_windows(last_end, today, min_interval_days):
        first = await fetcher.fetch(tmdb.changes_request(base_url, start, end, 1))
        made += 1
        if first.status != "ok":
            continue
        try:
            _, total = tmdb.parse_changes(first.json())
        except ValueError:  # unreadable: the window stays incomplete and is asked again next run
            continue
        rest = await fetcher.fetch_many([tmdb.changes_request(base_url, start, end, p) for p in range(2, total + 1)])
        made += len(rest)
    return made


async def refresh_tmdb_movies(
    tmdb_ids: list[int],
    store: FetchStore,
    fetcher: RateLimitedFetcher | None,
    base_url: str,
    now: datetime,
    max_age_days: float | None,
    use_changes: bool = True,
    progress: Progress | None = None,
) -> FetchReport:
    if fetcher is not None and use_changes:
        await check_changes(store, fetcher, base_url, now.date())
    changed = _changes_state(store)[1] if use_changes else None
    requests = [tmdb.movie_request(base_url, t) for t in sorted(set(tmdb_ids))]
    return await fetch_needed(requests, store, fetcher, now, max_age_days, changed, progress)


# ---- IMDb ---------------------------------------------------------------------------------------
async def refresh_imdb_titles(
    imdb_ids: list[str],
    store: FetchStore,
    fetcher: RateLimitedFetcher | None,
    url: str,
    now: datetime,
    max_age_days: float | None,
    progress: Progress | None = None,
) -> FetchReport:
    """A 401/403 disables IMDb for this run (report.disabled says why); what was stored is kept."""
    requests = [imdb.title_request(url, i) for i in sorted(set(imdb_ids))]
    try:
        return await fetch_needed(requests, store, fetcher, now, max_age_days, progress=progress)
    except AuthError as exc:
        report = FetchReport(wanted=len(requests))
        report.disabled = (
            f"IMDb GraphQL refused access (HTTP {exc.status} from {exc.host}); the endpoint is "
            "unofficial and often blocks clients. IMDb is disabled for this run; titles stored "
            "by earlier runs are still used."
        )
        return report

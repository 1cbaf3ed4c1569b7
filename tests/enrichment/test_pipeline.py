"""Id resolution, details refresh, change feed and IMDb against the emulator; re-runs make no call."""

import asyncio
from datetime import UTC, datetime, timedelta

from movielens_dag.devtools.api_emulator import CatalogMovie, EmulatorConfig, generated_imdb_id
from movielens_dag.enrichment import pipeline, tables
from movielens_dag.enrichment.overrides import Override
from movielens_dag.enrichment.pipeline import MovieRef
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import RateLimitedFetcher
from tests.http.conftest import fast_policy

NOW = datetime.now(UTC)

MOVIES = [
    MovieRef(1, "Toy Story", 1995, (), "tt0114709", 862),  # links.csv
    MovieRef(2, "Jumanji", 1995, (), "tt0113497", 8844),  # override wins
    MovieRef(3, "Found By Imdb", 1980, (), generated_imdb_id(301), None),  # /find
    MovieRef(4, "Léon: The Professional", 1994, ("The Professional", "Léon"), "tt0000004", None),  # alt title
    MovieRef(5, "Tom & Jerry: The Movie", 1992, (), None, None),  # &, year+1
    MovieRef(6, "Nothing Like It", 2001, (), None, None),  # unresolved
    MovieRef(7, "Hamlet", 1990, (), None, None),  # close candidates
    MovieRef(8, "What's Up, Doc? #2", 1972, (), None, None),  # ?, #
]
CATALOG = [
    CatalogMovie(862, "Toy Story", 1995),
    CatalogMovie(301, "Found By Imdb", 1980),
    CatalogMovie(101, "Léon", 1994, vote_count=900),
    CatalogMovie(102, "The Professional", 2003, vote_count=5),
    CatalogMovie(103, "Tom and Jerry: The Movie", 1993, vote_count=50),
    CatalogMovie(104, "Hamlet", 1990, vote_count=100),
    CatalogMovie(105, "Hamlet", 1990, vote_count=110),
    CatalogMovie(106, "What's Up, Doc? #2", 1972, vote_count=7),
]
OVERRIDES = {2: Override(2, 9999, None, "checked by hand", 5)}


def run(emu, store, coro_fn):
    async def go():
        async with RateLimitedFetcher({f"127.0.0.1:{emu.port}": fast_policy()}, store) as fetcher:
            return await coro_fn(fetcher)

    return asyncio.run(go())


def resolve(emu, store, fetcher=True, now=NOW):
    fn = lambda f: pipeline.resolve_tmdb_ids(MOVIES, OVERRIDES, store, f if fetcher else None, emu.tmdb_url, now, 90)
    return run(emu, store, fn) if fetcher else asyncio.run(fn(None))


def test_resolution_order_and_zero_call_rerun(make_emulator, tmp_path):
    emu = make_emulator(catalog=CATALOG)
    store = FetchStore(tmp_path)
    resolutions, report = resolve(emu, store)
    got = {r.movie_id: (r.tmdb_id, r.method) for r in resolutions}
    assert got == {
        1: (862, "links"),
        2: (9999, "override"),
        3: (301, "find"),
        4: (101, "search"),
        5: (103, "search"),
        6: (None, "unresolved"),
        7: (105, "search"),
        8: (106, "search"),
    }
    by_id = {r.movie_id: r for r in resolutions}
    assert by_id[2].confidence == 1.0 and "line 5" in by_id[2].reason
    assert by_id[4].confidence == 0.95
    assert by_id[5].confidence == 0.8 and by_id[5].reason.startswith("searched without year")
    assert by_id[7].confidence < 0.7 and {c["tmdb_id"] for c in by_id[7].candidates} == {104, 105}
    assert by_id[6].reason == "no TMDB candidates for any title variant"
    assert emu.hits["/3/find/tt0000004"] == 1 and report.outcomes["ok"] == report.requested
    first = emu.total_hits()
    assert first > 0

    again, report = resolve(emu, store)
    assert emu.total_hits() == first and report.requested == 0  # nothing changed: no HTTP call
    assert [(r.tmdb_id, r.method, r.confidence) for r in again] == [
        (r.tmdb_id, r.method, r.confidence) for r in resolutions
    ]

    offline, report = resolve(emu, store, fetcher=False)  # no token: stored responses still count
    assert [(r.tmdb_id, r.method) for r in offline] == [(r.tmdb_id, r.method) for r in resolutions]
    assert emu.total_hits() == first


def test_no_token_and_nothing_stored(make_emulator, tmp_path):
    emu = make_emulator(catalog=CATALOG)
    resolutions, report = resolve(emu, FetchStore(tmp_path), fetcher=False)
    assert emu.total_hits() == 0 and report.skipped > 0
    unresolved = [r for r in resolutions if r.method == "unresolved"]
    assert {r.movie_id for r in unresolved} == {3, 4, 5, 6, 7, 8}
    assert all("no TMDB_READ_ACCESS_TOKEN" in r.reason for r in unresolved)


def test_details_refresh_changes_feed_and_failures(make_emulator, tmp_path):
    emu = make_emulator(EmulatorConfig(missing_tmdb_ids={404}), catalog=CATALOG)
    store = FetchStore(tmp_path)
    ids = [862, 101, 404, 777]
    emu.fail_next("/3/movie/777", *["503"] * 4)
    report = run(emu, store, lambda f: pipeline.refresh_tmdb_movies(ids, store, f, emu.tmdb_url, NOW, 90))
    assert report.outcomes == {"ok": 2, "not_found": 1, "failed": 1}
    assert emu.hits["/3/movie/changes"] == 0  # just fetched: nothing can have changed yet

    table, counts = tables.tmdb_movies_table(store, {1: 862, 4: 101, 9: 404, 10: 777})
    assert counts == {"ok": 2, "not_found": 1, "failed": 1}
    rows = {r["movie_id"]: r for r in table.to_pylist()}
    assert rows[1]["title"] == "Toy Story" and rows[1]["directors"] and rows[9]["fetch_status"] == "not_found"
    assert "503" in rows[10]["fetch_error"]

    # a re-run fetches only the failed one (404 is final)
    hits = emu.total_hits()
    report = run(emu, store, lambda f: pipeline.refresh_tmdb_movies(ids, store, f, emu.tmdb_url, NOW, 90))
    assert report.reasons == {"retry_failed": 1} and emu.total_hits() == hits + 1

    # a week later TMDB says 862 changed: only it is refetched, and the feed is asked once
    emu.config.changed_tmdb_ids = [862, 5555]
    later = NOW + timedelta(days=7)
    hits = emu.total_hits()
    report = run(emu, store, lambda f: pipeline.refresh_tmdb_movies(ids, store, f, emu.tmdb_url, later, 90))
    assert report.reasons == {"changed": 1} and emu.hits["/3/movie/changes"] == 1
    assert emu.total_hits() == hits + 2

    hits = emu.total_hits()
    report = run(emu, store, lambda f: pipeline.refresh_tmdb_movies(ids, store, f, emu.tmdb_url, later, 90))
    assert emu.total_hits() == hits and report.requested == 0

    # much later everything is stale and refetched (the 404 too: movies come back)
    report = run(
        emu,
        store,
        lambda f: pipeline.refresh_tmdb_movies(
            ids, store, f, emu.tmdb_url, NOW + timedelta(days=200), 90, use_changes=False
        ),
    )
    assert report.reasons == {"stale": 4}


def test_imdb_403_disables_the_source_without_a_storm(make_emulator, tmp_path):
    emu = make_emulator(EmulatorConfig(imdb_blocked=True))
    store = FetchStore(tmp_path)
    ids = [f"tt{n:07d}" for n in range(1, 200)]
    report = run(emu, store, lambda f: pipeline.refresh_imdb_titles(ids, store, f, emu.imdb_url, NOW, 90))
    assert report.disabled and "403" in report.disabled and "disabled for this run" in report.disabled
    assert emu.hits["/imdb/graphql"] <= fast_policy().max_concurrency  # the in-flight few, then stop
    table, counts = tables.imdb_titles_table(store, {1: "tt0000001"})
    assert counts == {"not_fetched": 1}


def test_imdb_titles(make_emulator, tmp_path):
    emu = make_emulator(EmulatorConfig(missing_imdb_ids={"tt0000002"}))
    store = FetchStore(tmp_path)
    report = run(
        emu, store, lambda f: pipeline.refresh_imdb_titles(["tt0000001", "tt0000002"], store, f, emu.imdb_url, NOW, 90)
    )
    assert report.outcomes == {"ok": 2}
    table, counts = tables.imdb_titles_table(store, {1: "tt0000001", 2: "tt0000002"})
    assert counts == {"ok": 1, "not_found": 1}
    assert table.to_pylist()[0]["plot"].startswith("An IMDb plot")

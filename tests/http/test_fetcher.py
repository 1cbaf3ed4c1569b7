"""RateLimitedFetcher against the emulator: each error class, rate and concurrency limits, encoding."""

import asyncio
import socket
import time

import pytest

from movielens_dag.devtools.api_emulator import CatalogMovie, EmulatorConfig
from movielens_dag.enrichment import tmdb
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import AuthError, Credential, FetchRequest, RateLimitedFetcher
from tests.http.conftest import fast_policy

TOKEN = "test-token-7f3a9c-do-not-print"


def fetch_all(emu, requests, store=None, credentials=(), **policy):
    async def go():
        host = f"127.0.0.1:{emu.port}"
        async with RateLimitedFetcher({host: fast_policy(**policy)}, store, credentials) as fetcher:
            records = await fetcher.fetch_many(requests)
        return records, fetcher

    return asyncio.run(go())


def movie(emu, n: int) -> FetchRequest:
    return tmdb.movie_request(emu.tmdb_url, n)


def test_ok_response_is_parsed_and_recorded(emulator, tmp_path):
    store = FetchStore(tmp_path)
    (record,), _ = fetch_all(emulator, [movie(emulator, 550)], store)
    assert record.status == "ok" and record.http_status == 200 and record.attempts == 1
    assert record.json()["title"] == "Fight Club"
    assert "append_to_response=keywords%2Cexternal_ids%2Ccredits" in record.url
    assert store.latest("tmdb_movie")["550"].status == "ok"


@pytest.mark.parametrize("fault", ["500", "502", "503", "reset", "malformed", "timeout"])
def test_transient_faults_are_retried(make_emulator, fault):
    emu = make_emulator(EmulatorConfig(hang_s=5))
    emu.fail_next("/3/movie/7", fault, fault)
    (record,), fetcher = fetch_all(emu, [movie(emu, 7)], timeout_s=0.5)
    assert record.status == "ok" and record.attempts == 3
    assert emu.hits["/3/movie/7"] == 3
    assert fetcher.stats["retries"] == 2


def test_429_waits_for_retry_after(make_emulator):
    emu = make_emulator(EmulatorConfig(retry_after_s=1))
    emu.fail_next("/3/movie/8", "429")
    started = time.monotonic()
    (record,), _ = fetch_all(emu, [movie(emu, 8)], initial_wait_s=0.01, max_wait_s=5)
    elapsed = time.monotonic() - started
    assert record.status == "ok" and record.attempts == 2
    assert 1.0 <= elapsed < 3.0  # the backoff alone would have waited ~0.01 s


def test_404_is_not_found_and_not_retried(make_emulator):
    emu = make_emulator(EmulatorConfig(missing_tmdb_ids={404404}))
    (record,), _ = fetch_all(emu, [movie(emu, 404404)])
    assert record.status == "not_found" and record.http_status == 404 and record.attempts == 1
    assert "could not be found" in record.payload
    assert emu.hits["/3/movie/404404"] == 1


def test_other_4xx_is_a_final_client_error(emulator):
    emulator.fail_next("/3/movie/9", "403")  # 403 without credentials still stops, as AuthError
    with pytest.raises(AuthError, match="credentials are missing or wrong"):
        fetch_all(emulator, [movie(emulator, 9)])


def test_401_fails_fast_naming_the_variable_never_the_token(make_emulator):
    emu = make_emulator(EmulatorConfig(tmdb_token="the-right-one"))
    cred = Credential(emu.tmdb_url + "/", {"Authorization": f"Bearer {TOKEN}"}, "TMDB_READ_ACCESS_TOKEN")
    requests = [movie(emu, n) for n in range(1, 40)]
    with pytest.raises(AuthError) as info:
        fetch_all(emu, requests, credentials=[cred], max_concurrency=2)
    message = str(info.value)
    assert "TMDB_READ_ACCESS_TOKEN is missing or wrong" in message and "401" in message
    assert TOKEN not in message and TOKEN not in repr(info.value)
    assert emu.total_hits() <= 3  # no retries, pending requests cancelled


def test_token_only_goes_to_its_base_url(make_emulator):
    emu = make_emulator(EmulatorConfig(tmdb_token=TOKEN))
    cred = Credential(emu.tmdb_url + "/", {"Authorization": f"Bearer {TOKEN}"}, "TMDB_READ_ACCESS_TOKEN")
    imdb_request = FetchRequest(
        "imdb_title",
        "tt0133093",
        emu.imdb_url,
        method="POST",
        json_body={"query": "query { title }", "variables": {"id": "tt0133093"}},
    )
    records, _ = fetch_all(emu, [movie(emu, 550), imdb_request], credentials=[cred])
    assert [r.status for r in records] == ["ok", "ok"]
    assert emu.last_authorization["/3/movie/550"] == f"Bearer {TOKEN}"
    assert emu.last_authorization["/imdb/graphql"] is None  # same host, other prefix: no token


def test_exhausted_retries_are_recorded_as_failed(emulator, tmp_path):
    emulator.fail_next("/3/movie/10", "503", "503", "503", "503")
    store = FetchStore(tmp_path)
    (record,), fetcher = fetch_all(emulator, [movie(emulator, 10)], store, max_attempts=4)
    assert record.status == "failed" and record.attempts == 4 and record.http_status == 503
    assert "503" in record.error
    assert store.latest("tmdb_movie")["10"].status == "failed"
    assert fetcher.stats["failed"] == 1


def test_persistently_malformed_json_fails_with_a_clear_error(emulator):
    emulator.fail_next("/3/movie/11", *["malformed"] * 4)
    (record,), _ = fetch_all(emulator, [movie(emulator, 11)], max_attempts=4)
    assert record.status == "failed" and "malformed response body" in record.error


def test_connection_refused_is_retried_then_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there

    async def go():
        host = f"127.0.0.1:{port}"
        async with RateLimitedFetcher({host: fast_policy(max_attempts=3)}) as fetcher:
            return await fetcher.fetch(FetchRequest("x", "1", f"http://{host}/3/movie/1"))

    record = asyncio.run(go())
    assert record.status == "failed" and record.attempts == 3 and record.http_status is None
    assert "ConnectError" in record.error


def test_rate_limit_is_respected(make_emulator):
    # The server allows the same 20/s with a few more tokens of burst, which absorbs ~0.25 s of arrival
    # jitter on a busy machine; a client without a limiter would send all 30 at once and get ~20 refusals.
    emu = make_emulator(EmulatorConfig(requests_per_second=20, burst=10))
    started = time.monotonic()
    records, fetcher = fetch_all(emu, [movie(emu, n) for n in range(1, 31)], requests_per_second=20, burst=5)
    elapsed = time.monotonic() - started
    assert all(r.status == "ok" for r in records)
    assert elapsed >= (30 - 5) / 20 * 0.9  # the bucket's burst, then 20/s
    assert emu.statuses.get("429-rate-limit", 0) <= 1


def test_max_concurrency_per_host(make_emulator):
    emu = make_emulator(EmulatorConfig(latency_s=0.2))
    started = time.monotonic()
    fetch_all(emu, [movie(emu, n) for n in range(1, 7)], max_concurrency=2)
    assert time.monotonic() - started >= 0.6  # 6 requests, 2 at a time, 0.2 s each


def test_duplicate_requests_go_out_once(emulator):
    records, _ = fetch_all(emulator, [movie(emulator, 5), movie(emulator, 5)])
    assert len(records) == 1 and emulator.hits["/3/movie/5"] == 1


@pytest.mark.parametrize(
    "title", ["Tom & Jerry: #1?", "Amélie", "What's Up, Doc? (a.k.a. Doc)", "100% Wolf", "C'est+la vie"]
)
def test_queries_are_encoded_by_httpx(make_emulator, title):
    emu = make_emulator(catalog=[CatalogMovie(77, title, 2001)])
    (record,), _ = fetch_all(emu, [tmdb.search_request(emu.tmdb_url, title, 2001)])
    assert [c.tmdb_id for c in tmdb.parse_candidates(record.json())] == [77]


def test_many_requests_with_few_pending_keep_input_order(emulator):
    async def go():
        async with RateLimitedFetcher({f"127.0.0.1:{emulator.port}": fast_policy()}) as fetcher:
            fetcher.max_pending = 3
            return await fetcher.fetch_many([movie(emulator, n) for n in range(40, 0, -1)]), fetcher

    records, fetcher = asyncio.run(go())
    assert [r.key for r in records] == [str(n) for n in range(40, 0, -1)]
    assert fetcher.summary()["requests_per_second"] > 0 and fetcher.stats["ok"] == 40


def test_recorded_urls_drop_credential_parameters(emulator):
    request = FetchRequest("tmdb_movie", "550", f"{emulator.tmdb_url}/movie/550", {"api_key": TOKEN, "language": "en"})
    (record,), _ = fetch_all(emulator, [request])
    assert TOKEN not in record.url and "language=en" in record.url

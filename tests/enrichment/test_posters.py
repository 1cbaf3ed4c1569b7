"""Poster fetching against the emulator: /configuration, 404s, a broken image, no poster, re-runs."""

import asyncio
import hashlib
import json
from datetime import UTC, datetime

import pytest

from movielens_dag.devtools.api_emulator import EmulatorConfig
from movielens_dag.enrichment import pipeline, tmdb
from movielens_dag.enrichment.posters import (
    PosterConfigError,
    PosterRef,
    PosterSettings,
    poster_table,
    refresh_posters,
    status_counts,
)
from movielens_dag.http.blob_store import BlobStore
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import RateLimitedFetcher
from tests.http.conftest import fast_policy

NOW = datetime.now(UTC)
# movie_id -> tmdb_id; movie 7 shares movie 1's TMDB entry (and so its poster file)
TMDB_IDS = {1: 11, 2: 12, 3: 13, 4: 14, 5: 15, 6: None, 7: 11}


def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(no_poster_tmdb_ids={13}, missing_posters={"/poster14.jpg"}, broken_posters={"/poster15.jpg"})


def run(emu, store, blobs, fn):
    async def go():
        async with RateLimitedFetcher({f"127.0.0.1:{emu.port}": fast_policy()}, store, blobs=blobs) as fetcher:
            return await fn(fetcher)

    return asyncio.run(go())


def poster_refs(emu, store, blobs) -> list[PosterRef]:
    """poster_path the way the tmdb_movies asset gets it: /movie/{id} details, parsed."""
    ids = sorted({t for t in TMDB_IDS.values() if t})
    run(emu, store, blobs, lambda f: pipeline.refresh_tmdb_movies(ids, store, f, emu.tmdb_url, NOW, 90, False))
    paths = {
        int(k): tmdb.parse_movie(json.loads(p))["poster_path"] for k, p, _ in store.iter_ok_payloads(tmdb.SOURCE_MOVIE)
    }
    return [PosterRef(m, t, paths.get(t) if t else None) for m, t in TMDB_IDS.items()]


def fetch(emu, store, blobs, refs, settings=None):
    return run(emu, store, blobs, lambda f: refresh_posters(refs, store, f, blobs, emu.tmdb_url, NOW, settings))


def test_posters_with_404_broken_image_missing_poster_and_zero_call_rerun(make_emulator, tmp_path):
    emu = make_emulator(emulator_config())
    store, blobs = FetchStore(tmp_path / "store"), BlobStore(tmp_path / "posters")
    refs = poster_refs(emu, store, blobs)
    emu.fail_next("/t/p/w185/poster12.jpg", "500")  # a transient error is retried
    table, report = fetch(emu, store, blobs, refs)
    rows = {r["movie_id"]: r for r in table.to_pylist()}
    assert {m: r["status"] for m, r in rows.items()} == {
        1: "ok",
        2: "ok",
        3: "no_poster",
        4: "not_found",
        5: "broken_image",
        6: "no_tmdb_id",
        7: "ok",
    }
    assert status_counts(table)["ok"] == 3
    # content-addressed files: the name is the hash of the bytes; a shared poster is one file, one request
    for m in (1, 2):
        data = blobs.path(rows[m]["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rows[m]["sha256"] and len(data) == rows[m]["bytes"]
        assert blobs.verify(rows[m]["file"]) and (rows[m]["width"], rows[m]["height"]) == (185, 277)
    assert rows[7]["file"] == rows[1]["file"] and emu.hits["/t/p/w185/poster11.jpg"] == 1
    assert emu.hits["/t/p/w185/poster12.jpg"] == 2 and emu.hits["/3/configuration"] == 1
    assert rows[5]["file"] is None and rows[5]["error"] and rows[4]["error"] is None
    assert report.outcomes["ok"] == 4 and report.outcomes["not_found"] == 1  # configuration + 3 images

    hits = emu.total_hits()
    again, report = fetch(emu, store, blobs, refs)
    assert emu.total_hits() == hits and report.requested == 0  # nothing new: no HTTP call at all
    assert again.drop(["fetched_at"]).equals(table.drop(["fetched_at"]))

    blobs.path(rows[2]["file"]).unlink()  # a deleted file is fetched again, and only it
    third, report = fetch(emu, store, blobs, refs)
    assert emu.total_hits() == hits + 1 and report.reasons["file_missing"] == 1
    assert third.to_pylist()[1]["status"] == "ok" and blobs.verify(rows[2]["file"])


def test_no_token_and_nothing_stored_fetches_nothing(tmp_path):
    store, blobs = FetchStore(tmp_path / "store"), BlobStore(tmp_path / "posters")
    refs = [PosterRef(1, 11, "/poster11.jpg"), PosterRef(2, None, None), PosterRef(3, 13, None)]
    table, report = asyncio.run(refresh_posters(refs, store, None, blobs, "http://127.0.0.1:9/3", NOW))
    assert table["status"].to_pylist() == ["not_fetched", "no_tmdb_id", "no_poster"]
    assert report.skipped == 1
    assert poster_table(refs, store, blobs, "w185").num_rows == 3


def test_a_size_tmdb_does_not_serve_fails_before_any_image(make_emulator, tmp_path):
    emu = make_emulator(emulator_config())
    store, blobs = FetchStore(tmp_path / "store"), BlobStore(tmp_path / "posters")
    with pytest.raises(PosterConfigError, match="w185"):  # the message lists the sizes TMDB has
        fetch(emu, store, blobs, [PosterRef(1, 11, "/poster11.jpg")], PosterSettings(size="w999"))
    assert emu.total_hits("/t/p/") == 0


def test_poster_refs_take_the_poster_path_of_fetched_details_only(tmp_path):
    import pyarrow as pa

    from movielens_dag.enrichment.posters import poster_refs

    ids = pa.table({"movie_id": pa.array([1, 2, 3, 4, 5], pa.int32()), "tmdb_id": pa.array([11, 12, 13, None, 15])})
    details = pa.table(
        {
            "movie_id": pa.array([1, 2, 3, 5], pa.int32()),
            "tmdb_id": pa.array([11, 12, 13, 99]),
            "poster_path": ["/p11.jpg", None, None, "/p99.jpg"],
            "fetch_status": ["ok", "ok", "not_fetched", "ok"],
        }
    )
    refs = poster_refs(ids, details)
    assert refs == [
        PosterRef(1, 11, "/p11.jpg"),
        PosterRef(2, 12, None),
        PosterRef(3, 13, None, "not_fetched"),
        PosterRef(4, None, None, "missing"),
        PosterRef(5, 15, None, "missing"),
    ]  # 99: another id's details
    table = poster_table(refs, FetchStore(tmp_path / "store"), BlobStore(tmp_path / "posters"), "w185")
    # TMDB lists no poster (2) versus details never fetched (3, 5): only the first is "no_poster"
    assert table["status"].to_pylist() == ["not_fetched", "no_poster", "not_fetched", "no_tmdb_id", "not_fetched"]
    assert "not_fetched" in table["error"][2].as_py() and table["error"][1].as_py() is None

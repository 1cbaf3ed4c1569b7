"""poster_images in Dagster against the emulator: every outcome, files and checks, a zero-call re-run, a
deleted file, the poster host's own rate, and no token (no request)."""

import hashlib

import pyarrow.parquet as pq
import pytest

from movielens_dag.assets import enrichment as enrichment_assets
from movielens_dag.http.blob_store import BlobStore
from movielens_dag.paths import DataPaths
from movielens_dag.resources.http import NO_TOKEN, TMDB_IMAGE_HOST, HttpFetcher
from movielens_dag.resources.storage import DataDir

from .posters_data import (
    EXPECTED,
    POSTER_CHAIN,
    TOKEN,
    checks,
    emulator_config,
    fetcher,
    materialize,
    metadata,
    write_upstream,
)


@pytest.fixture
def paths(tmp_path) -> DataPaths:
    paths = DataPaths(tmp_path / "data")
    write_upstream(paths)
    return paths


def rows(paths: DataPaths) -> dict[int, dict]:
    return {r["movie_id"]: r for r in pq.read_table(paths.asset_file("enrichment", "poster_images")).to_pylist()}


def test_posters_with_every_outcome_then_a_zero_call_rerun(make_emulator, paths):
    emu = make_emulator(emulator_config())
    result = materialize(paths, fetcher(emu), POSTER_CHAIN)
    assert result.success
    got = rows(paths)
    assert {m: r["status"] for m, r in got.items()} == EXPECTED
    blobs = BlobStore(paths.posters)
    for m in (1, 2):
        data = blobs.path(got[m]["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == got[m]["sha256"]
        assert (got[m]["width"], got[m]["height"]) == (185, 277)
    assert got[8]["file"] == got[1]["file"] and emu.hits["/t/p/w185/poster11.jpg"] == 1
    assert "not_found" in got[6]["error"]  # TMDB has no details for 404: whether it has a poster is unknown
    meta = metadata(result, "poster_images")
    assert meta["status"]["ok"] == 3 and meta["status"]["broken_image"] == 1 and meta["distinct_images"] == 2
    assert meta["http_requests"] == 5 and meta["megabytes_on_disk"] > 0  # configuration + 4 distinct images
    assert "skipped" not in meta and "poster11" in meta["fetched"] and meta["poster_size"] == "w185"
    assert checks(result) == {
        "one_id_row_per_movie": True,
        "one_detail_row_per_resolved_movie": True,
        "tmdb_coverage": False,  # 2 of 8 movies have no details: a warning, not an error
        "every_poster_file_is_there_and_matches_its_hash": True,
        "one_poster_row_per_movie": True,
        "few_poster_fetches_fail": True,
    }

    hits = emu.total_hits()
    again = materialize(paths, fetcher(emu), ["poster_images"])
    assert emu.total_hits() == hits and metadata(again, "poster_images")["http_requests"] == 0
    assert {m: r["status"] for m, r in rows(paths).items()} == EXPECTED


def test_a_deleted_or_altered_file_fails_the_blocking_check_and_a_rerun_fetches_it(make_emulator, paths):
    emu = make_emulator(emulator_config())
    assert materialize(paths, fetcher(emu), POSTER_CHAIN).success
    got = rows(paths)
    table = pq.read_table(paths.asset_file("enrichment", "poster_images"))
    data_dir = DataDir(data_dir=str(paths.root))
    check = enrichment_assets.every_poster_file_is_there_and_matches_its_hash
    assert check(poster_images=table, data_dir=data_dir).passed
    path = BlobStore(paths.posters).path(got[2]["file"])
    path.write_bytes(path.read_bytes()[:-10])  # truncated: no longer its hash
    failed = check(poster_images=table, data_dir=data_dir)
    assert not failed.passed and failed.metadata["missing_or_corrupt"].value == 1
    path.unlink()
    result = materialize(paths, fetcher(emu), ["poster_images"])
    assert metadata(result, "poster_images")["fetch_reasons"] == {"file_missing": 1}
    assert checks(result)["every_poster_file_is_there_and_matches_its_hash"]


def test_without_a_token_no_request_and_nothing_fetched(make_emulator, paths):
    emu = make_emulator(emulator_config(token=None))
    result = materialize(paths, fetcher(emu, token=None), POSTER_CHAIN)
    assert result.success and emu.total_hits() == 0
    assert NO_TOKEN in metadata(result, "poster_images")["skipped"]
    assert {m: r["status"] for m, r in rows(paths).items()} == {**{m: "not_fetched" for m in EXPECTED}, 7: "no_tmdb_id"}
    assert not paths.posters.exists()


def test_the_image_host_has_its_own_rate():
    policies = HttpFetcher(tmdb_read_access_token=TOKEN, tmdb_image_requests_per_second=7).policies()
    assert policies[TMDB_IMAGE_HOST].requests_per_second == 7
    assert policies["api.themoviedb.org"].requests_per_second == 40
    assert HttpFetcher().policies() == {}  # no token: no TMDB host at all

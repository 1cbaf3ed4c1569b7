"""The enrichment group in Dagster, against the emulator: outputs, zero-call re-run, no token, bad token,
blocked IMDb, secrets that never leak, the sensor and the refresh job."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from movielens_dag.assets import documents as documents_assets
from movielens_dag.assets import enrichment as enrichment_assets
from movielens_dag.assets import movielens as movielens_assets
from movielens_dag.definitions import make_resources
from movielens_dag.devtools.api_emulator import CatalogMovie, EmulatorConfig
from movielens_dag.movielens.readers import LINKS_SCHEMA, MOVIES_SCHEMA
from movielens_dag.paths import DataPaths
from movielens_dag.resources.http import NO_TOKEN, HttpFetcher
from movielens_dag.resources.sources import WikipediaPlotsSource
from movielens_dag.warehouse import write_parquet_atomic

TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-test-token-4b1d"
WIKI_SAMPLE = Path(__file__).parent.parent / "fixtures" / "wikipedia" / "sample.csv"  # has King Kong (1933)
ENRICHMENT = ["tmdb_ids", "tmdb_movies", "imdb_titles", "wikipedia_plots", "enrichment_review_queue", "fetch_log"]
WITH_DOCUMENTS = ENRICHMENT + ["movie_documents"]
MOVIES = [  # movie_id, title, year, genres, alt titles, imdb id, links tmdb id
    (1, "Toy Story", 1995, ["Animation"], [], "tt0114709", 862),
    (2, "Fight Club", 1999, ["Drama"], [], "tt0137523", 550),
    (3, "King Kong", 1933, ["Adventure"], [], "tt0024216", 244),
    (4, "Gone Movie", 2000, ["Drama"], [], "tt0000404", 404),
    (5, "Found By Imdb", 1980, ["Comedy"], [], "tt9000301", None),
    (6, "Léon: The Professional", 1994, ["Crime"], ["The Professional"], None, None),
    (7, "Nothing Like It", 2001, ["Drama"], [], None, None),
    (8, "Wrong Link", 2002, ["Drama"], [], "tt0000008", 555),
]
CATALOG = [
    CatalogMovie(862, "Toy Story", 1995, "tt0114709"),
    CatalogMovie(244, "King Kong", 1933, "tt0024216"),
    CatalogMovie(301, "Found By Imdb", 1980),
    CatalogMovie(101, "Léon: The Professional", 1994, "tt0110413", 900),
    CatalogMovie(555, "Another Movie", 2002, "tt5555555"),
]


@pytest.fixture
def upstream(tmp_path) -> DataPaths:
    """A data dir whose movielens group holds a few movies (written directly, as the IO manager would)."""
    paths = DataPaths(tmp_path / "data")
    movies = pa.Table.from_pylist(
        [
            dict(movie_id=m, title=t, year=y, genres=g, alt_titles=a, raw_title=f"{t} ({y})")
            for m, t, y, g, a, _, _ in MOVIES
        ],
        schema=MOVIES_SCHEMA,
    )
    links = pa.Table.from_pylist(
        [dict(movie_id=m, imdb_id=i, tmdb_id=k) for m, *_, i, k in MOVIES], schema=LINKS_SCHEMA
    )
    ratings = pa.table(
        {
            "user_id": pa.array([1, 1, 2], pa.int32()),
            "movie_id": pa.array([2, 7, 7], pa.int32()),
            "rating": pa.array([4.0, 3.0, 5.0], pa.float32()),
            "timestamp": pa.array([1, 2, 3], pa.int64()),
        }
    )
    tags = pa.table(
        {
            "user_id": pa.array([1], pa.int32()),
            "movie_id": pa.array([2], pa.int32()),
            "tag": ["twist ending"],
            "timestamp": pa.array([4], pa.int64()),
        }
    )
    for name, table in [("movies", movies), ("links", links), ("ratings", ratings), ("tags", tags)]:
        write_parquet_atomic(table, paths.asset_file("movielens", name))
    return paths


def materialize(paths: DataPaths, fetcher: HttpFetcher, selection=ENRICHMENT, raise_on_error=True):
    assets = dg.load_assets_from_modules([movielens_assets, enrichment_assets, documents_assets])
    resources = {
        **make_resources(str(paths.root)),
        "http_fetcher": fetcher,
        "wikipedia_source": WikipediaPlotsSource(csv_path=str(WIKI_SAMPLE)),
    }
    return dg.materialize(assets, selection=selection, resources=resources, raise_on_error=raise_on_error)


def metadata(result, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def table(paths: DataPaths, asset: str) -> list[dict]:
    return pq.read_table(paths.asset_file("enrichment", asset)).to_pylist()


def assert_no_secret(paths: DataPaths, result, *texts: str) -> None:
    for path in paths.root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"token found in {path}"
    events = "\n".join(repr(e) for e in result.all_events)
    assert TOKEN not in events
    for text in texts:
        assert TOKEN not in text


def test_enrichment_with_token_then_a_zero_call_rerun(make_emulator, upstream, capfd):
    emu = make_emulator(EmulatorConfig(tmdb_token=TOKEN, missing_tmdb_ids={404}), catalog=CATALOG)
    fetcher = HttpFetcher(
        tmdb_api_base_url=emu.tmdb_url,
        tmdb_read_access_token=TOKEN,
        imdb_graphql_url=emu.imdb_url,
        tmdb_requests_per_second=200,
        imdb_requests_per_second=200,
    )
    result = materialize(upstream, fetcher, selection=WITH_DOCUMENTS)
    assert result.success

    ids = {r["movie_id"]: r for r in table(upstream, "tmdb_ids")}
    assert {m: (r["tmdb_id"], r["method"]) for m, r in ids.items()} == {
        1: (862, "links"),
        2: (550, "links"),
        3: (244, "links"),
        4: (404, "links"),
        5: (301, "find"),
        6: (101, "search"),
        7: (None, "unresolved"),
        8: (555, "links"),
    }
    movies = {r["movie_id"]: r for r in table(upstream, "tmdb_movies")}
    assert movies[2]["title"] == "Fight Club" and movies[2]["directors"] == ["David Fincher"]  # the recorded response
    assert movies[4]["fetch_status"] == "not_found"
    imdb = {r["movie_id"]: r for r in table(upstream, "imdb_titles")}
    assert imdb[2]["fetch_status"] == "ok" and imdb[2]["plot"]
    wiki = {r["movie_id"]: r for r in table(upstream, "wikipedia_plots")}
    assert wiki[3]["match"] == "title+year" and "Kong" in wiki[3]["plot"]
    queue = {(r["movie_id"], r["issue"]): r for r in table(upstream, "enrichment_review_queue")}
    assert set(queue) == {(7, "unresolved"), (4, "tmdb_not_found"), (8, "imdb_mismatch")}
    assert "links.csv says tt0000008, TMDB 555 says tt5555555" in queue[(8, "imdb_mismatch")]["detail"]
    assert queue[(4, "tmdb_not_found")]["suggested_override"].startswith("4,,tt0000404,")
    assert queue[(7, "unresolved")]["num_ratings"] == 2
    log = table(upstream, "fetch_log")
    assert {r["source"] for r in log} == {"tmdb_movie", "tmdb_find", "tmdb_search", "imdb_title"}
    assert metadata(result, "tmdb_movies")["http_requests"] > 0
    docs = {r["movie_id"]: r for r in pq.read_table(upstream.asset_file("documents", "movie_documents")).to_pylist()}
    assert docs[2]["template_version"] == "enriched-v1" and docs[2]["provenance"]["plot"] == "tmdb"
    assert "Directed by: David Fincher" in docs[2]["document"] and "Tags: twist ending" in docs[2]["document"]
    assert docs[7]["template_version"] == "movielens-v1"  # nothing enriches it: the v0 text
    hits = emu.total_hits()

    again = materialize(upstream, fetcher, selection=WITH_DOCUMENTS)
    assert emu.total_hits() == hits  # nothing changed: not a single request
    for asset in ["tmdb_ids", "tmdb_movies", "imdb_titles"]:
        assert metadata(again, asset)["http_requests"] == 0
    assert len(table(upstream, "fetch_log")) == len(log)
    docs_again = pq.read_table(upstream.asset_file("documents", "movie_documents"))
    assert docs_again["document_hash"].to_pylist() == [docs[m]["document_hash"] for m in sorted(docs)]
    out = capfd.readouterr()
    assert_no_secret(upstream, result, out.out, out.err)
    assert_no_secret(upstream, again)


def test_no_token_skips_tmdb_and_the_rest_runs(make_emulator, upstream):
    emu = make_emulator(EmulatorConfig(imdb_blocked=True))
    fetcher = HttpFetcher(tmdb_api_base_url=emu.tmdb_url, imdb_graphql_url=emu.imdb_url)
    result = materialize(upstream, fetcher, selection=WITH_DOCUMENTS)
    assert result.success
    for asset in ["tmdb_ids", "tmdb_movies"]:
        assert NO_TOKEN in metadata(result, asset)["skipped"]
    assert emu.hits.get("/3/find/tt9000301", 0) == 0 and emu.total_hits("/3") == 0
    assert "disabled for this run" in metadata(result, "imdb_titles")["disabled"]
    assert emu.hits["/imdb/graphql"] <= HttpFetcher().imdb_max_concurrency  # one refusal, not a storm
    statuses = {r["movie_id"]: r["fetch_status"] for r in table(upstream, "tmdb_movies")}
    assert set(statuses.values()) == {"not_fetched"}
    assert {r["movie_id"] for r in table(upstream, "wikipedia_plots")} == {3}
    unresolved = [r for r in table(upstream, "enrichment_review_queue") if r["issue"] == "unresolved"]
    assert {r["movie_id"] for r in unresolved} == {5, 6, 7}
    versions = {
        r["movie_id"]: r["template_version"]
        for r in pq.read_table(upstream.asset_file("documents", "movie_documents")).to_pylist()
    }
    assert versions == {m: ("enriched-v1" if m == 3 else "movielens-v1") for m in range(1, 9)}  # Wikipedia only
    assert unresolved[0]["movie_id"] == 7
    assert unresolved[0]["suggested_override"] == "7,<tmdb_id from themoviedb.org>,,Nothing Like It (2001)"


def test_wrong_token_fails_fast_and_never_shows_it(make_emulator, upstream, capfd):
    emu = make_emulator(EmulatorConfig(tmdb_token="the-right-token"), catalog=CATALOG)
    fetcher = HttpFetcher(tmdb_api_base_url=emu.tmdb_url, tmdb_read_access_token=TOKEN)
    result = materialize(upstream, fetcher, selection=["tmdb_ids"], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "TMDB_READ_ACCESS_TOKEN is missing or wrong" in message and "401" in message
    assert emu.total_hits() == 1  # no retry, nothing else attempted
    out = capfd.readouterr()
    assert_no_secret(upstream, result, message, out.out, out.err)


def test_overrides_sensor(tmp_path, monkeypatch):
    path = tmp_path / "tmdb_ids.csv"
    path.write_text("movie_id,tmdb_id,imdb_id,note\n", encoding="utf-8")
    monkeypatch.setattr(enrichment_assets, "OVERRIDES_FILE", path)
    sensor = enrichment_assets.tmdb_overrides_sensor
    first = sensor(dg.build_sensor_context(cursor=None))
    assert isinstance(first, dg.SkipReason)
    cursor = enrichment_assets.overrides_digest(path)
    assert isinstance(sensor(dg.build_sensor_context(cursor=cursor)), dg.SkipReason)
    path.write_text("movie_id,tmdb_id,imdb_id,note\n1,862,,Toy Story\n", encoding="utf-8")
    request = sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"overrides-{enrichment_assets.overrides_digest(path)}"


def test_refresh_job_schedule_and_pools(tmp_path):
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([movielens_assets, enrichment_assets, documents_assets]),
        jobs=[enrichment_assets.enrichment_refresh_job],
        schedules=[enrichment_assets.enrichment_weekly_schedule],
        sensors=[enrichment_assets.tmdb_overrides_sensor],
        resources={**make_resources(str(tmp_path)), "http_fetcher": HttpFetcher()},
    )
    job = defs.resolve_job_def("enrichment_refresh")
    keys = {k.path[-1] for k in job.asset_layer.selected_asset_keys}
    assert set(ENRICHMENT) | {"poster_images", "movie_documents"} == keys
    assert enrichment_assets.enrichment_weekly_schedule.cron_schedule == "0 4 * * 1"
    assert enrichment_assets.tmdb_ids.op.pool == "tmdb" and enrichment_assets.tmdb_movies.op.pool == "tmdb"
    assert enrichment_assets.imdb_titles.op.pool == "imdb"


def test_resource_from_environment(make_emulator, upstream, monkeypatch, capfd):
    from movielens_dag.resources.http import http_fetcher_from_env

    emu = make_emulator(EmulatorConfig(tmdb_token=TOKEN), catalog=CATALOG)
    monkeypatch.setenv("TMDB_API_BASE_URL", emu.tmdb_url)
    monkeypatch.setenv("TMDB_READ_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TMDB_REQUESTS_PER_SECOND", "250")
    monkeypatch.delenv("IMDB_GRAPHQL_URL", raising=False)
    fetcher = http_fetcher_from_env()
    assert isinstance(fetcher.tmdb_read_access_token, dg.EnvVar) and fetcher.tmdb_requests_per_second == 250
    result = materialize(upstream, fetcher, selection=["tmdb_ids"])
    assert result.success and emu.last_authorization["/3/find/tt9000301"] == f"Bearer {TOKEN}"
    out = capfd.readouterr()
    assert_no_secret(upstream, result, out.out, out.err)
    monkeypatch.delenv("TMDB_READ_ACCESS_TOKEN")
    assert not http_fetcher_from_env().tmdb_enabled


def test_missing_wikipedia_csv_is_a_clear_skip(upstream):
    assets = dg.load_assets_from_modules([movielens_assets, enrichment_assets, documents_assets])
    resources = {
        **make_resources(str(upstream.root)),
        "http_fetcher": HttpFetcher(),
        "wikipedia_source": WikipediaPlotsSource(csv_path=str(upstream.root / "absent.csv")),
    }
    result = dg.materialize(assets, selection=["tmdb_ids", "tmdb_movies", "wikipedia_plots"], resources=resources)
    assert "no Wikipedia plots CSV at" in metadata(result, "wikipedia_plots")["skipped"]
    assert table(upstream, "wikipedia_plots") == []

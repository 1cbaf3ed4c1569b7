"""#7: responses are read against explicit schemas; odd fields are coerced or become one movie's parse_error.

Starts from the real recorded TMDB /movie/550 response (Fight Club) with its appended parts.
"""

import asyncio
import copy
import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from movielens_dag.devtools.api_emulator import FIXTURES, generated_imdb_title
from movielens_dag.enrichment import imdb, pipeline, review, tables, tmdb
from movielens_dag.enrichment.schemas import ResponseSchemaError
from movielens_dag.http.fetch_store import FetchRecord, FetchStore
from movielens_dag.movielens.readers import LINKS_SCHEMA, MOVIES_SCHEMA

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fight_club(**changes) -> dict:
    doc = load("tmdb/movie-details.json")
    for extra, name in [
        ("keywords", "movie-keywords"),
        ("credits", "movie-credits"),
        ("external_ids", "movie-external-ids"),
    ]:
        doc[extra] = load(f"tmdb/{name}.json")
    doc = copy.deepcopy(doc)
    for path, value in changes.items():  # "credits__cast__0__name" -> doc["credits"]["cast"][0]["name"]
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("__")]
        node = doc
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return doc


def test_recorded_fixture_really_is_fight_club():
    assert FIXTURES.joinpath("tmdb/movie-details.json").exists()
    assert fight_club()["popularity"] == 93.958 and fight_club()["id"] == 550


@pytest.mark.parametrize(
    "field, sent, parsed",
    [
        ("popularity", "93.49", 93.49),  # the real failure: popularity as a JSON string
        ("popularity", " 93.958 ", 93.958),
        ("vote_average", 8, 8.0),
        ("vote_count", "27917", 27917),
        ("budget", 63000000.0, 63_000_000),
        ("runtime", "139", 139),
        ("runtime", None, None),
        ("popularity", None, None),
        ("popularity", "", None),
        ("title", 1984, "1984"),
        ("release_date", "", None),
        ("release_date", None, None),
        ("genres", None, []),
        ("credits", None, None),
    ],
)
def test_safely_coercible_fields_are_coerced(field, sent, parsed):
    row = tmdb.parse_movie(fight_club(**{field: sent}))
    key = {"credits": "cast"}.get(field, field)
    assert row[key] == (parsed if field != "credits" else [])
    assert row["tmdb_id"] == 550 and row["directors"] == ["David Fincher"] or field == "credits"


def test_missing_fields_become_nulls():
    row = tmdb.parse_movie(fight_club(overview=KeyError, vote_count=KeyError, genres=KeyError, keywords=KeyError))
    assert row["overview"] is None and row["vote_count"] is None and row["genres"] == [] and row["keywords"] == []


@pytest.mark.parametrize(
    "field, sent, named",
    [
        ("popularity", "about 93", "popularity: expected a number"),
        ("popularity", True, "popularity: expected a number, got a boolean"),
        ("popularity", "nan", "popularity: expected a finite number"),
        ("runtime", 139.5, "runtime: expected an integer, got a fractional number"),
        ("runtime", 2**40, "runtime: integer 1099511627776 is outside the 32-bit range"),
        ("budget", [63000000], "budget: expected an integer, got a list"),
        ("genres", "Drama", "genres: expected a list, got text"),
        ("genres__0", "Drama", "genres.0: Input should be a valid dictionary"),
        ("release_date", "15/10/1999", "release_date: expected a date (YYYY-MM-DD)"),
        ("title", {"en": "Fight Club"}, "title: expected text, got an object"),
        ("credits__cast__3__name", ["Meat Loaf"], "credits.cast.3.name: Input should be a valid string"),
        ("credits__crew", {"job": "Director"}, "credits.crew: expected a list, got an object"),
        ("id", KeyError, "id: missing"),
        ("id", "fifty", "id: expected an integer"),
    ],
)
def test_fields_that_cannot_be_coerced_are_named(field, sent, named):
    with pytest.raises(ResponseSchemaError) as error:
        tmdb.parse_movie(fight_club(**{field: sent}))
    assert named in str(error.value) and "TMDB /movie/" in str(error.value)


def test_every_bad_field_is_listed_at_once():
    with pytest.raises(ResponseSchemaError) as error:
        tmdb.parse_movie(fight_club(popularity="n/a", genres="Drama"))
    assert "popularity:" in str(error.value) and "genres:" in str(error.value)
    with pytest.raises(ResponseSchemaError, match="expected a JSON object, got a list"):
        tmdb.parse_movie([fight_club()])


def record(source: str, key: str, payload, fetched_at=NOW) -> FetchRecord:
    return FetchRecord(
        source, key, "ok", 200, f"http://127.0.0.1/{key}", json.dumps(payload), None, 1, 5, fetched_at, "run"
    )


@pytest.fixture
def store(tmp_path):
    store = FetchStore(tmp_path / "fetch_store")
    odd = [
        fight_club(),  # 550 ok
        fight_club(id=551, popularity="93.49"),  # coerced: ok
        fight_club(id=552, genres="Drama"),  # parse_error
        fight_club(id=553, runtime=2**40),  # parse_error (would overflow int32)
        fight_club(id=554, popularity="93.49", vote_average=None, budget="63000000"),  # coerced: ok
    ]
    for doc in odd:
        store.append(record(tmdb.SOURCE_MOVIE, str(doc["id"]), doc))
    store.flush()
    return store


def test_tmdb_movies_table_keeps_good_movies_and_records_parse_errors(store):
    table, statuses = tables.tmdb_movies_table(store, {1: 550, 2: 551, 3: 552, 4: 553, 5: 554})
    assert table.schema == tables.TMDB_MOVIES and table.num_rows == 5
    assert dict(statuses) == {"ok": 3, "parse_error": 2}
    rows = {r["movie_id"]: r for r in table.to_pylist()}
    assert rows[2]["popularity"] == pytest.approx(93.49) and rows[2]["title"] == "Fight Club"
    assert rows[5]["budget"] == 63_000_000 and rows[5]["vote_average"] is None
    assert rows[3]["fetch_status"] == "parse_error" and "genres: expected a list" in rows[3]["fetch_error"]
    assert rows[4]["tmdb_id"] == 553 and "runtime: integer" in rows[4]["fetch_error"]
    assert rows[1]["release_date"] == date(1999, 10, 15)


def test_fetch_log_says_which_responses_did_not_parse(store):
    log = tables.fetch_log_table(store)
    status = dict(zip(log["key"].to_pylist(), zip(log["parse_status"].to_pylist(), log["parse_error"].to_pylist())))
    assert {k: s for k, (s, _) in status.items()} == {
        "550": "ok",
        "551": "ok",
        "552": "parse_error",
        "553": "parse_error",
        "554": "ok",
    }
    assert "genres: expected a list" in status["552"][1]
    assert "payload" not in log.column_names and {"status", "payload_bytes"} <= set(log.column_names)


def test_review_queue_lists_the_parse_errors(store):
    table, _ = tables.tmdb_movies_table(store, {1: 550, 3: 552})
    movies = pa.Table.from_pylist(
        [
            {"movie_id": i, "title": t, "year": 1999, "genres": [], "alt_titles": [], "raw_title": ""}
            for i, t in [(1, "Fight Club"), (3, "Fight Club Again")]
        ],
        schema=MOVIES_SCHEMA,
    )
    links = pa.Table.from_pylist(
        [{"movie_id": i, "imdb_id": None, "tmdb_id": t} for i, t in [(1, 550), (3, 552)]], schema=LINKS_SCHEMA
    )
    ids = tables.tmdb_ids_table(
        [
            pipeline.Resolution(1, 550, None, "links", 0.9, "links.csv tmdbId"),
            pipeline.Resolution(3, 552, None, "links", 0.9, "links.csv tmdbId"),
        ]
    )
    queue = review.build_review_queue(
        movies.to_pandas(),
        ids.to_pandas(),
        table.to_pandas(),
        tables.WIKIPEDIA_PLOTS.empty_table().to_pandas(),
        {1: 9, 3: 4},
        links.to_pandas(),
    ).to_pylist()
    assert [(r["movie_id"], r["issue"], r["tmdb_id"]) for r in queue] == [(3, "parse_error", 552)]
    assert "genres: expected a list" in queue[0]["detail"]


def test_imdb_titles_are_checked_too(tmp_path):
    good = generated_imdb_title("tt0133093")
    coerced = {
        **generated_imdb_title("tt0000002"),
        "ratingsSummary": {"aggregateRating": "8.7", "voteCount": "2000"},
        "releaseYear": {"year": "1999"},
    }
    bad = {**generated_imdb_title("tt0000003"), "genres": {"genres": "Drama"}}
    worse = {**generated_imdb_title("tt0000004"), "ratingsSummary": {"aggregateRating": "great"}}
    store = FetchStore(tmp_path / "fs")
    for t in (good, coerced, bad, worse):
        store.append(record(imdb.SOURCE_TITLE, t["id"], {"data": {"title": t}}))
    store.flush()
    table, statuses = tables.imdb_titles_table(store, {1: "tt0133093", 2: "tt0000002", 3: "tt0000003", 4: "tt0000004"})
    assert dict(statuses) == {"ok": 2, "parse_error": 2}
    rows = {r["movie_id"]: r for r in table.to_pylist()}
    assert rows[2]["rating"] == pytest.approx(8.7) and rows[2]["votes"] == 2000 and rows[2]["imdb_year"] == 1999
    assert "genres.genres: expected a list" in rows[3]["fetch_error"]
    assert "ratingsSummary.aggregateRating: expected a number" in rows[4]["fetch_error"]
    assert imdb.parse_title({"data": {"title": None}}) is None


def test_an_unreadable_search_response_leaves_the_movie_unresolved_with_the_reason(tmp_path):
    store = FetchStore(tmp_path / "fs")
    bad = load("tmdb/search-movie.json")
    bad["results"][0]["vote_count"] = "lots"
    store.append(record(tmdb.SOURCE_SEARCH, tmdb.search_key("RRRrrrr!!!", 2004), bad))
    good = load("tmdb/search-movie.json")
    good["results"][0]["popularity"] = "25.016"  # coercible
    store.append(record(tmdb.SOURCE_SEARCH, tmdb.search_key("Other", 2004), good))
    store.flush()
    movies = [pipeline.MovieRef(1, "RRRrrrr!!!", 2004), pipeline.MovieRef(2, "Other", 2004)]
    resolved, _ = asyncio.run(pipeline.resolve_tmdb_ids(movies, {}, store, None, "http://127.0.0.1", NOW, None))
    assert resolved[1].tmdb_id == 21778 and resolved[1].method == "search"
    assert resolved[0].method == "unresolved"
    assert "unreadable TMDB responses (parse_error)" in resolved[0].reason and "vote_count" in resolved[0].reason


def test_an_unreadable_changes_page_is_skipped_not_raised(tmp_path):
    store = FetchStore(tmp_path / "fs")
    store.append(
        record(
            tmdb.SOURCE_CHANGES,
            tmdb.changes_key(date(2026, 10, 1), date(2026, 10, 14), 1),
            {"results": [{"id": "many"}], "total_pages": 1},
        )
    )
    store.append(
        record(
            tmdb.SOURCE_CHANGES,
            tmdb.changes_key(date(2026, 10, 14), date(2026, 10, 27), 1),
            {"results": [{"id": "550"}, {"id": 551}], "total_pages": "1"},
        )
    )
    store.flush()
    last_end, changed = pipeline._changes_state(store)
    assert last_end == date(2026, 10, 27) and set(changed) == {"550", "551"}

"""Parsers on the real recorded TMDB and IMDb responses (copied into the package for the emulator)."""

import json
from datetime import date
from pathlib import Path

import pytest

from movielens_dag.devtools.api_emulator import FIXTURES, generated_imdb_title
from movielens_dag.enrichment import imdb, tmdb


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fight_club() -> dict:
    doc = load("tmdb/movie-details.json")
    for extra, name in [
        ("keywords", "movie-keywords"),
        ("credits", "movie-credits"),
        ("external_ids", "movie-external-ids"),
    ]:
        doc[extra] = load(f"tmdb/{name}.json")
    return doc


def test_movie_with_appended_parts():
    m = tmdb.parse_movie(fight_club())
    assert m["tmdb_id"] == 550 and m["imdb_id"] == "tt0137523" and m["wikidata_id"] == "Q190050"
    assert m["title"] == "Fight Club" and m["release_date"] == date(1999, 10, 15) and m["runtime"] == 139
    assert m["budget"] == 63_000_000 and m["revenue"] == 100_853_753 and m["original_language"] == "en"
    assert m["genres"] == ["Drama"] and m["tagline"] == "Mischief. Mayhem. Soap."
    assert m["overview"].startswith("A ticking-time-bomb insomniac")
    assert m["directors"] == ["David Fincher"]
    assert m["writers"][:2] == ["Chuck Palahniuk", "Jim Uhls"]
    assert m["cast"][:3] == ["Edward Norton", "Brad Pitt", "Helena Bonham Carter"] and len(m["cast"]) == tmdb.TOP_CAST
    assert len(m["keywords"]) == 14 and "dissociative identity disorder" in m["keywords"]
    assert m["production_countries"] == ["Germany", "United States of America"]
    assert m["spoken_languages"] == ["English"] and m["vote_count"] == 27917


def test_movie_without_appended_parts():
    m = tmdb.parse_movie(load("tmdb/movie-details.json"))
    assert m["keywords"] == [] and m["cast"] == [] and m["imdb_id"] == "tt0137523"


def test_find_and_search_candidates():
    found = tmdb.parse_candidates(load("tmdb/find-by-id-movie.json"))
    assert [(c.tmdb_id, c.title, c.year, c.vote_count) for c in found] == [(1233413, "Sinners", 2025, 714)]
    searched = tmdb.parse_candidates(load("tmdb/search-movie.json"))
    assert [(c.tmdb_id, c.title, c.year) for c in searched] == [(21778, "RRRrrrr!!!", 2004)]
    assert tmdb.choose(searched, ["RRRrrrr!!!"], 2004).confidence == 0.95


def test_error_bodies():
    assert load("tmdb/resource-not-found.json")["status_code"] == 34
    assert tmdb.parse_candidates(load("tmdb/resource-not-found.json")) == []
    assert "Invalid API key" in load("tmdb/invalid-api-key.json")["status_message"]


def test_changes_page():
    assert tmdb.parse_changes({"results": [{"id": 1, "adult": False}, {"id": 2}], "total_pages": 3}) == ([1, 2], 3)


def test_imdb_title_parser():
    t = imdb.parse_title({"data": {"title": generated_imdb_title("tt0133093")}})
    assert t["imdb_id"] == "tt0133093" and t["plot"].startswith("An IMDb plot") and t["votes"] > 0
    assert t["directors"] and t["stars"] and t["languages"] == ["English"] and t["countries"] == ["United States"]
    assert t["featured_reviews"][0].startswith("Review of") and len(t["similar_titles"]) == 2
    assert imdb.parse_title({"data": {"title": None}}) is None
    with pytest.raises(imdb.ImdbGraphQLError, match="Cannot query field"):
        imdb.parse_title({"errors": [{"message": "Cannot query field 'x'"}]})


def test_imdb_title_parser_tolerates_missing_parts():
    t = imdb.parse_title({"data": {"title": {"id": "tt1", "titleText": {"text": "X"}}}})
    assert t["imdb_title"] == "X" and t["plot"] is None and t["genres"] == [] and t["stars"] == []


def test_fixtures_match_the_shared_originals(shared_dir: Path):
    for name in ["tmdb/movie-details.json", "tmdb/movie-credits.json", "imdb/mainsearch-the-matrix.json"]:
        assert (FIXTURES / name).read_bytes() == (shared_dir / "fixtures" / name).read_bytes()

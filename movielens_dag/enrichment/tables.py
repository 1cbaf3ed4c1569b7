"""Arrow schemas of the enrichment tables and their construction from the fetch store."""

import json
from collections import Counter
from collections.abc import Iterable

import pyarrow as pa

from movielens_dag.enrichment import imdb, tmdb
from movielens_dag.enrichment.pipeline import Resolution
from movielens_dag.enrichment.wikipedia import MatchResult
from movielens_dag.http.fetch_store import FetchStore

STRINGS = pa.list_(pa.string())
CANDIDATE = pa.struct([("tmdb_id", pa.int64()), ("title", pa.string()), ("year", pa.int32()), ("vote_count", pa.int64())])
WIKI_CANDIDATE = pa.struct([("title", pa.string()), ("year", pa.int32()), ("director", pa.string()), ("page", pa.string())])
FETCHED = [("fetch_status", pa.string()), ("fetched_at", pa.timestamp("us", tz="UTC")), ("fetch_error", pa.string())]

TMDB_IDS = pa.schema([
    ("movie_id", pa.int32()), ("tmdb_id", pa.int64()), ("imdb_id", pa.string()), ("method", pa.string()),
    ("confidence", pa.float32()), ("reason", pa.string()), ("candidates", pa.list_(CANDIDATE)),
])
TMDB_MOVIES = pa.schema([
    ("movie_id", pa.int32()), ("tmdb_id", pa.int64()), *FETCHED,
    ("imdb_id", pa.string()), ("wikidata_id", pa.string()), ("title", pa.string()), ("original_title", pa.string()),
    ("overview", pa.string()), ("tagline", pa.string()), ("release_date", pa.date32()), ("runtime", pa.int32()),
    ("budget", pa.int64()), ("revenue", pa.int64()), ("original_language", pa.string()),
    ("spoken_languages", STRINGS), ("production_countries", STRINGS), ("genres", STRINGS), ("keywords", STRINGS),
    ("directors", STRINGS), ("writers", STRINGS), ("cast", STRINGS), ("vote_average", pa.float32()),
    ("vote_count", pa.int64()), ("popularity", pa.float32()), ("poster_path", pa.string()),
])
IMDB_TITLES = pa.schema([
    ("movie_id", pa.int32()), ("imdb_id", pa.string()), *FETCHED,
    ("imdb_title", pa.string()), ("imdb_year", pa.int32()), ("title_type", pa.string()), ("plot", pa.string()),
    ("rating", pa.float32()), ("votes", pa.int64()), ("genres", STRINGS), ("keywords", STRINGS),
    ("directors", STRINGS), ("writers", STRINGS), ("stars", STRINGS), ("languages", STRINGS), ("countries", STRINGS),
    ("featured_reviews", STRINGS), ("similar_titles", STRINGS),
])
WIKIPEDIA_PLOTS = pa.schema([
    ("movie_id", pa.int32()), ("match", pa.string()), ("wiki_title", pa.string()), ("wiki_year", pa.int32()),
    ("director", pa.string()), ("cast", pa.string()), ("origin", pa.string()), ("wiki_page", pa.string()), ("csv_line", pa.int32()),
    ("plot", pa.string()), ("candidates", pa.list_(WIKI_CANDIDATE)),
])


def tmdb_ids_table(resolutions: Iterable[Resolution]) -> pa.Table:
    return pa.Table.from_pylist([r.__dict__ for r in resolutions], schema=TMDB_IDS)


def _fetched_rows(store: FetchStore, source: str, keys: set[str], parse) -> tuple[dict[str, dict], Counter]:
    """key -> {fetch_status, fetched_at, fetch_error, **parsed} for every key, fetched or not."""
    latest = store.latest(source)
    rows: dict[str, dict] = {}
    counts: Counter = Counter()
    for key, payload, fetched_at in store.iter_ok_payloads(source, keys):
        try:
            parsed = parse(json.loads(payload))
        except Exception as exc:  # a response we cannot read is shown, never dropped
            rows[key] = {"fetch_status": "parse_error", "fetched_at": fetched_at, "fetch_error": f"{type(exc).__name__}: {exc}"}
            continue
        if parsed is None:
            rows[key] = {"fetch_status": "not_found", "fetched_at": fetched_at, "fetch_error": None}
            continue
        newest = latest.get(key)
        note = f"newest refresh {newest.status}: {newest.error}" if newest and newest.status != "ok" else None
        rows[key] = {**parsed, "fetch_status": "ok", "fetched_at": fetched_at, "fetch_error": note}
    for key in keys - rows.keys():
        state = latest.get(key)
        rows[key] = ({"fetch_status": state.status, "fetched_at": state.fetched_at, "fetch_error": state.error}
                     if state else {"fetch_status": "not_fetched", "fetched_at": None, "fetch_error": None})
    counts.update(r["fetch_status"] for r in rows.values())
    return rows, counts


def tmdb_movies_table(store: FetchStore, movie_to_tmdb: dict[int, int]) -> tuple[pa.Table, Counter]:
    rows, counts = _fetched_rows(store, tmdb.SOURCE_MOVIE, {str(t) for t in movie_to_tmdb.values()}, tmdb.parse_movie)
    out = [{**rows[str(t)], "movie_id": m, "tmdb_id": t} for m, t in sorted(movie_to_tmdb.items())]
    return pa.Table.from_pylist(out, schema=TMDB_MOVIES), counts


def imdb_titles_table(store: FetchStore, movie_to_imdb: dict[int, str]) -> tuple[pa.Table, Counter]:
    rows, counts = _fetched_rows(store, imdb.SOURCE_TITLE, set(movie_to_imdb.values()), imdb.parse_title)
    out = [{**rows[i], "movie_id": m, "imdb_id": i} for m, i in sorted(movie_to_imdb.items())]
    return pa.Table.from_pylist(out, schema=IMDB_TITLES), counts


def wikipedia_table(result: MatchResult) -> pa.Table:
    rows = []
    for movie_id, (p, how) in result.matches.items():
        rows.append({"movie_id": movie_id, "match": how, "wiki_title": p.title, "wiki_year": p.year, "director": p.director, "cast": p.cast,
                     "origin": p.origin, "wiki_page": p.page, "csv_line": p.line, "plot": p.plot, "candidates": []})
    for movie_id, plots in result.ambiguous.items():
        rows.append({"movie_id": movie_id, "match": "ambiguous", "candidates": [
            {"title": p.title, "year": p.year, "director": p.director, "page": p.page} for p in plots]})
    rows.sort(key=lambda r: r["movie_id"])
    return pa.Table.from_pylist(rows, schema=WIKIPEDIA_PLOTS)

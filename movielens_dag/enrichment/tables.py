"""Arrow schemas of the enrichment tables and their construction from the fetch store."""

import json
from collections import Counter
from collections.abc import Iterable

import pyarrow as pa

from movielens_dag.enrichment import imdb, tmdb
from movielens_dag.enrichment.pipeline import Resolution
from movielens_dag.enrichment.schemas import ResponseSchemaError
from movielens_dag.enrichment.wikipedia import MatchResult
from movielens_dag.http.fetch_store import FetchStore

STRINGS = pa.list_(pa.string())
CANDIDATE = pa.struct(
    [("tmdb_id", pa.int64()), ("title", pa.string()), ("year", pa.int32()), ("vote_count", pa.int64())]
)
WIKI_CANDIDATE = pa.struct(
    [("title", pa.string()), ("year", pa.int32()), ("director", pa.string()), ("page", pa.string())]
)
FETCHED = [("fetch_status", pa.string()), ("fetched_at", pa.timestamp("us", tz="UTC")), ("fetch_error", pa.string())]

TMDB_IDS = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("tmdb_id", pa.int64()),
        ("imdb_id", pa.string()),
        ("method", pa.string()),
        ("confidence", pa.float32()),
        ("reason", pa.string()),
        ("candidates", pa.list_(CANDIDATE)),
    ]
)
TMDB_MOVIES = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("tmdb_id", pa.int64()),
        *FETCHED,
        ("imdb_id", pa.string()),
        ("wikidata_id", pa.string()),
        ("title", pa.string()),
        ("original_title", pa.string()),
        ("overview", pa.string()),
        ("tagline", pa.string()),
        ("release_date", pa.date32()),
        ("runtime", pa.int32()),
        ("budget", pa.int64()),
        ("revenue", pa.int64()),
        ("original_language", pa.string()),
        ("spoken_languages", STRINGS),
        ("production_countries", STRINGS),
        ("genres", STRINGS),
        ("keywords", STRINGS),
        ("directors", STRINGS),
        ("writers", STRINGS),
        ("cast", STRINGS),
        ("vote_average", pa.float32()),
        ("vote_count", pa.int64()),
        ("popularity", pa.float32()),
        ("poster_path", pa.string()),
    ]
)
IMDB_TITLES = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("imdb_id", pa.string()),
        *FETCHED,
        ("imdb_title", pa.string()),
        ("imdb_year", pa.int32()),
        ("title_type", pa.string()),
        ("plot", pa.string()),
        ("rating", pa.float32()),
        ("votes", pa.int64()),
        ("genres", STRINGS),
        ("keywords", STRINGS),
        ("directors", STRINGS),
        ("writers", STRINGS),
        ("stars", STRINGS),
        ("languages", STRINGS),
        ("countries", STRINGS),
        ("featured_reviews", STRINGS),
        ("similar_titles", STRINGS),
    ]
)
WIKIPEDIA_PLOTS = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("match", pa.string()),
        ("wiki_title", pa.string()),
        ("wiki_year", pa.int32()),
        ("director", pa.string()),
        ("cast", pa.string()),
        ("origin", pa.string()),
        ("wiki_page", pa.string()),
        ("csv_line", pa.int32()),
        ("plot", pa.string()),
        ("candidates", pa.list_(WIKI_CANDIDATE)),
    ]
)


def tmdb_ids_table(resolutions: Iterable[Resolution]) -> pa.Table:
    return pa.Table.from_pylist([r.__dict__ for r in resolutions], schema=TMDB_IDS)


def _fetched_rows(store: FetchStore, source: str, keys: set[str], parse) -> dict[str, dict]:
    """key -> {fetch_status, fetched_at, fetch_error, **parsed} for every key, fetched or not."""
    latest = store.latest(source)
    rows: dict[str, dict] = {}
    for key, payload, fetched_at in store.iter_ok_payloads(source, keys):
        try:
            parsed = parse(json.loads(payload))
        except Exception as exc:
            rows[key] = {"fetch_status": "parse_error", "fetched_at": fetched_at, "fetch_error": _error_text(exc)}
            continue
        if parsed is None:
            rows[key] = {"fetch_status": "not_found", "fetched_at": fetched_at, "fetch_error": None}
            continue
        newest = latest.get(key)
        note = f"newest refresh {newest.status}: {newest.error}" if newest and newest.status != "ok" else None
        rows[key] = {**parsed, "fetch_status": "ok", "fetched_at": fetched_at, "fetch_error": note}
    for key in keys - rows.keys():
        state = latest.get(key)
        rows[key] = (
            {"fetch_status": state.status, "fetched_at": state.fetched_at, "fetch_error": state.error}
            if state
            else {"fetch_status": "not_fetched", "fetched_at": None, "fetch_error": None}
        )
    return rows


def _error_text(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ResponseSchemaError) else f"{type(exc).__name__}: {exc}"


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


def _to_table(rows: list[dict], schema: pa.Schema, ids: tuple[str, ...]) -> tuple[pa.Table, Counter]:
    """Rows → table; a row Arrow still cannot convert becomes that movie's parse_error (the schemas should
    already have caught it), so one odd value never fails the whole table."""
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
    except _ARROW_ERRORS:
        kept = []
        for row in rows:
            try:
                pa.Table.from_pylist([row], schema=schema)
                kept.append(row)
            except _ARROW_ERRORS as exc:
                kept.append(
                    {
                        **{k: row[k] for k in ids},
                        "fetch_status": "parse_error",
                        "fetched_at": row.get("fetched_at"),
                        "fetch_error": f"{type(exc).__name__}: {exc}",
                    }
                )
        table = pa.Table.from_pylist(kept, schema=schema)
    return table, Counter(table["fetch_status"].to_pylist())


def tmdb_movies_table(store: FetchStore, movie_to_tmdb: dict[int, int]) -> tuple[pa.Table, Counter]:
    rows = _fetched_rows(store, tmdb.SOURCE_MOVIE, {str(t) for t in movie_to_tmdb.values()}, tmdb.parse_movie)
    out = [{**rows[str(t)], "movie_id": m, "tmdb_id": t} for m, t in sorted(movie_to_tmdb.items())]
    return _to_table(out, TMDB_MOVIES, ("movie_id", "tmdb_id"))


def imdb_titles_table(store: FetchStore, movie_to_imdb: dict[int, str]) -> tuple[pa.Table, Counter]:
    rows = _fetched_rows(store, imdb.SOURCE_TITLE, set(movie_to_imdb.values()), imdb.parse_title)
    out = [{**rows[i], "movie_id": m, "imdb_id": i} for m, i in sorted(movie_to_imdb.items())]
    return _to_table(out, IMDB_TITLES, ("movie_id", "imdb_id"))


# Each source's parser, for the fetch log's parse_status column.
PARSERS = {
    tmdb.SOURCE_MOVIE: tmdb.parse_movie,
    tmdb.SOURCE_FIND: tmdb.parse_candidates,
    tmdb.SOURCE_SEARCH: tmdb.parse_candidates,
    tmdb.SOURCE_CHANGES: tmdb.parse_changes,
    imdb.SOURCE_TITLE: imdb.parse_title,
}


def fetch_log_table(store: FetchStore) -> pa.Table:
    """``store.log_table()`` plus ``parse_status`` and ``parse_error`` for every successful response.

    parse_status is 'ok' when the response fits its schema, 'parse_error' (with the fields that do not
    fit in parse_error) when it does not, and null for responses that were not successful. Payloads
    are read one batch at a time.
    """
    outcomes: dict[tuple[str, str, object], str] = {}
    for source, parse in PARSERS.items():
        for key, payload, fetched_at in store.iter_ok_payloads(source, newest_only=False):
            try:
                parse(json.loads(payload))
            except Exception as exc:
                outcomes[(source, key, fetched_at)] = _error_text(exc)
    log = store.log_table()
    status, error = [], []
    for source, key, state, fetched_at in zip(*(log[c].to_pylist() for c in ("source", "key", "status", "fetched_at"))):
        problem = outcomes.get((source, key, fetched_at))
        status.append(None if state != "ok" or source not in PARSERS else "parse_error" if problem else "ok")
        error.append(problem)
    return log.append_column("parse_status", pa.array(status, pa.string())).append_column(
        "parse_error", pa.array(error, pa.string())
    )


def wikipedia_table(result: MatchResult) -> pa.Table:
    rows = []
    for movie_id, (p, how) in result.matches.items():
        rows.append(
            {
                "movie_id": movie_id,
                "match": how,
                "wiki_title": p.title,
                "wiki_year": p.year,
                "director": p.director,
                "cast": p.cast,
                "origin": p.origin,
                "wiki_page": p.page,
                "csv_line": p.line,
                "plot": p.plot,
                "candidates": [],
            }
        )
    for movie_id, plots in result.ambiguous.items():
        rows.append(
            {
                "movie_id": movie_id,
                "match": "ambiguous",
                "candidates": [
                    {"title": p.title, "year": p.year, "director": p.director, "page": p.page} for p in plots
                ],
            }
        )
    rows.sort(key=lambda r: r["movie_id"])
    return pa.Table.from_pylist(rows, schema=WIKIPEDIA_PLOTS)

"""TMDB v3: request builders, response parsers and the choice among search candidates."""

from dataclasses import dataclass
from datetime import date

from movielens_dag.enrichment import schemas
from movielens_dag.enrichment.titles import normalise_title, year_of
from movielens_dag.http.fetcher import FetchRequest

DEFAULT_BASE_URL = "https://api.themoviedb.org/3"
APPEND = "keywords,external_ids,credits"
SOURCE_MOVIE, SOURCE_FIND, SOURCE_SEARCH, SOURCE_CHANGES = "tmdb_movie", "tmdb_find", "tmdb_search", "tmdb_changes"
TOP_CAST = 10


def movie_request(base_url: str, tmdb_id: int) -> FetchRequest:
    return FetchRequest(
        SOURCE_MOVIE, str(tmdb_id), f"{base_url.rstrip('/')}/movie/{tmdb_id}", {"append_to_response": APPEND}
    )


def find_request(base_url: str, imdb_id: str) -> FetchRequest:
    return FetchRequest(SOURCE_FIND, imdb_id, f"{base_url.rstrip('/')}/find/{imdb_id}", {"external_source": "imdb_id"})


def search_key(query: str, year: int | None) -> str:
    return f"{query}|{year if year is not None else ''}"


def search_request(base_url: str, query: str, year: int | None) -> FetchRequest:
    params: dict[str, str | int] = {"query": query, "include_adult": "false"}
    if year is not None:
        params["year"] = year
    return FetchRequest(SOURCE_SEARCH, search_key(query, year), f"{base_url.rstrip('/')}/search/movie", params)


def changes_key(start: date, end: date, page: int) -> str:
    return f"{start.isoformat()}..{end.isoformat()}:p{page}"


def changes_request(base_url: str, start: date, end: date, page: int) -> FetchRequest:
    return FetchRequest(
        SOURCE_CHANGES,
        changes_key(start, end, page),
        f"{base_url.rstrip('/')}/movie/changes",
        {"start_date": start.isoformat(), "end_date": end.isoformat(), "page": page},
    )


# ---- candidates -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    tmdb_id: int
    title: str
    original_title: str
    year: int | None
    vote_count: int
    popularity: float

    def as_dict(self) -> dict:
        return {"tmdb_id": self.tmdb_id, "title": self.title, "year": self.year, "vote_count": self.vote_count}


def parse_candidates(payload: dict) -> list[Candidate]:
    """``/search/movie`` → results, ``/find`` → movie_results (schemas.ResponseSchemaError if malformed)."""
    parsed = schemas.validate(schemas.TmdbCandidates, payload, "TMDB search/find response")
    rows = parsed.results if "results" in payload else parsed.movie_results
    return [
        Candidate(
            r.id, r.title or "", r.original_title or "", year_of(r.release_date), r.vote_count or 0, r.popularity or 0.0
        )
        for r in rows
        if r.id is not None
    ]


@dataclass(frozen=True)
class Choice:
    candidate: Candidate | None
    confidence: float
    reason: str


LOW_CONFIDENCE = 0.7  # below this a resolution goes to the review queue


def choose(candidates: list[Candidate], variants: list[str], year: int | None) -> Choice:
    """Exact (normalised) title + exact year first, then exact title ±1 year, then most votes."""
    if not candidates:
        return Choice(None, 0.0, "no candidates")
    keys = {normalise_title(v) for v in variants}

    def exact(c: Candidate) -> bool:
        return normalise_title(c.title) in keys or normalise_title(c.original_title) in keys

    def best(pool: list[Candidate]) -> Candidate:
        return max(pool, key=lambda c: (c.vote_count, c.popularity, -c.tmdb_id))

    tiers: list[tuple[float, str, list[Candidate]]] = []
    if year is not None:
        tiers += [
            (0.95, "exact title and year", [c for c in candidates if exact(c) and c.year == year]),
            (
                0.8,
                "exact title, year ±1",
                [c for c in candidates if exact(c) and c.year is not None and abs(c.year - year) <= 1],
            ),
            (0.5, "same year, most votes", [c for c in candidates if c.year == year]),
            (0.4, "exact title, other year", [c for c in candidates if exact(c)]),
        ]
    else:
        tiers += [(0.6, "exact title, no year to compare", [c for c in candidates if exact(c)])]
    tiers.append((0.3, "most votes", candidates))
    for confidence, reason, pool in tiers:
        if pool:
            if len(pool) > 1 and confidence >= LOW_CONFIDENCE:
                ranked = sorted(pool, key=lambda c: -c.vote_count)
                if ranked[0].vote_count < 2 * ranked[1].vote_count:  # a near tie is not a confident pick
                    confidence, reason = 0.6, f"{reason}, {len(pool)} close candidates"
            return Choice(best(pool), confidence, reason)
    raise AssertionError("unreachable")


# ---- /movie/{id} ------------------------------------------------------------------------------
def _names(items: list, key: str = "name") -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if getattr(item, key):
            seen.setdefault(getattr(item, key), None)
    return list(seen)


def _stripped(text: str | None) -> str | None:
    return (text or "").strip() or None


def parse_movie(payload: dict) -> dict:
    """One ``/movie/{id}?append_to_response=keywords,external_ids,credits`` response → flat record.

    Checked against ``schemas.TmdbMovie`` first: a field that cannot be safely coerced raises
    schemas.ResponseSchemaError, which the table builder records as this movie's parse_error.
    """
    what = f"TMDB /movie/{payload.get('id')}" if isinstance(payload, dict) else "TMDB /movie response"
    m = schemas.validate(schemas.TmdbMovie, payload, what)
    credits = m.credits or schemas.Credits()
    cast = sorted(credits.cast, key=lambda c: 1_000_000 if c.order is None else c.order)
    external = m.external_ids or schemas.ExternalIds()
    return {
        "tmdb_id": m.id,
        "imdb_id": external.imdb_id or m.imdb_id or None,
        "wikidata_id": external.wikidata_id or None,
        "title": m.title or None,
        "original_title": m.original_title or None,
        "overview": _stripped(m.overview),
        "tagline": _stripped(m.tagline),
        "release_date": m.release_date,
        "runtime": m.runtime or None,
        "budget": m.budget or None,
        "revenue": m.revenue or None,
        "original_language": m.original_language or None,
        "spoken_languages": _names(m.spoken_languages, "english_name"),
        "production_countries": _names(m.production_countries),
        "genres": _names(m.genres),
        "keywords": _names(m.keywords.keywords if m.keywords else []),
        "directors": _names([c for c in credits.crew if c.job == "Director"]),
        "writers": _names([c for c in credits.crew if c.department == "Writing"]),
        "cast": _names(cast)[:TOP_CAST],
        "vote_average": m.vote_average,
        "vote_count": m.vote_count,
        "popularity": m.popularity,
        "poster_path": m.poster_path or None,
    }


def parse_changes(payload: dict) -> tuple[list[int], int]:
    """``/movie/changes`` page → (changed ids, total pages) (schemas.ResponseSchemaError if malformed)."""
    page = schemas.validate(schemas.TmdbChanges, payload, "TMDB /movie/changes page")
    return [r.id for r in page.results if r.id is not None], page.total_pages or 1

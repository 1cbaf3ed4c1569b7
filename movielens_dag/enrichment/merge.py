"""The merged per-movie record: each field from the best source that has it, with its provenance.

Priorities: title/year/genres from MovieLens (year and genres fall back to TMDB, then IMDb);
directors, cast, keywords, languages and countries from TMDB, then IMDb (then Wikipedia for
directors/cast); plot = TMDB overview, then IMDb plot, then the Wikipedia plot cut at a sentence
boundary. TMDB and IMDb synopses are short, spoiler-light and written as summaries, which is what a
document for embeddings wants; Wikipedia's full plot is the fallback (old films TMDB barely covers).
"""

import re
from dataclasses import dataclass, field

MAX_PLOT_CHARS = 1200
MIN_PLOT_CHARS = 40  # shorter synopses ("A man seeks revenge.") only win if nothing better exists
TOP_CAST = 5
TOP_KEYWORDS = 15
FIELDS = ["title", "year", "genres", "plot", "keywords", "directors", "cast", "languages", "countries"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@dataclass
class MergedRecord:
    movie_id: int
    title: str
    year: int | None
    alt_titles: list[str]
    genres: list[str]
    tags: list[str]
    plot: str | None = None
    keywords: list[str] = field(default_factory=list)
    directors: list[str] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    provenance: dict[str, str | None] = field(default_factory=dict)

    @property
    def enriched(self) -> bool:
        return any(source not in (None, "movielens") for source in self.provenance.values())


def cut_plot(text: str, limit: int = MAX_PLOT_CHARS) -> str:
    """At most ``limit`` characters, ending at a sentence boundary when one exists past half of it."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    ends = [m.start() for m in _SENTENCE_END.finditer(cut)]
    return cut[: ends[-1]] if ends and ends[-1] > limit // 2 else cut.rsplit(" ", 1)[0] + " …"


def best_plot(tmdb_overview: str | None, imdb_plot: str | None, wiki_plot: str | None) -> tuple[str | None, str | None]:
    options = [
        (t.strip(), s)
        for t, s in ((tmdb_overview, "tmdb"), (imdb_plot, "imdb"), (wiki_plot, "wikipedia"))
        if t and t.strip()
    ]
    if not options:
        return None, None
    text, source = next(((t, s) for t, s in options if len(t) >= MIN_PLOT_CHARS), max(options, key=lambda o: len(o[0])))
    return cut_plot(text), source


def _first(*options: tuple[list | None, str]) -> tuple[list, str | None]:
    for values, source in options:
        values = [v for v in (values if values is not None else []) if v]
        if values:
            return values, source
    return [], None


def _split_names(text: str | None) -> list[str]:
    names = [n.strip() for n in re.split(r",|;|\band\b", text or "") if n.strip()]
    return [n for n in names if n.lower() not in {"unknown", "n/a"}]


def merge_movie(movie: dict, tags: list[str], tmdb: dict | None, imdb: dict | None, wiki: dict | None) -> MergedRecord:
    """``movie`` is a movies row; ``tmdb``/``imdb``/``wiki`` are matched rows (None when absent)."""
    tmdb, imdb, wiki = tmdb or {}, imdb or {}, wiki or {}
    year, year_src = movie.get("year"), "movielens"
    if year is None:
        release = tmdb.get("release_date")
        year, year_src = (
            (release.year, "tmdb") if release else (imdb.get("imdb_year"), "imdb" if imdb.get("imdb_year") else None)
        )
    genres, genres_src = _first(
        (movie.get("genres"), "movielens"), (tmdb.get("genres"), "tmdb"), (imdb.get("genres"), "imdb")
    )
    plot, plot_src = best_plot(tmdb.get("overview"), imdb.get("plot"), wiki.get("plot"))
    keywords, kw_src = _first((tmdb.get("keywords"), "tmdb"), (imdb.get("keywords"), "imdb"))
    directors, dir_src = _first(
        (tmdb.get("directors"), "tmdb"),
        (imdb.get("directors"), "imdb"),
        (_split_names(wiki.get("director")), "wikipedia"),
    )
    cast, cast_src = _first(
        (tmdb.get("cast"), "tmdb"), (imdb.get("stars"), "imdb"), (_split_names(wiki.get("cast")), "wikipedia")
    )
    languages, lang_src = _first((tmdb.get("spoken_languages"), "tmdb"), (imdb.get("languages"), "imdb"))
    countries, country_src = _first((tmdb.get("production_countries"), "tmdb"), (imdb.get("countries"), "imdb"))
    return MergedRecord(
        movie_id=int(movie["movie_id"]),
        title=movie["title"],
        year=None if year is None else int(year),
        alt_titles=list(movie.get("alt_titles") or []),
        genres=genres,
        tags=tags,
        plot=plot,
        keywords=keywords[:TOP_KEYWORDS],
        directors=directors,
        cast=cast[:TOP_CAST],
        languages=languages[:3],
        countries=countries[:3],
        provenance={
            "title": "movielens",
            "year": year_src if year is not None else None,
            "genres": genres_src,
            "plot": plot_src,
            "keywords": kw_src,
            "directors": dir_src,
            "cast": cast_src,
            "languages": lang_src,
            "countries": country_src,
        },
    )

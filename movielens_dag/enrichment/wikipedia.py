"""Kaggle "Wikipedia Movie Plots" CSV: parsing (multi-line quoted plots) and matching to MovieLens.

Match rule: same normalised title (the title or any a.k.a./alternate title), release year within ±1;
an exact year beats ±1; several left → the director breaks the tie; still several → ambiguous (listed,
not guessed).
"""

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from movielens_dag.enrichment.titles import fold_accents, normalise_title

COLUMNS = ["Release Year", "Title", "Origin/Ethnicity", "Director", "Cast", "Genre", "Wiki Page", "Plot"]
_CITATION = re.compile(r"\[\d+\]|\[citation needed\]|\[note \d+\]", re.IGNORECASE)


@dataclass(frozen=True)
class WikiPlot:
    line: int  # first line of the record in the CSV
    year: int
    title: str
    origin: str
    director: str
    cast: str
    genre: str
    page: str
    plot: str


class WikipediaCsvError(ValueError):
    pass


def clean_plot(text: str) -> str:
    """Drop citation markers ("[1]") and collapse runs of spaces; keep paragraph breaks."""
    paragraphs = [" ".join(_CITATION.sub("", p).split()) for p in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(p for p in paragraphs if p)


def read_plots(path: Path) -> list[WikiPlot]:
    """Parse the CSV; a bad header or year raises with the file and line. Same page twice → kept once."""
    path = Path(path)
    plots: list[WikiPlot] = []
    seen_pages: set[str] = set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != COLUMNS:
            raise WikipediaCsvError(f"{path} line 1: expected header {COLUMNS}, found {header}")
        start = reader.line_num + 1
        for row in reader:
            if len(row) != len(COLUMNS):
                raise WikipediaCsvError(f"{path} line {start}: expected {len(COLUMNS)} fields, found {len(row)}")
            year_text, title, origin, director, cast, genre, page, plot = row
            try:
                year = int(float(year_text))
            except ValueError:
                raise WikipediaCsvError(f"{path} line {start}: release year {year_text!r} is not a year") from None
            if page not in seen_pages or not page:
                seen_pages.add(page)
                plots.append(
                    WikiPlot(start, year, title.strip(), origin, director.strip(), cast, genre, page, clean_plot(plot))
                )
            start = reader.line_num + 1
    return plots


def director_names(text: str | None) -> set[str]:
    """'Joel Coen, Ethan Coen' / 'X and Y' / 'X & Y' → normalised names; 'Unknown' → none."""
    if not text:
        return set()
    parts = re.split(r",|;|\band\b|&|/", fold_accents(text).casefold())
    names = {" ".join(p.split()) for p in parts}
    return {n for n in names if n and n not in {"unknown", "n/a", "various"}}


@dataclass(frozen=True)
class MovieKey:
    movie_id: int
    title: str
    year: int | None
    alt_titles: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()


@dataclass
class MatchResult:
    matches: dict[int, tuple[WikiPlot, str]] = field(default_factory=dict)  # movie_id -> (plot, how)
    ambiguous: dict[int, list[WikiPlot]] = field(default_factory=dict)
    eligible: int = 0  # movies whose year lies inside the years the CSV covers
    no_year: int = 0


def match_plots(movies: list[MovieKey], plots: list[WikiPlot]) -> MatchResult:
    by_title: dict[str, list[WikiPlot]] = defaultdict(list)
    for plot in plots:
        by_title[normalise_title(plot.title)].append(plot)
    years = [p.year for p in plots]
    lo, hi = (min(years), max(years)) if years else (0, -1)
    result = MatchResult()
    for movie in movies:
        if movie.year is None:
            result.no_year += 1
            continue
        if lo <= movie.year <= hi:
            result.eligible += 1
        keys = {normalise_title(t) for t in (movie.title, *movie.alt_titles) if t}
        pool = {id(p): p for k in keys for p in by_title.get(k, []) if abs(p.year - movie.year) <= 1}
        candidates = list(pool.values())
        if not candidates:
            continue
        exact = [p for p in candidates if p.year == movie.year]
        if len(exact) == 1:
            result.matches[movie.movie_id] = (exact[0], "title+year")
            continue
        if not exact and len(candidates) == 1:
            result.matches[movie.movie_id] = (candidates[0], "title+year±1")
            continue
        pool_for_tiebreak = exact or candidates
        wanted = set().union(*(director_names(d) for d in movie.directors)) if movie.directors else set()
        by_director = [p for p in pool_for_tiebreak if wanted & director_names(p.director)]
        if len(by_director) == 1:
            result.matches[movie.movie_id] = (by_director[0], "title+year+director")
        else:
            result.ambiguous[movie.movie_id] = sorted(pool_for_tiebreak, key=lambda p: (p.year, p.line))
    return result

"""The enrichment review queue: every movie whose enrichment a person should look at, with what to do.

Each row names the issue, shows the candidates and, where an override fixes it, the exact line to
append to ``data/overrides/tmdb_ids.csv``. Most-rated movies first within each issue.
"""

import pandas as pd
import pyarrow as pa

from movielens_dag.enrichment.tables import CANDIDATE
from movielens_dag.enrichment.tmdb import LOW_CONFIDENCE

ISSUES = [
    "unresolved",
    "tmdb_not_found",
    "imdb_mismatch",
    "low_confidence",
    "parse_error",
    "fetch_failed",
    "wikipedia_ambiguous",
]
FIXABLE_BY_OVERRIDE = ("unresolved", "tmdb_not_found", "imdb_mismatch", "low_confidence")  # rows carry the line
SCHEMA = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("title", pa.string()),
        ("year", pa.int32()),
        ("num_ratings", pa.int64()),
        ("issue", pa.string()),
        ("detail", pa.string()),
        ("tmdb_id", pa.int64()),
        ("candidates", pa.list_(CANDIDATE)),
        ("suggested_override", pa.string()),
    ]
)


def _str(value) -> str:
    """A pandas cell as text: missing (None / NaN / NA) becomes ''."""
    return value if isinstance(value, str) else ""


def _csv_note(title: str, year) -> str:
    text = f"{title} ({int(year)})" if pd.notna(year) else title
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def build_review_queue(
    movies: pd.DataFrame,
    tmdb_ids: pd.DataFrame,
    tmdb_movies: pd.DataFrame,
    wikipedia: pd.DataFrame,
    num_ratings: dict[int, int],
    links: pd.DataFrame,
) -> pa.Table:
    info = movies.set_index("movie_id")[["title", "year"]]
    links_imdb = dict(zip(links["movie_id"], links["imdb_id"]))
    rows: list[dict] = []

    def add(movie_id: int, issue: str, detail: str, tmdb_id=None, candidates=None, override: str | None = None) -> None:
        title, year = info.at[movie_id, "title"], info.at[movie_id, "year"]
        rows.append(
            {
                "movie_id": movie_id,
                "title": title,
                "year": None if pd.isna(year) else int(year),
                "num_ratings": num_ratings.get(movie_id, 0),
                "issue": issue,
                "detail": detail,
                "tmdb_id": None if tmdb_id is None or pd.isna(tmdb_id) else int(tmdb_id),
                "candidates": list(candidates) if candidates is not None else [],
                "suggested_override": override,
            }
        )

    for r in tmdb_ids.itertuples(index=False):
        note = _csv_note(info.at[r.movie_id, "title"], info.at[r.movie_id, "year"])
        cands = r.candidates if r.candidates is not None else []
        if r.method == "unresolved":
            add(
                r.movie_id,
                "unresolved",
                r.reason,
                None,
                cands,
                f"{r.movie_id},<tmdb_id from themoviedb.org>,{_str(r.imdb_id)},{note}",
            )
        elif r.confidence < LOW_CONFIDENCE:
            add(
                r.movie_id,
                "low_confidence",
                f"{r.method} ({r.confidence:.2f}): {r.reason}",
                r.tmdb_id,
                cands,
                f"{r.movie_id},{int(r.tmdb_id)},{_str(r.imdb_id)},{note} (confirmed)",
            )
    method = dict(zip(tmdb_ids["movie_id"], tmdb_ids["method"]))
    for r in tmdb_movies.itertuples(index=False):
        note = _csv_note(info.at[r.movie_id, "title"], info.at[r.movie_id, "year"])
        imdb_id = _str(links_imdb.get(r.movie_id))
        if r.fetch_status == "not_found":
            add(
                r.movie_id,
                "tmdb_not_found",
                f"TMDB has no movie {int(r.tmdb_id)} (id from {method.get(r.movie_id)})",
                r.tmdb_id,
                None,
                f"{r.movie_id},,{imdb_id or '<imdb_id>'},{note}: TMDB id {int(r.tmdb_id)} is gone",
            )
        elif r.fetch_status == "parse_error":
            add(r.movie_id, "parse_error", r.fetch_error, r.tmdb_id)
        elif r.fetch_status in ("failed", "client_error"):
            add(r.movie_id, "fetch_failed", f"{r.fetch_status}: {r.fetch_error} (a re-run retries it)", r.tmdb_id)
        elif r.fetch_status == "ok" and imdb_id and _str(r.imdb_id) and r.imdb_id != imdb_id:
            add(
                r.movie_id,
                "imdb_mismatch",
                f"links.csv says {imdb_id}, TMDB {r.tmdb_id} says {r.imdb_id}",
                r.tmdb_id,
                None,
                f"{r.movie_id},<right tmdb_id>,{imdb_id},{note}",
            )
    for r in wikipedia[wikipedia["match"] == "ambiguous"].itertuples(index=False):
        listed = "; ".join(f"{c['title']} ({c['year']}, {c['director']})" for c in r.candidates)
        add(
            r.movie_id, "wikipedia_ambiguous", f"several Wikipedia plots fit and the director does not decide: {listed}"
        )
    rows.sort(key=lambda x: (ISSUES.index(x["issue"]), -x["num_ratings"], x["movie_id"]))
    return pa.Table.from_pylist(rows, schema=SCHEMA)

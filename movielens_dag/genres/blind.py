"""Genre-blind documents: the movie document without anything that states its genres.

A classifier trained on the regular documents would read the answer off the "Genres:" line. The
blind rendering uses the same templates (``movielens_dag.documents``) with

* no genres field;
* no tag, keyword or other list item that contains a genre word (``GENRE_TERMS``: the MovieLens genre
  names, their plurals and adjectives, and common synonyms such as "sci-fi", "animated", "romantic",
  "kids", "family", "noir"). Tags and keywords are labels people attach to a movie, and users tag
  movies with their genres ("comedy", "dark comedy", "sci-fi") -- they would leak the label. Items
  without a genre word ("pixar", "time travel", "heist") are content and stay;
* the title, alternate titles and plot unchanged: they are the movie's own text, which any real
  classifier reads. A title such as "Scary Movie" or a plot that says "war" is evidence, not the label
  field. (``title_or_plot_mentions_genre`` counts how many documents that is.)

Plain code: pandas / pyarrow.
"""

import dataclasses
import re

import pandas as pd
import pyarrow as pa

from movielens_dag import documents
from movielens_dag.enrichment import merge

BLIND_SUFFIX = "-genre-blind"
GENRE_TERMS: dict[str, tuple[str, ...]] = {
    "Action": ("action",),
    "Adventure": ("adventure", "adventures"),
    "Animation": ("animation", "animated", "cartoon", "cartoons", "anime"),
    "Children": ("children", "children's", "childrens", "kids", "kid's", "family"),
    "Comedy": ("comedy", "comedies", "comedic"),
    "Crime": ("crime", "crimes"),
    "Documentary": ("documentary", "documentaries", "docudrama"),
    "Drama": ("drama", "dramas", "dramatic", "melodrama"),
    "Fantasy": ("fantasy",),
    "Film-Noir": ("film-noir", "film noir", "noir", "neo-noir"),
    "Horror": ("horror",),
    "IMAX": ("imax",),
    "Musical": ("musical", "musicals"),
    "Mystery": ("mystery", "mysteries"),
    "Romance": ("romance", "romantic", "rom-com", "romcom"),
    "Sci-Fi": ("sci-fi", "scifi", "science fiction", "science-fiction"),
    "Thriller": ("thriller", "thrillers"),
    "War": ("war",),
    "Western": ("western", "westerns"),
}
_TERMS = sorted({t for terms in GENRE_TERMS.values() for t in terms}, key=len, reverse=True)
GENRE_WORD = re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in _TERMS) + r")(?!\w)", re.IGNORECASE)
# Lines of a rendered document that are the movie's own text, kept verbatim.
OWN_TEXT_PREFIXES = ("Title: ", "Also known as: ", "Plot: ")


def mentions_genre(text: str) -> bool:
    return GENRE_WORD.search(text) is not None


def without_genre_words(items: list[str]) -> list[str]:
    """The items (tags, keywords, names) that contain no genre word."""
    return [item for item in items if not mentions_genre(item)]


def labelled_part(document: str) -> str:
    """The document minus its own-text lines (title, alternate titles, plot): where labels live."""
    return "\n".join(line for line in document.split("\n") if not line.startswith(OWN_TEXT_PREFIXES))


def blind_record(record: merge.MergedRecord) -> merge.MergedRecord:
    """The merged record with no genres and no genre word in any list field but the alternate titles."""
    lists = ("tags", "keywords", "directors", "cast", "languages", "countries")
    return dataclasses.replace(record, genres=[], **{f: without_genre_words(getattr(record, f)) for f in lists})


def render_blind(record: merge.MergedRecord) -> tuple[str, str]:
    """(text, template version) with the same template the regular document of this record uses."""
    blind = blind_record(record)
    if record.enriched:
        return documents.render_enriched_document(blind), documents.ENRICHED_TEMPLATE_VERSION + BLIND_SUFFIX
    text = documents.render_document(blind.title, blind.year, [], blind.alt_titles, blind.tags)
    return text, documents.TEMPLATE_VERSION + BLIND_SUFFIX


SCHEMA = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("document", pa.string()),
        ("document_hash", pa.string()),
        ("template_version", pa.string()),
        ("own_text_mentions_genre", pa.bool_()),
    ]
)


def build_blind_documents(
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    tmdb_movies: pa.Table | None = None,
    imdb_titles: pa.Table | None = None,
    wikipedia_plots: pa.Table | None = None,
) -> pa.Table:
    """One genre-blind document per movie, from the same inputs and merge as ``documents.build_documents``.

    ``own_text_mentions_genre`` flags documents whose title or plot contains a genre word.
    """
    tag_lists = documents.top_tags(tags)
    tmdb_rows = documents._by_movie(tmdb_movies, lambda r: r["fetch_status"] == "ok")
    imdb_rows = documents._by_movie(imdb_titles, lambda r: r["fetch_status"] == "ok")
    wiki_rows = documents._by_movie(wikipedia_plots, lambda r: r["match"] != "ambiguous")
    rows = []
    for movie in movies.itertuples(index=False):
        movie_id = int(movie.movie_id)
        year = None if pd.isna(movie.year) else int(movie.year)
        base = {
            "movie_id": movie_id,
            "title": movie.title,
            "year": year,
            "genres": list(movie.genres),
            "alt_titles": list(movie.alt_titles),
        }
        record = merge.merge_movie(
            base, tag_lists.get(movie_id, []), tmdb_rows.get(movie_id), imdb_rows.get(movie_id), wiki_rows.get(movie_id)
        )
        text, version = render_blind(record)
        own = [movie.title, *base["alt_titles"], record.plot or ""]
        rows.append(
            {
                "movie_id": movie_id,
                "document": text,
                "document_hash": documents.document_hash(text),
                "template_version": version,
                "own_text_mentions_genre": any(mentions_genre(t) for t in own),
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)

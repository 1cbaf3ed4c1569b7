"""movie_documents upgraded: v0 text when nothing enriches a movie, the merged record otherwise."""

import pandas as pd
import pyarrow as pa

from movielens_dag import documents
from movielens_dag.enrichment import tables


def frames():
    movies = pd.DataFrame(
        {
            "movie_id": pd.array([1, 2, 3], dtype="int32"),
            "title": ["Fight Club", "King Kong", "Plain"],
            "year": pd.array([1999, 1933, None], dtype="Int32"),
            "genres": [["Drama"], ["Adventure"], []],
            "alt_titles": [[], [], ["Alt"]],
        }
    )
    tags = pd.DataFrame({"user_id": [1, 2], "movie_id": [1, 3], "tag": ["twist", "odd"], "timestamp": [0, 0]})
    tmdb = pa.Table.from_pylist(
        [
            dict(
                movie_id=1,
                tmdb_id=550,
                fetch_status="ok",
                overview="An insomniac office worker and a soap maker form an underground fight club.",
                directors=["David Fincher"],
                cast=["Edward Norton", "Brad Pitt"],
                keywords=["dual identity"],
                spoken_languages=["English"],
                production_countries=["United States of America"],
                genres=["Drama"],
            ),
            dict(movie_id=3, tmdb_id=9, fetch_status="not_found"),
        ],
        schema=tables.TMDB_MOVIES,
    )
    wiki = pa.Table.from_pylist(
        [
            dict(
                movie_id=2,
                match="title+year",
                plot="A film crew sails to Skull Island. There they meet Kong.",
                director="Merian C. Cooper, Ernest B. Schoedsack",
                cast="Fay Wray",
            )
        ],
        schema=tables.WIKIPEDIA_PLOTS,
    )
    return movies, tags, tmdb, tables.IMDB_TITLES.empty_table(), wiki


def test_enriched_and_v0_documents():
    movies, tags, tmdb, imdb, wiki = frames()
    docs = documents.build_documents(movies, tags, tmdb, imdb, wiki)
    rows = {r["movie_id"]: r for r in docs.to_pylist()}
    assert rows[1]["template_version"] == documents.ENRICHED_TEMPLATE_VERSION
    assert rows[1]["document"] == (
        "Title: Fight Club (1999)\nGenres: Drama\nDirected by: David Fincher\nStarring: Edward Norton, Brad Pitt\n"
        "Language: English\nCountry: United States of America\nKeywords: dual identity\nTags: twist\n"
        "Plot: An insomniac office worker and a soap maker form an underground fight club."
    )
    assert rows[1]["provenance"]["plot"] == "tmdb" and rows[1]["provenance"]["genres"] == "movielens"
    assert rows[2]["provenance"]["plot"] == "wikipedia"
    assert rows[2]["directors"] == ["Merian C. Cooper", "Ernest B. Schoedsack"]
    # movie 3: TMDB said not_found, nothing else: exactly the MovieLens-only text, hash and version
    plain = movielens_only(movies, tags)[3]
    assert (rows[3]["document"], rows[3]["document_hash"], rows[3]["template_version"]) == (
        plain,
        documents.document_hash(plain),
        documents.TEMPLATE_VERSION,
    )


def movielens_only(movies, tags) -> dict[int, str]:
    """The MovieLens-only (v0) text of each movie, rendered directly from its fields."""
    top = documents.top_tags(tags)
    return {
        int(m.movie_id): documents.render_document(
            m.title,
            None if pd.isna(m.year) else int(m.year),
            list(m.genres),
            list(m.alt_titles),
            top.get(int(m.movie_id), []),
        )
        for m in movies.itertuples(index=False)
    }


def test_hash_changes_only_with_the_text():
    movies, tags, tmdb, imdb, wiki = frames()
    first = documents.build_documents(movies, tags, tmdb, imdb, wiki)
    again = documents.build_documents(movies, tags, tmdb, imdb, wiki)
    assert first["document_hash"].to_pylist() == again["document_hash"].to_pylist()
    changed_tmdb = tmdb.set_column(
        tmdb.schema.get_field_index("vote_count"), "vote_count", pa.array([999, None], pa.int64())
    )
    unchanged = documents.build_documents(movies, tags, changed_tmdb, imdb, wiki)  # a field the text does not use
    assert unchanged["document_hash"].to_pylist() == first["document_hash"].to_pylist()
    new_plot = pa.Table.from_pylist(
        [{**wiki.to_pylist()[0], "plot": "Another plot entirely, long enough to be used."}],
        schema=tables.WIKIPEDIA_PLOTS,
    )
    moved = documents.build_documents(movies, tags, tmdb, imdb, new_plot)["document_hash"].to_pylist()
    assert [a == b for a, b in zip(moved, first["document_hash"].to_pylist())] == [True, False, True]


def test_no_enrichment_at_all_is_v0():
    movies, tags, *_ = frames()
    docs = documents.build_documents(
        movies,
        tags,
        tables.TMDB_MOVIES.empty_table(),
        tables.IMDB_TITLES.empty_table(),
        tables.WIKIPEDIA_PLOTS.empty_table(),
    )
    v0 = movielens_only(movies, tags)
    assert docs["document_hash"].to_pylist() == [documents.document_hash(v0[m]) for m in docs["movie_id"].to_pylist()]
    assert set(docs["template_version"].to_pylist()) == {documents.TEMPLATE_VERSION}

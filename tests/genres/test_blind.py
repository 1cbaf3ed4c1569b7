"""Genre-blind documents: no genres field, and no genre word anywhere but the movie's own text."""

import pyarrow as pa

from movielens_dag import documents
from movielens_dag.enrichment import merge
from movielens_dag.genres.blind import (
    BLIND_SUFFIX,
    GENRE_TERMS,
    blind_record,
    labelled_part,
    mentions_genre,
    render_blind,
)


def test_every_bundled_movie_is_blind_and_otherwise_the_same_document(blind_documents, foundation_tables):
    docs = foundation_tables["documents"]
    regular = dict(zip(docs["movie_id"].to_pylist(), docs["document"].to_pylist()))
    blind = blind_documents.to_pylist()
    assert len(blind) == len(regular) == 9742
    leaks = [r["movie_id"] for r in blind if mentions_genre(labelled_part(r["document"]))]
    assert leaks == [], f"genre words outside title/plot in movies {leaks[:10]}"
    assert not any("\nGenres: " in r["document"] for r in blind)
    for r in blind:
        # Nothing but the title, alternate titles and plot may mention a genre; when those do not, nothing does.
        if not r["own_text_mentions_genre"]:
            assert not mentions_genre(r["document"]), r
        # Same template: the regular document minus its genres line and its genre-word tags.
        kept = [line for line in regular[r["movie_id"]].split("\n") if not line.startswith(("Genres: ", "Tags: "))]
        assert [line for line in r["document"].split("\n") if not line.startswith("Tags: ")] == kept
    versions = set(blind_documents["template_version"].to_pylist())
    assert versions <= {documents.TEMPLATE_VERSION + BLIND_SUFFIX, documents.ENRICHED_TEMPLATE_VERSION + BLIND_SUFFIX}
    # Some genre-word tags really were removed, and the rest kept (the test would pass vacuously otherwise).
    tagged = [r for r in blind if "\nTags: " in regular[r["movie_id"]]]
    assert sum("\nTags: " in r["document"] for r in tagged) > 0.5 * len(tagged)
    assert any(mentions_genre(regular[r["movie_id"]].split("\nTags: ")[1]) for r in tagged)


def test_genre_words_are_matched_as_words_in_any_case():
    for text in ["Sci-Fi", "dark comedy", "post-war", "Science Fiction", "kids' movie", "ANIMATED", "neo-noir"]:
        assert mentions_genre(text), text
    for text in ["pixar", "star wars", "warrior", "heist", "time travel", "romantically"]:
        assert not mentions_genre(text), text
    assert all(mentions_genre(genre) for genre in GENRE_TERMS)  # every MovieLens genre name itself


def test_enriched_records_lose_genres_and_genre_keywords_but_keep_the_plot():
    record = merge.MergedRecord(
        movie_id=1,
        title="Heat",
        year=1995,
        alt_titles=[],
        genres=["Action", "Crime", "Thriller"],
        tags=["heist", "crime thriller"],
        plot="A group of professional bank robbers start to feel the heat.",
        keywords=["bank robbery", "neo-noir", "los angeles"],
        directors=["Michael Mann"],
        cast=["Al Pacino"],
        provenance={"title": "movielens", "genres": "movielens", "plot": "tmdb", "keywords": "tmdb"},
    )
    text, version = render_blind(record)
    assert version == documents.ENRICHED_TEMPLATE_VERSION + BLIND_SUFFIX
    assert "Genres" not in text and "neo-noir" not in text and "crime thriller" not in text
    assert "Keywords: bank robbery, los angeles" in text and "Tags: heist" in text
    assert "Plot: A group of professional bank robbers" in text
    assert text == documents.render_enriched_document(blind_record(record))
    assert blind_record(record).genres == [] and record.genres == ["Action", "Crime", "Thriller"]


def test_schema():
    from movielens_dag.genres.blind import SCHEMA

    assert SCHEMA.field("movie_id").type == pa.int32() and "own_text_mentions_genre" in SCHEMA.names

"""Review queue rows and the merged record (provenance, plot choice)."""

import pyarrow as pa

from movielens_dag.enrichment import merge, review, tables
from movielens_dag.enrichment.pipeline import Resolution
from movielens_dag.movielens.readers import LINKS_SCHEMA, MOVIES_SCHEMA


def as_loaded(table: pa.Table):
    return table.to_pandas()  # what an asset receives from the IO manager


def test_review_queue():
    movies = as_loaded(
        pa.Table.from_pylist(
            [
                dict(movie_id=1, title="Hamlet", year=1990, genres=[], alt_titles=[], raw_title=""),
                dict(movie_id=2, title='Say "Hi", Bob', year=None, genres=[], alt_titles=[], raw_title=""),
                dict(movie_id=3, title="Fine", year=2000, genres=[], alt_titles=[], raw_title=""),
                dict(movie_id=4, title="Old", year=1921, genres=[], alt_titles=[], raw_title=""),
            ],
            schema=MOVIES_SCHEMA,
        )
    )
    links = as_loaded(
        pa.Table.from_pylist([dict(movie_id=i, imdb_id=None, tmdb_id=None) for i in range(1, 5)], schema=LINKS_SCHEMA)
    )
    ids = as_loaded(
        tables.tmdb_ids_table(
            [
                Resolution(
                    1,
                    105,
                    None,
                    "search",
                    0.6,
                    "exact title and year, 2 close candidates",
                    [{"tmdb_id": 105, "title": "Hamlet", "year": 1990, "vote_count": 110}],
                ),
                Resolution(2, None, None, "unresolved", 0.0, "no TMDB candidates for any title variant"),
                Resolution(3, 7, None, "links", 0.9, "links.csv tmdbId"),
                Resolution(4, 8, None, "links", 0.9, "links.csv tmdbId"),
            ]
        )
    )
    tmdb_movies = as_loaded(
        pa.Table.from_pylist(
            [
                dict(movie_id=3, tmdb_id=7, fetch_status="failed", fetch_error="HTTP 503 from x"),
                dict(movie_id=4, tmdb_id=8, fetch_status="ok"),
            ],
            schema=tables.TMDB_MOVIES,
        )
    )
    wiki = as_loaded(
        pa.Table.from_pylist(
            [
                dict(
                    movie_id=4,
                    match="ambiguous",
                    candidates=[
                        dict(title="Old", year=1921, director="A", page="p1"),
                        dict(title="Old", year=1921, director="B", page="p2"),
                    ],
                )
            ],
            schema=tables.WIKIPEDIA_PLOTS,
        )
    )
    queue = review.build_review_queue(movies, ids, tmdb_movies, wiki, {1: 5, 2: 50}, links).to_pylist()
    assert [(r["movie_id"], r["issue"]) for r in queue] == [
        (2, "unresolved"),
        (1, "low_confidence"),
        (3, "fetch_failed"),
        (4, "wikipedia_ambiguous"),
    ]
    assert queue[0]["suggested_override"] == '2,<tmdb_id from themoviedb.org>,,"Say ""Hi"", Bob"'
    assert queue[1]["suggested_override"] == "1,105,,Hamlet (1990) (confirmed)"
    assert queue[1]["candidates"][0]["tmdb_id"] == 105
    assert queue[0]["num_ratings"] == 50 and queue[1]["num_ratings"] == 5
    assert "Old (1921, A); Old (1921, B)" in queue[3]["detail"]


def test_best_plot_prefers_tmdb_then_imdb_then_wikipedia():
    assert merge.best_plot(
        "A long enough TMDB overview about a heist gone wrong.", "IMDb plot that is long enough too.", "W" * 50
    ) == ("A long enough TMDB overview about a heist gone wrong.", "tmdb")
    assert merge.best_plot("Short.", "An IMDb plot outline that is long enough to use.", None)[1] == "imdb"
    text, source = merge.best_plot(None, None, "First sentence. " * 200)
    assert source == "wikipedia" and len(text) <= merge.MAX_PLOT_CHARS and text.endswith(".")
    assert merge.best_plot("Short.", None, None) == ("Short.", "tmdb")  # nothing longer exists
    assert merge.best_plot(None, " ", "") == (None, None)


def test_merge_provenance():
    movie = {"movie_id": 1, "title": "King Kong", "year": 1933, "genres": [], "alt_titles": []}
    wiki = {
        "plot": "A film crew travels to a mysterious island. " * 3,
        "director": "Merian C. Cooper, Ernest B. Schoedsack",
        "cast": "Fay Wray",
    }
    record = merge.merge_movie(movie, ["classic"], None, {"genres": ["Adventure"], "languages": ["English"]}, wiki)
    assert record.provenance == {
        "title": "movielens",
        "year": "movielens",
        "genres": "imdb",
        "plot": "wikipedia",
        "keywords": None,
        "directors": "wikipedia",
        "cast": "wikipedia",
        "languages": "imdb",
        "countries": None,
    }
    assert record.directors == ["Merian C. Cooper", "Ernest B. Schoedsack"] and record.enriched
    bare = merge.merge_movie({**movie, "genres": ["Adventure"]}, [], None, None, None)
    assert not bare.enriched and bare.plot is None

"""The synthetic ML-32M-shaped release generator, at a tiny scale: format, exact counts, skew, determinism."""

import dataclasses
import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from movielens_dag.devtools.synthetic_release import ML_32M, ReleaseShape, write_release
from movielens_dag.devtools.synthetic_text import GENRES, NO_GENRES
from movielens_dag.movielens import readers
from movielens_dag.movielens.variants import get_variant
from movielens_dag.paths import PROJECT_ROOT

TINY = ReleaseShape(movies=800, users=300, ratings=40_000, tags=3_000, tag_users=40, block_users=64)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("synthetic") / "ml-32m"
    return folder, write_release(folder, TINY, log=lambda m: None)


def sql(query: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.sql(query).fetchall()


def test_files_read_with_the_project_readers_to_exact_counts(release, tmp_path):
    folder, stats = release
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.txt",
        "links.csv",
        "movies.csv",
        "ratings.csv",
        "tags.csv",
    ]
    assert "SYNTHETIC" in (folder / "README.txt").read_text()
    variant = get_variant("ml-latest")  # same CSV format as ml-32m, no documented counts to compare
    movies, meta = readers.read_movies(folder, variant)
    assert movies.num_rows == TINY.movies and meta["encoding"] == "utf-8"
    links, _ = readers.read_links(folder, variant, set(movies["movie_id"].to_pylist()))
    assert links.num_rows == TINY.movies and links["imdb_id"].null_count == 0
    ids = tmp_path / "ids.parquet"
    pq.write_table(movies.select(["movie_id"]), ids)
    rated = readers.convert_interactions(
        folder, variant, "ratings", ids, tmp_path / "r.parquet", tmp_path / "s", lambda m: None
    )
    # every movie rated
    assert (rated["rows"], rated["users"], rated["movies"]) == (TINY.ratings, TINY.users, TINY.movies)
    tagged = readers.convert_interactions(
        folder, variant, "tags", ids, tmp_path / "t.parquet", tmp_path / "s", lambda m: None
    )
    assert tagged["rows"] == TINY.tags == stats["tags"]


def test_headers_and_row_order_match_the_real_release(release):
    folder, _ = release
    heads = {
        name: (folder / name).read_text().splitlines()[0]
        for name in ("movies.csv", "ratings.csv", "tags.csv", "links.csv")
    }
    assert heads == {
        "movies.csv": "movieId,title,genres",
        "ratings.csv": "userId,movieId,rating,timestamp",
        "tags.csv": "userId,movieId,tag,timestamp",
        "links.csv": "movieId,imdbId,tmdbId",
    }
    ratings = f"read_csv('{folder / 'ratings.csv'}', columns={{'u': 'INT', 'm': 'INT', 'r': 'VARCHAR', 't': 'BIGINT'}})"
    (unsorted,) = sql(
        f"SELECT count(*) FROM (SELECT u, m, lag(u) OVER () pu, lag(m) OVER () pm FROM {ratings}) "
        "WHERE u < pu OR (u = pu AND m <= pm)"
    )[0]
    assert unsorted == 0  # sorted by userId then movieId, no (user, movie) twice
    assert {r for (r,) in sql(f"SELECT DISTINCT r FROM {ratings}")} <= {f"{x / 2:.1f}" for x in range(1, 11)}
    (low, high) = sql(f"SELECT min(t), max(t) FROM {ratings}")[0]
    assert low >= 789_609_600 and high < 1_697_155_200  # 1995-01-09 .. 2023-10-12
    (per_user_min,) = sql(f"SELECT min(n) FROM (SELECT count(*) n FROM {ratings} GROUP BY u)")[0]
    assert per_user_min >= TINY.min_ratings_per_user
    (early,) = sql(
        f"SELECT count(*) FROM {ratings} JOIN (SELECT movieId AS m, "
        f"try_cast(regexp_extract(title, '\\((\\d{{4}})\\)$', 1) AS INT) AS y "
        f"FROM read_csv('{folder / 'movies.csv'}')) "
        "USING (m) WHERE y >= 1995 AND year(to_timestamp(t)) < y"
    )[0]
    assert early == 0  # nobody rates a movie before its year


def test_popularity_is_skewed_like_movielens(release):
    folder, _ = release
    counts = sorted(
        (n for (n,) in sql(f"SELECT count(*) FROM read_csv('{folder / 'ratings.csv'}') GROUP BY movieId")), reverse=True
    )
    top_decile = sum(counts[: len(counts) // 10]) / sum(counts)
    # 300 users cap any movie at 300 ratings, so the top decile holds at most 60 % here (96 % at full size)
    assert top_decile > 0.4 and counts[0] > 10 * counts[len(counts) // 2], (top_decile, counts[0], counts[400])
    assert counts[0] <= TINY.users and counts[-1] >= 1


def test_text_looks_like_movielens(release):
    folder, _ = release
    movies, _ = readers.read_movies(folder, get_variant("ml-latest"))
    rows = movies.to_pylist()
    assert len({r["title"] for r in rows}) > 0.9 * len(rows)
    assert sum(r["year"] is not None for r in rows) > 0.95 * len(rows)
    assert any(r["alt_titles"] for r in rows)  # foreign titles with an English a.k.a.
    assert any(r["raw_title"].split(" (")[0].endswith((", The", ", A", ", An")) for r in rows)
    genres = Counter(g for r in rows for g in r["genres"])
    assert set(genres) <= set(GENRES) and genres.most_common(1)[0][0] in {"Drama", "Comedy"}
    assert NO_GENRES not in genres  # read back as an empty list
    tags = [t for (t,) in sql(f"SELECT tag FROM read_csv('{folder / 'tags.csv'}')")]
    assert len(set(tags)) > 50 and all(t.strip() for t in tags)


def test_same_seed_same_bytes_and_a_new_seed_differs(release, tmp_path):
    folder, _ = release
    again = tmp_path / "again"
    write_release(again, TINY, log=lambda m: None)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
    assert all(digest(folder / n) == digest(again / n) for n in ("movies.csv", "ratings.csv", "tags.csv", "links.csv"))
    other = tmp_path / "other"
    write_release(other, dataclasses.replace(TINY, seed=1), log=lambda m: None)
    assert digest(folder / "ratings.csv") != digest(other / "ratings.csv")


def test_impossible_shapes_are_refused():
    with pytest.raises(ValueError, match="raise `ratings`"):
        write_release(Path("/nonexistent"), dataclasses.replace(TINY, ratings=1000), log=lambda m: None)


def test_default_shape_is_ml_32m():
    v = get_variant("ml-32m")
    assert (ML_32M.movies, ML_32M.ratings, ML_32M.users) == (v.expected_movies, v.expected_ratings, v.expected_users)


def test_cli_writes_a_release(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_scale", PROJECT_ROOT / "benchmarks" / "scale.py")
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    stats = scale.main(
        [
            "generate",
            str(tmp_path / "r"),
            "--movies",
            "300",
            "--users",
            "100",
            "--ratings",
            "5000",
            "--tags",
            "200",
            "--tag-users",
            "10",
        ]
    )
    assert stats["ratings"] == 5000 and stats["peak_rss_mib"] > 0 and (tmp_path / "r" / "ratings.csv").exists()


def test_movie_documents_render_every_movie_with_the_pipeline_template(release):
    from movielens_dag.devtools.synthetic_release import movie_documents

    folder, _ = release
    docs = movie_documents(folder)
    assert len(docs) == TINY.movies and docs["movie_id"].is_unique
    assert docs["document"].str.startswith("Title: ").all()
    assert docs["document"].str.contains("\nGenres: ").mean() > 0.9  # all but "(no genres listed)" movies
    assert docs["document"].str.contains("\nTags: ").any()  # movies with tags list their top tags

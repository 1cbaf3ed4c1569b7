from pathlib import Path

import pyarrow.parquet as pq
import pytest

from movielens_dag.movielens import readers
from movielens_dag.movielens.errors import DataError
from movielens_dag.movielens.variants import get_variant

SMALL = get_variant("ml-latest-small")
ML1M = get_variant("ml-1m")

MOVIES_CSV = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation\n"
    '2,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama|Fantasy\n'
    "3,Babylon 5,(no genres listed)\n"
)
RATINGS_CSV = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n2,1,5.0,964982224\n"
TAGS_CSV = 'userId,movieId,tag,timestamp\n2,1,"funny, really\nfunny",1445714994\n3,2,dark,1445714996\n'
LINKS_CSV = "movieId,imdbId,tmdbId\n1,0114709,862\n2,0112682,902\n"


def release(tmp_path: Path, **files: str | bytes) -> Path:
    defaults = {"movies.csv": MOVIES_CSV, "ratings.csv": RATINGS_CSV, "tags.csv": TAGS_CSV, "links.csv": LINKS_CSV}
    for name, content in (defaults | {k.replace("_", "."): v for k, v in files.items()}).items():
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (tmp_path / name).write_bytes(data)
    return tmp_path


def convert(tmp_path: Path, source: Path, table: str, variant=SMALL) -> tuple[dict, Path]:
    movies, _ = readers.read_movies(source, variant)
    ids = tmp_path / "ids.parquet"
    pq.write_table(movies.select(["movie_id"]), ids)
    dest = tmp_path / f"{table}.parquet"
    return readers.convert_interactions(source, variant, table, ids, dest, tmp_path / "tmp", lambda m: None), dest


def test_bundled_release_reads_to_documented_counts(bundled_release, tmp_path):
    movies, meta = readers.read_movies(bundled_release, SMALL)
    assert movies.num_rows == 9742 and meta["encoding"] == "utf-8"
    assert movies.schema == readers.MOVIES_SCHEMA
    matrix = [r for r in movies.to_pylist() if r["raw_title"] == "Matrix, The (1999)"][0]
    assert (matrix["title"], matrix["year"], matrix["genres"]) == ("The Matrix", 1999, ["Action", "Sci-Fi", "Thriller"])
    links, _ = readers.read_links(bundled_release, SMALL, set(movies["movie_id"].to_pylist()))
    assert links.num_rows == 9742 and links["tmdb_id"].null_count == 8
    assert links.to_pylist()[0] == {"movie_id": 1, "imdb_id": "tt0114709", "tmdb_id": 862}
    stats, dest = convert(tmp_path, bundled_release, "ratings")
    assert (stats["rows"], stats["users"]) == (100836, 610)
    assert pq.read_schema(dest).names == ["user_id", "movie_id", "rating", "timestamp"]


def test_small_release_normalizes_fields(tmp_path):
    source = release(tmp_path)
    movies, _ = readers.read_movies(source, SMALL)
    rows = movies.to_pylist()
    assert rows[1]["title"] == "The City of Lost Children"
    assert rows[1]["alt_titles"] == ["La Cité des enfants perdus"]
    assert rows[2]["genres"] == [] and rows[2]["year"] is None
    stats, dest = convert(tmp_path, source, "tags")
    tags = pq.read_table(dest).to_pylist()
    assert stats["rows"] == 2 and "funny, really\nfunny" in [t["tag"] for t in tags]


@pytest.mark.parametrize(
    "files, line, reason",
    [
        ({"movies_csv": MOVIES_CSV + "4,Heat (1995)\n"}, 5, "expected 3 fields, found 2"),
        ({"movies_csv": MOVIES_CSV + "1,Heat (1995),Action\n"}, 5, "duplicate movieId 1 (first on line 2)"),
        ({"movies_csv": MOVIES_CSV + "x1,Heat (1995),Action\n"}, 5, "movieId 'x1' is not an integer"),
        (
            {"movies_csv": MOVIES_CSV.encode() + "4,Mis\xe9rables (1995),Drama\n".encode("latin-1")},
            5,
            "not valid utf-8",
        ),
        ({"links_csv": LINKS_CSV + "99,0113277,949\n"}, 4, "movieId 99 is not in movies.csv"),
        ({"links_csv": LINKS_CSV + "3,tt-x,949\n"}, 4, "imdbId 'tt-x' is not a number"),
    ],
)
def test_bad_movies_and_links_name_file_and_line(tmp_path, files, line, reason):
    source = release(tmp_path, **files)
    with pytest.raises(DataError) as error:
        movies, _ = readers.read_movies(source, SMALL)
        readers.read_links(source, SMALL, set(movies["movie_id"].to_pylist()))
    assert error.value.line == line and reason in str(error.value)
    assert str(source) in str(error.value)


@pytest.mark.parametrize(
    "ratings, line, reason",
    [
        (RATINGS_CSV + "3,99,4.0,964982703\n", 5, "movie not listed in movies.csv"),
        (RATINGS_CSV + "3,1,4.0,964982703,extra\n", 5, "too many columns"),
        (RATINGS_CSV + "3,1,7.5,964982703\n", 5, "ratings between 0.5 and 5"),
        (RATINGS_CSV + "3,1,,964982703\n", 5, "empty or invalid field"),
        (RATINGS_CSV + "3,one,4.0,964982703\n", 5, 'could not convert string "one"'),
        (RATINGS_CSV.encode() + b"3,1,4.0,96498\xff2703\n", 5, "could not convert"),
    ],
)
def test_bad_ratings_name_file_and_line(tmp_path, ratings, line, reason):
    source = release(tmp_path, ratings_csv=ratings)
    with pytest.raises(DataError) as error:
        convert(tmp_path, source, "ratings")
    assert error.value.line == line, str(error.value)
    assert reason in str(error.value).lower() or reason in str(error.value)
    assert "ratings.csv" in str(error.value)


def test_tags_in_a_wrong_encoding_are_named(tmp_path):
    source = release(tmp_path, tags_csv=TAGS_CSV.encode() + "4,1,Mis\xe9rables,1445714999\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"tags.csv, line 5: invalid encoding"):
        convert(tmp_path, source, "tags")


def test_ml1m_dat_files_are_latin1_with_double_colons(tmp_path):
    (tmp_path / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n73::Misérables, Les (1995)::Drama|Musical\n".encode(
            "latin-1"
        )
    )
    (tmp_path / "ratings.dat").write_text("1::1::5::978300760\n1::73::3::978302109\n2::73::4::978300275\n")
    movies, meta = readers.read_movies(tmp_path, ML1M)
    assert meta["encoding"] == "latin-1"
    assert movies.to_pylist()[1]["title"] == "Les Misérables"
    assert movies.to_pylist()[0]["genres"] == ["Animation", "Children's", "Comedy"]
    links, meta = readers.read_links(tmp_path, ML1M, {1, 73})
    assert links.num_rows == 2 and links["imdb_id"].null_count == 2
    stats, dest = convert(tmp_path, tmp_path, "ratings", ML1M)
    assert stats["rows"] == 3 and pq.read_table(dest)["rating"].to_pylist() == [5.0, 3.0, 4.0]


def test_malformed_dat_line_is_named(tmp_path):
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation\n2::Jumanji (1995)\n")
    with pytest.raises(DataError, match=r"movies.dat, line 2: expected 3 fields, found 2"):
        readers.read_movies(tmp_path, ML1M)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="MOVIELENS_SOURCE_DIR"):
        readers.read_movies(tmp_path, SMALL)

"""#4: mixed CRLF/LF line endings are valid CSV and are read; a bad record is named by its real line."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from movielens_dag.movielens import readers
from movielens_dag.movielens.errors import DataError
from movielens_dag.movielens.variants import get_variant

LATEST = get_variant("ml-latest")  # csv, no documented counts: tiny releases are fine
ML1M = get_variant("ml-1m")
MOVIES = b"movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Action\n"
RATINGS = [
    b"userId,movieId,rating,timestamp",
    b"1,1,4.0,964982703",
    b"1,2,3.5,964981247",
    b"2,1,5.0,964982224",
    b"2,2,4.5,964982300",
]


def release(folder: Path, **files: bytes) -> Path:
    folder.mkdir(exist_ok=True)
    for name, data in ({"movies.csv": MOVIES} | {k.replace("_", "."): v for k, v in files.items()}).items():
        (folder / name).write_bytes(data)
    return folder


def convert(tmp_path: Path, source: Path, table: str = "ratings", variant=LATEST) -> Path:
    movies, _ = readers.read_movies(source, variant)
    ids = tmp_path / "ids.parquet"
    pq.write_table(movies.select(["movie_id"]), ids)
    dest = tmp_path / f"{table}.parquet"
    readers.convert_interactions(source, variant, table, ids, dest, tmp_path / "spill", lambda m: None)
    return dest


def joined(lines: list[bytes], endings: list[bytes]) -> bytes:
    return b"".join(line + end for line, end in zip(lines, endings))


def test_mixed_crlf_and_lf_ratings_are_read_like_lf_only(tmp_path):
    lf = convert(tmp_path / "a", release(tmp_path / "a", ratings_csv=joined(RATINGS, [b"\n"] * 5)))
    mixed = joined(RATINGS, [b"\r\n", b"\n", b"\r\n", b"\n", b"\r\n"])
    got = convert(tmp_path / "b", release(tmp_path / "b", ratings_csv=mixed))
    assert pq.read_table(got).to_pylist() == pq.read_table(lf).to_pylist()
    assert pq.read_table(got).num_rows == 4
    assert not [p for p in (tmp_path / "b" / "spill").iterdir() if ".lf-" in p.name]  # the copy is removed


def test_mixed_endings_keep_quoted_line_breaks_exactly(tmp_path):
    tags = (
        b'userId,movieId,tag,timestamp\r\n1,1,"funny,\r\nreally",1445714994\n'
        b'2,2,"dark\nfilm",1445714996\r\n3,1,plain,1445714997\n'
    )
    dest = convert(tmp_path, release(tmp_path, tags_csv=tags), "tags")
    assert pq.read_table(dest)["tag"].to_pylist() == ["funny,\r\nreally", "dark\nfilm", "plain"]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"mixed"], ids=["lf", "crlf", "mixed"])
def test_missing_field_names_its_own_line(tmp_path, ending):
    lines = RATINGS[:4] + [b"2,2"] + RATINGS[4:]  # the short record is line 5
    endings = [b"\r\n", b"\n"] * 3 if ending == b"mixed" else [ending] * 6
    source = release(tmp_path, ratings_csv=joined(lines, endings))
    with pytest.raises(DataError) as error:
        convert(tmp_path, source)
    assert error.value.line == 5, str(error.value)
    assert "missing columns" in str(error.value) and "ratings.csv" in str(error.value)
    assert "bad records in all" not in str(error.value)  # one short record is one bad record
    assert not (tmp_path / "ratings.parquet").exists()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_bad_value_line_is_right_with_either_ending(tmp_path, ending):
    lines = RATINGS[:3] + [b"2,1,x,964982224"] + RATINGS[4:]  # line 4
    with pytest.raises(DataError) as error:
        convert(tmp_path, release(tmp_path, ratings_csv=joined(lines, [ending] * 5)))
    assert error.value.line == 4, str(error.value)


def test_malformed_quote_in_a_mixed_file_is_named(tmp_path):
    tags = b'userId,movieId,tag,timestamp\r\n1,1,ok,1445714994\n2,2,"bad"quote,1445714996\r\n'
    with pytest.raises(DataError) as error:
        convert(tmp_path, release(tmp_path, tags_csv=tags), "tags")
    assert error.value.line == 3 and "tags.csv" in str(error.value), str(error.value)


def test_mixed_endings_in_dat_files(tmp_path):
    (tmp_path / "movies.dat").write_bytes(b"1::Toy Story (1995)::Animation\r\n2::Heat (1995)::Action\n")
    (tmp_path / "ratings.dat").write_bytes(b"1::1::5::978300760\r\n1::2::3::978302109\n2::2::4::978300275\r\n")
    dest = convert(tmp_path, tmp_path, variant=ML1M)
    assert pq.read_table(dest)["rating"].to_pylist() == [5.0, 3.0, 4.0]

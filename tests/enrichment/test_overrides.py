"""The overrides file: valid rows, and every kind of mistake reported with its line."""

import pytest

from movielens_dag.enrichment.overrides import OverridesError, read_overrides

KNOWN = {1, 2, 3, 4, 5}


def write(tmp_path, text: str):
    path = tmp_path / "tmdb_ids.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_with_comments(tmp_path):
    path = write(
        tmp_path, '# comment\nmovie_id,tmdb_id,imdb_id,note\n1,862,,Toy Story\n\n2,,tt0113497,"Jumanji, by IMDb id"\n'
    )
    overrides = read_overrides(path, KNOWN)
    assert overrides[1].tmdb_id == 862 and overrides[1].imdb_id is None and overrides[1].line == 3
    assert overrides[2].tmdb_id is None and overrides[2].imdb_id == "tt0113497"
    assert overrides[2].note == "Jumanji, by IMDb id"


def test_missing_or_comment_only_file_means_no_overrides(tmp_path):
    assert read_overrides(tmp_path / "absent.csv", KNOWN) == {}
    assert read_overrides(write(tmp_path, "# nothing yet\n"), KNOWN) == {}


def test_every_problem_is_reported_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "\n".join(
            [
                "movie_id,tmdb_id,imdb_id,note",
                "1,862,,ok",  # 2
                "99,5,,unknown movie",  # 3
                "1,863,,duplicate",  # 4
                "3,abc,,not numeric",  # 5
                "4,,0113497,bad imdb",  # 6
                "5,,,nothing given",  # 7
                "x,1,,bad movie id",  # 8
            ]
        )
        + "\n",
    )
    with pytest.raises(OverridesError) as info:
        read_overrides(path, KNOWN)
    problems = info.value.problems
    assert len(problems) == 6
    text = str(info.value)
    assert "tmdb_ids.csv line 3: movie_id 99 is not a movie" in text
    assert "line 4: duplicate movie_id 1 (first on line 2)" in text
    assert "line 5: tmdb_id 'abc' is not a number" in text
    assert "line 6: imdb_id '0113497' is not like 'tt0114709'" in text
    assert "line 7: give a tmdb_id, an imdb_id or both" in text
    assert "line 8: movie_id 'x' is not a number" in text


def test_wrong_header(tmp_path):
    with pytest.raises(OverridesError, match="line 1: header must be 'movie_id,tmdb_id,imdb_id,note'"):
        read_overrides(write(tmp_path, "movieId,tmdbId\n1,2\n"), KNOWN)


def test_the_repository_file_is_valid():
    from movielens_dag.paths import OVERRIDES_DIR

    read_overrides(OVERRIDES_DIR / "tmdb_ids.csv")


def test_excel_csv_utf8_with_bom_and_crlf_is_accepted(tmp_path):
    """#8: Excel's "CSV UTF-8" writes a byte-order mark (and CRLF); the header must still match."""
    path = tmp_path / "tmdb_ids.csv"
    path.write_bytes(
        "movie_id,tmdb_id,imdb_id,note\r\n1,862,,Toy Story\r\n3,,tt0113228,Grumpier Old Men\r\n".encode("utf-8-sig")
    )
    overrides = read_overrides(path, KNOWN)
    assert overrides[1].tmdb_id == 862 and overrides[1].line == 2
    assert overrides[3].imdb_id == "tt0113228" and overrides[3].note == "Grumpier Old Men"


def test_a_file_that_is_not_utf8_names_its_line_and_the_fix(tmp_path):
    path = tmp_path / "tmdb_ids.csv"
    path.write_bytes(
        "movie_id,tmdb_id,imdb_id,note\n1,862,,Toy Story\n2,8844,,Jumanji \u2013 caf\xe9\n".encode("cp1252")
    )
    with pytest.raises(
        OverridesError, match=r"tmdb_ids.csv line 3: bytes .* are not UTF-8; save the file as 'CSV UTF-8'"
    ):
        read_overrides(path, KNOWN)

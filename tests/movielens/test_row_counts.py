"""#2: an empty or implausibly small core table fails before anything is written or replaced."""

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from movielens_dag.movielens import readers
from movielens_dag.movielens.errors import DataError
from movielens_dag.movielens.variants import get_variant

SMALL = get_variant("ml-latest-small")
LATEST = get_variant("ml-latest")
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Action\n"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n2,1,5.0,964982224\n"
TAGS = "userId,movieId,tag,timestamp\n1,1,funny,1445714994\n"
LINKS = "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113277,949\n"


def release(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {"movies.csv": MOVIES, "ratings.csv": RATINGS, "tags.csv": TAGS, "links.csv": LINKS}
    for name, text in (defaults | {k.replace("_", "."): v for k, v in files.items()}).items():
        (folder / name).write_text(text)
    return folder


def convert(tmp_path: Path, source: Path, variant=LATEST, min_fraction=None) -> Path:
    ids = tmp_path / "ids.parquet"
    pq.write_table(readers.read_movies(source, variant)[0].select(["movie_id"]), ids)
    dest = tmp_path / "ratings.parquet"
    readers.convert_interactions(
        source, variant, "ratings", ids, dest, tmp_path / "spill", lambda m: None, min_fraction=min_fraction
    )
    return dest


@pytest.mark.parametrize("text", ["userId,movieId,rating,timestamp\n", ""], ids=["header-only", "zero-bytes"])
def test_empty_ratings_is_refused_and_nothing_is_left(tmp_path, text):
    source = release(tmp_path / "src", ratings_csv=text)
    with pytest.raises(DataError, match=r"ratings.csv: no ratings records .*header") as error:
        convert(tmp_path, source)
    assert "Restore the release's ratings.csv" in str(error.value)
    assert not (tmp_path / "ratings.parquet").exists()


@pytest.mark.parametrize("text", ["movieId,title,genres\n", ""], ids=["header-only", "zero-bytes"])
def test_empty_movies_is_refused(tmp_path, text):
    with pytest.raises(DataError, match=r"movies.csv: no movies records"):
        readers.read_movies(release(tmp_path, movies_csv=text), LATEST)


def test_header_only_tags_are_allowed(tmp_path):
    source = release(tmp_path / "src", tags_csv="userId,movieId,tag,timestamp\n")
    ids = tmp_path / "ids.parquet"
    pq.write_table(readers.read_movies(source, LATEST)[0].select(["movie_id"]), ids)
    stats = readers.convert_interactions(
        source, LATEST, "tags", ids, tmp_path / "t.parquet", tmp_path / "s", lambda m: None
    )
    assert stats["rows"] == 0


def test_far_below_the_documented_count_is_refused_when_asked(tmp_path):
    source = release(tmp_path / "src")
    with pytest.raises(DataError, match=r"only 3 ratings records where the release documents 100,836"):
        convert(tmp_path, source, SMALL, min_fraction=0.5)
    assert not (tmp_path / "ratings.parquet").exists()
    with pytest.raises(DataError, match=r"only 2 movies records where the release documents 9,742"):
        readers.read_movies(source, SMALL, min_fraction=0.5)
    assert pq.read_table(convert(tmp_path, source, SMALL)).num_rows == 3  # a deliberate subset: check off


def test_the_bundled_release_passes_the_documented_count_check(bundled_release, tmp_path):
    movies, _ = readers.read_movies(bundled_release, SMALL, min_fraction=0.99)
    assert movies.num_rows == 9742
    assert pq.read_table(convert(tmp_path, bundled_release, SMALL, min_fraction=0.99)).num_rows == 100836


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_header_only_ratings_never_replaces_the_stored_table(tmp_path, monkeypatch):
    """Through the assets and the IO manager: the run fails and the stored Parquet is byte-identical."""
    dg = pytest.importorskip("dagster")
    from movielens_dag.assets import movielens
    from movielens_dag.definitions import make_resources
    from movielens_dag.paths import DataPaths

    source = release(tmp_path / "src")
    monkeypatch.setenv("MOVIELENS_VARIANT", "ml-latest")
    monkeypatch.setenv("MOVIELENS_SOURCE_DIR", str(source))
    kw = {"resources": make_resources(str(tmp_path / "data")), "instance": dg.DagsterInstance.ephemeral()}
    assets = dg.load_assets_from_modules([movielens])
    selection = ["movielens_files", "movies", "ratings"]
    assert dg.materialize(assets, selection=selection, **kw).success
    stored = DataPaths(tmp_path / "data").asset_file("movielens", "ratings")
    before = _digest(stored)

    (source / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    result = dg.materialize(assets, selection=selection, raise_on_error=False, **kw)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no ratings records" in str(failure.event_specific_data.error)
    assert _digest(stored) == before and pq.read_table(stored).num_rows == 3
    assert not list((tmp_path / "data" / "warehouse" / "_staging").glob("ratings.*.parquet"))

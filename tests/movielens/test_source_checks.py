"""The configured MovieLens source wins: a stale stored listing or a bad folder fails before storing."""

import shutil

import dagster as dg
import pyarrow.parquet as pq
import pytest

from movielens_dag.assets import movielens as ml_assets
from movielens_dag.definitions import make_resources
from movielens_dag.movielens.errors import DataError
from movielens_dag.paths import DataPaths


def _materialize(root, selection, monkeypatch, source_dir=None, raise_on_error=True):
    if source_dir is None:
        monkeypatch.delenv("MOVIELENS_SOURCE_DIR", raising=False)
    else:
        monkeypatch.setenv("MOVIELENS_SOURCE_DIR", str(source_dir))
    monkeypatch.delenv("MOVIELENS_VARIANT", raising=False)
    return dg.materialize(
        dg.load_assets_from_modules([ml_assets]),
        selection=selection,
        resources=make_resources(str(root)),
        raise_on_error=raise_on_error,
    )


def test_a_new_source_dir_is_not_silently_ignored(tmp_path, monkeypatch, bundled_release):
    copy = tmp_path / "copy"
    shutil.copytree(bundled_release, copy)
    data = tmp_path / "data"
    assert _materialize(data, ["movielens_files", "movies"], monkeypatch).success  # the bundled release
    with pytest.raises(DataError, match="does not match the configured source.*MOVIELENS_SOURCE_DIR is"):
        _materialize(data, ["movies"], monkeypatch, source_dir=copy)  # movies alone would read the old folder
    assert _materialize(data, ["movielens_files", "movies"], monkeypatch, source_dir=copy).success
    files = pq.read_table(DataPaths(data).asset_file("movielens", "movielens_files")).to_pandas()
    assert set(files["source_dir"]) == {str(copy)}


def test_a_bad_folder_fails_before_replacing_the_stored_listing(tmp_path, monkeypatch, bundled_release):
    data = tmp_path / "data"
    assert _materialize(data, ["movielens_files"], monkeypatch).success
    stored = DataPaths(data).asset_file("movielens", "movielens_files")
    before = stored.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(bundled_release / "movies.csv", bad / "movies.csv")  # no ratings.csv
    (bad / "links.csv").write_text("")  # empty
    with pytest.raises(DataError, match="incomplete: missing ratings.csv, tags.csv; empty links.csv"):
        _materialize(data, ["movielens_files"], monkeypatch, source_dir=bad)
    assert stored.read_bytes() == before  # byte-identical

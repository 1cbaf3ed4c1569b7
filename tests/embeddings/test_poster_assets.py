"""poster_images -> poster_embeddings in Dagster: the tiny CLIP on the emulator's posters, and the offline
path (no token, no posters: an empty table, CLIP never resolved or loaded)."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from movielens_dag.paths import DataPaths
from tests.embeddings import tiny_clip
from tests.enrichment.posters_data import (
    POSTER_CHAIN,
    checks,
    emulator_config,
    fetcher,
    materialize,
    metadata,
    write_upstream,
)
from tests.http.conftest import make_emulator  # noqa: F401  (pytest fixture)

DIM = 16
CHAIN = [*POSTER_CHAIN, "poster_embeddings"]


@pytest.fixture
def paths(tmp_path) -> DataPaths:
    paths = DataPaths(tmp_path / "data")
    write_upstream(paths)
    return paths


def test_tiny_clip_embeds_the_fetched_posters(make_emulator, paths, tmp_path):  # noqa: F811
    clip = tiny_clip.build(tmp_path / "models", projection_dim=DIM)
    config = {"ops": {"poster_embeddings": {"config": {"model": str(clip), "device": "cpu", "batch_size": 2}}}}
    emu = make_emulator(emulator_config())
    result = materialize(paths, fetcher(emu), CHAIN, run_config=config)
    assert result.success
    table = pq.read_table(paths.asset_file("embeddings", "poster_embeddings"))
    assert table["movie_id"].to_pylist() == [1, 2, 8]  # the ok posters; 1 and 8 share one image
    vectors = np.stack(table["embedding"].to_numpy(zero_copy_only=False))
    assert vectors.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    meta = metadata(result, "poster_embeddings")
    assert meta["model_loaded"] and meta["embedded"] == 2 and meta["posters"] == "3 movies with a poster vector"
    assert checks(result)["one_unit_vector_per_ok_poster"]

    again = materialize(paths, fetcher(emu), ["poster_embeddings"], run_config=config)
    assert not metadata(again, "poster_embeddings")["model_loaded"]  # every image cached: CLIP not loaded


def test_offline_there_are_no_posters_and_clip_is_never_loaded(make_emulator, paths):  # noqa: F811
    emu = make_emulator(emulator_config(token=None))
    result = materialize(paths, fetcher(emu, token=None), CHAIN)  # default model: a hub id unreachable here
    assert result.success and emu.total_hits() == 0
    assert pq.read_table(paths.asset_file("embeddings", "poster_embeddings")).num_rows == 0
    meta = metadata(result, "poster_embeddings")
    assert meta["posters"].startswith("no posters") and not meta["model_loaded"]
    assert checks(result)["one_unit_vector_per_ok_poster"]

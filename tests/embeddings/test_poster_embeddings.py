"""Poster embeddings with a tiny random-init CLIP: normalised vectors of the configured size, cache reuse."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from movielens_dag.devtools.api_emulator import generated_poster
from movielens_dag.embeddings.models import ModelNotFoundError, resolve_model
from movielens_dag.embeddings.posters import ClipImageEncoder, PosterEmbeddingSettings, embed_images, embed_posters
from movielens_dag.enrichment.posters import POSTER_IMAGES
from movielens_dag.http.blob_store import BlobStore
from tests.embeddings import tiny_clip

DIM = 24


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    return tiny_clip.build(tmp_path_factory.mktemp("clip"), projection_dim=DIM)


@pytest.fixture
def posters(tmp_path) -> tuple[pa.Table, BlobStore]:
    """Four movies with posters (movies 1 and 4 share one), one 404, one broken image."""
    blobs = BlobStore(tmp_path / "posters")
    rows = []
    for movie_id, name in ((1, "/a.jpg"), (2, "/b.jpg"), (3, "/c.jpg"), (4, "/a.jpg")):
        sha, rel = blobs.put(generated_poster(name, "w185"), ".jpg")
        rows.append({"movie_id": movie_id, "status": "ok", "sha256": sha, "file": rel, "poster_path": name})
    rows += [{"movie_id": 5, "status": "not_found"}, {"movie_id": 6, "status": "broken_image"}]
    return pa.Table.from_pylist(rows, schema=POSTER_IMAGES), blobs


def test_tiny_clip_gives_normalised_vectors_of_the_configured_size(clip_dir, posters, tmp_path):
    table, blobs = posters
    settings = PosterEmbeddingSettings(model=str(clip_dir), device="cpu", batch_size=2)
    run = embed_posters(table, blobs.root, settings, cache_root=tmp_path / "cache")
    out = run.table
    assert out["movie_id"].to_pylist() == [1, 2, 3, 4]  # only ok posters; 404 and broken are counted
    assert out.schema.field("embedding").type == pa.list_(pa.float32(), DIM)
    assert set(out["dim"].to_pylist()) == {DIM} and out["model_id"][0].as_py() == "tiny-clip"
    v = np.stack(out["embedding"].to_numpy(zero_copy_only=False))
    assert v.shape == (4, DIM) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v[0], v[3])  # the same image, the same vector
    assert np.abs(v[0] - v[1]).max() > 1e-3  # different posters differ
    assert run.metadata["embedded"] == 3 and run.metadata["model_loaded"] is True
    assert run.metadata["skipped_not_found"] == 1 and run.metadata["skipped_broken_image"] == 1

    # one image at a time, straight through the encoder: the same vectors (batching changes nothing)
    encoder = ClipImageEncoder(resolve_model(str(clip_dir)), "cpu")
    single = embed_images(encoder, [blobs.path(f) for f in table["file"].to_pylist()[:3]], batch_size=1)
    np.testing.assert_allclose(single, v[:3], atol=1e-5)

    again = embed_posters(table, blobs.root, settings, cache_root=tmp_path / "cache")
    assert again.metadata["model_loaded"] is False and again.metadata["reused"] == 3
    np.testing.assert_array_equal(np.stack(again.table["embedding"].to_numpy(zero_copy_only=False)), v)


def test_missing_model_or_file_fails_before_any_work(clip_dir, posters, tmp_path):
    table, blobs = posters
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        embed_posters(
            table,
            blobs.root,
            PosterEmbeddingSettings(model=str(tmp_path / "no-such-clip")),
            cache_root=tmp_path / "cache",
        )
    blobs.path(table["file"][1].as_py()).unlink()
    with pytest.raises(FileNotFoundError, match="re-materialize poster_images"):
        embed_posters(table, blobs.root, PosterEmbeddingSettings(model=str(clip_dir)), cache_root=tmp_path / "cache")


def test_no_posters_give_an_empty_table_without_resolving_the_model(tmp_path):
    """The offline demo: the default CLIP hub id cannot be resolved here, and need not be."""
    table = pa.Table.from_pylist(
        [{"movie_id": 1, "status": "not_fetched"}, {"movie_id": 2, "status": "no_tmdb_id"}], schema=POSTER_IMAGES
    )
    run = embed_posters(table, tmp_path / "posters", PosterEmbeddingSettings(), cache_root=tmp_path / "cache")
    assert run.table.num_rows == 0 and run.table.column_names == [
        "movie_id",
        "model_id",
        "dim",
        "image_sha256",
        "embedding",
    ]
    assert run.metadata["model_loaded"] is False and run.metadata["skipped_not_fetched"] == 1
    assert not (tmp_path / "cache").exists()

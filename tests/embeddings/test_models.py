"""Finding a model and identifying its weights, without loading it."""

import shutil

import pytest

from movielens_dag.embeddings import models
from movielens_dag.embeddings.models import ModelNotFoundError, resolve_model


def test_bundled_aliases_resolve_to_the_packaged_minilm():
    a = resolve_model("bundled")
    b = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert a.model_id == b.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert a.path == b.path and (a.path / "model.safetensors").exists()
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64


def test_a_missing_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="model path .*no-such-model.* does not exist"):
        resolve_model(str(missing))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model("./models/qwen3-local")


def test_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelNotFoundError, match="neither modules.json .* nor config.json"):
        resolve_model(str(tmp_path))


def test_hub_id_not_cached_while_offline_names_the_fix(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="Qwen/Qwen3-Embedding-0.6B.*HF_HUB_OFFLINE"):
        resolve_model("Qwen/Qwen3-Embedding-0.6B")


def test_models_dir_is_searched_for_relative_names(tmp_path, minilm_source):
    shutil.copytree(minilm_source.path, tmp_path / "minilm-copy")
    found = resolve_model("minilm-copy", models_dir=tmp_path)
    assert found.path == (tmp_path / "minilm-copy").resolve()
    assert found.fingerprint == minilm_source.fingerprint  # same bytes, same identity


def test_fingerprint_follows_the_weights_not_the_location(tmp_path, tiny_qwen3_dirs):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_qwen3_dirs.hf_dir, copy)
    assert models.fingerprint_model_dir(copy) == models.fingerprint_model_dir(tiny_qwen3_dirs.hf_dir)
    (copy / "README.md").write_text("docs do not change the identity")
    assert models.fingerprint_model_dir(copy) == models.fingerprint_model_dir(tiny_qwen3_dirs.hf_dir)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight, same size
    weights.write_bytes(bytes(data))
    assert models.fingerprint_model_dir(copy) != models.fingerprint_model_dir(tiny_qwen3_dirs.hf_dir)


def test_local_model_id_is_readable(tiny_qwen3_dirs):
    assert resolve_model(str(tiny_qwen3_dirs.st_dir)).model_id == "st"

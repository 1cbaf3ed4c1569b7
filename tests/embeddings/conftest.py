"""Fixtures for the embedding tests: the bundled MiniLM, a tiny random Qwen3, real documents."""

from pathlib import Path

import pytest

from tests.embeddings import tiny_qwen3


@pytest.fixture(scope="session")
def minilm_source():
    from movielens_dag.embeddings import resolve_model

    return resolve_model("bundled")


@pytest.fixture(scope="session")
def minilm(minilm_source):
    """The bundled all-MiniLM-L6-v2 on CPU, loaded once per session (about 8 s)."""
    from movielens_dag.embeddings.encode import load_encoder
    from movielens_dag.embeddings.settings import EmbeddingSettings

    return load_encoder(minilm_source, EmbeddingSettings(device="cpu"))


@pytest.fixture(scope="session")
def tiny_qwen3_dirs(tmp_path_factory) -> tiny_qwen3.TinyQwen3:
    return tiny_qwen3.build(Path(tmp_path_factory.mktemp("tiny_qwen3")))

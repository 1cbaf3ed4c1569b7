"""The bundled all-MiniLM-L6-v2 on the real bundled movie documents: shape, norm, determinism."""

import numpy as np
import pytest

from movielens_dag.embeddings.encode import EmptyDocumentError
from movielens_dag.embeddings.quality import unit_norm_error

SUBSET = 300


@pytest.fixture(scope="module")
def texts(bundled_documents):
    # every 32nd document: a spread of ids, with and without tags
    return bundled_documents["document"].to_pylist()[::32][:SUBSET]


@pytest.fixture(scope="module")
def result(minilm, texts):
    return minilm.encode(texts, token_budget=4096)


def test_shape_dtype_and_unit_norm(minilm, result, texts):
    assert minilm.source.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.settings["attn_implementation"] == "sdpa"
    assert result.vectors.shape == (len(texts), 384)
    assert result.vectors.dtype == np.float32
    assert np.isfinite(result.vectors).all()
    assert unit_norm_error(result.vectors) < 1e-5
    assert result.stats.docs == len(texts) and result.stats.tokens == result.lengths.sum()
    # truncation is counted exactly: flagged iff the untruncated text is longer than the limit
    assert (result.lengths <= minilm.max_seq_length).all()
    np.testing.assert_array_equal(result.truncated, result.full_lengths > minilm.max_seq_length)
    assert result.truncated_count == int((result.full_lengths > 256).sum())


def test_deterministic_and_independent_of_batching(minilm, result, texts):
    again = minilm.encode(texts, token_budget=4096)
    np.testing.assert_array_equal(again.vectors, result.vectors)
    other_batches = minilm.encode(texts[:100], token_budget=300, max_batch_size=7)
    assert other_batches.stats.batches >= 15
    np.testing.assert_allclose(other_batches.vectors, result.vectors[:100], atol=1e-5)


def test_matches_sentence_transformers_encode(minilm, result, texts):
    """Our tokenize-once batching gives what the library's own encode() gives."""
    reference = minilm.model.encode(texts, batch_size=16, normalize_embeddings=True)
    np.testing.assert_allclose(result.vectors, reference, atol=1e-5)
    features = minilm.features(minilm.tokenize(texts[:8]).ids)
    theirs = minilm.model.preprocess(texts[:8])
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(features[key].numpy(), theirs[key].numpy())


def test_similar_movies_are_closer_than_unrelated_ones(minilm):
    v = minilm.encode(
        [
            "Title: Toy Story 2 (1999)\nGenres: Adventure, Animation, Children, Comedy, Fantasy",
            "Title: Toy Story (1995)\nGenres: Adventure, Animation, Children, Comedy, Fantasy",
            "Title: Saw (2004)\nGenres: Horror, Mystery, Thriller",
        ]
    ).vectors
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


def test_long_documents_are_truncated_and_counted(minilm):
    long_doc = "Title: A Long Plot\nPlot: " + "The hero walks across the desert at night. " * 200
    result = minilm.encode([long_doc, "Title: Heat (1995)"])
    assert result.truncated.tolist() == [True, False]
    assert result.lengths[0] == minilm.max_seq_length == 256
    assert result.full_lengths[0] > 1500
    reference = minilm.model.encode([long_doc], normalize_embeddings=True)  # the library truncates too
    np.testing.assert_allclose(result.vectors[:1], reference, atol=1e-5)


def test_prompt_and_truncate_dim(minilm_source, texts):
    from movielens_dag.embeddings.encode import load_encoder
    from movielens_dag.embeddings.settings import EmbeddingSettings

    enc = load_encoder(minilm_source, EmbeddingSettings(device="cpu", prompt="movie: ", truncate_dim=128))
    got = enc.encode(texts[:20]).vectors
    assert got.shape == (20, 128) and unit_norm_error(got) < 1e-5
    full = enc.model.encode(texts[:20], prompt="movie: ", convert_to_numpy=True)
    full = full[:, :128] / np.linalg.norm(full[:, :128], axis=1, keepdims=True)
    np.testing.assert_allclose(got, full, atol=1e-5)


def test_empty_and_non_text_inputs_are_rejected(minilm):
    with pytest.raises(EmptyDocumentError, match="text #1 is empty"):
        minilm.encode(["Heat", "   \n"])
    with pytest.raises(TypeError, match="text #0 is NoneType"):
        minilm.encode([None])

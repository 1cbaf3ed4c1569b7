"""The Qwen3 path on a tiny random-init Qwen3: left padding, last-token pooling, prompts, truncate_dim.

The reference is the Qwen3-Embedding recipe computed one text at a time with no padding and eager
attention, so batching, padding side, pooling and prompt handling all have to be right to match it.
"""

import numpy as np
import pytest

from movielens_dag.embeddings import resolve_model
from movielens_dag.embeddings.encode import load_encoder
from movielens_dag.embeddings.quality import unit_norm_error
from movielens_dag.embeddings.settings import EmbeddingSettings
from tests.embeddings import tiny_qwen3

TEXTS = [
    "Title: Toy Story (1995)\nGenres: Animation, Children, Comedy",
    "Heat",
    "Title: The Matrix (1999)\nGenres: Action, Thriller\nTags: space, war, love story, crime, "
    "thriller, the film of the year",
    "a movie",
    "Title: Fantasia\nGenres: Animation, Musical, Children, Fantasy, Documentary, Western, Mystery",
]
ATOL = 2e-5


@pytest.fixture(scope="module")
def qwen(tiny_qwen3_dirs):
    return load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu"))


def test_left_padded_batches_equal_unpadded_single_encodes(qwen, tiny_qwen3_dirs):
    assert qwen.pooling == "lasttoken"
    assert qwen.tokenizer.padding_side == "left"
    got = qwen.encode(TEXTS, token_budget=10_000).vectors  # one batch, very different lengths
    ref = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, TEXTS)
    np.testing.assert_allclose(got, ref, atol=ATOL)
    assert unit_norm_error(got) < 1e-5
    # the batch really was left-padded: the short rows start with padding, every row ends with a token
    features = qwen.features(qwen.tokenize(TEXTS).ids)
    mask = features["attention_mask"].numpy()
    assert mask[1, 0] == 0 and mask[:, -1].all()
    assert (features["input_ids"].numpy()[:, -1] == 0).all()  # every row ends with <|endoftext|>


def test_batch_composition_does_not_change_vectors(qwen):
    one_batch = qwen.encode(TEXTS, token_budget=10_000).vectors
    tiny_batches = qwen.encode(TEXTS, token_budget=1).vectors  # one text per batch
    np.testing.assert_allclose(one_batch, tiny_batches, atol=ATOL)


def test_chat_template_is_not_applied(tiny_qwen3_dirs, qwen):
    """sentence-transformers 6 would wrap text in the tokenizer's chat template; we must not."""
    from sentence_transformers import SentenceTransformer

    raw = SentenceTransformer(str(tiny_qwen3_dirs.st_dir), device="cpu")
    assert "message" in raw[0].modality_config  # the trap exists in the library ...
    ref = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, TEXTS[:2])
    via_template = raw.encode(TEXTS[:2], normalize_embeddings=True)
    assert not np.allclose(via_template, ref, atol=1e-3)  # ... and changes the vectors
    assert "message" not in qwen.transformer.modality_config
    np.testing.assert_allclose(qwen.encode(TEXTS[:2]).vectors, ref, atol=ATOL)


def test_instruction_prompt_is_prepended(tiny_qwen3_dirs):
    prompt = "Instruct: represent this movie\nQuery:"
    enc = load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", prompt=prompt))
    got = enc.encode(TEXTS).vectors
    ref = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, [prompt + t for t in TEXTS])
    np.testing.assert_allclose(got, ref, atol=ATOL)
    plain = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, TEXTS)
    assert np.abs(got - plain).max() > 1e-2
    prompt_ids = enc.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    for ids in enc.tokenize(TEXTS).ids:
        assert ids[: len(prompt_ids)].tolist() == prompt_ids


def test_saved_prompt_by_name(tiny_qwen3_dirs):
    enc = load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", prompt_name="query"))
    assert enc.prompt == tiny_qwen3.QUERY_PROMPT
    ref = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, [tiny_qwen3.QUERY_PROMPT + t for t in TEXTS])
    np.testing.assert_allclose(enc.encode(TEXTS).vectors, ref, atol=ATOL)
    with pytest.raises(ValueError, match="no prompt named 'passage'"):
        load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", prompt_name="passage"))


def test_truncate_dim_is_a_renormalised_prefix(tiny_qwen3_dirs):
    enc = load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", truncate_dim=16))
    got = enc.encode(TEXTS).vectors
    assert got.shape == (len(TEXTS), 16) and enc.dim == 16
    full = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, TEXTS)[:, :16]
    expected = full / np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert unit_norm_error(got) < 1e-5
    with pytest.raises(ValueError, match="truncate_dim must be in 1..64"):
        load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", truncate_dim=65))


def test_long_documents_are_truncated_keeping_the_final_token(tiny_qwen3_dirs):
    enc = load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", max_seq_length=12))
    texts = ["the movie " * 40, "heat"]
    result = enc.encode(texts)
    assert result.truncated.tolist() == [True, False]
    assert result.lengths.tolist() == [12, 2]
    assert result.full_lengths[0] == 81  # 80 words + <|endoftext|>
    assert enc.tokenize(texts).ids[0][-1] == 0  # the EOS the model pools on survives truncation
    ref = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, texts, max_length=12)
    np.testing.assert_allclose(result.vectors, ref, atol=ATOL)


def test_plain_checkpoint_gets_last_token_pooling(tiny_qwen3_dirs, qwen):
    """A folder with only config.json + weights (no modules.json) is a Qwen3: last-token pooling."""
    enc = load_encoder(resolve_model(str(tiny_qwen3_dirs.hf_dir)), EmbeddingSettings(device="cpu"))
    assert enc.pooling == "lasttoken" and enc.tokenizer.padding_side == "left"
    np.testing.assert_allclose(enc.encode(TEXTS).vectors, qwen.encode(TEXTS).vectors, atol=ATOL)


def test_our_features_match_sentence_transformers_preprocess(qwen):
    ours = qwen.features(qwen.tokenize(TEXTS).ids)
    theirs = qwen.model.preprocess(TEXTS)
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
    np.testing.assert_allclose(qwen.forward(ours), qwen.forward(qwen._to_device(theirs)), atol=1e-6)


def test_sentence_transformers_preprocess_path_gives_the_same_vectors(tiny_qwen3_dirs, qwen):
    """The path used with flash-attention unpadding (exercised here on CPU by forcing it)."""
    enc = load_encoder(resolve_model(str(tiny_qwen3_dirs.st_dir)), EmbeddingSettings(device="cpu", prompt="Query:"))
    expected = enc.encode(TEXTS).vectors
    enc.use_st_preprocess = True
    np.testing.assert_allclose(enc.encode(TEXTS).vectors, expected, atol=ATOL)


def test_left_padding_is_enforced_for_last_token_pooling(tiny_qwen3_dirs, tmp_path):
    """A checkpoint whose tokenizer says padding_side=right still gets left-padded batches."""
    import json
    import shutil

    copy = tmp_path / "right-padded"
    shutil.copytree(tiny_qwen3_dirs.hf_dir, copy)
    cfg_file = copy / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["padding_side"] = "right"
    cfg_file.write_text(json.dumps(cfg))
    enc = load_encoder(resolve_model(str(copy)), EmbeddingSettings(device="cpu"))
    assert enc.tokenizer.padding_side == "left"
    mask = enc.features(enc.tokenize(TEXTS).ids)["attention_mask"].numpy()
    assert mask[1, 0] == 0 and mask[:, -1].all()
    ref = tiny_qwen3.reference_embeddings(tiny_qwen3_dirs.hf_dir, TEXTS)
    np.testing.assert_allclose(enc.encode(TEXTS).vectors, ref, atol=ATOL)

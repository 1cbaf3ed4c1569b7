"""Incremental embedding of movie_documents: reuse by (embedding key, document hash), bad input."""

import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from movielens_dag.documents import document_hash
from movielens_dag.embeddings import encode as encode_module
from movielens_dag.embeddings.models import ModelNotFoundError
from movielens_dag.embeddings.pipeline import InvalidDocumentsError, embed_movie_documents
from movielens_dag.embeddings.settings import EmbeddingSettings
from movielens_dag.embeddings.shards import parse_shard_key, select_shard, shard_keys
from movielens_dag.paths import PROJECT_ROOT


def _docs(texts, ids=None):
    ids = list(range(1, len(texts) + 1)) if ids is None else ids
    return pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "document": pa.array(texts, pa.string()),
            "document_hash": pa.array([document_hash(t) if t is not None else None for t in texts], pa.string()),
            "template_version": pa.array(["test"] * len(texts)),
        }
    )


@pytest.fixture(scope="module")
def small_docs(bundled_documents):
    return bundled_documents.slice(0, 40)


@pytest.fixture
def counting_loader(monkeypatch, minilm):
    """load_encoder that hands out the session's MiniLM and counts calls."""
    calls = []

    def load(source, settings):
        calls.append(settings)
        assert source.model_id == minilm.source.model_id
        return minilm

    monkeypatch.setattr(encode_module, "load_encoder", load)
    return calls


def _forbid_loading(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(encode_module, "load_encoder", fail)


def _vectors(table):
    dim = table["embedding"].type.list_size
    return table["embedding"].combine_chunks().flatten().to_numpy().reshape(-1, dim)


def test_output_table_schema_and_metadata(tmp_path, small_docs, counting_loader):
    run = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path)
    t = run.table
    assert t.schema == pa.schema(
        [
            ("movie_id", pa.int32()),
            ("model_id", pa.string()),
            ("dim", pa.int32()),
            ("document_hash", pa.string()),
            ("embedding", pa.list_(pa.float32(), 384)),
        ]
    )
    assert t.num_rows == 40 and t["movie_id"].to_pylist() == sorted(small_docs["movie_id"].to_pylist())
    assert set(t["model_id"].to_pylist()) == {"sentence-transformers/all-MiniLM-L6-v2"}
    np.testing.assert_allclose(np.linalg.norm(_vectors(t), axis=1), 1.0, atol=1e-5)
    m = run.metadata
    assert (m["count"], m["dim"], m["embedded"], m["reused"], m["truncated"]) == (40, 384, 40, 0, 0)
    assert m["model_loaded"] is True and m["docs_per_s"] > 0 and m["tokens_per_s"] > 0
    assert len(counting_loader) == 1


def test_second_run_loads_no_model_and_returns_the_same_table(tmp_path, small_docs, counting_loader, monkeypatch):
    first = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path)
    _forbid_loading(monkeypatch)
    second = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path)
    assert second.table.equals(first.table)
    assert second.metadata["model_loaded"] is False
    assert (second.metadata["embedded"], second.metadata["reused"]) == (0, 40)
    assert "docs_per_s" not in second.metadata  # nothing was embedded, so nothing was measured


def test_only_new_and_changed_documents_are_embedded(tmp_path, small_docs, counting_loader, minilm):
    embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path)
    texts = small_docs["document"].to_pylist()
    ids = small_docs["movie_id"].to_pylist()
    texts[3] += "\nTags: changed"
    texts[7] += "\nTags: changed too"
    texts += ["Title: Brand New (2030)", "Title: Another New (2031)"]
    ids += [999_001, 999_002]
    seen = []
    original = minilm.encode

    def spy(batch, **kwargs):
        seen.extend(batch)
        return original(batch, **kwargs)

    minilm.encode = spy
    try:
        run = embed_movie_documents(_docs(texts, ids), EmbeddingSettings(), cache_root=tmp_path)
    finally:
        del minilm.encode
    assert sorted(seen) == sorted([texts[3], texts[7], texts[-2], texts[-1]])
    assert (run.metadata["embedded"], run.metadata["reused"], run.metadata["count"]) == (4, 38, 42)
    fresh = minilm.encode(texts).vectors
    got = dict(zip(run.table["movie_id"].to_pylist(), _vectors(run.table)))
    for i, movie in enumerate(ids):
        np.testing.assert_allclose(got[movie], fresh[i], atol=1e-5)


def test_settings_that_change_vectors_change_the_key(tmp_path, small_docs, counting_loader, monkeypatch):
    base = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path).metadata
    prompted = embed_movie_documents(small_docs, EmbeddingSettings(prompt="movie: "), cache_root=tmp_path)
    assert prompted.metadata["embedding_key"] != base["embedding_key"]
    assert prompted.metadata["embedded"] == 40
    # device / batching settings are not part of the key
    _forbid_loading(monkeypatch)
    again = embed_movie_documents(small_docs, EmbeddingSettings(token_budget=123, dtype="float32"), cache_root=tmp_path)
    assert again.metadata["embedding_key"] == base["embedding_key"] and again.metadata["embedded"] == 0


def test_identical_documents_are_embedded_once(tmp_path, counting_loader):
    run = embed_movie_documents(
        _docs(["Title: Twin", "Title: Twin", "Title: Other"]), EmbeddingSettings(), cache_root=tmp_path
    )
    assert (run.metadata["count"], run.metadata["distinct_documents"], run.metadata["embedded"]) == (3, 2, 2)
    v = _vectors(run.table)
    np.testing.assert_array_equal(v[0], v[1])


def test_second_run_does_not_even_import_torch(tmp_path, small_docs, counting_loader):
    embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path / "cache")
    import pyarrow.parquet as pq

    pq.write_table(small_docs, tmp_path / "docs.parquet")
    script = textwrap.dedent(f"""
        import sys
        import pyarrow.parquet as pq
        from movielens_dag.embeddings.pipeline import embed_movie_documents
        from movielens_dag.embeddings.settings import EmbeddingSettings
        run = embed_movie_documents(pq.read_table({str(tmp_path / "docs.parquet")!r}), EmbeddingSettings(),
                                    cache_root={str(tmp_path / "cache")!r})
        assert run.metadata["embedded"] == 0, run.metadata
        loaded = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
        print("LOADED", loaded)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout


def test_a_broken_cache_file_is_reported_and_recomputed(tmp_path, small_docs, counting_loader):
    first = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path)
    cache_file = first.metadata["cache_file"]
    with open(cache_file, "wb") as fh:
        fh.write(b"not parquet")
    run = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path)
    assert run.metadata["embedded"] == 40 and "cache_files_ignored" in run.metadata
    np.testing.assert_allclose(_vectors(run.table), _vectors(first.table), atol=1e-6)


def test_a_missing_model_fails_before_any_work(tmp_path, small_docs, monkeypatch):
    _forbid_loading(monkeypatch)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        embed_movie_documents(
            small_docs, EmbeddingSettings(model=str(tmp_path / "nope")), cache_root=tmp_path / "cache"
        )
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "table, message",
    [
        (_docs(["a", "b"], [1, 1]), "duplicate movie_id 1"),
        (_docs(["a", None], [1, 2]), "document is null for movie_id 2"),
        (_docs(["a"]).drop_columns(["document_hash"]), r"lacks column\(s\) \['document_hash'\]"),
        (
            _docs(["a", "b"]).set_column(2, "document_hash", pa.array(["h", ""])),
            "document_hash is empty for movie_id 2",
        ),
        (
            pa.table(
                {"movie_id": pa.array([1, None], pa.int32()), "document": ["a", "b"], "document_hash": ["h1", "h2"]}
            ),
            r"movie_id is null in row\(s\) 1",
        ),
    ],
)
def test_bad_input_is_named(tmp_path, table, message, monkeypatch):
    _forbid_loading(monkeypatch)
    with pytest.raises(InvalidDocumentsError, match=message):
        embed_movie_documents(table, EmbeddingSettings(), cache_root=tmp_path)


def test_empty_documents_error_by_default_and_can_be_skipped(tmp_path, monkeypatch, counting_loader):
    docs = _docs(["Title: Heat", "", "Title: Saw", "  \n "], [10, 20, 30, 40])
    with pytest.raises(InvalidDocumentsError, match=r"2 empty document\(s\), movie_id 20, 40"):
        embed_movie_documents(docs, EmbeddingSettings(), cache_root=tmp_path)
    run = embed_movie_documents(docs, EmbeddingSettings(empty_documents="skip"), cache_root=tmp_path)
    assert run.table["movie_id"].to_pylist() == [10, 30]
    assert run.metadata["empty_skipped"] == 2 and run.metadata["empty_skipped_movie_ids"] == "20, 40"


def test_invalid_settings_are_rejected(tmp_path, small_docs):
    for bad in (
        dict(truncate_dim=0),
        dict(max_seq_length=1),
        dict(empty_documents="drop"),
        dict(max_batch_size=0),
        dict(token_budget=0),
    ):
        with pytest.raises(ValueError):
            embed_movie_documents(small_docs, EmbeddingSettings(**bad), cache_root=tmp_path)


def test_shards_cover_every_movie_once_and_feed_the_unpartitioned_run(
    tmp_path, small_docs, counting_loader, monkeypatch
):
    keys = shard_keys(3)
    assert keys == ["shard-00-of-03", "shard-01-of-03", "shard-02-of-03"]
    assert parse_shard_key("shard-02-of-03") == (2, 3)
    with pytest.raises(ValueError):
        parse_shard_key("shard-03-of-03")
    parts = [select_shard(small_docs, k) for k in keys]
    ids = sorted(i for p in parts for i in p["movie_id"].to_pylist())
    assert ids == sorted(small_docs["movie_id"].to_pylist())
    assert all(abs(p.num_rows - 40 / 3) <= 3 for p in parts)
    shard_tables = [
        embed_movie_documents(p, EmbeddingSettings(), cache_root=tmp_path, writer=k).table for p, k in zip(parts, keys)
    ]
    _forbid_loading(monkeypatch)
    whole = embed_movie_documents(small_docs, EmbeddingSettings(), cache_root=tmp_path, writer="all")
    assert whole.metadata["embedded"] == 0 and whole.metadata["model_loaded"] is False
    combined = pa.concat_tables(shard_tables).sort_by("movie_id")
    assert whole.table.equals(combined)
    assert "cache_file" not in whole.metadata  # nothing embedded: no duplicate cache file written
    assert pc.sum(pc.equal(whole.table["dim"], 384)).as_py() == 40

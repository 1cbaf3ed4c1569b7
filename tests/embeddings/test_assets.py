"""Dagster wiring of the embeddings group: materialize, re-run without a model, shards, DuckDB view."""

import subprocess
import sys

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from movielens_dag import warehouse
from movielens_dag.assets import embeddings as emb_assets
from movielens_dag.embeddings import encode as encode_module
from movielens_dag.embeddings.models import ModelNotFoundError
from movielens_dag.paths import PROJECT_ROOT, DataPaths
from movielens_dag.resources.storage import DataDir
from movielens_dag.resources.warehouse_io import WarehouseIOManager
from movielens_dag.settings import read_environment

SUBSET = 120
# built as definitions.py builds them, from an environment with nothing set (the defaults)
BUILT = emb_assets.build(read_environment({}))
MOVIE_EMBEDDINGS, MOVIE_EMBEDDING_SHARDS = (
    BUILT.get_assets_def("movie_embeddings"),
    BUILT.get_assets_def("movie_embedding_shards"),
)
SHARDS_JOB = next(iter(BUILT.jobs))


def _stub_documents(table: pa.Table):
    @dg.asset(name="movie_documents", group_name="documents")
    def movie_documents() -> pa.Table:
        return table

    return movie_documents


def _resources(root):
    data_dir = DataDir(data_dir=str(root))
    return {"data_dir": data_dir, "io_manager": WarehouseIOManager(data_dir=data_dir)}


def _materialize(root, docs, selection, run_config=None, partition_key=None, raise_on_error=True):
    assets = [_stub_documents(docs), MOVIE_EMBEDDINGS, MOVIE_EMBEDDING_SHARDS]
    return dg.materialize(
        assets,
        selection=selection,
        resources=_resources(root),
        run_config=run_config,
        partition_key=partition_key,
        raise_on_error=raise_on_error,
    )


def _meta(result, node):
    (mat,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture
def docs(bundled_documents):
    return bundled_documents.slice(0, SUBSET)


@pytest.fixture
def shared_minilm(monkeypatch, minilm):
    calls = []

    def load(source, **kwargs):
        calls.append(source.model_id)
        return minilm

    monkeypatch.setattr(encode_module, "load_encoder", load)
    return calls


def test_asset_module_imports_no_torch():
    code = (
        "import sys, movielens_dag.assets.embeddings as m; "
        "print(sorted(x for x in ('torch', 'sentence_transformers', 'transformers') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    source = (PROJECT_ROOT / "movielens_dag" / "assets" / "embeddings.py").read_text()
    assert "from __future__" not in source


def test_materialize_then_rerun_without_a_model(tmp_path, docs, shared_minilm, monkeypatch):
    result = _materialize(tmp_path, docs, ["movie_documents", "movie_embeddings"])
    assert result.success
    meta = _meta(result, "movie_embeddings")
    assert (meta["count"], meta["dim"], meta["embedded"], meta["reused"]) == (SUBSET, 384, SUBSET, 0)
    assert meta["docs_per_s"] > 0 and meta["tokens_per_s"] > 0 and meta["truncated"] == 0
    assert meta["dagster/row_count"] == SUBSET
    paths = DataPaths(tmp_path)
    table = pq.read_table(paths.asset_file("embeddings", "movie_embeddings"))
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    assert table.schema.field("movie_id").type == pa.int32()

    with warehouse.connect_read_only(paths) as con:
        n, dims, ids = con.execute(
            "SELECT count(*), list(DISTINCT dim), count(DISTINCT movie_id) FROM embeddings.movie_embeddings"
        ).fetchone()
        # cosine of a movie with itself through DuckDB's array functions: vectors are unit length
        self_sim = con.execute(
            "SELECT min(list_cosine_similarity(embedding::FLOAT[], embedding::FLOAT[])) "
            "FROM embeddings.movie_embeddings"
        ).fetchone()[0]
    assert (n, dims, ids) == (SUBSET, [384], SUBSET)
    assert self_sim == pytest.approx(1.0, abs=1e-5)

    def fail(*a, **k):
        raise AssertionError("the model was loaded on a re-run with nothing changed")

    monkeypatch.setattr(encode_module, "load_encoder", fail)
    again = _materialize(tmp_path, docs, ["movie_embeddings"])
    meta2 = _meta(again, "movie_embeddings")
    assert (meta2["embedded"], meta2["reused"], meta2["model_loaded"]) == (0, SUBSET, False)
    assert pq.read_table(paths.asset_file("embeddings", "movie_embeddings")).equals(table)


def test_config_reaches_the_encoder(tmp_path, docs, shared_minilm, minilm, monkeypatch):
    seen = {}

    def load(source, settings):
        seen.update(vars(settings))
        return minilm

    monkeypatch.setattr(encode_module, "load_encoder", load)
    config = {
        "ops": {
            "movie_embeddings": {
                "config": {
                    "prompt": "movie: ",
                    "max_seq_length": 128,
                    "device": "cpu",
                    "dtype": "float32",
                    "token_budget": 2048,
                }
            }
        }
    }
    result = _materialize(tmp_path, docs, ["movie_documents", "movie_embeddings"], run_config=config)
    assert result.success
    assert (seen["prompt"], seen["max_seq_length"], seen["device"], seen["dtype"]) == ("movie: ", 128, "cpu", "float32")
    assert _meta(result, "movie_embeddings")["token_budget"] == 2048


def test_a_missing_model_path_fails_the_run_with_its_name(tmp_path, docs, monkeypatch):
    monkeypatch.setattr(encode_module, "load_encoder", lambda *a, **k: pytest.fail("loaded"))
    _materialize(tmp_path, docs, ["movie_documents"])
    config = {"ops": {"movie_embeddings": {"config": {"model": str(tmp_path / "qwen3-missing")}}}}
    with pytest.raises(ModelNotFoundError, match="qwen3-missing.*does not exist"):
        _materialize(tmp_path, docs, ["movie_embeddings"], run_config=config)


def test_shard_partitions_then_the_whole_table_from_the_cache(tmp_path, docs, shared_minilm, monkeypatch):
    keys = MOVIE_EMBEDDING_SHARDS.partitions_def.get_partition_keys()
    assert len(keys) == 8 and keys[0] == "shard-00-of-08"
    _materialize(tmp_path, docs, ["movie_documents"])
    for key in keys:
        result = _materialize(tmp_path, docs, ["movie_embedding_shards"], partition_key=key)
        shard = pq.read_table(DataPaths(tmp_path).asset_file("embeddings", "movie_embedding_shards", key))
        k = int(key.split("-")[1])
        assert all(m % 8 == k for m in shard["movie_id"].to_pylist())
        assert _meta(result, "movie_embedding_shards")["count"] == shard.num_rows
    monkeypatch.setattr(encode_module, "load_encoder", lambda *a, **k: pytest.fail("model loaded"))
    whole = _materialize(tmp_path, docs, ["movie_embeddings"])
    assert _meta(whole, "movie_embeddings")["embedded"] == 0
    with warehouse.connect_read_only(DataPaths(tmp_path)) as con:
        mismatches = con.execute(
            "SELECT count(*) FROM embeddings.movie_embeddings a JOIN embeddings.movie_embedding_shards b "
            "USING (movie_id) WHERE a.embedding <> b.embedding"
        ).fetchone()[0]
        total = con.execute("SELECT count(*) FROM embeddings.movie_embedding_shards").fetchone()[0]
    assert (mismatches, total) == (0, SUBSET)


def test_assets_and_job_fit_the_foundation_graph(tmp_path):
    from movielens_dag.definitions import ASSET_MODULES, make_resources

    defs = dg.Definitions(
        assets=[*dg.load_assets_from_modules(ASSET_MODULES), *BUILT.assets],
        jobs=[SHARDS_JOB],
        resources=make_resources(str(tmp_path)),
    )
    graph = defs.get_repository_def().asset_graph
    assert graph.get(dg.AssetKey("movie_embeddings")).parent_keys == {dg.AssetKey("movie_documents")}
    assert defs.resolve_job_def("embedding_shards_job").partitions_def == MOVIE_EMBEDDING_SHARDS.partitions_def
    assert graph.get(dg.AssetKey("movie_embeddings")).group_name == "embeddings"
    # one concurrency pool for every step that holds a model (instance default: 1 at a time)
    assert MOVIE_EMBEDDINGS.op.pool == MOVIE_EMBEDDING_SHARDS.op.pool == "embedding_model"


@pytest.mark.slow
def test_all_bundled_documents_end_to_end(tmp_path, bundled_documents, minilm, monkeypatch):
    """The whole bundled catalogue (9,742 real documents) through the asset with the real MiniLM."""
    monkeypatch.setattr(encode_module, "load_encoder", lambda *a, **k: minilm)
    result = _materialize(tmp_path, bundled_documents, ["movie_documents", "movie_embeddings"])
    meta = _meta(result, "movie_embeddings")
    assert (meta["count"], meta["embedded"], meta["dim"]) == (9742, 9742, 384)
    table = pq.read_table(DataPaths(tmp_path).asset_file("embeddings", "movie_embeddings"))
    vectors = table["embedding"].combine_chunks().flatten().to_numpy().reshape(-1, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(np.unique(vectors.round(4), axis=0)) > 9700  # distinct documents, distinct vectors


def test_registered_in_the_code_location():
    """definitions.py must list movielens_dag.assets.embeddings in ASSET_MODULES."""
    from movielens_dag.definitions import defs

    keys = defs.get_repository_def().asset_graph.get_all_asset_keys()
    assert {dg.AssetKey("movie_embeddings"), dg.AssetKey("movie_embedding_shards")} <= keys, (
        "add `embeddings` to ASSET_MODULES in movielens_dag/definitions.py"
    )
    assert defs.resolve_job_def("embedding_shards_job") is not None


def test_deployment_settings_from_the_environment():
    """Shard count, Celery queue and default model/device come from the environment definitions read."""
    from movielens_dag.definitions import build_definitions

    defs = build_definitions(
        environ={
            "MOVIELENS_EMBEDDING_SHARDS": "4",
            "MOVIELENS_EMBEDDING_CELERY_QUEUE": "gpu",
            "MOVIELENS_EMBEDDING_DEVICE": "cpu",
        }
    )
    graph = defs.get_repository_def().asset_graph
    shards = defs.get_assets_def("movie_embedding_shards")
    assert graph.get(dg.AssetKey("movie_embedding_shards")).partitions_def.get_partition_keys()[-1] == "shard-03-of-04"
    assert shards.op.tags.get("dagster-celery/queue") == "gpu"
    assert defs.get_assets_def("movie_embeddings").op.tags.get("dagster-celery/queue") == "gpu"
    config_cls = defs.get_assets_def("movie_embeddings").op.config_schema
    assert "cpu" in str(config_cls.as_field().config_type.fields["device"].default_value)
    assert "dagster-celery/queue" not in MOVIE_EMBEDDINGS.op.tags  # unset: no tag


def test_environment_is_not_read_at_import():
    """Importing the asset modules reads no environment variable (definitions.py reads it once)."""
    code = (
        "import os; seen = []; get = os.environ.get\n"
        "os.environ.get = lambda k, d=None: (seen.append(k), get(k, d))[1]\n"
        "import movielens_dag.assets.embeddings, movielens_dag.assets.enrichment, "
        "movielens_dag.assets.recommender\n"
        "print(sorted(k for k in seen if k.startswith(('MOVIELENS', 'TMDB', 'IMDB', 'WIKIPEDIA'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

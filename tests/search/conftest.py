"""Real data for the search tests: MiniLM vectors of the real documents of the most-rated movies."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from movielens_dag import warehouse

SUBSET = 1500  # most-rated movies: the ones people search for; embedding all 9,742 takes minutes here


def read(paths, group: str, asset: str) -> pa.Table:
    return warehouse.read_parquet(paths.asset_file(group, asset), asset)


@pytest.fixture(scope="session")
def popular_documents(foundation_warehouse) -> pa.Table:
    ratings = read(foundation_warehouse, "movielens", "ratings")
    counts = pc.value_counts(ratings["movie_id"]).to_pylist()
    top = sorted(counts, key=lambda c: (-c["counts"], c["values"]))[:SUBSET]
    keep = pa.array(sorted(c["values"] for c in top), pa.int32())
    docs = read(foundation_warehouse, "documents", "movie_documents")
    return docs.filter(pc.is_in(docs["movie_id"], keep))


@pytest.fixture(scope="session")
def minilm_embeddings(popular_documents, tmp_path_factory) -> pa.Table:
    from movielens_dag.embeddings.pipeline import embed_movie_documents
    from movielens_dag.embeddings.settings import EmbeddingSettings

    run = embed_movie_documents(
        popular_documents, EmbeddingSettings(threads=1), cache_root=tmp_path_factory.mktemp("embedding-cache")
    )
    return run.table


@pytest.fixture(scope="session")
def search_warehouse_dir(foundation_warehouse, minilm_embeddings, tmp_path_factory):
    """A data dir with movies, links and the MiniLM embeddings of the popular movies (for the CLI)."""
    from movielens_dag.paths import DataPaths

    paths = DataPaths(tmp_path_factory.mktemp("search-warehouse"))
    for group, asset, table in [
        ("movielens", "movies", read(foundation_warehouse, "movielens", "movies")),
        ("embeddings", "movie_embeddings", minilm_embeddings),
    ]:
        warehouse.write_parquet_atomic(table, paths.asset_file(group, asset))
    return paths


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)

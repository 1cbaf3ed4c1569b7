"""Real data for the genre tests: genre-blind documents of the bundled release and their MiniLM vectors."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from movielens_dag import warehouse
from movielens_dag.genres.blind import build_blind_documents

SUBSET = 2500  # random labelled movies embedded for the classifier test (all 9,742 take minutes here)


def read(paths, group: str, asset: str) -> pa.Table | None:
    location = paths.asset_file(group, asset)
    return warehouse.read_parquet(location, asset) if location.exists() else None


@pytest.fixture(scope="session")
def foundation_tables(foundation_warehouse) -> dict:
    p = foundation_warehouse
    return {
        "movies": read(p, "movielens", "movies"),
        "tags": read(p, "movielens", "tags"),
        "documents": read(p, "documents", "movie_documents"),
        "tmdb_movies": read(p, "enrichment", "tmdb_movies"),
        "imdb_titles": read(p, "enrichment", "imdb_titles"),
        "wikipedia_plots": read(p, "enrichment", "wikipedia_plots"),
    }


@pytest.fixture(scope="session")
def blind_documents(foundation_tables) -> pa.Table:
    t = foundation_tables
    return build_blind_documents(
        t["movies"].to_pandas(), t["tags"].to_pandas(), t["tmdb_movies"], t["imdb_titles"], t["wikipedia_plots"]
    )


@pytest.fixture(scope="session")
def blind_embeddings(blind_documents, foundation_tables, tmp_path_factory) -> pa.Table:
    from movielens_dag.embeddings.pipeline import embed_movie_documents
    from movielens_dag.embeddings.settings import EmbeddingSettings

    movies = foundation_tables["movies"]
    no_genres = pc.equal(pc.list_value_length(movies["genres"]), 0).to_numpy(zero_copy_only=False)
    ids = movies["movie_id"].to_numpy()
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.choice(ids[~no_genres], size=SUBSET, replace=False), ids[no_genres]])
    docs = blind_documents.filter(pc.is_in(blind_documents["movie_id"], pa.array(keep, pa.int32())))
    run = embed_movie_documents(
        docs, EmbeddingSettings(threads=1), cache_root=tmp_path_factory.mktemp("blind-embedding-cache")
    )
    return run.table

"""The search and publish groups through the real IO manager, on small stand-in upstream tables:
similar_movies (then an incremental re-run), the genre classifier, the macros from a read-only
session, and the enriched dataset loaded back with `datasets`."""

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pytest

from movielens_dag import warehouse
from movielens_dag.assets import publish as publish_assets
from movielens_dag.assets import search as search_assets
from movielens_dag.definitions import make_resources
from movielens_dag.paths import DataPaths
from movielens_dag.semantic_ids.ids import SemanticIds

N, DIM = 240, 16
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Animation"]


def stand_ins(paths: DataPaths) -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(1, N + 1) * 3  # sparse ids
    genre = rng.integers(len(GENRES), size=N)
    centres = rng.normal(size=(len(GENRES), DIM)) * 2
    x = (centres[genre] + rng.normal(size=(N, DIM))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    genres = [[GENRES[g]] if i % 40 else [] for i, g in enumerate(genre)]  # a few "(no genres listed)"
    movies = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "title": [f"Movie {i}" for i in ids],
            "year": pa.array([1980 + i % 40 for i in range(N)], pa.int32()),
            "genres": pa.array(genres, pa.list_(pa.string())),
            "alt_titles": [[] for _ in ids],
            "raw_title": [f"Movie {i}" for i in ids],
        }
    )
    movies = movies.set_column(1, "title", pa.array(["Toy Story"] + [f"Movie {i}" for i in ids[1:]]))

    def vectors(v: np.ndarray, prefix: str) -> pa.Table:
        return pa.table(
            {
                "movie_id": pa.array(ids, pa.int32()),
                "model_id": ["test-model"] * N,
                "dim": pa.array([DIM] * N, pa.int32()),
                "document_hash": [f"{prefix}{i}" for i in ids],
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), DIM),
            }
        )

    blind = x + rng.normal(size=x.shape).astype(np.float32) * 0.3
    blind /= np.linalg.norm(blind, axis=1, keepdims=True)
    users = rng.integers(0, 60, size=4000)
    rated = ids[np.clip((genre.argsort()[rng.integers(0, N, size=4000)]), 0, N - 1)]
    ratings = pa.table(
        {
            "user_id": pa.array(users, pa.int32()),
            "movie_id": pa.array(rated, pa.int32()),
            "rating": pa.array(np.full(4000, 4.0), pa.float32()),
            "timestamp": pa.array(np.arange(4000) * 1_000_000, pa.timestamp("us", tz="UTC")),
        }
    )
    sids = SemanticIds.with_digit(ids, np.stack([genre, rng.integers(0, 4, N)], axis=1), "rqkmeans")
    for group, name, table in [
        ("movielens", "movies", movies),
        ("movielens", "ratings", ratings),
        (
            "movielens",
            "links",
            pa.table(
                {
                    "movie_id": pa.array(ids, pa.int32()),
                    "imdb_id": [None] * N,
                    "tmdb_id": pa.array([None] * N, pa.int64()),
                }
            ),
        ),
        ("embeddings", "movie_embeddings", vectors(x, "h")),
        ("search", "genre_blind_embeddings", vectors(blind, "b")),
        ("semantic_ids", "semantic_ids", sids.to_table()),
    ]:
        warehouse.write_parquet_atomic(table, paths.asset_file(group, name))
    warehouse.sync_catalog(paths)


QUALITY = {
    "method": "rqkmeans",
    "balanced": False,
    "is_primary": True,
    "levels": 2,
    "codes": 6,
    "normalize": True,
    "seed": 0,
    "embedding_model": "test-model",
    "n_items": N,
    "dim": DIM,
    "seconds": 0.1,
    "rel_recon_error": 0.3,
    "collision_rate": 0.1,
    "max_collision_group": 3,
    "min_utilisation": 1.0,
    "nn_first_code_agreement": 0.5,
    "nn_agreement_chance": 0.2,
    "genre_purity": 0.9,
    "genre_purity_chance": 0.3,
}


def materialize(root, selection, run_config=None):
    specs = [
        dg.AssetSpec(k, group_name=g)
        for g, k in [
            ("movielens", "movies"),
            ("movielens", "ratings"),
            ("movielens", "links"),
            ("movielens", "tags"),
            ("movielens", "movielens_files"),
            ("embeddings", "movie_embeddings"),
            ("search", "genre_blind_embeddings"),
            ("semantic_ids", "semantic_ids"),
            ("semantic_ids", "sid_codebooks"),
            ("semantic_ids", "sid_quality"),
            ("documents", "movie_documents"),
            ("enrichment", "tmdb_movies"),
            ("enrichment", "imdb_titles"),
            ("enrichment", "wikipedia_plots"),
        ]
    ]
    assets = [
        *specs,
        *dg.load_assets_from_modules([search_assets]),
        *dg.load_asset_checks_from_modules([search_assets]),
    ]
    return dg.materialize(
        assets,
        selection=selection,
        resources=make_resources(str(root)),
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
    )


def meta(result, node):
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture
def warehouse_dir(tmp_path):
    paths = DataPaths(tmp_path)
    stand_ins(paths)
    return paths


def test_similar_movies_incremental_classifier_and_read_only_macros(warehouse_dir):
    root = warehouse_dir.root
    small = {
        "ops": {
            "similar_movies": {"config": {"k": 10, "random_pairs": 2000, "collab_min_ratings": 5}},
            "genre_classifier": {
                "config": {
                    "seeds": [0],
                    "logreg_c": [1.0],
                    "bootstrap": 100,
                    "mlp": {"max_epochs": 20},
                    "min_genre_movies": 5,
                }
            },
        }
    }
    first = materialize(
        root, ["similar_movies", "genre_classifier_report", "genre_predictions", "search_macros"], small
    )
    assert first.success
    assert all(checks(first).values()), checks(first)
    m = meta(first, "similar_movies")
    assert m["recomputed"] == N and m["genre_lift"] > 1.5
    again = materialize(root, ["similar_movies"], {"ops": {"similar_movies": small["ops"]["similar_movies"]}})
    assert meta(again, "similar_movies")["recomputed"] == 0  # nothing changed: nothing searched again

    with duckdb.connect(str(warehouse_dir.duckdb_file), read_only=True) as con:
        top = con.execute("SELECT movie_id, score FROM search.similar_to('Toy Story', 5)").fetchall()
        assert len(top) == 5 and [s for _, s in top] == sorted((s for _, s in top), reverse=True)
        same_genre = con.execute("SELECT count(*) FROM search.similar_to(3, 5, genre := 'predicted')").fetchone()[0]
        assert same_genre > 0
        with pytest.raises(duckdb.Error, match="no movie matches"):
            con.execute("SELECT * FROM search.similar_to('No Such Movie', 5)").fetchall()
        siblings = con.execute("SELECT count(*) FROM search.sid_siblings(3, 1)").fetchone()[0]
        assert siblings > 0


def test_enriched_dataset_round_trips_with_datasets(tmp_path, bundled_release):
    datasets = pytest.importorskip("datasets")
    paths = DataPaths(tmp_path)
    stand_ins(paths)
    rng = np.random.default_rng(1)
    ids = np.arange(1, N + 1) * 3
    docs = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "document": [f"Title: Movie {i}" for i in ids],
            "document_hash": [f"h{i}" for i in ids],
            "template_version": ["movielens-v1"] * N,
        }
    )
    books = pa.table(
        {
            "method": ["rqkmeans"] * 4,
            "level": pa.array([0, 0, 1, 1], pa.int32()),
            "code": pa.array([0, 1, 0, 1], pa.int32()),
            "n_items": pa.array([1, 1, 1, 1], pa.int32()),
            "space": ["input"] * 4,
            "centroid": pa.FixedSizeListArray.from_arrays(pa.array(rng.normal(size=8).astype(np.float32)), 2),
        }
    )
    files = pa.table(
        {
            "variant": ["ml-latest-small"],
            "source_dir": [str(bundled_release)],
            "file": ["movies.csv"],
            "bytes": [1],
            "modified_at": pa.array([0], pa.timestamp("us", tz="UTC")),
        }
    )
    tags = pa.table(
        {
            "user_id": pa.array([1], pa.int32()),
            "movie_id": pa.array([3], pa.int32()),
            "tag": ["funny"],
            "timestamp": pa.array([0], pa.timestamp("us", tz="UTC")),
        }
    )
    for group, name, table in [
        ("documents", "movie_documents", docs),
        ("semantic_ids", "sid_codebooks", books),
        ("semantic_ids", "sid_quality", pa.Table.from_pylist([QUALITY])),
        ("movielens", "movielens_files", files),
        ("movielens", "tags", tags),
    ]:
        warehouse.write_parquet_atomic(table, paths.asset_file(group, name))
    specs = [
        dg.AssetSpec(k, group_name=g)
        for g, k in [
            ("movielens", "movies"),
            ("movielens", "ratings"),
            ("movielens", "links"),
            ("movielens", "tags"),
            ("movielens", "movielens_files"),
            ("embeddings", "movie_embeddings"),
            ("semantic_ids", "semantic_ids"),
            ("semantic_ids", "sid_codebooks"),
            ("semantic_ids", "sid_quality"),
            ("documents", "movie_documents"),
        ]
    ]
    result = dg.materialize(
        [*specs, publish_assets.enriched_dataset, publish_assets.card_matches_the_shards_and_the_licence],
        resources=make_resources(str(tmp_path)),
        instance=dg.DagsterInstance.ephemeral(),
        selection=["enriched_dataset"],
    )
    assert result.success and all(checks(result).values())
    folder = paths.published / "enriched_dataset"
    movies = datasets.load_dataset("parquet", data_dir=str(folder / "movies"), split="train")
    assert movies.num_rows == N
    ratings = datasets.load_dataset("parquet", data_dir=str(folder / "ratings"), split="train")
    assert ratings.num_rows == 4000  # ml-latest-small's licence allows redistributing ratings

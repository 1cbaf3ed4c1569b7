"""temporal_content end to end with the bundled MiniLM: documents as of the training cut (later tags left
out), SIDs fitted on the movies known before the cut and assigned to the ones first rated after it."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

dg = pytest.importorskip("dagster")
pytest.importorskip("sentence_transformers")

from movielens_dag import warehouse  # noqa: E402
from movielens_dag.assets import recommender  # noqa: E402
from movielens_dag.paths import DataPaths  # noqa: E402

N_MOVIES, LATE = 40, 32  # movies 32.. are first rated after the training cut
GENRES = ["Comedy", "Drama", "Horror", "Western"]


def ts(t: int) -> pd.Timestamp:
    return pd.Timestamp(1_000_000 + 3600 * t, unit="s", tz="UTC")


def write_inputs(paths: DataPaths) -> None:
    # 30 users rate movies 0..31 at hours 0..79, then the late movies 32..39 at hours 80..99
    rows = [(u, m, ts(t)) for u in range(30) for t, m in enumerate(range(u % 32, u % 32 + 20)) if m < LATE] + [
        (u, LATE + (u + k) % 8, ts(80 + k + u % 10)) for u in range(30) for k in range(3)
    ]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "timestamp"]).astype(
        {"user_id": "int32", "movie_id": "int32"}
    )
    ratings["rating"] = np.float32(4.0)
    warehouse.write_parquet_atomic(ratings, paths.asset_file("movielens", "ratings"))
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(N_MOVIES, dtype=np.int32),
            "title": [f"{GENRES[m % 4]} story number {m}" for m in range(N_MOVIES)],
            "year": np.full(N_MOVIES, 1999, dtype=np.int32),
            "genres": [[GENRES[m % 4]] for m in range(N_MOVIES)],
            "alt_titles": [[] for _ in range(N_MOVIES)],
        }
    )
    warehouse.write_parquet_atomic(movies, paths.asset_file("movielens", "movies"))
    tags = pd.DataFrame(
        {
            "user_id": np.int32([1, 2]),
            "movie_id": np.int32([3, 5]),
            "tag": ["early tag", "late tag"],
            "timestamp": [ts(1), ts(99)],
        }
    )  # the second is applied after the cut
    warehouse.write_parquet_atomic(tags, paths.asset_file("movielens", "tags"))
    plots = pa.table({"movie_id": pa.array([], pa.int32()), "match": pa.array([], pa.string())})
    warehouse.write_parquet_atomic(plots, paths.asset_file("enrichment", "wikipedia_plots"))


def test_content_as_of_the_cut(tmp_path):
    from movielens_dag.definitions import make_resources

    paths = DataPaths(tmp_path)
    write_inputs(paths)
    assets = [
        dg.AssetSpec("ratings", group_name="movielens"),
        dg.AssetSpec("movies", group_name="movielens"),
        dg.AssetSpec("tags", group_name="movielens"),
        dg.AssetSpec("wikipedia_plots", group_name="enrichment"),
        recommender.user_sequences,
        recommender.temporal_content,
        recommender.sequences_hold_every_rating_in_time_order,
        recommender.every_rated_movie_has_a_temporal_sid,
        recommender.every_rated_movie_has_one_unit_vector,
        recommender.temporal_codebooks_are_complete_and_finite,
    ]
    config = {"ops": {"temporal_content": {"config": {"sid": {"levels": 2, "codes": 8, "threads": 1}}}}}
    result = dg.materialize(
        assets,
        resources=make_resources(str(tmp_path)),
        run_config=config,
        instance=dg.DagsterInstance.ephemeral(),
        selection=["user_sequences", "temporal_movie_embeddings", "temporal_semantic_ids", "temporal_sid_codebooks"],
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) == 4 and all(checks.values()), checks
    meta = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("temporal_content")}
    info = meta["temporal_semantic_ids"]
    assert info["sid_fit_movies"].value == LATE and info["sid_assigned_movies"].value == N_MOVIES - LATE
    assert info["tags_before_cut"].value == 1 and info["tags"].value == 2

    sids = warehouse.read_parquet(paths.asset_file("recommender", "temporal_semantic_ids"))
    assert sorted(sids["movie_id"].to_pylist()) == list(range(N_MOVIES))
    assert len(set(map(tuple, sids["codes"].to_pylist()))) == N_MOVIES  # the digit keeps them apart
    vectors = warehouse.read_parquet(paths.asset_file("recommender", "temporal_movie_embeddings"))
    assert vectors.num_rows == N_MOVIES and vectors["model_id"][0].as_py().endswith("all-MiniLM-L6-v2")
    books = warehouse.read_parquet(paths.asset_file("recommender", "temporal_sid_codebooks")).to_pandas()
    assert books.groupby("level")["n_items"].sum().tolist() == [LATE, LATE]  # fitted on the early movies only

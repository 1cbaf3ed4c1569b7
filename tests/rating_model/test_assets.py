"""Dagster wiring of the rating model on small stand-in tables, through the real IO manager:
movie_embeddings -> rating_text_embeddings -> rating_model_runs (partitions) -> rating_leaderboard."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

dg = pytest.importorskip("dagster")

from movielens_dag import documents, warehouse  # noqa: E402
from movielens_dag.assets import embeddings as embedding_assets  # noqa: E402
from movielens_dag.assets import rating_model  # noqa: E402
from movielens_dag.enrichment.tables import IMDB_TITLES, TMDB_MOVIES, WIKIPEDIA_PLOTS  # noqa: E402
from movielens_dag.movielens.readers import MOVIES_SCHEMA  # noqa: E402
from movielens_dag.paths import DataPaths  # noqa: E402
from movielens_dag.settings import read_environment  # noqa: E402

from .synthetic import planted  # noqa: E402

N_MOVIES = 30
TINY = {"seeds": 2, "train": {"max_epochs": 3, "batch_size": 128, "patience": 2}}
UPSTREAM = ("ratings", "movies", "tags", "tmdb_movies", "imdb_titles", "wikipedia_plots", "movie_documents")
GROUPS = {
    "ratings": "movielens",
    "movies": "movielens",
    "tags": "movielens",
    "tmdb_movies": "enrichment",
    "imdb_titles": "enrichment",
    "wikipedia_plots": "enrichment",
    "movie_documents": "documents",
    "poster_embeddings": "embeddings",
}


def write_inputs(paths: DataPaths) -> None:
    """900 ratings over 15 hours (cut at 80%: ~10 h), 30 movies, tags before and after the cut."""
    r, catalogue = planted(n_users=60, n_movies=N_MOVIES, per_user=15)
    ratings = pd.DataFrame(
        {
            "user_id": r.user_ids.astype(np.int32),
            "movie_id": r.movie_ids.astype(np.int32),
            "rating": r.ratings,
            "timestamp": pd.to_datetime(r.seconds, unit="s", utc=True),
        }
    )
    movies = pa.Table.from_pylist(
        [
            dict(
                movie_id=int(m),
                title=f"Movie {m}",
                year=int(y),
                genres=list(g),
                alt_titles=[],
                raw_title=f"Movie {m} ({int(y)})",
            )
            for m, y, g in catalogue[["movie_id", "year", "genres"]].itertuples(index=False)
        ],
        schema=MOVIES_SCHEMA,
    )
    at = lambda s: pd.Timestamp(s, unit="s", tz="UTC")
    tags = pd.DataFrame(
        {
            "user_id": np.int32([1, 2, 3]),
            "movie_id": np.int32([1, 2, 3]),
            "tag": ["early tag", "late tag", "another late tag"],
            "timestamp": [at(100), at(50_000), at(53_000)],
        }
    )
    docs = documents.build_documents(movies.to_pandas(), tags)
    for name, table in (
        ("ratings", ratings),
        ("movies", movies),
        ("tags", tags),
        ("tmdb_movies", TMDB_MOVIES.empty_table()),
        ("imdb_titles", IMDB_TITLES.empty_table()),
        ("wikipedia_plots", WIKIPEDIA_PLOTS.empty_table()),
        ("movie_documents", docs),
    ):
        warehouse.write_parquet_atomic(table, paths.asset_file(GROUPS[name], name))


def materialize(tmp_path, selection, partition=None, config=None, tags=None, raise_on_error=True):
    from movielens_dag.definitions import make_resources

    built = embedding_assets.build(read_environment({}))
    movie_embeddings = next(a for a in built.assets if a.key == dg.AssetKey("movie_embeddings"))
    specs = [dg.AssetSpec(name, group_name=GROUPS[name]) for name in (*UPSTREAM, "poster_embeddings")]
    assets = [
        *specs,
        movie_embeddings,
        rating_model.rating_text_embeddings,
        rating_model.rating_model_runs,
        rating_model.rating_leaderboard,
    ]
    checks = dg.load_asset_checks_from_modules([rating_model])
    op = "rating_model_runs" if selection == ["rating_model_runs"] else None
    run_config = {"ops": {op: {"config": config}}} if config else None
    return dg.materialize(
        [*assets, *checks],
        selection=selection,
        partition_key=partition,
        run_config=run_config,
        tags=tags,
        resources=make_resources(str(tmp_path)),
        raise_on_error=raise_on_error,
        instance=dg.DagsterInstance.ephemeral(),
    )


def metadata(result, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def warehouse_with_text(tmp_path_factory):
    """Stand-ins, real MiniLM movie_embeddings and rating_text_embeddings (module-scoped: MiniLM loads once)."""
    root = tmp_path_factory.mktemp("rating")
    write_inputs(DataPaths(root))
    assert materialize(root, ["movie_embeddings"]).success
    result = materialize(root, ["rating_text_embeddings"])
    assert result.success
    return root, result


def test_text_vectors_leave_out_tags_after_the_cut(warehouse_with_text):
    root, result = warehouse_with_text
    meta = metadata(result, "rating_text_embeddings")
    # movies 2 and 3 were tagged only after the cut: their documents change, and only they are embedded
    assert meta["documents_changed_by_the_cut"] == 2 and meta["examples_changed"] == "[2, 3]"
    assert meta["embedded"] == 2 and meta["reused"] == N_MOVIES - 2
    assert meta["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert checks(result) == {"one_unit_vector_per_movie_at_one_cut": True}
    paths = DataPaths(root)
    text = pq.read_table(paths.asset_file("rating_model", "rating_text_embeddings")).to_pandas().set_index("movie_id")
    full = pq.read_table(paths.asset_file("embeddings", "movie_embeddings")).to_pandas().set_index("movie_id")
    assert (text["document_hash"] != full["document_hash"]).sum() == 2
    np.testing.assert_array_equal(text.loc[1, "embedding"], full.loc[1, "embedding"])  # its tag was early
    assert text["cut"].nunique() == 1 and pd.Timestamp(meta["cut"]) == text["cut"].iloc[0]


def test_runs_leaderboard_checks_and_cli(warehouse_with_text, capsys):
    root, _ = warehouse_with_text
    paths = DataPaths(root)
    for variant in ("bias", "dlrm-id", "dlrm-id-text"):
        result = materialize(root, ["rating_model_runs"], variant, TINY)
        assert result.success
        meta = metadata(result, "rating_model_runs")
        assert meta["temporal/test_rmse"].count("±") == 1 and 0 <= meta["temporal/test_share_unseen_users"] <= 1
        assert meta["validation_curve"].startswith("![validation RMSE](http://127.0.0.1:3001/rating_model/")
        assert meta["settings"]["features"]["text"] == (variant == "dlrm-id-text")
        assert meta["run_settings"]["seeds"] == 2 and meta["run_settings"]["splits"] == ["temporal", "random"]
        assert (root / "artifacts" / "rating_model" / "ml-latest-small" / f"{variant}-predictions.parquet").exists()
        evaluated = checks(result)
        assert evaluated["temporal_training_ends_before_the_cut"]
        assert evaluated["metrics_finite_one_row_per_split_and_seed"]
        assert "temporal_test_beats_the_training_mean" in evaluated
    runs = pq.read_table(paths.asset_file("rating_model", "rating_model_runs", "dlrm-id-text")).to_pandas()
    assert sorted(zip(runs["split"], runs["seed"])) == [("random", 0), ("random", 1), ("temporal", 0), ("temporal", 1)]
    assert set(runs["text_model"]) == {"sentence-transformers/all-MiniLM-L6-v2"}

    result = materialize(root, ["rating_leaderboard"])
    assert result.success
    meta = metadata(result, "rating_leaderboard")
    assert meta["variants"] == 3 and set(meta["best_by_test_rmse"]) == {"temporal", "random"}
    assert meta["temporal/dlrm_beats_bias_measured"] and meta["temporal/text_beats_id_on_cold_measured"]
    assert isinstance(meta["temporal/dlrm_beats_bias"], bool) and meta["temporal/text_variant"] == "dlrm-id-text"
    assert meta["chart"].startswith("![test RMSE per variant](")
    evaluated = checks(result)
    assert evaluated["bias_baseline_on_every_split"]
    assert {"best_dlrm_beats_bias_on_temporal_test", "text_beats_ids_on_rarely_rated_movies"} <= set(evaluated)
    with duckdb.connect(str(paths.duckdb_file), read_only=True) as con:
        board = con.execute(
            "SELECT split, variant, seeds, test_rmse, test_rmse_std, rank "
            "FROM rating_model.rating_leaderboard ORDER BY split DESC, rank"
        ).df()
    assert len(board) == 6 and set(board["seeds"]) == {2}
    assert board.groupby("split")["test_rmse"].apply(lambda s: s.is_monotonic_increasing).all()

    from movielens_dag import cli

    capsys.readouterr()
    assert cli.main(["--data-dir", str(root), "rating-leaderboard"]) == 0
    table = capsys.readouterr().out
    first = board.iloc[0]
    assert table.startswith("### ml-latest-small") and f"| temporal | 1 | `{first['variant']}` | 2 |" in table
    assert f"{first['test_rmse']:.4f} ± {first['test_rmse_std']:.4f}" in table


def test_a_range_of_variants_in_one_run_writes_one_file_each(warehouse_with_text):
    root, _ = warehouse_with_text
    tags = {"dagster/asset_partition_range_start": "bias", "dagster/asset_partition_range_end": "mf-id"}
    result = materialize(root, ["rating_model_runs"], config={**TINY, "seeds": 1, "splits": ["random"]}, tags=tags)
    assert result.success
    meta = metadata(result, "rating_model_runs")
    assert "bias/random/test_rmse" in meta and "mf-id/random/test_rmse" in meta
    for variant in ("bias", "mf-id"):
        runs = pq.read_table(DataPaths(root).asset_file("rating_model", "rating_model_runs", variant)).to_pandas()
        assert runs["variant"].tolist() == [variant] and runs["split"].tolist() == ["random"]


def test_text_vectors_of_other_cuts_and_missing_posters_are_clear_errors(warehouse_with_text):
    root, _ = warehouse_with_text
    with pytest.raises(Exception, match="same temporal settings as the run"):
        materialize(root, ["rating_model_runs"], "dlrm-id-text", {**TINY, "temporal": {"valid_quantile": 0.7}})
    with pytest.raises(Exception, match="poster_embeddings"):  # not materialized here
        materialize(root, ["rating_model_runs"], "dlrm-id-text-sid-poster", TINY)


def test_the_temporal_check_fails_when_training_reaches_past_the_cut(warehouse_with_text):
    root, _ = warehouse_with_text
    paths = DataPaths(root)
    assert materialize(root, ["rating_model_runs"], "bias", {**TINY, "seeds": 1}).success
    runs = pq.read_table(paths.asset_file("rating_model", "rating_model_runs", "bias")).to_pandas()
    ratings = paths.asset_file("movielens", "ratings")
    check = rating_model.temporal_training_ends_before_the_cut
    assert check(rating_model_runs=runs, ratings=ratings).passed
    leaked = runs.copy()
    temporal = leaked["split"] == "temporal"
    leaked.loc[temporal, "train_last_at"] = leaked.loc[temporal, "cut_valid_start"]
    leaked.loc[temporal, "train_n"] += 1
    result = check(rating_model_runs=leaked, ratings=ratings)
    assert not result.passed and result.metadata["rows_training_on_or_after_the_cut"].value == 1
    assert result.metadata["rows_whose_training_set_is_not_the_ratings_before_the_cut"].value == 1

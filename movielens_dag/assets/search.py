"""Group ``search``: what people do with the vectors.

* ``similar_movies``: every movie's top-k neighbours (incremental: only movies whose vector or
  neighbourhood changed are searched again), with shared SID levels and genres.
* ``genre_blind_documents`` -> ``genre_blind_embeddings`` (built with the embeddings) -> the genre
  classifier (``genre_classifier_report``, ``genre_predictions``).
* ``search_macros``: DuckDB macros in the catalogue, so a read-only session can run
  ``SELECT * FROM search.similar_to('Toy Story', 10, genre := 'Animation')``.

The logic is plain code in ``movielens_dag.search`` and ``movielens_dag.genres``.
"""

import pathlib

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.assets.conventions import ON_UPSTREAM_CHANGE, OWNERS, code_version, columns, columns_from_arrow
from movielens_dag.genres.pipeline import PREDICTION_SCHEMA
from movielens_dag.genres.settings import GenreClassifierSettings
from movielens_dag.resources.config import config_class, to_settings
from movielens_dag.resources.storage import DataDir
from movielens_dag.search.settings import SimilarMoviesSettings
from movielens_dag.warehouse import preview_markdown

GROUP = "search"
SEARCH_VERSION = code_version("movielens_dag.search")
GENRES_VERSION = code_version("movielens_dag.genres", "movielens_dag.documents", "movielens_dag.enrichment.merge")
COMMON = {"group_name": GROUP, "owners": OWNERS, "automation_condition": ON_UPSTREAM_CHANGE}
SimilarMoviesConfig = config_class(SimilarMoviesSettings, name="SimilarMoviesConfig")
GenreClassifierConfig = config_class(GenreClassifierSettings, name="GenreClassifierConfig")


def _similar_columns() -> dict:
    from movielens_dag.search.table import SCHEMA

    return columns_from_arrow(SCHEMA)


@dg.asset(**COMMON, kinds={"python", "parquet"}, code_version=SEARCH_VERSION, metadata=_similar_columns())
def similar_movies(
    context: dg.AssetExecutionContext,
    config: SimilarMoviesConfig,
    data_dir: DataDir,
    movie_embeddings: pa.Table,
    movies: pa.Table,
    semantic_ids: pa.Table,
    ratings: pathlib.Path,
) -> dg.Output:
    """For every movie its top-k neighbours by cosine similarity of `movie_embeddings`, with the score,
    the rank, how many leading SID codes the two share and their genre overlap. Incremental: a re-run
    searches again only for movies whose vector changed or whose neighbours can have changed. The
    metadata compares neighbours with random pairs (genres) and with co-rated movies (collaborative)."""
    import pyarrow.parquet as pq

    from movielens_dag.search.pipeline import build_similar_movies

    previous_file = data_dir.paths.asset_file(GROUP, "similar_movies")  # this asset's own last output
    previous = pq.read_table(previous_file) if previous_file.exists() else None
    glob = str(ratings / "*.parquet") if ratings.is_dir() else str(ratings)
    with duckdb.connect() as con:
        pairs = con.sql(f"SELECT user_id, movie_id FROM read_parquet('{glob}')").to_arrow_table()
    run = build_similar_movies(
        movie_embeddings,
        movies,
        to_settings(config, SimilarMoviesSettings()),
        semantic_ids=semantic_ids,
        ratings=pairs,
        previous=previous,
        log=context.log.info,
    )
    return dg.Output(run.table, metadata=run.metadata)


@dg.asset_check(
    asset=similar_movies, additional_ins={"movie_embeddings": dg.AssetIn("movie_embeddings")}, blocking=True
)
def k_neighbours_per_movie_never_itself(
    similar_movies: pd.DataFrame, movie_embeddings: pa.Table
) -> dg.AssetCheckResult:
    """Every embedded movie has ranks 1..k (k = min(k, movies - 1)), none of them itself, scores falling."""
    movies = set(movie_embeddings["movie_id"].to_pylist())
    by_movie = similar_movies.groupby("movie_id")
    k = int(by_movie.size().max()) if len(similar_movies) else 0
    bad_ranks = int((by_movie["rank"].apply(lambda r: sorted(r) != list(range(1, len(r) + 1)))).sum())
    uneven = int((by_movie.size() != min(k, len(movies) - 1)).sum())
    itself = int((similar_movies["movie_id"] == similar_movies["neighbour_id"]).sum())
    rising = int(by_movie["score"].apply(lambda s: bool((s.diff().dropna() > 1e-6).any())).sum())
    missing = len(movies - set(similar_movies["movie_id"]))
    return dg.AssetCheckResult(
        passed=not (bad_ranks or uneven or itself or rising or missing),
        metadata={
            "movies": len(movies),
            "k": k,
            "movies_missing": missing,
            "bad_ranks": bad_ranks,
            "uneven_lists": uneven,
            "self_neighbours": itself,
            "score_not_falling": rising,
        },
    )


@dg.asset_check(asset=similar_movies, additional_ins={"movies": dg.AssetIn("movies")})
def neighbours_share_genres_beyond_chance(similar_movies: pa.Table, movies: pa.Table) -> dg.AssetCheckResult:
    """Top-10 neighbours share genres (Jaccard) at least 1.5x as much as random pairs of movies."""
    from movielens_dag.search.quality import genre_overlap_figures

    figures = genre_overlap_figures(similar_movies, movies, k=10)
    return dg.AssetCheckResult(
        passed=figures.lift >= 1.5,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "neighbour_jaccard": figures.neighbour_jaccard,
            "random_jaccard": figures.random_jaccard,
            "lift": figures.lift,
            "threshold": 1.5,
        },
    )


@dg.asset(
    **COMMON,
    kinds={"python", "parquet"},
    code_version=GENRES_VERSION,
    metadata=columns(
        {
            "movie_id": ("int32", "MovieLens movieId"),
            "document": ("string", "the movie's document without its genres, genre-word tags and keywords"),
            "document_hash": ("string", "sha256 of document (the embedding cache key)"),
            "template_version": ("string", "the genre-blind template's version"),
            "own_text_mentions_genre": (
                "bool",
                "the title or plot itself contains a genre word (kept: it is the movie's own text)",
            ),
        }
    ),
)
def genre_blind_documents(
    movies: pd.DataFrame, tags: pd.DataFrame, tmdb_movies: pa.Table, imdb_titles: pa.Table, wikipedia_plots: pa.Table
) -> dg.Output:
    """Each movie's document rendered without the genre field (and without tags, keywords or names that
    contain a genre word), so a classifier trained on its vectors cannot read the answer."""
    from movielens_dag.genres.blind import build_blind_documents

    table = build_blind_documents(movies, tags, tmdb_movies, imdb_titles, wikipedia_plots)
    flagged = int(pc.sum(table["own_text_mentions_genre"]).as_py() or 0)
    return dg.Output(table, metadata={"documents": table.num_rows, "own_text_mentions_genre": flagged})


@dg.asset_check(asset=genre_blind_documents, blocking=True)
def no_genre_field_reaches_the_classifier(genre_blind_documents: pa.Table) -> dg.AssetCheckResult:
    """No document has a Genres line or a tag/keyword line containing a genre word."""
    from movielens_dag.genres.blind import labelled_part, mentions_genre

    texts = genre_blind_documents["document"].to_pylist()
    ids = genre_blind_documents["movie_id"].to_pylist()
    leaking = [i for i, t in zip(ids, texts) if "\nGenres:" in t or mentions_genre(labelled_part(t))]
    return dg.AssetCheckResult(
        passed=not leaking, metadata={"documents": len(texts), "leaking": len(leaking), "examples": str(leaking[:5])}
    )


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "genre_classifier_report": dg.AssetOut(
            description="Per model and genre: test precision, recall and F1 (mean ± std over seeds), micro and "
            "macro rows, against the label-frequency baseline.",
            kinds={"scikit-learn", "pytorch", "parquet"},
            owners=OWNERS,
            code_version=GENRES_VERSION,
            automation_condition=ON_UPSTREAM_CHANGE,
            metadata=columns(
                {
                    "model": ("string", "label-frequency (baseline), logreg or mlp"),
                    "genre": ("string", "a genre, or 'micro' / 'macro'"),
                    "support": ("int64", "test movies with it"),
                    "train_movies": ("int64", "training movies with it"),
                    "precision": ("double", "test precision"),
                    "recall": ("double", "test recall"),
                    "f1": ("double", "test F1 (mean over seeds)"),
                    "f1_std": ("double", "std over seeds"),
                    "threshold": ("double", "chosen on validation"),
                    "seeds": ("int64", "seeds averaged"),
                }
            ),
        ),
        "genre_predictions": dg.AssetOut(
            description="Every movie's predicted genres with probabilities, flagged where they disagree with "
            "MovieLens; proposals for the movies MovieLens lists without genres (a review list).",
            kinds={"parquet"},
            owners=OWNERS,
            code_version=GENRES_VERSION,
            automation_condition=ON_UPSTREAM_CHANGE,
            metadata=columns_from_arrow(
                PREDICTION_SCHEMA,
                {
                    "movie_id": "MovieLens movieId",
                    "title": "MovieLens title",
                    "movielens_genres": "the genres MovieLens lists",
                    "model": "the selected model",
                },
            ),
        ),
    },
)
def genre_classifier(
    context: dg.AssetExecutionContext,
    config: GenreClassifierConfig,
    data_dir: DataDir,
    genre_blind_embeddings: pa.Table,
    movies: pa.Table,
):
    """Train the label-frequency baseline, logistic regression and an MLP on genre-blind vectors; choose
    the model and thresholds on validation; score test once; predict every movie."""
    from movielens_dag.genres.chart import f1_chart
    from movielens_dag.genres.pipeline import predictions_table, summary_markdown, train_genre_classifier
    from movielens_dag.semantic_ids.tables import embedding_matrix

    settings = to_settings(config, GenreClassifierSettings())
    ids, x, model_id = embedding_matrix(genre_blind_embeddings)
    run = train_genre_classifier(ids, x, movies, settings, log=context.log.info)
    chart = f1_chart(run, data_dir.paths.artifacts / GROUP / "genre_f1.png")
    summary = {r["model"]: r for r in run.summary()}
    chosen, base = summary[run.selected], summary["label-frequency"]
    predictions = predictions_table(run, movies)
    yield dg.Output(
        run.report_table(),
        output_name="genre_classifier_report",
        metadata={
            "selected_model": run.selected,
            "embedding_model": model_id,
            "test_micro_f1": float(chosen["test_micro_f1"]),
            "baseline_test_micro_f1": float(base["test_micro_f1"]),
            "test_macro_f1": float(chosen["test_macro_f1"]),
            "baseline_test_macro_f1": float(base["test_macro_f1"]),
            "micro_f1_gain_ci95": f"[{run.ci[0]:+.3f}, {run.ci[1]:+.3f}]",
            "summary": dg.MetadataValue.md(summary_markdown(run)),
            "f1_per_genre": data_dir.image_markdown(chart, "test F1 per genre"),
        },
    )
    review = predictions.filter(pc.is_valid(predictions["review"]))
    yield dg.Output(
        predictions,
        output_name="genre_predictions",
        metadata={
            "movies": predictions.num_rows,
            "to_review": review.num_rows,
            "proposals_for_movies_without_genres": int(
                pc.sum(pc.equal(predictions["review"], "propose genres")).as_py() or 0
            ),
            "top_of_review_list": dg.MetadataValue.md(
                preview_markdown(
                    review.sort_by([("review_score", "descending")]).select(
                        ["movie_id", "title", "review", "movielens_genres", "predicted_genres"]
                    ),
                    rows=10,
                )
            ),
        },
    )


@dg.asset_check(asset="genre_classifier_report")
def classifier_beats_the_label_frequency_baseline(genre_classifier_report: pd.DataFrame) -> dg.AssetCheckResult:
    """The best trained model's test micro-F1 is above the label-frequency baseline's."""
    micro = genre_classifier_report[genre_classifier_report["genre"] == "micro"].set_index("model")["f1"]
    base = float(micro.get("label-frequency", float("nan")))
    best = float(micro.drop("label-frequency", errors="ignore").max())
    return dg.AssetCheckResult(passed=best > base, metadata={"best_micro_f1": best, "baseline_micro_f1": base})


@dg.asset_check(asset="genre_predictions", additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def every_movie_predicted_and_unlabelled_ones_proposed(
    genre_predictions: pd.DataFrame, movies: pd.DataFrame
) -> dg.AssetCheckResult:
    """Every movie with a genre-blind vector has one row with at least one genre; every movie MovieLens
    lists without genres gets a proposal."""
    dup = int(genre_predictions["movie_id"].duplicated().sum())
    empty = int((genre_predictions["predicted_genres"].map(len) == 0).sum())
    unlabelled = genre_predictions["split"] == "unlabelled"
    unproposed = int((unlabelled & (genre_predictions["review"] != "propose genres")).sum())
    unknown = len(set(genre_predictions["movie_id"]) - set(movies["movie_id"]))
    return dg.AssetCheckResult(
        passed=not (dup or empty or unproposed or unknown),
        metadata={
            "rows": len(genre_predictions),
            "duplicated": dup,
            "without_genre": empty,
            "unlabelled_without_proposal": unproposed,
            "unknown_movies": unknown,
        },
    )


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb"},
    code_version=SEARCH_VERSION,
    automation_condition=ON_UPSTREAM_CHANGE,
    deps=["movies", "movie_embeddings", "semantic_ids", "genre_predictions"],
    metadata=columns(
        {
            "macro": ("string", "the macro's name"),
            "signature": ("string", "its parameters"),
            "example": ("string", "a query to try in movielens-dag sql"),
        }
    ),
)
def search_macros(data_dir: DataDir) -> dg.Output:
    """DuckDB macros in the warehouse catalogue over the views of movies, embeddings, semantic IDs and genre
    predictions: `search.similar_to(title or id, k, genre :=, min_year :=, max_year :=)` (genre
    'predicted' = the classifier's genres of the query movie), `search.sid_siblings(movie, levels)`,
    `search.movie_id_of(title)`. They read the views, so they always see the latest data."""
    from movielens_dag.search.catalog import install_search_macros

    installed = install_search_macros(data_dir.paths)
    table = pd.DataFrame(
        [
            {
                "macro": "search.similar_to",
                "signature": "(query, k, genre := NULL, min_year := NULL, max_year := NULL)",
                "example": "SELECT * FROM search.similar_to('Toy Story', 10, genre := 'Animation', min_year := 1990)",
            },
            {
                "macro": "search.sid_siblings",
                "signature": "(query, levels := NULL)",
                "example": "SELECT * FROM search.sid_siblings('Toy Story', 2)",
            },
            {
                "macro": "search.movie_id_of",
                "signature": "(query)",
                "example": "SELECT search.movie_id_of('Heat (1995)')",
            },
        ]
    )
    return dg.Output(table, metadata={"installed": ", ".join(installed) or "none (movies or embeddings missing)"})


@dg.asset_check(asset=search_macros)
def macros_answer_a_read_only_session(data_dir: DataDir) -> dg.AssetCheckResult:
    """A read-only DuckDB session can call every macro (on the most-rated movie)."""
    from movielens_dag import warehouse

    errors, rows = [], {}
    with warehouse.connect_read_only(data_dir.paths) as con:
        queries = {
            "similar_to": "SELECT count(*) FROM search.similar_to((SELECT movie_id FROM movielens.movies "
            "ORDER BY movie_id LIMIT 1), 5)",
            "sid_siblings": "SELECT count(*) FROM search.sid_siblings((SELECT movie_id FROM movielens.movies "
            "ORDER BY movie_id LIMIT 1), 1)",
        }
        for name, sql in queries.items():
            try:
                rows[name] = con.execute(sql).fetchall()[0][0]
            except duckdb.Error as exc:
                errors.append(f"{name}: {str(exc).splitlines()[0]}")
    return dg.AssetCheckResult(
        passed=not errors and rows.get("similar_to") == 5,
        metadata={**{f"{k}_rows": v for k, v in rows.items()}, "errors": "; ".join(errors) or "none"},
    )

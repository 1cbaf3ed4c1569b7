"""Quality run: the genre classifier on MiniLM vectors of genre-blind documents of a whole release.

Materializes the movielens, enrichment (no TMDB token: no HTTP) and documents groups of the bundled
ml-latest-small into ``--data-dir`` (as `make demo` would), renders the genre-blind documents, embeds
them with the bundled MiniLM (cached under ``<data-dir>/cache``), trains the label-frequency baseline,
logistic regression and the MLP (3 seeds), and prints the summary, the per-genre test table and the
"(no genres listed)" proposals; the chart goes to ``<data-dir>/artifacts/genre_f1.png``. Run from the
repo root:

    nice -n 10 python benchmarks/genre_classifier.py --data-dir /tmp/genre-run
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import dagster as dg
    import pyarrow.compute as pc

    from movielens_dag import warehouse
    from movielens_dag.definitions import build_definitions
    from movielens_dag.embeddings.pipeline import embed_movie_documents
    from movielens_dag.embeddings.settings import EmbeddingSettings
    from movielens_dag.genres.blind import build_blind_documents
    from movielens_dag.genres.chart import f1_chart
    from movielens_dag.genres.pipeline import predictions_table, summary_markdown, train_genre_classifier
    from movielens_dag.genres.settings import GenreClassifierSettings
    from movielens_dag.paths import DataPaths
    from movielens_dag.semantic_ids.tables import embedding_matrix

    paths = DataPaths(args.data_dir)
    if not paths.asset_file("documents", "movie_documents").exists():
        defs = build_definitions(str(paths.root))
        result = dg.materialize(
            list(defs.assets) + list(defs.asset_checks),
            resources=defs.resources,
            selection=dg.AssetSelection.groups("movielens", "enrichment", "documents"),
        )
        assert result.success

    def read(group: str, asset: str):
        location = paths.asset_file(group, asset)
        return warehouse.read_parquet(location, asset) if location.exists() else None

    movies = read("movielens", "movies")
    t0 = time.perf_counter()
    blind = build_blind_documents(
        movies.to_pandas(),
        read("movielens", "tags").to_pandas(),
        read("enrichment", "tmdb_movies"),
        read("enrichment", "imdb_titles"),
        read("enrichment", "wikipedia_plots"),
    )
    own = int(pc.sum(blind["own_text_mentions_genre"]).as_py())
    print(
        f"{blind.num_rows:,} genre-blind documents ({own:,} with a genre word in their title or plot), "
        f"{time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    run = embed_movie_documents(
        blind, EmbeddingSettings(threads=args.threads), cache_root=paths.cache / "embeddings", models_dir=paths.models
    )
    print(
        f"embedded with {run.metadata['model_id']}: {run.metadata['embedded']:,} new, "
        f"{run.metadata['reused']:,} cached, {time.perf_counter() - t0:.1f} s"
    )
    ids, x, _ = embedding_matrix(run.table)
    t0 = time.perf_counter()
    result = train_genre_classifier(ids, x, movies, GenreClassifierSettings(threads=args.threads))
    print(f"trained and evaluated in {time.perf_counter() - t0:.1f} s\n")
    print(summary_markdown(result), "\n")
    report = result.report_table().to_pandas()
    wide = report.pivot(index="genre", columns="model", values="f1").round(3)
    wide.insert(0, "test support", report[report.model == result.selected].set_index("genre")["support"])
    print(wide.sort_values("test support", ascending=False).to_markdown(), "\n")
    predictions = predictions_table(result, movies).to_pandas()
    print(
        f"review list: {(predictions.review == 'check genres').sum()} movies flagged, "
        f"{(predictions.review == 'propose genres').sum()} proposals for movies without genres"
    )
    proposals = predictions[predictions.review == "propose genres"][["movie_id", "title", "predicted_genres"]]
    print(
        proposals.assign(predicted_genres=proposals.predicted_genres.map(", ".join)).head(10).to_markdown(index=False)
    )
    print("\nchart:", f1_chart(result, paths.artifacts / "genre_f1.png"))


if __name__ == "__main__":
    main()

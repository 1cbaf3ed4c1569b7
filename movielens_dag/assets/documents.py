"""Group ``documents``: one text per movie from the merged MovieLens + TMDB + IMDb + Wikipedia record."""

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag import documents
from movielens_dag.assets.conventions import OWNERS, WEEKLY_REFRESH, code_version, columns

GROUP = "documents"
LIST = "list<string>"


@dg.asset(
    group_name=GROUP,
    kinds={"python", "parquet"},
    owners=OWNERS,
    freshness_policy=WEEKLY_REFRESH,
    code_version=code_version("movielens_dag.documents", "movielens_dag.enrichment.merge"),
    metadata=columns(
        {
            "movie_id": ("int32", "MovieLens movieId"),
            "document": ("string", "the text embedded downstream"),
            "document_hash": ("string", "sha256 of document: caches downstream key on it"),
            "template_version": ("string", "movielens-v1 (MovieLens only) or enriched-v1"),
            "title": ("string", "merged title"),
            "year": ("int32", "merged year"),
            "genres": (LIST, "genres"),
            "plot": ("string", "best plot of TMDB, IMDb, Wikipedia"),
            "keywords": (LIST, "keywords"),
            "directors": (LIST, "directors"),
            "cast": (LIST, "cast"),
            "languages": (LIST, "languages"),
            "countries": (LIST, "countries"),
            "provenance": ("struct", "the source of each merged field"),
        }
    ),
)
def movie_documents(
    movies: pd.DataFrame, tags: pd.DataFrame, tmdb_movies: pa.Table, imdb_titles: pa.Table, wikipedia_plots: pa.Table
) -> dg.Output:
    """One text per movie and its hash, from the merged record of MovieLens, TMDB, IMDb and Wikipedia.

    Columns: the v0 ones (movie_id, document, document_hash, template_version), then the merged fields
    (title, year, genres, plot, keywords, directors, cast, languages, countries) and `provenance`
    naming each field's source. Movies no source enriched keep the MovieLens-only text (title, year,
    alternate titles, genres, top user tags) and its template version. Downstream assets key their
    caches on `document_hash`, so only changed texts are reprocessed.
    """
    docs = documents.build_documents(movies, tags, tmdb_movies, imdb_titles, wikipedia_plots)
    texts = docs["document"].to_pylist()
    lengths = pd.Series([len(t) for t in texts], dtype="int64")
    example = texts[int(lengths.idxmax())] if texts else ""
    plot_sources = pd.Series(docs["provenance"].combine_chunks().field("plot").to_pylist()).fillna("none")
    return dg.Output(
        docs,
        metadata={
            "template_version": documents.ENRICHED_TEMPLATE_VERSION,
            "documents": len(texts),
            "enriched_documents": int(
                pc.sum(pc.equal(docs["template_version"], documents.ENRICHED_TEMPLATE_VERSION)).as_py() or 0
            ),
            "plot_sources": plot_sources.value_counts().to_dict(),
            "mean_chars": float(lengths.mean()) if texts else 0.0,
            "max_chars": int(lengths.max()) if texts else 0,
            "documents_with_tags": sum("\nTags: " in t for t in texts),
            "longest_document": dg.MetadataValue.md(f"```\n{example}\n```"),
        },
    )


@dg.asset_check(asset=movie_documents, additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def one_non_empty_document_per_movie(movie_documents: pa.Table, movies: pa.Table) -> dg.AssetCheckResult:
    """Every movie has exactly one non-empty document, and each hash is the sha256 of its text."""
    ids = movie_documents["movie_id"].to_pylist()
    texts = movie_documents["document"].to_pylist()
    hashes = movie_documents["document_hash"].to_pylist()
    missing = sorted(set(movies["movie_id"].to_pylist()) - set(ids))
    duplicated = len(ids) - len(set(ids))
    empty = [i for i, t in zip(ids, texts) if not (t or "").strip()]
    bad_hash = [i for i, t, h in zip(ids, texts, hashes) if documents.document_hash(t or "") != h]
    return dg.AssetCheckResult(
        passed=not (missing or duplicated or empty or bad_hash),
        metadata={
            "documents": len(ids),
            "missing": len(missing),
            "duplicated": duplicated,
            "empty": len(empty),
            "wrong_hash": len(bad_hash),
            "examples": str({"missing": missing[:5], "empty": empty[:5], "wrong_hash": bad_hash[:5]}),
        },
    )

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag import documents

GROUP = "documents"


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def movie_documents(movies: pd.DataFrame, tags: pd.DataFrame, tmdb_movies: pa.Table, imdb_titles: pa.Table,
                    wikipedia_plots: pa.Table) -> dg.Output:
    """One text per movie and its hash, from the merged record of MovieLens, TMDB, IMDb and Wikipedia.

    Columns: the v0 ones (movie_id, document, document_hash, template_version), then the merged fields
    (title, year, genres, plot, keywords, directors, cast, languages, countries) and ``provenance``
    naming each field's source. Movies no source enriched keep the MovieLens-only text (title, year,
    alternate titles, genres, top user tags) and its template version. Downstream assets key their
    caches on ``document_hash``, so only changed texts are reprocessed.
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
            "enriched_documents": int(pc.sum(pc.equal(docs["template_version"], documents.ENRICHED_TEMPLATE_VERSION)).as_py() or 0),
            "plot_sources": plot_sources.value_counts().to_dict(),
            "mean_chars": float(lengths.mean()) if texts else 0.0,
            "max_chars": int(lengths.max()) if texts else 0,
            "documents_with_tags": sum("\nTags: " in t for t in texts),
            "longest_document": dg.MetadataValue.md(f"```\n{example}\n```"),
        },
    )

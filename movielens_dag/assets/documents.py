import dagster as dg
import pandas as pd

from movielens_dag import documents

GROUP = "documents"


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def movie_documents(movies: pd.DataFrame, tags: pd.DataFrame) -> dg.Output:
    """One text per movie (title, year, alternate titles, genres, top user tags) and its hash.

    Downstream assets key their caches on ``document_hash``, so only changed texts are reprocessed.
    """
    docs = documents.build_movielens_documents(movies, tags)
    lengths = docs["document"].str.len()
    example = docs.loc[docs["document"].str.len().idxmax(), "document"] if len(docs) else ""
    return dg.Output(
        docs,
        metadata={
            "template_version": documents.TEMPLATE_VERSION,
            "documents": len(docs),
            "mean_chars": float(lengths.mean()) if len(docs) else 0.0,
            "max_chars": int(lengths.max()) if len(docs) else 0,
            "documents_with_tags": int(docs["document"].str.contains("\nTags: ").sum()),
            "longest_document": dg.MetadataValue.md(f"```\n{example}\n```"),
        },
    )

"""Text features that respect the temporal split: movie documents with only the tags applied before a cut.

``movie_documents`` lists each movie's top user tags, and tags carry timestamps: on the bundled
ml-latest-small, 1,240 of the 3,683 tags (216 movies, 154 of them tagged only then) were applied after
the temporal split's first cut. A text vector made from them tells the model what users said in the
validation and test periods. ``documents_as_of(cut)`` rebuilds the documents from the tags before the
cut; embedding them goes through the same cache as ``movie_embeddings`` (keyed by document hash), so
only the documents whose tags changed are embedded again.

Plain code (torch is imported by the embedding pipeline only when something needs embedding).
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from movielens_dag import documents

from .data import unix_seconds
from .features import MovieVectors


def tags_before(tags: pd.DataFrame, cut: int | None) -> pd.DataFrame:
    """The tags applied strictly before ``cut`` (unix seconds); None keeps all."""
    if cut is None or tags.empty:
        return tags
    return tags[unix_seconds(tags["timestamp"]) < cut]


def documents_as_of(
    cut: int | None,
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    tmdb_movies: pa.Table | None = None,
    imdb_titles: pa.Table | None = None,
    wikipedia_plots: pa.Table | None = None,
) -> pa.Table:
    """``movie_documents`` as they would have read at ``cut``, as far as user tags go. (TMDB and IMDb
    fields are as fetched: see the TMDB note in ``features.py``.)"""
    return documents.build_documents(movies, tags_before(tags, cut), tmdb_movies, imdb_titles, wikipedia_plots)


def embed_documents(
    docs: pa.Table,
    cache_root: Path,
    model: str = "bundled",
    models_dir: Path | None = None,
    logger: Callable[[str], None] | None = None,
):
    """Embed the documents (reusing every cached vector) -> the ``EmbeddingRun`` (a ``movie_embeddings``
    table and what was embedded or reused)."""
    from movielens_dag.embeddings.pipeline import EmbeddingSettings, embed_movie_documents

    return embed_movie_documents(
        docs,
        EmbeddingSettings(model=model),
        cache_root=Path(cache_root),
        writer="rating-model",
        models_dir=models_dir,
        logger=logger or (lambda m: None),
    )


def text_vectors(
    docs: pa.Table, cache_root: Path, model: str = "bundled", logger: Callable[[str], None] | None = None
) -> MovieVectors:
    """Embed the documents (reusing every cached vector) -> one vector per movie."""
    return MovieVectors.from_table(embed_documents(docs, cache_root, model, logger=logger).table)


def changed_documents(a: pa.Table, b: pa.Table) -> np.ndarray:
    """Movie ids whose document differs between two document tables."""
    ha = dict(zip(a["movie_id"].to_pylist(), a["document_hash"].to_pylist(), strict=True))
    return np.array(
        sorted(
            m for m, h in zip(b["movie_id"].to_pylist(), b["document_hash"].to_pylist(), strict=True) if ha.get(m) != h
        ),
        dtype=np.int64,
    )

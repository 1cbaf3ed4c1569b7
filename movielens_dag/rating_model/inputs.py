"""Feature inputs per split from warehouse tables: the catalogue, text vectors, their SIDs, TMDB, posters.

The temporal split gets text vectors of the documents as of its first cut (``text.documents_as_of``)
and semantic IDs fitted on those vectors; the random split gets ``movie_embeddings`` as materialized.

Plain code; the SID fit imports torch.
"""

import numpy as np
import pandas as pd
import pyarrow as pa

from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import SidSettings

from .features import FeatureInputs, MovieVectors


def vectors_table(vectors: MovieVectors) -> pa.Table:
    """MovieVectors -> a ``movie_embeddings``-shaped table (movie_id, model_id, embedding)."""
    flat = pa.array(np.ascontiguousarray(vectors.vectors, np.float32).ravel())
    return pa.table({"movie_id": pa.array(vectors.movie_ids, pa.int32()),
                     "model_id": pa.array([vectors.name] * len(vectors.movie_ids), pa.string()),
                     "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.vectors.shape[1])})


def sids_for(vectors: MovieVectors, movies: pa.Table, settings: SidSettings) -> SemanticIds:
    """The semantic IDs of these vectors (``build_semantic_ids``, the configured quantiser)."""
    from movielens_dag.semantic_ids.pipeline import build_semantic_ids

    return build_semantic_ids(vectors_table(vectors), movies, settings, log=lambda m: None).sids


def split_inputs(movies: pa.Table, text: dict[str, MovieVectors], sid_settings: SidSettings | None = None,
                 tmdb: pd.DataFrame | None = None, posters: MovieVectors | None = None) -> dict[str, FeatureInputs]:
    """One ``FeatureInputs`` per split named in ``text``; SIDs are fitted per split when settings are given."""
    frame = movies.to_pandas()
    return {split: FeatureInputs(movies=frame, text=vecs, tmdb=tmdb, posters=posters,
                                 sids=sids_for(vecs, movies, sid_settings) if sid_settings is not None else None)
            for split, vecs in text.items()}

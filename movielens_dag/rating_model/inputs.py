"""Feature inputs per split from warehouse tables: the catalogue, text vectors, their SIDs, TMDB, posters.

The temporal split gets text vectors of the documents as of its first cut (``text.documents_as_of``)
and semantic IDs fitted on those vectors; the random split gets ``movie_embeddings`` as materialized.

Plain code; the SID fit imports torch.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import SidSettings

from .features import FeatureInputs, MovieVectors
from .settings import FeatureSettings, RatingRunSettings


def vectors_table(vectors: MovieVectors) -> pa.Table:
    """MovieVectors -> a ``movie_embeddings``-shaped table (movie_id, model_id, embedding)."""
    flat = pa.array(np.ascontiguousarray(vectors.vectors, np.float32).ravel())
    return pa.table(
        {
            "movie_id": pa.array(vectors.movie_ids, pa.int32()),
            "model_id": pa.array([vectors.name] * len(vectors.movie_ids), pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.vectors.shape[1]),
        }
    )


def sids_for(vectors: MovieVectors, movies: pa.Table, settings: SidSettings) -> SemanticIds:
    """The semantic IDs of these vectors (``build_semantic_ids``, the configured quantiser)."""
    from movielens_dag.semantic_ids.pipeline import build_semantic_ids

    return build_semantic_ids(vectors_table(vectors), movies, settings, log=lambda m: None).sids


def split_inputs(
    movies: pa.Table,
    text: dict[str, MovieVectors],
    sid_settings: SidSettings | None = None,
    tmdb: pd.DataFrame | None = None,
    posters: MovieVectors | None = None,
) -> dict[str, FeatureInputs]:
    """One ``FeatureInputs`` per split named in ``text``; SIDs are fitted per split when settings are given."""
    frame = movies.to_pandas()
    return {
        split: FeatureInputs(
            movies=frame,
            text=vecs,
            tmdb=tmdb,
            posters=posters,
            sids=sids_for(vecs, movies, sid_settings) if sid_settings is not None else None,
        )
        for split, vecs in text.items()
    }


def text_vectors_at_cut(table: pa.Table, valid_start: int) -> MovieVectors:
    """The ``rating_text_embeddings`` vectors, after checking they were made for this temporal cut."""
    cuts = pc.unique(pc.cast(table["cut"], pa.timestamp("s", tz="UTC")).cast(pa.int64())).to_pylist()
    if cuts != [valid_start]:
        raise ValueError(
            f"rating_text_embeddings holds documents as of {cuts} (unix s) but this run's temporal split "
            f"starts validation at {valid_start}: materialize rating_text_embeddings with the same "
            "temporal settings as the run"
        )
    return MovieVectors.from_table(table, source="rating_text_embeddings")


def variant_inputs(
    features: FeatureSettings,
    run: RatingRunSettings,
    movies: pa.Table,
    read: Callable[[str], pa.Table],
    valid_start: int | None,
) -> dict[str, FeatureInputs]:
    """One ``FeatureInputs`` per split of ``run``, reading (``read(asset name)``) only what ``features`` use:
    text vectors (random: ``movie_embeddings``; temporal: ``rating_text_embeddings``, made for the cut
    ``valid_start``) when the variant uses text or SIDs, ``tmdb_movies``, ``poster_embeddings``."""
    tmdb = read("tmdb_movies").to_pandas() if features.tmdb else None
    posters = None
    if features.poster:
        table = read("poster_embeddings")
        if table.num_rows == 0:
            raise ValueError(
                "the poster feature needs poster vectors but poster_embeddings is empty (no posters: "
                "set TMDB_READ_ACCESS_TOKEN and materialize poster_images and poster_embeddings)"
            )
        posters = MovieVectors.from_table(table, source="poster_embeddings")
    if not (features.text or features.sid_levels):
        frame = movies.to_pandas()
        return {split: FeatureInputs(movies=frame, tmdb=tmdb, posters=posters) for split in run.splits}
    text = {}
    for split in run.splits:
        if split == "temporal":
            text[split] = text_vectors_at_cut(read("rating_text_embeddings"), valid_start)
        else:
            text[split] = MovieVectors.from_table(read("movie_embeddings"), run.text_model_id)
    return split_inputs(movies, text, run.sids if features.sid_levels else None, tmdb, posters)

"""What the content-based models may know at the temporal protocol's training cut.

The movie documents with only the tags applied before the cut (tags carry timestamps: on ml-latest-small
about a third were applied later), their vectors, and semantic IDs whose codebooks are fitted on the
movies rated before the cut; movies first rated later get codes from those codebooks
(``semantic_ids.assign``), exactly as a refresh would give them. TMDB and IMDb fields are left out: they
are fetched today (vote counts, popularity) and would tell the model about the test period.

Plain code (torch is imported by the embedding and SID code when they run).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from movielens_dag.embeddings.settings import EmbeddingSettings
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import SidSettings
from movielens_dag.settings import setting
from movielens_dag.splits import TemporalSplitSettings


@dataclass(frozen=True)
class TemporalContentSettings:
    """What the temporal protocol's content models are built from."""

    split: TemporalSplitSettings = setting(
        factory=TemporalSplitSettings, help="Where the global time cuts fall (the same as the runs')."
    )
    embedding_model: str = setting("bundled", "Embedding model of the documents as of the cut.")
    threads: int | None = setting(1, "torch CPU threads.")
    sid: SidSettings = setting(factory=SidSettings, help="How the semantic IDs are fitted before the cut.")


@dataclass
class TemporalContent:
    embeddings: pa.Table  # movie_embeddings columns, documents as of the cut
    sids: SemanticIds  # fitted before the cut, later movies assigned
    codebooks: pa.Table  # sid_codebooks columns
    info: dict  # the cut, tags before it, movies fitted and assigned


def temporal_content(
    valid_start: int,
    known_movie_ids: np.ndarray,
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    wikipedia_plots: pa.Table | None,
    embedding: EmbeddingSettings,
    sid: SidSettings,
    cache_root: Path,
    models_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> TemporalContent:
    """``known_movie_ids``: the movies with an interaction before the cut (``valid_start``, unix s)."""
    from movielens_dag import documents
    from movielens_dag.embeddings.pipeline import embed_movie_documents
    from movielens_dag.semantic_ids import tables
    from movielens_dag.semantic_ids.assign import encode_new, extend
    from movielens_dag.semantic_ids.fit import fit_semantic_ids

    cut = pd.Timestamp(valid_start, unit="s", tz="UTC")
    old_tags = tags[pd.to_datetime(tags["timestamp"], utc=True) < cut]
    log(f"documents: {len(old_tags):,} of {len(tags):,} tags were applied before the training cut {cut}")
    docs = documents.build_documents(movies, old_tags, None, None, wikipedia_plots)
    run = embed_movie_documents(
        docs, embedding, cache_root=cache_root, writer="temporal", models_dir=models_dir, logger=log
    )
    ids, x, model_id = tables.embedding_matrix(run.table)
    known = np.isin(ids, known_movie_ids)
    fit = fit_semantic_ids(x[known], sid)
    sids = SemanticIds.with_digit(ids[known], fit.codes, sid.name)
    sids = extend(sids, ids[~known], encode_new(fit.model, x[~known], sid.normalize))
    log(f"SIDs fitted on {known.sum():,} movies rated before the cut, {(~known).sum():,} assigned")
    return TemporalContent(
        embeddings=run.table,
        sids=sids,
        codebooks=tables.codebooks_table(fit.codebooks, fit.codes, sid.name, fit.codebook_space),
        info={
            "training_cut": str(cut),
            "tags_before_cut": len(old_tags),
            "tags": len(tags),
            "embedding_model": model_id,
            "sid_fit_movies": int(known.sum()),
            "sid_assigned_movies": int((~known).sum()),
            "documents_embedded": run.metadata.get("embedded", 0),
        },
    )

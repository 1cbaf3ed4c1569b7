"""movie_embeddings -> semantic IDs, codebooks and quality rows (plain code; the asset only wires it).

``build_semantic_ids`` fits the configured quantiser (then each ``compare`` variant, for the quality
table only) and returns everything the three outputs of the ``semantic_id_fit`` asset need.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from movielens_dag.runtime import torch_threads
from movielens_dag.semantic_ids import tables
from movielens_dag.semantic_ids.fit import SidFit, fit_semantic_ids
from movielens_dag.semantic_ids.settings import SidSettings
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.metrics import Quality, per_item_relative_error, quality


@dataclass
class SemanticIdRun:
    sids: SemanticIds  # the primary fit, with the uniqueness digit
    fit: SidFit
    quality: Quality  # of the primary fit
    quality_rows: list[dict]  # primary first, then the compare variants
    model_id: str  # the embedding model whose vectors were quantised
    semantic_ids: pa.Table
    codebooks: pa.Table
    checkpoint: Path | None = None


def build_semantic_ids(movie_embeddings: pa.Table, movies: pa.Table, settings: SidSettings,
                       checkpoint_dir: Path | None = None,
                       log: Callable[[str], None] = print) -> SemanticIdRun:
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, settings.model_id)
    settings.validate(len(ids))
    genres = tables.item_genres(movies, ids)
    log(f"{settings.name}: {len(ids):,} movies x {x.shape[1]} dims ({model_id}), "
        f"{settings.levels} levels x {settings.codes} codes")
    rows: list[dict] = []
    primary: tuple[SidFit, Quality, SemanticIds] | None = None
    with torch_threads(settings.threads):
        for i, variant in enumerate(settings.variants()):
            fit = fit_semantic_ids(x, variant, log=log)
            sids = SemanticIds.with_digit(ids, fit.codes, variant.name)
            q = quality(fit.x, fit.x_hat, fit.codes, settings.codes, genres)
            rows.append(tables.quality_row(
                q.as_dict(), method=variant.method, balanced=variant.balanced, primary=i == 0, model_id=model_id,
                config={"levels": settings.levels, "codes": settings.codes, "normalize": settings.normalize,
                        "seed": settings.seed},
                n_items=len(ids), dim=int(x.shape[1]), seconds=float(fit.seconds),
                max_digit=int(sids.digit.max()) if len(sids) else 0, details=fit.details))
            if primary is None:
                primary = (fit, q, sids)
    fit, q, sids = primary
    checkpoint = None
    if settings.method == "rqvae" and checkpoint_dir is not None:  # codebooks alone cannot encode new movies
        import torch

        checkpoint = checkpoint_dir / f"rqvae-L{settings.levels}-K{settings.codes}-s{settings.seed}.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint.with_name(checkpoint.name + ".tmp")
        torch.save({"config": fit.model.config.__dict__, "state_dict": fit.model.state_dict(),
                    "embedding_model": model_id}, tmp)
        tmp.replace(checkpoint)
    return SemanticIdRun(
        sids=sids, fit=fit, quality=q, quality_rows=rows, model_id=model_id,
        semantic_ids=sids.to_table(per_item_relative_error(fit.x, fit.x_hat)),
        codebooks=tables.codebooks_table(fit.codebooks, fit.codes, settings.name, fit.codebook_space),
        checkpoint=checkpoint,
    )


def level_utilisation(sids: SemanticIds, codes_per_level: dict[int, int]) -> dict[int, float]:
    """Share of each level's codes that at least one movie uses."""
    return {level: (len(np.unique(sids.codes[:, level])) / k if len(sids) else 0.0)
            for level, k in sorted(codes_per_level.items())}

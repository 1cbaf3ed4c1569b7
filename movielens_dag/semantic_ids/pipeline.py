"""movie_embeddings -> semantic IDs, codebooks and quality rows (plain code; the asset only wires it).

``build_semantic_ids`` fits the configured quantiser (then each ``compare`` variant, for the quality
table only) and returns everything the three outputs of the ``semantic_id_fit`` asset need.
``assign_semantic_ids`` is what a refresh does by default: keep every stored SID and give movies that
arrived since codes from the stored codebooks (``semantic_ids.assign``), so trained recommenders keep
working. ``refit_reason`` says when the stored fit cannot be extended (other quantiser settings or
another embedding model), which makes the asset fit again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from movielens_dag.runtime import torch_threads
from movielens_dag.semantic_ids import tables
from movielens_dag.semantic_ids.fit import SidFit, fit_semantic_ids
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.metrics import Quality, per_item_relative_error, quality
from movielens_dag.semantic_ids.settings import SidSettings


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


def build_semantic_ids(
    movie_embeddings: pa.Table,
    movies: pa.Table,
    settings: SidSettings,
    checkpoint_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> SemanticIdRun:
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, settings.model_id)
    settings.validate(len(ids))
    genres = tables.item_genres(movies, ids)
    log(
        f"{settings.name}: {len(ids):,} movies x {x.shape[1]} dims ({model_id}), "
        f"{settings.levels} levels x {settings.codes} codes"
    )
    rows: list[dict] = []
    primary: tuple[SidFit, Quality, SemanticIds] | None = None
    with torch_threads(settings.threads):
        for i, variant in enumerate(settings.variants()):
            fit = fit_semantic_ids(x, variant, log=log)
            sids = SemanticIds.with_digit(ids, fit.codes, variant.name)
            q = quality(fit.x, fit.x_hat, fit.codes, settings.codes, genres)
            rows.append(
                tables.quality_row(
                    q.as_dict(),
                    method=variant.method,
                    balanced=variant.balanced,
                    primary=i == 0,
                    model_id=model_id,
                    config={
                        "levels": settings.levels,
                        "codes": settings.codes,
                        "normalize": settings.normalize,
                        "seed": settings.seed,
                    },
                    n_items=len(ids),
                    dim=int(x.shape[1]),
                    seconds=float(fit.seconds),
                    max_digit=int(sids.digit.max()) if len(sids) else 0,
                    details=fit.details,
                )
            )
            if primary is None:
                primary = (fit, q, sids)
    fit, q, sids = primary
    checkpoint = None
    if settings.method == "rqvae" and checkpoint_dir is not None:  # codebooks alone cannot encode new movies
        import torch

        checkpoint = rqvae_checkpoint(checkpoint_dir, settings)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint.with_name(checkpoint.name + ".tmp")
        torch.save(
            {"config": fit.model.config.__dict__, "state_dict": fit.model.state_dict(), "embedding_model": model_id},
            tmp,
        )
        tmp.replace(checkpoint)
    return SemanticIdRun(
        sids=sids,
        fit=fit,
        quality=q,
        quality_rows=rows,
        model_id=model_id,
        semantic_ids=sids.to_table(per_item_relative_error(fit.x, fit.x_hat)),
        codebooks=tables.codebooks_table(fit.codebooks, fit.codes, settings.name, fit.codebook_space),
        checkpoint=checkpoint,
    )


@dataclass
class StoredFit:
    """What the last materialization of the semantic_id_fit asset wrote."""

    semantic_ids: pa.Table
    codebooks: pa.Table
    quality: pa.Table


# sid_quality columns that must match for new movies to be encoded with the stored codebooks
FIT_IDENTITY = ("method", "balanced", "levels", "codes", "normalize", "seed", "embedding_model", "dim")


def rqvae_checkpoint(checkpoint_dir: Path, settings: SidSettings) -> Path:
    return checkpoint_dir / f"rqvae-L{settings.levels}-K{settings.codes}-s{settings.seed}.pt"


MIN_STORED_SHARE = 0.5  # below this share of movies with a stored SID, the codebooks describe another catalogue


def refit_reason(
    stored: StoredFit | None, settings: SidSettings, movie_embeddings: pa.Table, checkpoint_dir: Path | None
) -> str | None:
    """Why the stored fit cannot give new movies codes (None: it can)."""
    if stored is None:
        return "no stored semantic IDs"
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, settings.model_id)
    dim = int(x.shape[1])
    primary = [r for r in stored.quality.to_pylist() if r.get("is_primary")]
    if not primary:
        return "the stored sid_quality has no primary row"
    want = {
        "method": settings.method,
        "balanced": settings.balanced,
        "levels": settings.levels,
        "codes": settings.codes,
        "normalize": settings.normalize,
        "seed": settings.seed,
        "embedding_model": model_id,
        "dim": dim,
    }
    changed = [f"{k} {primary[0].get(k)!r} -> {want[k]!r}" for k in FIT_IDENTITY if primary[0].get(k) != want[k]]
    if changed:
        return "the stored fit differs: " + ", ".join(changed)
    if settings.method == "rqvae" and (
        checkpoint_dir is None or not rqvae_checkpoint(checkpoint_dir, settings).exists()
    ):
        return "the RQ-VAE checkpoint that encodes new movies is missing"
    share = float(np.isin(ids, stored.semantic_ids["movie_id"].to_numpy()).mean()) if len(ids) else 0.0
    if share < MIN_STORED_SHARE:
        return f"only {share:.0%} of the embedded movies have a stored SID (another release?)"
    return None


def assign_semantic_ids(
    movie_embeddings: pa.Table,
    movies: pa.Table,
    settings: SidSettings,
    stored: StoredFit,
    checkpoint_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> SemanticIdRun:
    """Keep every stored SID whose movie is still embedded; encode the movies without one with the stored
    codebooks (RQ-VAE: the stored checkpoint). The codebooks are unchanged (their usage counts update)."""
    import time

    import torch

    from movielens_dag.semantic_ids.assign import encode_new, extend, load_rqvae, rqkmeans_from_codebooks
    from movielens_dag.semantic_ids.rqkmeans import l2_normalize

    start = time.perf_counter()
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, settings.model_id)
    old = SemanticIds.from_table(stored.semantic_ids, settings.name)
    keep = np.isin(old.movie_ids, ids)
    dropped = old.movie_ids[~keep]
    old = SemanticIds(old.movie_ids[keep], old.codes[keep], None if old.digit is None else old.digit[keep], old.method)
    new_ids = ids[~np.isin(ids, old.movie_ids)].astype(np.int64)
    with torch_threads(settings.threads):
        if settings.method == "rqkmeans":
            model = rqkmeans_from_codebooks(stored.codebooks, settings.name, settings.normalize)
            books, space = model.codebooks, "input"
        else:
            model = load_rqvae(rqvae_checkpoint(checkpoint_dir, settings))
            books, space = torch.stack([book.embed.detach() for book in model.codebooks]), "latent"
        codes_new = (
            encode_new(model, x[np.isin(ids, new_ids)], settings.normalize)
            if len(new_ids)
            else np.zeros((0, old.levels), dtype=np.int64)
        )
        sids = extend(old, new_ids, codes_new)
        assert np.array_equal(sids.movie_ids, ids)  # rows line up with x
        xt = torch.from_numpy(x)
        if settings.method == "rqkmeans":
            xq, x_hat = model.prepare(xt), model.decode(torch.from_numpy(sids.codes))
        else:
            xq = l2_normalize(xt) if settings.normalize else xt
            x_hat = model.reconstruct(xq)
        xq, x_hat = xq.cpu().numpy(), x_hat.detach().cpu().numpy()
    seconds = time.perf_counter() - start
    log(
        f"{settings.name}: kept {len(old):,} stored SIDs, assigned {len(new_ids):,} new movie(s) with the stored "
        f"codebooks, dropped {len(dropped):,} movie(s) no longer embedded ({seconds:.1f} s)"
    )
    q = quality(xq, x_hat, sids.codes, settings.codes, tables.item_genres(movies, sids.movie_ids))
    details = {
        "mode": "assign",
        "assigned_movies": int(len(new_ids)),
        "dropped_movies": int(len(dropped)),
        "dropped_examples": dropped[:5].tolist(),
    }
    fit = SidFit(
        method=settings.method,
        codes=sids.codes,
        x=xq,
        x_hat=x_hat,
        codebooks=books.cpu().numpy(),
        codebook_space=space,
        seconds=seconds,
        details=details,
        model=model,
    )
    primary = tables.quality_row(
        q.as_dict(),
        method=settings.method,
        balanced=settings.balanced,
        primary=True,
        model_id=model_id,
        config={
            "levels": settings.levels,
            "codes": settings.codes,
            "normalize": settings.normalize,
            "seed": settings.seed,
        },
        n_items=len(sids),
        dim=int(x.shape[1]),
        seconds=seconds,
        max_digit=int(sids.digit.max()) if len(sids) else 0,
        details=details,
    )
    others = [r for r in stored.quality.to_pylist() if not r.get("is_primary")]  # the compare fits, as stored
    return SemanticIdRun(
        sids=sids,
        fit=fit,
        quality=q,
        quality_rows=[primary, *others],
        model_id=model_id,
        semantic_ids=sids.to_table(per_item_relative_error(xq, x_hat)),
        codebooks=tables.codebooks_table(fit.codebooks, sids.codes, settings.name, space),
        checkpoint=rqvae_checkpoint(checkpoint_dir, settings) if settings.method == "rqvae" else None,
    )


def level_utilisation(sids: SemanticIds, codes_per_level: dict[int, int]) -> dict[int, float]:
    """Share of each level's codes that at least one movie uses."""
    return {
        level: (len(np.unique(sids.codes[:, level])) / k if len(sids) else 0.0)
        for level, k in sorted(codes_per_level.items())
    }

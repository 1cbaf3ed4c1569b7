"""Dagster wiring for the `semantic_ids` group: movie embeddings -> semantic IDs.

* ``sid_codebooks``, ``semantic_ids``, ``sid_quality``: one fit (a multi-asset), so the codes, the
  codebooks they index and the figures describing them always come from the same run.
* ``sid_map``: 2-D UMAP of the embeddings coloured by first code (interactive HTML + PNG preview).

The quantisers live in ``movielens_dag.semantic_ids`` (plain torch); torch, umap and plotly are
imported inside the asset bodies so the code location loads fast.
"""

import base64
from typing import Optional

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from movielens_dag.resources.storage import DataDir
from movielens_dag.semantic_ids import tables

GROUP = "semantic_ids"
MIN_LEVEL_UTILISATION = 0.25  # the prior art collapsed to a single first-level code; fail well before that
# Named variants sid_quality can compare against the configured method (quality table only).
COMPARE_PRESETS = {
    "rqkmeans": {"method": "rqkmeans", "balanced": False},
    "rqkmeans-balanced": {"method": "rqkmeans", "balanced": True},
    "rqvae": {"method": "rqvae", "balanced": False},
}


class SemanticIdsConfig(dg.Config):
    """How embeddings become semantic IDs. Defaults: residual k-means, 3 levels x 128 codes + a digit."""

    method: str = Field(default="rqkmeans", description="'rqkmeans' (residual k-means) or 'rqvae'.")
    levels: int = Field(default=3, description="Quantisation levels L (the uniqueness digit comes on top).")
    codes: int = Field(default=128, description="Codes per level K. Needs K <= movies and K**L >= movies.")
    normalize: bool = Field(default=True, description="L2-normalise embeddings before quantising.")
    balanced: bool = Field(
        default=False, description="rqkmeans only: cap each code at ceil(N/K) items to cut collisions."
    )
    seed: int = Field(default=0, description="Seed for k-means++ seeding, RQ-VAE init and batch order.")
    device: str = Field(default="cpu", description="cpu, cuda, cuda:1 ... or auto (cuda when available).")
    threads: Optional[int] = Field(
        default=None,
        description="CPU threads for torch; None keeps torch's default (all cores). 1 is often faster "
        "when other steps share the CPU.",
    )
    model_id: Optional[str] = Field(
        default=None,
        description="Embedding model to use when movie_embeddings holds several; None: the only one.",
    )
    kmeans_max_iter: int = Field(default=40, description="Lloyd iterations per level at most.")
    kmeans_precision: str = Field(
        default="auto",
        description="Matmul precision during the k-means search: 'fast' (bf16 inputs on CPU, tf32 on CUDA), "
        "'ieee' (exact fp32) or 'auto' (fast where the hardware has it). Final codes are always exact.",
    )
    rqvae_epochs: int = Field(default=200, description="RQ-VAE epochs at most (early stopping on validation).")
    rqvae_patience: int = Field(default=20, description="Epochs without validation improvement before stopping.")
    rqvae_batch_size: int = Field(default=1024, description="RQ-VAE batch size (>= codes, for k-means init).")
    rqvae_lr: float = Field(default=2e-3, description="AdamW learning rate.")
    rqvae_latent_dim: int = Field(default=32, description="RQ-VAE latent size.")
    rqvae_hidden_dims: list[int] = Field(default=[512, 256, 128], description="Encoder MLP widths.")
    compare: list[str] = Field(
        default=[],
        description=f"Extra variants fitted for sid_quality only, from {sorted(COMPARE_PRESETS)}, "
        "with the same levels/codes/seed.",
    )

    def sid_config(self, method: Optional[str] = None, balanced: Optional[bool] = None):
        from movielens_dag.semantic_ids.fit import SidConfig
        from movielens_dag.semantic_ids.rqvae_train import TrainConfig

        return SidConfig(
            method=method or self.method,
            levels=self.levels,
            codes=self.codes,
            normalize=self.normalize,
            seed=self.seed,
            device=self.device,
            balanced=self.balanced if balanced is None else balanced,
            kmeans_max_iter=self.kmeans_max_iter,
            kmeans_precision=self.kmeans_precision,
            rqvae_hidden_dims=tuple(self.rqvae_hidden_dims),
            rqvae_latent_dim=self.rqvae_latent_dim,
            rqvae_train=TrainConfig(
                epochs=self.rqvae_epochs, batch_size=self.rqvae_batch_size, lr=self.rqvae_lr,
                patience=self.rqvae_patience, seed=self.seed,
            ),
        )


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "sid_codebooks": dg.AssetOut(
            description="Codebook vectors: one row per (method, level, code); 'space' says input or latent.",
            kinds={"pytorch", "parquet"},
        ),
        "semantic_ids": dg.AssetOut(
            description="One semantic ID per movie: L codes + the uniqueness digit, and a token string.",
            kinds={"pytorch", "parquet"},
        ),
        "sid_quality": dg.AssetOut(
            description="Quality figures per method/config (utilisation, collisions, reconstruction, semantics).",
            kinds={"parquet"},
        ),
    },
)
def semantic_id_fit(
    context: dg.AssetExecutionContext,
    config: SemanticIdsConfig,
    data_dir: DataDir,
    movie_embeddings: pa.Table,
    movies: pa.Table,
):
    """Fit the configured quantiser on the movie embeddings and assign every movie its SID."""
    import torch

    from movielens_dag.semantic_ids.fit import fit_semantic_ids
    from movielens_dag.semantic_ids.metrics import per_item_relative_error, quality

    unknown = [name for name in config.compare if name not in COMPARE_PRESETS]
    if unknown:
        raise ValueError(f"compare entries {unknown} are unknown; use any of {sorted(COMPARE_PRESETS)}")
    if config.threads is not None:
        torch.set_num_threads(config.threads)  # process-wide; the multiprocess executor gives each step its own
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, config.model_id)
    genres = tables.item_genres(movies, ids)
    context.log.info(f"{config.method}: {len(ids):,} movies x {x.shape[1]} dims ({model_id}), "
                     f"{config.levels} levels x {config.codes} codes")

    variants = [(config.method, config.balanced)] + [
        (COMPARE_PRESETS[n]["method"], COMPARE_PRESETS[n]["balanced"]) for n in config.compare]
    rows, fit, primary_q = [], None, None
    for i, (method, balanced) in enumerate(dict.fromkeys(variants)):  # primary first, no repeats
        this = fit_semantic_ids(x, config.sid_config(method, balanced), log=context.log.info)
        q = quality(this.x, this.x_hat, this.codes, config.codes, genres)
        rows.append(tables.quality_row(
            q.as_dict(), method=method, balanced=balanced, primary=i == 0, model_id=model_id,
            config={"levels": config.levels, "codes": config.codes, "normalize": config.normalize, "seed": config.seed},
            n_items=len(ids), dim=int(x.shape[1]), seconds=float(this.seconds),
            max_digit=int(this.sids[:, -1].max()), details=this.details))
        if i == 0:
            fit, primary_q = this, q

    name = config.method + ("-balanced" if config.balanced else "")
    semantic_ids = tables.semantic_ids_table(ids, fit.sids, name, per_item_relative_error(fit.x, fit.x_hat))
    codebooks = tables.codebooks_table(fit.codebooks, fit.codes, name, fit.codebook_space)
    figures_md = tables.quality_markdown(rows)

    checkpoint = None
    if config.method == "rqvae":  # the codebooks alone cannot encode new movies: keep the whole model
        checkpoint = data_dir.paths.checkpoints / GROUP / f"rqvae-L{config.levels}-K{config.codes}-s{config.seed}.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"config": fit.model.config.__dict__, "state_dict": fit.model.state_dict(),
                    "embedding_model": model_id}, checkpoint)

    q = primary_q
    figures = {
        "method": name,
        "embedding_model": model_id,
        "rel_recon_error": dg.MetadataValue.float(q.rel_recon_error),
        "collision_rate": dg.MetadataValue.float(q.collision_rate),
        "max_collision_group": dg.MetadataValue.int(q.max_collision_group),
        "max_digit": dg.MetadataValue.int(int(fit.sids[:, -1].max())),
        "min_utilisation": dg.MetadataValue.float(q.min_utilisation),
        "utilisation_per_level": ", ".join(f"{u:.0%}" for u in q.utilisation),
        "perplexity_per_level": ", ".join(f"{p:.1f}" for p in q.perplexity),
        "nn_first_code_agreement": dg.MetadataValue.float(q.nn_first_code_agreement),
        "nn_agreement_chance": dg.MetadataValue.float(q.nn_agreement_chance),
        "genre_purity": dg.MetadataValue.float(q.genre_purity if q.genre_purity is not None else float("nan")),
        "genre_purity_chance": dg.MetadataValue.float(
            q.genre_purity_chance if q.genre_purity_chance is not None else float("nan")),
        "fit_seconds": dg.MetadataValue.float(float(fit.seconds)),
        "figures": dg.MetadataValue.md(figures_md),
    }
    if checkpoint is not None:
        figures["checkpoint"] = dg.MetadataValue.path(str(checkpoint))
    yield dg.Output(codebooks, output_name="sid_codebooks", metadata={
        "space": fit.codebook_space, "levels": config.levels, "codes": config.codes,
        "dim": int(fit.codebooks.shape[2]), "utilisation_per_level": figures["utilisation_per_level"],
    })
    yield dg.Output(semantic_ids, output_name="semantic_ids", metadata=figures)
    yield dg.Output(pa.Table.from_pylist(rows), output_name="sid_quality", metadata={"figures": figures_md})


class SidMapConfig(dg.Config):
    projection: str = Field(default="umap", description="'umap' (cosine) or 'pca' (instant, for huge catalogues).")
    seed: int = Field(default=0, description="UMAP seed (fixed seed = reproducible, single-threaded).")
    n_neighbors: int = Field(default=15, description="UMAP neighbourhood size.")
    min_dist: float = Field(default=0.1, description="UMAP minimum distance between points.")


@dg.asset(group_name=GROUP, kinds={"plotly", "parquet"})
def sid_map(
    context: dg.AssetExecutionContext,
    config: SidMapConfig,
    data_dir: DataDir,
    movie_embeddings: pa.Table,
    semantic_ids: pa.Table,
    sid_quality: pa.Table,
    movies: pa.Table,
) -> dg.Output:
    """UMAP 2-D of the movie embeddings coloured by first SID code: interactive HTML + PNG preview.

    The table holds the 2-D coordinates (movie_id, x, y, first_code, sid) for your own plots.
    """
    import torch

    from movielens_dag.semantic_ids.rqkmeans import l2_normalize
    from movielens_dag.semantic_ids.visualise import project_2d, write_html, write_png

    sids = semantic_ids.sort_by("movie_id")
    primary = sid_quality.filter(pc.field("is_primary")).to_pylist()[0]
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, primary["embedding_model"])  # the SIDs' own model
    if not np.array_equal(ids, sids["movie_id"].to_numpy()):
        raise ValueError("semantic_ids and movie_embeddings cover different movies; re-materialize semantic_ids")
    first = np.array([c[0] for c in sids["codes"].to_pylist()], dtype=np.int32)
    x = l2_normalize(torch.from_numpy(x)).numpy()  # UMAP's cosine metric ignores norms anyway
    context.log.info(f"{config.projection} of {len(ids):,} x {x.shape[1]} embeddings")
    coords = project_2d(x, config.projection, seed=config.seed, n_neighbors=config.n_neighbors,
                        min_dist=config.min_dist)

    titles = dict(zip(movies["movie_id"].to_pylist(), movies["title"].to_pylist()))
    years = dict(zip(movies["movie_id"].to_pylist(), movies["year"].to_pylist()))
    hover = [f"{titles.get(int(i), '?')} ({years.get(int(i)) or 'n/a'})<br>{s}"
             for i, s in zip(ids, sids["sid"].to_pylist())]
    method = sids["method"][0].as_py() if len(sids) else "?"
    title = (f"Semantic IDs ({method}, {model_id})\n"
             f"{config.projection.upper()} of {len(ids):,} movies, colour = first code")
    out_dir = data_dir.paths.artifacts / GROUP
    html = write_html(coords, first, hover, out_dir / "sid_map.html", title)
    png = write_png(coords, first, out_dir / "sid_map.png", title)
    image = base64.b64encode(png.read_bytes()).decode()
    table = pa.table({
        "movie_id": pa.array(ids, pa.int32()),
        "x": pa.array(coords[:, 0], pa.float32()),
        "y": pa.array(coords[:, 1], pa.float32()),
        "first_code": pa.array(first, pa.int32()),
        "sid": sids["sid"],
    })
    return dg.Output(table, metadata={
        "html": dg.MetadataValue.path(str(html)),
        "open_in_browser": dg.MetadataValue.url(html.as_uri()),
        "png": dg.MetadataValue.path(str(png)),
        "map": dg.MetadataValue.md(f"![SID map](data:image/png;base64,{image})"),
    })


def _level_codes(semantic_ids: pa.Table) -> np.ndarray:
    """(N, L+1) codes including the digit (empty (0, 0) when the table is empty)."""
    rows = semantic_ids["codes"].to_pylist()
    return np.array(rows, dtype=np.int64) if rows else np.zeros((0, 0), dtype=np.int64)


@dg.asset_check(asset="semantic_ids", additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def every_movie_has_one_sid(semantic_ids: pa.Table, movies: pa.Table) -> dg.AssetCheckResult:
    """Every movie in `movies` has exactly one SID, and no SID belongs to an unknown movie."""
    have = semantic_ids["movie_id"].to_numpy()
    want = set(movies["movie_id"].to_pylist())
    ids, counts = np.unique(have, return_counts=True)
    duplicated = ids[counts > 1].tolist()
    missing = sorted(want - set(ids.tolist()))
    unknown = sorted(set(ids.tolist()) - want)
    nulls = semantic_ids["codes"].null_count + semantic_ids["sid"].null_count
    return dg.AssetCheckResult(
        passed=not (duplicated or missing or unknown or nulls),
        metadata={"movies": len(want), "with_sid": len(ids), "duplicated": len(duplicated),
                  "missing": len(missing), "unknown": len(unknown), "null_sids": nulls,
                  "examples": str({"duplicated": duplicated[:5], "missing": missing[:5], "unknown": unknown[:5]})},
    )


@dg.asset_check(asset="semantic_ids", blocking=True)
def sids_are_unique(semantic_ids: pa.Table) -> dg.AssetCheckResult:
    """With the uniqueness digit, no two movies share a SID (codes list and token string)."""
    codes = _level_codes(semantic_ids)
    dup_codes = len(codes) - (len(np.unique(codes, axis=0)) if len(codes) else 0)
    dup_tokens = semantic_ids.num_rows - len(pc.unique(semantic_ids["sid"]))
    return dg.AssetCheckResult(
        passed=bool(dup_codes == 0 and dup_tokens == 0),
        metadata={"duplicate_code_lists": dup_codes, "duplicate_tokens": dup_tokens},
    )


@dg.asset_check(asset="semantic_ids", additional_ins={"sid_codebooks": dg.AssetIn("sid_codebooks")})
def every_level_uses_a_quarter_of_its_codes(semantic_ids: pa.Table, sid_codebooks: pa.Table) -> dg.AssetCheckResult:
    """Each quantisation level uses at least 25% of its K codes (a collapsed codebook fails)."""
    codes = _level_codes(semantic_ids)
    k_per_level = {lvl: n for lvl, n in zip(*np.unique(sid_codebooks["level"].to_numpy(), return_counts=True))}
    util = {f"level_{int(lvl)}": float(len(np.unique(codes[:, lvl])) / int(k)) if len(codes) else 0.0
            for lvl, k in sorted(k_per_level.items())}
    worst = min(util.values()) if util else 0.0
    return dg.AssetCheckResult(
        passed=bool(worst >= MIN_LEVEL_UTILISATION),
        metadata={**{name: dg.MetadataValue.float(u) for name, u in util.items()},
                  "threshold": MIN_LEVEL_UTILISATION},
        description=None if worst >= MIN_LEVEL_UTILISATION else
        f"a level uses only {worst:.0%} of its codes; try balanced=True, another seed, or fewer codes",
    )

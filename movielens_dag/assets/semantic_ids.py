"""Dagster wiring for the `semantic_ids` group: movie embeddings -> semantic IDs.

* ``sid_codebooks``, ``semantic_ids``, ``sid_quality``: one fit (a multi-asset), so the codes, the
  codebooks they index and the figures describing them always come from the same run.
* ``sid_map``: 2-D UMAP of the embeddings coloured by first code (interactive HTML + PNG preview).

The quantisers live in ``movielens_dag.semantic_ids`` (plain torch); torch, umap and plotly are
imported inside the asset bodies so the code location loads fast.
"""

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.resources.config import config_class, to_settings
from movielens_dag.resources.storage import DataDir
from movielens_dag.semantic_ids import tables
from movielens_dag.semantic_ids.settings import SidMapSettings, SidSettings
from movielens_dag.semantic_ids.ids import SemanticIds

GROUP = "semantic_ids"
MIN_LEVEL_UTILISATION = 0.25  # the prior art collapsed to a single first-level code; fail well before that
SemanticIdsConfig = config_class(SidSettings, name="SemanticIdsConfig")


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
    from movielens_dag.semantic_ids.pipeline import build_semantic_ids

    settings = to_settings(config, SidSettings())
    run = build_semantic_ids(movie_embeddings, movies, settings, data_dir.paths.checkpoints / GROUP,
                             log=context.log.info)
    q, figures_md = run.quality, tables.quality_markdown(run.quality_rows)
    figures = {
        "method": settings.name,
        "embedding_model": run.model_id,
        "rel_recon_error": dg.MetadataValue.float(q.rel_recon_error),
        "collision_rate": dg.MetadataValue.float(q.collision_rate),
        "max_collision_group": dg.MetadataValue.int(q.max_collision_group),
        "max_digit": dg.MetadataValue.int(int(run.sids.digit.max()) if len(run.sids) else 0),
        "min_utilisation": dg.MetadataValue.float(q.min_utilisation),
        "utilisation_per_level": ", ".join(f"{u:.0%}" for u in q.utilisation),
        "perplexity_per_level": ", ".join(f"{p:.1f}" for p in q.perplexity),
        "nn_first_code_agreement": dg.MetadataValue.float(q.nn_first_code_agreement),
        "nn_agreement_chance": dg.MetadataValue.float(q.nn_agreement_chance),
        "genre_purity": dg.MetadataValue.float(q.genre_purity if q.genre_purity is not None else float("nan")),
        "genre_purity_chance": dg.MetadataValue.float(
            q.genre_purity_chance if q.genre_purity_chance is not None else float("nan")),
        "fit_seconds": dg.MetadataValue.float(float(run.fit.seconds)),
        "figures": dg.MetadataValue.md(figures_md),
    }
    if run.checkpoint is not None:
        figures["checkpoint"] = dg.MetadataValue.path(str(run.checkpoint))
    yield dg.Output(run.codebooks, output_name="sid_codebooks", metadata={
        "space": run.fit.codebook_space, "levels": settings.levels, "codes": settings.codes,
        "dim": int(run.fit.codebooks.shape[2]), "utilisation_per_level": figures["utilisation_per_level"],
    })
    yield dg.Output(run.semantic_ids, output_name="semantic_ids", metadata=figures)
    yield dg.Output(pa.Table.from_pylist(run.quality_rows), output_name="sid_quality",
                    metadata={"figures": dg.MetadataValue.md(figures_md)})


SidMapConfig = config_class(SidMapSettings, name="SidMapConfig")


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
    from movielens_dag.semantic_ids.visualise import build_sid_map

    settings = to_settings(config, SidMapSettings())
    context.log.info(f"{settings.projection} of {movie_embeddings.num_rows:,} embeddings")
    table, html, png = build_sid_map(movie_embeddings, semantic_ids, sid_quality, movies, settings,
                                     data_dir.paths.artifacts / GROUP)
    interactive = data_dir.artifact_url(html)
    return dg.Output(table, metadata={
        "map": data_dir.image_markdown(png, "SID map"),
        **({"interactive_map": dg.MetadataValue.url(interactive)} if interactive else {}),
        "html": dg.MetadataValue.path(str(html)),
        "png": dg.MetadataValue.path(str(png)),
    })


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
    codes = SemanticIds.from_table(semantic_ids).full_codes()
    dup_codes = len(codes) - (len(np.unique(codes, axis=0)) if len(codes) else 0)
    dup_tokens = semantic_ids.num_rows - len(pc.unique(semantic_ids["sid"]))
    return dg.AssetCheckResult(
        passed=bool(dup_codes == 0 and dup_tokens == 0),
        metadata={"duplicate_code_lists": dup_codes, "duplicate_tokens": dup_tokens},
    )


@dg.asset_check(asset="semantic_ids", additional_ins={"sid_codebooks": dg.AssetIn("sid_codebooks")})
def every_level_uses_a_quarter_of_its_codes(semantic_ids: pa.Table, sid_codebooks: pa.Table) -> dg.AssetCheckResult:
    """Each quantisation level uses at least 25% of its K codes (a collapsed codebook fails)."""
    from movielens_dag.semantic_ids.pipeline import level_utilisation

    k_per_level = {int(lvl): int(n) for lvl, n in zip(*np.unique(sid_codebooks["level"].to_numpy(), return_counts=True))}
    util = {f"level_{lvl}": u for lvl, u in level_utilisation(SemanticIds.from_table(semantic_ids), k_per_level).items()}
    worst = min(util.values()) if util else 0.0
    return dg.AssetCheckResult(
        passed=bool(worst >= MIN_LEVEL_UTILISATION),
        metadata={**{name: dg.MetadataValue.float(u) for name, u in util.items()},
                  "threshold": MIN_LEVEL_UTILISATION},
        description=None if worst >= MIN_LEVEL_UTILISATION else
        f"a level uses only {worst:.0%} of its codes; try balanced=True, another seed, or fewer codes",
    )

"""Dagster wiring for the `semantic_ids` group: movie embeddings -> semantic IDs.

* ``sid_codebooks``, ``semantic_ids``, ``sid_quality``: one fit (a multi-asset), so the codes, the
  codebooks they index and the figures describing them always come from the same run.
* ``sid_map``: 2-D UMAP (PCA above ``umap_max_items`` movies) of the embeddings coloured by first code
  (interactive HTML + PNG preview).

The quantisers live in ``movielens_dag.semantic_ids`` (plain torch); torch, umap and plotly are
imported inside the asset bodies so the code location loads fast.
"""

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.assets.conventions import ON_UPSTREAM_CHANGE, OWNERS, code_version, columns
from movielens_dag.resources.config import config_class, to_settings
from movielens_dag.resources.storage import DataDir
from movielens_dag.semantic_ids import tables
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import SidMapSettings, SidSettings

GROUP = "semantic_ids"
VERSION = code_version("movielens_dag.semantic_ids")
MOVIE_ID = ("int32", "MovieLens movieId")
MIN_LEVEL_UTILISATION = 0.25  # the prior art collapsed to a single first-level code; fail well before that
SemanticIdsConfig = config_class(SidSettings, name="SemanticIdsConfig")


# Column descriptions shared with the temporal protocol's SIDs and codebooks (assets/recommender.py).
CODEBOOK_COLUMNS = {
    "method": ("string", "rqkmeans, rqkmeans-balanced or rqvae"),
    "level": ("int32", "level, 0 first"),
    "code": ("int32", "code within the level"),
    "n_items": ("int32", "movies with this code"),
    "space": ("string", "input (residual k-means) or latent (RQ-VAE)"),
    "centroid": ("fixed_size_list<float32>", "the code's vector"),
}
SID_COLUMNS = {
    "movie_id": MOVIE_ID,
    "codes": ("list<int32>", "the L quantiser codes, then the uniqueness digit (codes[1:levels] in SQL)"),
    "levels": ("int32", "L: how many of the codes are quantiser levels"),
    "sid": ("string", "token string such as <a_62><b_40><c_40><d_0>"),
    "method": ("string", "the quantiser"),
    "recon_error": ("float", "relative reconstruction error of this movie's vector"),
}


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "sid_codebooks": dg.AssetOut(
            description="Codebook vectors: one row per (method, level, code); 'space' says input or latent.",
            kinds={"pytorch", "parquet"},
            owners=OWNERS,
            code_version=VERSION,
            automation_condition=ON_UPSTREAM_CHANGE,
            metadata=columns(CODEBOOK_COLUMNS),
        ),
        "semantic_ids": dg.AssetOut(
            description="One semantic ID per movie: L codes + the uniqueness digit, and a token string.",
            kinds={"pytorch", "parquet"},
            owners=OWNERS,
            code_version=VERSION,
            automation_condition=ON_UPSTREAM_CHANGE,
            metadata=columns(SID_COLUMNS),
        ),
        "sid_quality": dg.AssetOut(
            description="Quality figures per method/config (utilisation, collisions, reconstruction, semantics).",
            kinds={"parquet"},
            owners=OWNERS,
            code_version=VERSION,
            automation_condition=ON_UPSTREAM_CHANGE,
            metadata=columns(
                {
                    "method": ("string", "quantiser"),
                    "balanced": ("bool", "capacity-balanced k-means"),
                    "is_primary": ("bool", "the fit semantic_ids holds (others: compare variants)"),
                    "rel_recon_error": ("double", "sum |x - x_hat|^2 / sum |x|^2"),
                    "collision_rate": ("double", "share of movies sharing all L codes with another"),
                    "min_utilisation": ("double", "lowest share of a level's codes in use"),
                    "nn_first_code_agreement": (
                        "double",
                        "share of movies whose nearest neighbour has the same first code",
                    ),
                    "nn_agreement_chance": ("double", "the same for a random pairing"),
                    "nn_items": (
                        "int64",
                        "movies the neighbour agreement was measured on: all up to 10,000, a seeded "
                        "random 10,000 above (each searched against every movie)",
                    ),
                    "genre_purity": ("double", "share of a code's movies sharing its most common genre"),
                    "genre_purity_chance": ("double", "the same with codes shuffled"),
                    "seconds": ("double", "fit time"),
                }
            ),
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
    """Give every movie its SID. By default the stored SIDs stay and movies that arrived since get codes from
    the stored codebooks (no refit), so trained recommenders keep working; the quantiser is fitted when
    nothing is stored, when config `refit` is set, or when the stored fit used other settings or vectors."""
    from movielens_dag.semantic_ids.pipeline import StoredFit, assign_semantic_ids, build_semantic_ids, refit_reason
    from movielens_dag.warehouse import read_parquet

    settings = to_settings(config, SidSettings())
    checkpoints = data_dir.paths.checkpoints / GROUP
    files = {name: data_dir.paths.asset_file(GROUP, name) for name in ("semantic_ids", "sid_codebooks", "sid_quality")}
    stored = StoredFit(*(read_parquet(f) for f in files.values())) if all(f.exists() for f in files.values()) else None
    reason = (
        "config refit=True"
        if settings.refit and stored is not None
        else refit_reason(stored, settings, movie_embeddings, checkpoints)
    )
    if reason is None:
        run = assign_semantic_ids(movie_embeddings, movies, settings, stored, checkpoints, log=context.log.info)
        mode = {
            "mode": "assign",
            "assigned_movies": run.fit.details["assigned_movies"],
            "dropped_movies": run.fit.details["dropped_movies"],
            "checkpoints_invalidated": False,
        }
    else:
        if stored is not None:
            context.log.warning(
                f"refitting semantic IDs ({reason}): every SID may change, so recommender "
                "checkpoints trained on the old ones will not resume"
            )
        run = build_semantic_ids(movie_embeddings, movies, settings, checkpoints, log=context.log.info)
        mode = {
            "mode": "fit" if stored is None else "refit",
            "refit_reason": reason,
            "assigned_movies": 0,
            "checkpoints_invalidated": stored is not None,
        }
    q, figures_md = run.quality, tables.quality_markdown(run.quality_rows)
    figures = {
        **mode,
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
        "nn_items": dg.MetadataValue.int(q.nn_items),
        "genre_purity": dg.MetadataValue.float(q.genre_purity if q.genre_purity is not None else float("nan")),
        "genre_purity_chance": dg.MetadataValue.float(
            q.genre_purity_chance if q.genre_purity_chance is not None else float("nan")
        ),
        "fit_seconds": dg.MetadataValue.float(float(run.fit.seconds)),
        "figures": dg.MetadataValue.md(figures_md),
    }
    if run.checkpoint is not None:
        figures["checkpoint"] = dg.MetadataValue.path(str(run.checkpoint))
    yield dg.Output(
        run.codebooks,
        output_name="sid_codebooks",
        metadata={
            "space": run.fit.codebook_space,
            "levels": settings.levels,
            "codes": settings.codes,
            "dim": int(run.fit.codebooks.shape[2]),
            "utilisation_per_level": figures["utilisation_per_level"],
        },
    )
    yield dg.Output(run.semantic_ids, output_name="semantic_ids", metadata=figures)
    yield dg.Output(
        pa.Table.from_pylist(run.quality_rows),
        output_name="sid_quality",
        metadata={"figures": dg.MetadataValue.md(figures_md)},
    )


SidMapConfig = config_class(SidMapSettings, name="SidMapConfig")


@dg.asset(
    group_name=GROUP,
    kinds={"plotly", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    automation_condition=ON_UPSTREAM_CHANGE,
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "x": ("float", "map coordinate"),
            "y": ("float", "map coordinate"),
            "first_code": ("int32", "the movie's first SID code (the colour)"),
            "sid": ("string", "token string"),
        }
    ),
)
def sid_map(
    context: dg.AssetExecutionContext,
    config: SidMapConfig,
    data_dir: DataDir,
    movie_embeddings: pa.Table,
    semantic_ids: pa.Table,
    sid_quality: pa.Table,
    movies: pa.Table,
) -> dg.Output:
    """UMAP 2-D of the movie embeddings coloured by first SID code: interactive HTML + PNG preview. Above
    `umap_max_items` movies (projection 'auto') the map is a PCA, which takes seconds where UMAP takes
    many minutes on a CPU; the `projection` metadata says which and why.

    The table holds the 2-D coordinates (movie_id, x, y, first_code, sid) for your own plots.
    """
    from movielens_dag.semantic_ids.visualise import build_sid_map

    settings = to_settings(config, SidMapSettings())
    table, html, png, projection = build_sid_map(
        movie_embeddings, semantic_ids, sid_quality, movies, settings, data_dir.paths.artifacts / GROUP
    )
    context.log.info(f"{projection} of {table.num_rows:,} embeddings")
    interactive = data_dir.artifact_url(html)
    return dg.Output(
        table,
        metadata={
            "projection": projection,
            "map": data_dir.image_markdown(png, "SID map"),
            **({"interactive_map": dg.MetadataValue.url(interactive)} if interactive else {}),
            "html": dg.MetadataValue.path(str(html)),
            "png": dg.MetadataValue.path(str(png)),
        },
    )


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
        metadata={
            "movies": len(want),
            "with_sid": len(ids),
            "duplicated": len(duplicated),
            "missing": len(missing),
            "unknown": len(unknown),
            "null_sids": nulls,
            "examples": str({"duplicated": duplicated[:5], "missing": missing[:5], "unknown": unknown[:5]}),
        },
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

    levels, counts = np.unique(sid_codebooks["level"].to_numpy(), return_counts=True)
    k_per_level = {int(lvl): int(n) for lvl, n in zip(levels, counts)}
    util = {
        f"level_{lvl}": u for lvl, u in level_utilisation(SemanticIds.from_table(semantic_ids), k_per_level).items()
    }
    worst = min(util.values()) if util else 0.0
    return dg.AssetCheckResult(
        passed=bool(worst >= MIN_LEVEL_UTILISATION),
        metadata={**{name: dg.MetadataValue.float(u) for name, u in util.items()}, "threshold": MIN_LEVEL_UTILISATION},
        description=None
        if worst >= MIN_LEVEL_UTILISATION
        else f"a level uses only {worst:.0%} of its codes; try balanced=True, another seed, or fewer codes",
    )


@dg.asset_check(asset="sid_codebooks", blocking=True)
def codebooks_are_complete_and_finite(sid_codebooks: pa.Table) -> dg.AssetCheckResult:
    """Every level has the same number of codes, each code appears once, and every centroid is finite."""
    levels = sid_codebooks["level"].to_numpy()
    codes = sid_codebooks["code"].to_numpy()
    per_level = np.unique(levels, return_counts=True)[1] if len(levels) else np.array([])
    pairs = len({(int(a), int(b)) for a, b in zip(levels, codes)})
    centroids = np.asarray(sid_codebooks["centroid"].combine_chunks().flatten().to_numpy(zero_copy_only=False))
    finite = bool(np.isfinite(centroids).all())
    ok = len(per_level) > 0 and len(set(per_level.tolist())) == 1 and pairs == len(levels) and finite
    return dg.AssetCheckResult(
        passed=ok,
        metadata={
            "levels": len(per_level),
            "codes_per_level": ", ".join(map(str, sorted(set(per_level.tolist())))),
            "duplicate_codes": len(levels) - pairs,
            "finite": finite,
        },
    )


@dg.asset_check(asset="sid_quality")
def one_primary_fit_with_sane_figures(sid_quality: pa.Table) -> dg.AssetCheckResult:
    """Exactly one primary row; every figure is a number in its range (errors and rates within [0, 1])."""
    rows = sid_quality.to_pylist()
    primary = sum(bool(r["is_primary"]) for r in rows)
    bounded = ["rel_recon_error", "collision_rate", "min_utilisation", "nn_first_code_agreement"]
    bad = [(r["method"], k) for r in rows for k in bounded if not (0.0 <= float(r[k]) <= 1.0)]
    return dg.AssetCheckResult(
        passed=primary == 1 and not bad,
        metadata={"rows": len(rows), "primary_rows": primary, "out_of_range": str(bad[:5])},
    )


@dg.asset_check(asset="sid_map", additional_ins={"semantic_ids": dg.AssetIn("semantic_ids")})
def every_sid_is_on_the_map(sid_map: pa.Table, semantic_ids: pa.Table) -> dg.AssetCheckResult:
    """Every movie with a SID has finite map coordinates, and the map shows its current SID."""
    have = dict(zip(sid_map["movie_id"].to_pylist(), sid_map["sid"].to_pylist()))
    want = dict(zip(semantic_ids["movie_id"].to_pylist(), semantic_ids["sid"].to_pylist()))
    xy = np.stack([sid_map["x"].to_numpy(), sid_map["y"].to_numpy()]) if len(sid_map) else np.zeros((2, 0))
    missing = [m for m in want if m not in have]
    stale = [m for m, t in want.items() if m in have and have[m] != t]
    finite = bool(np.isfinite(xy).all())
    return dg.AssetCheckResult(
        passed=not missing and not stale and finite,
        metadata={"movies": len(want), "missing": len(missing), "stale_sid": len(stale), "finite": finite},
    )

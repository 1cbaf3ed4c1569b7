"""Arrow tables in and out of a semantic-ID fit: pyarrow and numpy only (no torch, no Dagster)."""

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NO_GENRES = "(no genres listed)"


def embedding_matrix(table: pa.Table, model_id: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(movie_ids int32 sorted, (N, d) float32 writable, model_id) from a movie_embeddings table."""
    models = sorted(pc.unique(table["model_id"]).to_pylist())
    if model_id is not None:
        if model_id not in models:
            raise ValueError(f"model_id={model_id!r} is not in movie_embeddings (it has {models})")
        table = table.filter(pc.equal(table["model_id"], model_id))
    elif len(models) != 1:
        raise ValueError(f"movie_embeddings holds {len(models)} models {models}; set config model_id to one")
    table = table.sort_by("movie_id")
    ids = table["movie_id"].to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise ValueError("movie_embeddings has several vectors for one movie_id and model; re-materialize it")
    emb = table["embedding"].combine_chunks()
    if emb.null_count:
        raise ValueError(f"{emb.null_count} movies have a null embedding; re-materialize movie_embeddings")
    lengths = set(pc.list_value_length(emb).to_pylist())
    if len(lengths) != 1:
        raise ValueError(f"embeddings have mixed lengths {sorted(lengths)[:5]}; one model gives one dim")
    x = np.array(emb.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)  # a writable copy
    return ids.astype(np.int32), x.reshape(len(ids), lengths.pop()), models[0] if model_id is None else model_id


def item_genres(movies: pa.Table, ids: np.ndarray) -> list[list[str]]:
    """Genres of each id in order ([] when unknown or '(no genres listed)')."""
    by_id = dict(zip(movies["movie_id"].to_pylist(), movies["genres"].to_pylist()))
    return [[g for g in (by_id.get(int(i)) or []) if g != NO_GENRES] for i in ids]


def codebooks_table(codebooks: np.ndarray, codes: np.ndarray, method: str, space: str) -> pa.Table:
    """One row per (level, code): items using it and its centroid (fixed-size float32 list)."""
    levels, k, dim = codebooks.shape
    usage = np.stack([np.bincount(codes[:, level], minlength=k) for level in range(levels)])  # (L, K)
    return pa.table(
        {
            "method": pa.array([method] * (levels * k), pa.string()),
            "level": pa.array(np.repeat(np.arange(levels), k), pa.int32()),
            "code": pa.array(np.tile(np.arange(k), levels), pa.int32()),
            "n_items": pa.array(usage.reshape(-1), pa.int32()),
            "space": pa.array([space] * (levels * k), pa.string()),
            "centroid": pa.FixedSizeListArray.from_arrays(pa.array(codebooks.reshape(-1).astype(np.float32)), dim),
        }
    )


def quality_row(
    quality: dict,
    *,
    method: str,
    balanced: bool,
    primary: bool,
    config: dict,
    model_id: str,
    n_items: int,
    dim: int,
    seconds: float,
    max_digit: int,
    details: dict,
) -> dict:
    """One sid_quality row: what was fitted, how, and every figure from metrics.quality()."""
    return {
        "method": method,
        "balanced": balanced,
        "is_primary": primary,
        **config,
        "embedding_model": model_id,
        "n_items": n_items,
        "dim": dim,
        "seconds": seconds,
        **quality,
        "max_digit": max_digit,
        "details": json.dumps(details, default=float),
    }


def quality_markdown(rows: Sequence[dict]) -> str:
    """The sid_quality rows as a markdown table for the UI."""
    lines = [
        "| method | balanced | rel. recon. error | collisions | largest group | min utilisation | "
        "NN shares 1st code (chance) | genre purity (chance) | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        purity = f"{r['genre_purity']:.1%} ({r['genre_purity_chance']:.1%})" if r["genre_purity"] is not None else "n/a"
        lines.append(
            f"| {r['method']} | {r['balanced']} | {r['rel_recon_error']:.4f} | {r['collision_rate']:.2%} | "
            f"{r['max_collision_group']} | {r['min_utilisation']:.0%} | {r['nn_first_code_agreement']:.1%} "
            f"({r['nn_agreement_chance']:.1%}) | {purity} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)

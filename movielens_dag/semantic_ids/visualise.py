"""The SID map: a 2-D UMAP (PCA for large catalogues) of the embeddings, one colour per first-level code.

Writes a self-contained interactive Plotly HTML file (works offline) and a small static PNG for UI
metadata. umap-learn, plotly and matplotlib are imported inside the functions that need them.
"""

import colorsys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.semantic_ids import tables
from movielens_dag.semantic_ids.ids import SemanticIds
from movielens_dag.semantic_ids.settings import SidMapSettings

PROJECTIONS = ("umap", "pca")


def choose_projection(settings: SidMapSettings, n_items: int) -> tuple[str, str]:
    """(projection, why): 'auto' picks UMAP up to ``settings.umap_max_items`` movies and PCA above."""
    if settings.projection != "auto":
        return settings.projection, "configured"
    if n_items <= settings.umap_max_items:
        return "umap", f"auto: {n_items:,} movies <= umap_max_items {settings.umap_max_items:,}"
    return "pca", (
        f"auto: {n_items:,} movies > umap_max_items {settings.umap_max_items:,}, where UMAP takes too long "
        "on a CPU; set projection 'umap' to force it"
    )


def project_2d(
    x: np.ndarray, method: str = "umap", seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """(N, d) -> (N, 2). 'umap': cosine UMAP, reproducible for a seed (single-threaded; numba compiles
    for ~20 s on first use). 'pca': the two main axes, instant, for very large catalogues."""
    x = np.asarray(x, np.float32)
    if method == "pca":
        centred = x - x.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axes = vt[:2] * np.sign(vt[:2, :1] + 1e-12)  # fix the sign so reruns draw the same picture
        return (centred @ axes.T).astype(np.float32)
    if method != "umap":
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {method!r}")
    import umap

    if len(x) <= n_neighbors:
        raise ValueError(f"UMAP needs more than n_neighbors={n_neighbors} items, got {len(x)}")
    reducer = umap.UMAP(
        n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed, n_jobs=1
    )  # a seed forces one job anyway; saying so silences a warning
    return reducer.fit_transform(x).astype(np.float32)


def code_colours(codes: np.ndarray) -> list[str]:
    """A distinct hex colour per code: golden-ratio hue steps keep neighbouring code numbers apart."""

    def colour(c: int) -> str:
        r, g, b = colorsys.hls_to_rgb((c * 0.618034) % 1.0, 0.45 + 0.15 * (c % 3) / 2, 0.75)
        return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"

    return [colour(int(c)) for c in codes]


def _code_centres(coords: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The median position of each code's items, where its label goes."""
    uniq = np.unique(codes)
    return uniq, np.stack([np.median(coords[codes == c], axis=0) for c in uniq])


def write_html(coords: np.ndarray, first_codes: np.ndarray, hover: Sequence[str], path: Path, title: str) -> Path:
    """Interactive scatter (zoom, hover shows each item's text) saved as one HTML file. A newline in
    the title starts a second line."""
    import plotly.graph_objects as go

    uniq, centres = _code_centres(coords, first_codes)
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers",
            text=list(hover),
            hoverinfo="text",
            marker={"size": 4, "color": code_colours(first_codes), "opacity": 0.8},
            name="items",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=centres[:, 0],
            y=centres[:, 1],
            mode="text",
            text=[str(c) for c in uniq],
            textfont={"size": 9, "color": "#222"},
            hoverinfo="skip",
            name="first code",
        )
    )
    fig.update_layout(
        title=title.replace("\n", "<br>"),
        showlegend=False,
        template="plotly_white",
        width=1100,
        height=850,
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.write_html(tmp, include_plotlyjs=True, full_html=True)  # inline plotly.js: opens without network
    tmp.replace(path)
    return path


def write_png(coords: np.ndarray, first_codes: np.ndarray, path: Path, title: str, dpi: int = 80) -> Path:
    """Static preview (a few hundred KB at most) for the Dagster UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.scatter(coords[:, 0], coords[:, 1], s=1.5, c=code_colours(first_codes), linewidths=0, alpha=0.8)
    for code, (cx, cy) in zip(*_code_centres(coords, first_codes)):
        ax.text(cx, cy, str(code), fontsize=5, ha="center", va="center", color="#222")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(path)
    return path


def build_sid_map(
    movie_embeddings: pa.Table,
    semantic_ids: pa.Table,
    sid_quality: pa.Table,
    movies: pa.Table,
    settings: SidMapSettings,
    out_dir: Path,
) -> tuple[pa.Table, Path, Path, str]:
    """The map of the primary fit's own embedding model: (coordinates table, HTML file, PNG file, why this
    projection)."""
    sids = SemanticIds.from_table(semantic_ids)
    primary = sid_quality.filter(pc.field("is_primary")).to_pylist()[0]
    ids, x, model_id = tables.embedding_matrix(movie_embeddings, primary["embedding_model"])
    if not np.array_equal(ids, sids.movie_ids):
        raise ValueError("semantic_ids and movie_embeddings cover different movies; re-materialize semantic_ids")
    first = sids.codes[:, 0].astype(np.int32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # UMAP's cosine ignores norms anyway
    projection, why = choose_projection(settings, len(ids))
    coords = project_2d(x, projection, seed=settings.seed, n_neighbors=settings.n_neighbors, min_dist=settings.min_dist)
    tokens = sids.tokens()
    titles = dict(zip(movies["movie_id"].to_pylist(), movies["title"].to_pylist()))
    years = dict(zip(movies["movie_id"].to_pylist(), movies["year"].to_pylist()))
    hover = [f"{titles.get(int(i), '?')} ({years.get(int(i)) or 'n/a'})<br>{t}" for i, t in zip(ids, tokens)]
    title = (
        f"Semantic IDs ({sids.method}, {model_id})\n{projection.upper()} of {len(ids):,} movies, colour = first code"
    )
    html = write_html(coords, first, hover, out_dir / "sid_map.html", title)
    png = write_png(coords, first, out_dir / "sid_map.png", title)
    table = pa.table(
        {
            "movie_id": pa.array(ids, pa.int32()),
            "x": pa.array(coords[:, 0], pa.float32()),
            "y": pa.array(coords[:, 1], pa.float32()),
            "first_code": pa.array(first, pa.int32()),
            "sid": pa.array(tokens, pa.string()),
        }
    )
    return table, html, png, f"{projection} ({why})"

import numpy as np
import pytest

from movielens_dag.semantic_ids.visualise import code_colours, project_2d, write_html, write_png


def test_pca_projection_keeps_the_main_axis_and_is_stable():
    rng = np.random.default_rng(0)
    x = np.zeros((200, 5), np.float32)
    x[:, 3] = rng.standard_normal(200) * 10  # the only direction with real spread
    x += rng.standard_normal((200, 5)).astype(np.float32) * 0.01
    xy = project_2d(x, "pca")
    assert xy.shape == (200, 2)
    assert abs(np.corrcoef(xy[:, 0], x[:, 3])[0, 1]) > 0.999
    assert np.array_equal(xy, project_2d(x, "pca"))
    with pytest.raises(ValueError, match="projection must be one of"):
        project_2d(x, "tsne")


def test_colours_are_distinct_for_neighbouring_codes():
    colours = code_colours(np.arange(128))
    assert len(set(colours)) == 128 and all(c.startswith("#") and len(c) == 7 for c in colours)


def test_html_and_png_are_written(tmp_path):
    rng = np.random.default_rng(1)
    coords, codes = rng.standard_normal((50, 2)).astype(np.float32), rng.integers(0, 5, 50)
    html = write_html(coords, codes, [f"movie {i}" for i in range(50)], tmp_path / "a" / "map.html", "t")
    text = html.read_text()
    assert "movie 49" in text and "plotly" in text.lower() and len(text) > 1_000_000  # plotly.js inlined
    png = write_png(coords, codes, tmp_path / "map.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.rglob("*.tmp*"))


def test_umap_projection_keeps_clusters_apart_and_is_reproducible():
    # The first UMAP call in a process spends ~20 s compiling numba code; this is the only test paying it.
    rng = np.random.default_rng(2)
    blob = np.repeat(np.arange(3), 60)
    x = (np.eye(3, 16)[blob] * 5 + rng.standard_normal((180, 16)) * 0.3).astype(np.float32)
    xy = project_2d(x, "umap", seed=0, n_neighbors=10)
    assert xy.shape == (180, 2) and np.array_equal(xy, project_2d(x, "umap", seed=0, n_neighbors=10))
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (blob[d.argmin(1)] == blob).mean() > 0.95
    with pytest.raises(ValueError, match="more than n_neighbors=15"):
        project_2d(x[:10], "umap")


def test_auto_projection_is_umap_for_small_catalogues_and_pca_for_large_ones():
    from movielens_dag.semantic_ids.settings import SidMapSettings
    from movielens_dag.semantic_ids.visualise import choose_projection

    auto = SidMapSettings(umap_max_items=1_000)
    assert SidMapSettings().projection == "auto"
    assert choose_projection(auto, 1_000)[0] == "umap"
    method, why = choose_projection(auto, 1_001)
    assert method == "pca" and "1,001 movies > umap_max_items 1,000" in why
    assert choose_projection(SidMapSettings(projection="umap", umap_max_items=10), 87_585) == ("umap", "configured")

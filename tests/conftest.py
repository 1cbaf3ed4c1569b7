"""Shared fixtures: real data locations and one materialized MovieLens warehouse per session."""

from pathlib import Path

import pytest

from movielens_dag.paths import BUNDLED_MOVIELENS_DIR, PROJECT_ROOT, DataPaths

SHARED = PROJECT_ROOT.parent / "shared"
# Test folders whose tensors are small: a second torch thread only adds synchronisation on a busy
# 2-core box (measured 10-60x slower for batch-2 encodes and k-means seeding).
ONE_TORCH_THREAD_DIRS = {
    "embeddings",
    "semantic_ids",
    "recommender",
    "assets",
    "search",
    "genres",
    "publish",
    "rating_model",
    "reliability",
}


@pytest.fixture(autouse=True)
def one_torch_thread(request):
    if Path(str(request.node.fspath)).parent.name not in ONE_TORCH_THREAD_DIRS:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def bundled_release() -> Path:
    return BUNDLED_MOVIELENS_DIR / "ml-latest-small"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside this checkout")
    return SHARED


@pytest.fixture(scope="session")
def foundation_warehouse(tmp_path_factory) -> DataPaths:
    """A temp data dir with movielens, enrichment (no token: no HTTP) and documents materialized.

    Session-scoped: tests must not modify it (materialize into their own tmp_path instead).
    """
    import dagster as dg

    from movielens_dag.definitions import build_definitions

    root = tmp_path_factory.mktemp("foundation")
    defs = build_definitions(str(root))
    selection = dg.AssetSelection.groups("movielens", "enrichment", "documents")
    result = dg.materialize(list(defs.assets) + list(defs.asset_checks), selection=selection, resources=defs.resources)
    assert result.success
    return DataPaths(root)


@pytest.fixture(scope="session")
def bundled_documents(foundation_warehouse):
    """The real movie_documents asset materialized from the bundled ml-latest-small (9,742 rows)."""
    import pyarrow.parquet as pq

    table = pq.read_table(foundation_warehouse.asset_file("documents", "movie_documents"))
    assert table.num_rows == 9742
    return table

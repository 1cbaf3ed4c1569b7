"""Decide where a release's files come from: a local folder, the bundled copy, or a download."""

from collections.abc import Callable
from pathlib import Path

import httpx

from movielens_dag.movielens.download import download_zip, extract_zip
from movielens_dag.movielens.errors import DataError
from movielens_dag.movielens.variants import Variant
from movielens_dag.paths import BUNDLED_MOVIELENS_DIR, DataPaths


def resolve_source_dir(
    variant: Variant,
    paths: DataPaths,
    source_dir: str | None = None,
    base_url: str | None = None,
    expected_md5: str | None = None,
    log: Callable[[str], None] = print,
    timeout: float = 60.0,
) -> Path:
    """The folder holding ``movies.*``, ``ratings.*``, … for ``variant``.

    Order: ``source_dir`` (the release folder itself or its parent), then the bundled copy
    (ml-latest-small only), then the official zip (downloaded once, verified, extracted).
    """
    movies = variant.file_name("movies")
    if source_dir:
        root = Path(source_dir).expanduser()
        for candidate in (root, root / variant.folder):
            if (candidate / movies).exists():
                return candidate
        raise DataError(
            root, None, f"no {movies} here or in {variant.folder}/ for variant {variant.name}",
            "Set MOVIELENS_SOURCE_DIR to the extracted release folder, or unset it to download",
        )
    bundled = BUNDLED_MOVIELENS_DIR / variant.name
    if (bundled / movies).exists():
        return bundled
    if not base_url:
        raise DataError(paths.downloads, None, f"{variant.name} is not bundled and no download URL is set")
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        zip_path = download_zip(client, base_url, variant, paths.downloads, expected_md5, log)
    return extract_zip(zip_path, paths.raw, variant)

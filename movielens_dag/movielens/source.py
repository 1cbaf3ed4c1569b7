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
            root,
            None,
            f"no {movies} here or in {variant.folder}/ for variant {variant.name}",
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


REQUIRED_TABLES = ("movies", "ratings")


def check_release_folder(folder: Path, variant: Variant) -> list[str]:
    """The files of ``variant`` the readers need, all present and non-empty; returns their names.

    Raises before anything is stored, so a bad folder never replaces a good ``movielens_files``."""
    need = list(REQUIRED_TABLES) + (["links"] if variant.has_links else []) + (["tags"] if variant.has_tags else [])
    names = [variant.file_name(t) for t in need]
    missing = [n for n in names if not (folder / n).is_file()]
    empty = [n for n in names if (folder / n).is_file() and (folder / n).stat().st_size == 0]
    if missing or empty:
        raise DataError(
            folder,
            None,
            f"{variant.name} release folder is incomplete: "
            + "; ".join(
                p
                for p in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"empty {', '.join(empty)}" if empty else "",
                )
                if p
            ),
            "Point MOVIELENS_SOURCE_DIR at a complete extracted release (nothing stored was changed)",
        )
    return names


def check_stored_source(
    stored_variant: str, stored_dir: Path, variant: Variant, configured_dir: str | None, paths: DataPaths
) -> None:
    """The stored ``movielens_files`` must describe the release configured now; otherwise readers would
    silently read the old folder. Raises naming both and what to run."""
    problem = None
    if stored_variant != variant.name:
        problem = f"it holds {stored_variant} but MOVIELENS_VARIANT is {variant.name}"
    elif configured_dir:
        root = Path(configured_dir).expanduser().resolve()
        if stored_dir.resolve() not in (root, (root / variant.folder).resolve()):
            problem = f"it points at {stored_dir} but MOVIELENS_SOURCE_DIR is {configured_dir}"
    else:
        bundled = (BUNDLED_MOVIELENS_DIR / variant.name).resolve()
        if stored_dir.resolve() != bundled and paths.raw.resolve() not in stored_dir.resolve().parents:
            problem = f"it points at {stored_dir} but MOVIELENS_SOURCE_DIR is unset (bundled or downloaded release)"
    if problem:
        raise DataError(
            stored_dir,
            None,
            f"the stored movielens_files does not match the configured source: {problem}",
            "Materialize movielens_files first (or the whole movielens group) so the configured source is read",
        )

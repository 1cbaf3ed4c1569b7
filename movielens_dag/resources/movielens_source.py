from collections.abc import Callable
from pathlib import Path

import dagster as dg

from movielens_dag.movielens.source import resolve_source_dir
from movielens_dag.movielens.variants import DEFAULT_BASE_URL, Variant, get_variant
from movielens_dag.paths import DataPaths

# A fixed release's core table with under half its documented rows is a truncated file, not data.
MIN_FRACTION = 0.5


class MovieLensSource(dg.ConfigurableResource):
    """Which MovieLens release to ingest and where its files come from.

    'variant' (env 'MOVIELENS_VARIANT'): ml-latest-small (bundled, default), ml-1m, ml-10m,
    ml-20m, ml-25m, ml-32m, ml-latest. 'source_dir' (env 'MOVIELENS_SOURCE_DIR'): an extracted
    release folder; without it the official zip is downloaded from 'base_url'. 'subset' (env
    'MOVIELENS_SUBSET'): the folder holds part of the release on purpose, so the documented sizes are
    not enforced.
    """

    variant: str = "ml-latest-small"
    source_dir: str | None = None
    base_url: str = DEFAULT_BASE_URL
    expected_md5: str | None = None
    subset: bool = False  # MOVIELENS_SUBSET: the folder is a deliberate part of the release

    def min_fraction(self) -> float | None:
        """How much of the documented size movies/ratings must have (None: a deliberate subset)."""
        return None if self.subset else MIN_FRACTION

    def get_variant(self) -> Variant:
        return get_variant(self.variant)

    def resolve(self, paths: DataPaths, log: Callable[[str], None]) -> Path:
        return resolve_source_dir(self.get_variant(), paths, self.source_dir, self.base_url, self.expected_md5, log)

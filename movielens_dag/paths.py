"""The one place where file locations are decided.

Everything the pipeline writes lives under one data directory (``MOVIELENS_DATA_DIR``, default
``<repo>/data``). The bundled MovieLens copy is part of the source tree and never written to.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
BUNDLED_MOVIELENS_DIR = PROJECT_ROOT / "data" / "movielens"
OVERRIDES_DIR = PROJECT_ROOT / "data" / "overrides"


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$MOVIELENS_DATA_DIR``, else ``<repo>/data``."""
    return Path(explicit or os.environ.get("MOVIELENS_DATA_DIR") or DEFAULT_DATA_DIR)


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")


def safe_name(name: str) -> str:
    """Return ``name`` if it is safe as a file name (partition keys, asset names), else raise."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"{name!r} cannot be used as a file name: use letters, digits, '_', '-', '.', '='")
    return name


@dataclass(frozen=True)
class DataPaths:
    """Layout of a data directory. Creating the object touches nothing on disk."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    @property
    def warehouse(self) -> Path:  # Parquet files, one folder per asset group
        return self.root / "warehouse"

    @property
    def duckdb_file(self) -> Path:  # catalogue of views over the Parquet files
        return self.root / "warehouse.duckdb"

    @property
    def staging(self) -> Path:  # temp files renamed into the warehouse (same filesystem)
        return self.warehouse / "_staging"

    @property
    def downloads(self) -> Path:  # dataset zips
        return self.root / "downloads"

    @property
    def raw(self) -> Path:  # extracted datasets
        return self.root / "raw"

    @property
    def cache(self) -> Path:  # HTTP fetch store and other resumable caches
        return self.root / "cache"

    @property
    def posters(self) -> Path:  # poster images, content-addressed: <sha[:2]>/<sha256>.jpg
        return self.root / "posters"

    @property
    def models(self) -> Path:  # downloaded or trained model weights
        return self.root / "models"

    @property
    def artifacts(self) -> Path:  # plots and HTML reports linked from asset metadata
        return self.root / "artifacts"

    @property
    def checkpoints(self) -> Path:  # training checkpoints
        return self.root / "checkpoints"

    @property
    def published(self) -> Path:  # dataset folders ready to upload (Hugging Face datasets layout)
        return self.root / "published"

    def asset_file(self, group: str, asset: str, partition: str | None = None) -> Path:
        """``warehouse/<group>/<asset>.parquet``, or ``warehouse/<group>/<asset>/<partition>.parquet``."""
        base = self.warehouse / safe_name(group)
        if partition is None:
            return base / f"{safe_name(asset)}.parquet"
        return base / safe_name(asset) / f"{safe_name(partition)}.parquet"

    def asset_location(self, group: str, asset: str, partitioned: bool) -> Path:
        """The file of an unpartitioned asset, or the folder holding a partitioned asset's files."""
        if partitioned:
            return self.warehouse / safe_name(group) / safe_name(asset)
        return self.asset_file(group, asset)

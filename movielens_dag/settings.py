"""The settings spine: every environment variable in one list, and the helpers every setting uses.

* ``ENVIRONMENT`` lists each variable the project reads, its default and what it means. The
  environment is read once, where the Dagster definitions are built (``read_environment``); nothing
  reads ``os.environ`` at import time or inside an asset. Secrets reach resources as ``dg.EnvVar``.
* Settings of a computation are plain frozen dataclasses next to the code that uses them
  (``EmbeddingSettings``, ``SidSettings``, ``RecConfig`` ...), nested where they nest. ``setting()``
  declares a field with its help text; the Dagster ``Config`` classes are generated from these
  dataclasses (``movielens_dag.resources.config``), so a knob is written down exactly once.
* ``override()`` applies a partial, possibly nested mapping of changes to a settings dataclass (None
  keeps the current value): presets + run config, deployment defaults + run config.

Plain code: no Dagster import.
"""

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from movielens_dag.paths import DEFAULT_DATA_DIR


@dataclass(frozen=True)
class EnvSetting:
    name: str
    default: str | None
    meaning: str
    secret: bool = False


ENVIRONMENT: tuple[EnvSetting, ...] = (
    EnvSetting(
        "MOVIELENS_DATA_DIR",
        str(DEFAULT_DATA_DIR),
        "root for the warehouse, caches, downloads, models, plots and checkpoints",
    ),
    EnvSetting(
        "MOVIELENS_VARIANT",
        "ml-latest-small",
        "the MovieLens release: ml-latest-small, ml-1m, ml-10m, ml-20m, ml-25m, ml-32m, ml-latest",
    ),
    EnvSetting("MOVIELENS_SOURCE_DIR", None, "an extracted release folder to read instead of downloading"),
    EnvSetting(
        "MOVIELENS_BASE_URL",
        "https://files.grouplens.org/datasets/movielens",
        "where <variant>.zip and <variant>.zip.md5 are downloaded from",
    ),
    EnvSetting("MOVIELENS_MD5", None, "expected MD5 of the zip when no .md5 file is published beside it"),
    EnvSetting(
        "MOVIELENS_SUBSET",
        None,
        "set to 1 when MOVIELENS_SOURCE_DIR holds a deliberate part of a release: "
        "the documented sizes are then not enforced",
    ),
    EnvSetting(
        "TMDB_READ_ACCESS_TOKEN",
        None,
        "TMDB 'API Read Access Token' (Bearer); unset: the TMDB assets make no request",
        secret=True,
    ),
    EnvSetting(
        "TMDB_API_BASE_URL",
        "https://api.themoviedb.org/3",
        "TMDB API root (point it at the local emulator to work offline)",
    ),
    EnvSetting("TMDB_REQUESTS_PER_SECOND", "40", "token-bucket rate for TMDB requests"),
    EnvSetting("TMDB_IMAGE_REQUESTS_PER_SECOND", "20", "token-bucket rate for poster images from image.tmdb.org"),
    EnvSetting("IMDB_GRAPHQL_URL", None, "opt-in IMDb GraphQL endpoint (unofficial, often blocked)"),
    EnvSetting(
        "WIKIPEDIA_PLOTS_CSV", None, "the Kaggle 'Wikipedia Movie Plots' CSV; unset: the bundled 1901-1935 extract"
    ),
    EnvSetting(
        "MOVIELENS_EMBEDDING_MODEL",
        "bundled",
        "default embedding model: 'bundled' (MiniLM), a hub id or a local folder",
    ),
    EnvSetting("MOVIELENS_EMBEDDING_DEVICE", "auto", "default embedding device: auto, cpu, cuda, cuda:1, ..."),
    EnvSetting("MOVIELENS_EMBEDDING_SHARDS", "8", "how many static shards movie_embedding_shards has"),
    EnvSetting(
        "MOVIELENS_EMBEDDING_CELERY_QUEUE",
        None,
        "with the Celery executor, the queue embedding steps go to (e.g. 'gpu')",
    ),
    EnvSetting("CELERY_BROKER_URL", None, "Celery deployment only: the broker, e.g. redis://broker:6379/0"),
    EnvSetting("CELERY_RESULT_BACKEND", None, "Celery deployment only: the result backend, e.g. redis://broker:6379/1"),
    EnvSetting(
        "HF_TOKEN",
        None,
        "Hugging Face token with write access: `movielens-dag publish` uploads the dataset "
        "with it; unset: it prints what it would upload",
        secret=True,
    ),
    EnvSetting(
        "MOVIELENS_ARTIFACTS_URL",
        "http://127.0.0.1:3001",
        "where `movielens-dag dev` serves <data dir>/artifacts, so plots open in the UI",
    ),
)
_BY_NAME = {s.name: s for s in ENVIRONMENT}


@dataclass(frozen=True)
class Environment:
    """The project's environment variables as read once: ``value()`` falls back to the default."""

    values: Mapping[str, str]  # only the variables that are set (non-empty)

    def is_set(self, name: str) -> bool:
        _known(name)
        return name in self.values

    def value(self, name: str) -> str | None:
        return self.values.get(name, _known(name).default)

    def int(self, name: str) -> int:
        raw = self.value(name)
        try:
            return int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{name}={raw!r} is not an integer: {_known(name).meaning}") from None

    def float(self, name: str) -> float:
        raw = self.value(name)
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{name}={raw!r} is not a number: {_known(name).meaning}") from None


def _known(name: str) -> EnvSetting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not listed in movielens_dag.settings.ENVIRONMENT") from None


def read_environment(environ: Mapping[str, str] | None = None) -> Environment:
    environ = os.environ if environ is None else environ
    return Environment({s.name: environ[s.name] for s in ENVIRONMENT if environ.get(s.name, "").strip()})


# --- settings dataclasses ----------------------------------------------------------------------


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its help text (shown in the Dagster launchpad). Lists use ``factory``."""
    if isinstance(default, (list, dict, set)):
        value = default
        factory, default = (lambda: type(value)(value)), dataclasses.MISSING
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help})


def help_of(field: dataclasses.Field) -> str:
    return field.metadata.get("help", "")


def field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of a settings dataclass (works with string annotations too)."""
    return typing.get_type_hints(cls)


def override(base: Any, changes: Mapping[str, Any] | None) -> Any:
    """``base`` with ``changes`` applied: None keeps a value; a mapping for a nested dataclass field
    is applied to it recursively. Unknown names are an error naming the known ones."""
    if not changes:
        return base
    if not dataclasses.is_dataclass(base):
        raise TypeError(f"override() needs a dataclass instance, got {type(base).__name__}")
    fields = {f.name: f for f in dataclasses.fields(base)}
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {type(base).__name__}; known: {sorted(fields)}")
    updates = {}
    for name, value in changes.items():
        if value is None:
            continue
        current = getattr(base, name)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            value = override(current, value)
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        updates[name] = value
    return dataclasses.replace(base, **updates) if updates else base


def as_dict(settings: Any) -> dict[str, Any]:
    """A nested plain dict of a settings dataclass (tuples become lists), for metadata and JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(settings))

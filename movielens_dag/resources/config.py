"""Dagster ``Config`` classes generated from the plain settings dataclasses (one source of truth).

``config_class(EmbeddingSettings)`` gives a ``dg.Config`` with the same fields, defaults and help
texts (nested dataclasses become nested configs, tuples become lists, ``Literal`` becomes its base
type). ``optional=True`` makes every field default to None, for configs that override a preset:
``to_changes(config)`` then yields only what the user set, ready for ``settings.override``.
"""

import dataclasses
import functools
import types
import typing
from typing import Any, Literal, Union

import dagster as dg
from pydantic import Field, create_model

from movielens_dag.settings import field_types, help_of, override


def _config_type(tp: Any, optional: bool) -> Any:
    """The pydantic type of a dataclass field type."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return config_class(tp, optional=optional)
    if origin is Literal:
        return type(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _config_type(args[0], optional) if len(args) == 1 else tp
        return inner | None
    if origin is tuple:
        return list[typing.get_args(tp)[0]]
    return tp


@functools.cache
def config_class(
    settings_cls: type,
    *,
    optional: bool = False,
    name: str | None = None,
    defaults: Any = None,
    extra: tuple[tuple[str, type, str], ...] = (),
) -> type[dg.Config]:
    """A ``dg.Config`` subclass mirroring ``settings_cls``; ``defaults`` (an instance) replaces the
    dataclass defaults (e.g. deployment settings from the environment); ``extra`` adds nested config
    fields (name, config class, description), e.g. optional overrides of a preset."""
    hints = field_types(settings_cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(settings_cls):
        tp = _config_type(hints[f.name], optional)
        desc = help_of(f)
        if optional:
            nested = dataclasses.is_dataclass(hints[f.name])
            fields[f.name] = (
                tp if nested else tp | None,
                Field(default_factory=tp, description=desc)
                if nested
                else Field(default=None, description=desc + " (empty: the preset's value)"),
            )
            continue
        if defaults is not None:
            default = getattr(defaults, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            fields[f.name] = (tp, Field(description=desc))
            continue
        if dataclasses.is_dataclass(default):
            nested_cls = config_class(type(default), defaults=default)
            fields[f.name] = (nested_cls, Field(default_factory=nested_cls, description=desc))
        else:
            value = list(default) if isinstance(default, tuple) else default
            fields[f.name] = (tp, Field(default=value, description=desc))  # a plain default shows in the UI
    for extra_name, extra_cls, desc in extra:
        fields[extra_name] = (extra_cls, Field(default_factory=extra_cls, description=desc))
    doc = (settings_cls.__doc__ or "").strip()
    cls = create_model(
        name or settings_cls.__name__.replace("Settings", "") + "Config", __base__=dg.Config, __doc__=doc, **fields
    )
    return cls


def to_changes(config: dg.Config) -> dict[str, Any]:
    """The config as a nested dict without the fields left empty (None)."""
    out: dict[str, Any] = {}
    for name, value in config:
        if isinstance(value, dg.Config):
            value = to_changes(value)
            if not value:
                continue
        if value is not None:
            out[name] = value
    return out


def to_settings(config: dg.Config, base: Any) -> Any:
    """``base`` (a settings dataclass instance) with every value the config holds for its fields."""
    names = {f.name for f in dataclasses.fields(base)}
    return override(base, {k: v for k, v in to_changes(config).items() if k in names})

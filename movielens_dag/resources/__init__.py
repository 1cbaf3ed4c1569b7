"""Dagster resources. Configuration that deployments change arrives here from the environment."""

import os

import dagster as dg


def env_or_default(name: str, default: object) -> object:
    """``dg.EnvVar(name)`` when the variable is set (resolved at run time; the UI shows only the
    variable's name, so secrets stay out of run config), else ``default``."""
    return dg.EnvVar(name) if os.environ.get(name) else default

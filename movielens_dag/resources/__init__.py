"""Dagster resources. Deployment settings reach them from the environment, read once per definitions."""

import dagster as dg

from movielens_dag.settings import Environment


def from_env(env: Environment, name: str, kind: type = str) -> object:
    """``dg.EnvVar(name)`` when the variable is set (resolved at run time; the UI shows only the
    variable's name, so secrets stay out of run config), else the default from settings.ENVIRONMENT."""
    if env.is_set(name):
        return dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)
    default = env.value(name)
    if default is None:
        return None
    return {int: env.int, float: env.float}.get(kind, env.value)(name)

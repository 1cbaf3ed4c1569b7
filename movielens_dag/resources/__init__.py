"""Dagster resources. Configuration that deployments change arrives here from the environment."""

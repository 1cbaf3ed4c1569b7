"""Dagster wiring, one module per asset group. definitions.py loads every module listed there."""

"""A publishable copy of the warehouse: a folder in the Hugging Face datasets layout, its dataset card,
and the upload (plain code, no Dagster)."""

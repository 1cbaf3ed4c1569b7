"""MovieLens releases: variants, download, parsing and validation (plain code, no Dagster)."""

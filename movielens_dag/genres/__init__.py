"""Multi-label genre classifier on vectors of genre-blind documents (plain code, no Dagster)."""

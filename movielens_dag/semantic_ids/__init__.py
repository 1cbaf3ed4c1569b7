"""Semantic IDs for items: residual k-means and RQ-VAE quantisers, the uniqueness digit, quality
metrics and the SID map. Plain torch/numpy; no Dagster. Heavy imports happen in the submodules."""

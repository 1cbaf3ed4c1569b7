"""The rating model: biases, MF and a DLRM predicting explicit ratings (see docs/rating_model.md).

Plain code, no Dagster. ``settings``, ``columns``, ``data``, ``features``, ``metrics``, ``results`` and
``text`` import no torch; ``model``, ``train`` and ``experiment`` do.
"""

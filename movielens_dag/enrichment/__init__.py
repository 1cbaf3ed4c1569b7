"""Enrichment sources (TMDB, IMDb GraphQL, Wikipedia plots): clients, parsers, matching, overrides.

Plain Python: no Dagster imports. HTTP goes through ``movielens_dag.http.fetcher.RateLimitedFetcher``.
"""

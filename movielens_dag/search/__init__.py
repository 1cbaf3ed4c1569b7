"""Search over the movie vectors: exact neighbours (full or incremental), their quality, SQL macros for
ad-hoc similar-movie queries, and free-text search. Plain code: no Dagster import."""

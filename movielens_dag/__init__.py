"""movielens-dag: a Dagster code location over a Parquet + DuckDB MovieLens warehouse."""

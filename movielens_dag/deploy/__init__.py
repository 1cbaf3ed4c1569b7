"""Code locations for distributed deployments (the default one is movielens_dag.definitions)."""

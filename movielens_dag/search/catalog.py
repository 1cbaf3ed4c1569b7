"""Install the search macros into the warehouse catalogue, over whichever views exist now."""

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths
from movielens_dag.search.sql import macro_names, search_macros_ddl

NEEDS = ("movielens.movies", "embeddings.movie_embeddings")
OPTIONAL = {"semantic_ids": "semantic_ids.semantic_ids", "genre_predictions": "search.genre_predictions"}


def install_search_macros(paths: DataPaths, timeout: float = 30.0) -> list[str]:
    """Create or replace the macros (their behaviour without an optional view: an error saying what to
    materialize). Returns the macro names, or [] while movies or movie_embeddings have no view yet."""
    views = {spec.qualified for spec in warehouse.discover_views(paths)}
    if not all(v in views for v in NEEDS):
        return []
    ddl = search_macros_ddl(**{k: (v if v in views else None) for k, v in OPTIONAL.items()})
    warehouse.run_catalog_ddl(paths, ddl, timeout)
    return list(macro_names())

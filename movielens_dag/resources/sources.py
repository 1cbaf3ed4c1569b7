"""Data files the enrichment reads that are not fetched over HTTP."""

from pathlib import Path

import dagster as dg

from movielens_dag.paths import PROJECT_ROOT

BUNDLED_WIKIPEDIA_CSV = PROJECT_ROOT / "data" / "wikipedia" / "wiki_movie_plots_1901-1935.csv"


class WikipediaPlotsSource(dg.ConfigurableResource):
    """The Kaggle "Wikipedia Movie Plots" CSV ('WIKIPEDIA_PLOTS_CSV'; default: the bundled 1901-1935
    extract). Use the full 1901-2017 file for coverage beyond 1935."""

    csv_path: str | None = None

    def path(self) -> Path:
        return Path(self.csv_path) if self.csv_path else BUNDLED_WIKIPEDIA_CSV

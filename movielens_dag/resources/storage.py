import dagster as dg

from movielens_dag.paths import DataPaths


class DataDir(dg.ConfigurableResource):
    """Root of everything the pipeline writes (``MOVIELENS_DATA_DIR``, default ``<repo>/data``)."""

    data_dir: str

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.data_dir)

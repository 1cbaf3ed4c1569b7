from pathlib import Path

import dagster as dg

from movielens_dag.paths import DataPaths


class DataDir(dg.ConfigurableResource):
    """Root of everything the pipeline writes ('MOVIELENS_DATA_DIR', default '<repo>/data'), and
    where 'movielens-dag dev' serves its 'artifacts/' folder ('MOVIELENS_ARTIFACTS_URL')."""

    data_dir: str
    artifacts_url: str | None = None

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.data_dir)

    def artifact_url(self, path: Path) -> str | None:
        """The http URL of a file under ``<data dir>/artifacts`` (None without an artifacts server)."""
        if not self.artifacts_url:
            return None
        relative = Path(path).resolve().relative_to(self.paths.artifacts)
        return self.artifacts_url.rstrip("/") + "/" + relative.as_posix()

    def image_markdown(self, path: Path, alt: str) -> dg.MetadataValue:
        """A picture the UI shows inline in the metadata table (a short link to the artifacts server);
        without a server, the file path."""
        url = self.artifact_url(path)
        if url is None:
            return dg.MetadataValue.path(str(path))
        return dg.MetadataValue.md(f"![{alt}]({url})")

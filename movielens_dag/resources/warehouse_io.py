import os
import pathlib

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths
from movielens_dag.resources.storage import DataDir

SUPPORTED = "a pandas DataFrame, a pyarrow Table or a movielens_dag.warehouse.StagedParquet"


def _group(spec: dg.AssetSpec) -> str:
    return spec.group_name or "default"


def _schema_metadata(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores every asset as Parquet under the data dir and keeps a DuckDB view over it.

    ``warehouse/<group>/<asset>.parquet`` (partitioned: ``warehouse/<group>/<asset>/<key>.parquet``),
    view ``<group>.<asset>`` in ``warehouse.duckdb``.
    """

    data_dir: DataDir
    catalog_timeout_seconds: float = 30.0

    @property
    def paths(self) -> DataPaths:
        return self.data_dir.paths

    def _location(self, spec: dg.AssetSpec, partition: str | None) -> pathlib.Path:
        return self.paths.asset_file(_group(spec), spec.key.path[-1], partition)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            raise TypeError(
                f"asset {context.asset_key.to_user_string()} returned None; return {SUPPORTED}"
            )
        spec = context.asset_spec
        partition = context.asset_partition_key if context.has_asset_partitions else None
        dest = self._location(spec, partition)
        if isinstance(obj, warehouse.StagedParquet):
            warehouse.publish_staged(obj, dest)
        elif isinstance(obj, (pd.DataFrame, pa.Table)):
            warehouse.write_parquet_atomic(obj, dest)
        else:
            raise TypeError(
                f"asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                f"the warehouse stores {SUPPORTED}"
            )

        view = warehouse.ViewSpec(
            _group(spec), spec.key.path[-1], dest.parent if partition else dest, bool(partition)
        )
        try:
            warehouse.ensure_views(self.paths, [view], self.catalog_timeout_seconds)
            view_status = "ok"
        except warehouse.CatalogLocked as exc:
            # The data is safely written; only the catalogue refresh waits for the reader to leave.
            context.log.warning(str(exc))
            view_status = "pending: DuckDB file locked by another process"

        parquet = pq.ParquetFile(dest)
        head = next(parquet.iter_batches(batch_size=5), None)
        preview = pa.Table.from_batches([head]) if head is not None else parquet.schema_arrow.empty_table()
        context.add_output_metadata(
            {
                "dagster/row_count": dg.MetadataValue.int(parquet.metadata.num_rows),
                "dagster/column_schema": _schema_metadata(parquet.schema_arrow),
                "path": dg.MetadataValue.path(str(dest)),
                "size_bytes": dg.MetadataValue.int(os.path.getsize(dest)),
                "duckdb_view": dg.MetadataValue.text(f"{view.qualified} ({view_status})"),
                "preview": dg.MetadataValue.md(warehouse.preview_markdown(preview)),
            }
        )

    def load_input(self, context: dg.InputContext) -> object:
        upstream = context.upstream_output
        spec = upstream.asset_spec
        name = spec.key.path[-1]
        partitioned = _has_partitions_def(upstream)
        location = self.paths.asset_location(_group(spec), name, partitioned)
        files = warehouse.parquet_files(location)
        if partitioned and context.has_asset_partitions:
            wanted = set(context.asset_partition_keys)
            files = [f for f in files if f.stem in wanted]
            missing = wanted - {f.stem for f in files}
            if missing:
                raise FileNotFoundError(
                    f"{name}: partitions {sorted(missing)} are not materialized in {location}"
                )
        if not files:
            raise FileNotFoundError(f"no Parquet data at {location}: materialize {name} first")

        typ = context.dagster_type.typing_type
        if typ is pathlib.Path:
            return files[0] if len(files) == 1 else location
        tables = [pq.read_table(f) for f in files]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
        return table if typ is pa.Table else table.to_pandas()


def _has_partitions_def(output: dg.OutputContext) -> bool:
    try:
        return output.asset_partitions_def is not None
    except dg.DagsterInvariantViolationError:
        return False

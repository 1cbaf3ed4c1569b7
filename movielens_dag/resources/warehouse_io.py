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


def column_schema(schema: pa.Schema, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    """The stored columns with their Arrow types and, where the asset declares them, descriptions."""
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[dg.TableColumn(f.name, str(f.type), description=descriptions.get(f.name)) for f in schema]
    )


def _column_descriptions(context: dg.OutputContext) -> dict[str, str]:
    """Descriptions from the asset's definition metadata ``dagster/column_schema``."""
    declared = (context.definition_metadata or {}).get("dagster/column_schema")
    schema = getattr(declared, "schema", declared)
    if not isinstance(schema, dg.TableSchema):
        return {}
    return {c.name: c.description for c in schema.columns if c.description}


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores every asset as Parquet under the data dir and keeps a DuckDB view over it.

    'warehouse/<group>/<asset>.parquet' (partitioned: 'warehouse/<group>/<asset>/<key>.parquet'),
    view '<group>.<asset>' in 'warehouse.duckdb'.
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
            raise TypeError(f"asset {context.asset_key.to_user_string()} returned None; return {SUPPORTED}")
        spec = context.asset_spec
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            # a run over a range of partitions returns {partition key: table}
            keys = set(context.asset_partition_keys)
            if not isinstance(obj, dict) or set(obj) != keys:
                raise TypeError(
                    f"asset {context.asset_key.to_user_string()} ran for partitions {sorted(keys)} "
                    "and must return a dict with one table per partition key"
                )
            written = [self._write(spec, key, obj[key]) for key in sorted(obj)]
        else:
            partition = context.asset_partition_key if context.has_asset_partitions else None
            written = [self._write(spec, partition, obj)]
        partitioned = context.has_asset_partitions
        dest = written[-1]
        view = warehouse.ViewSpec(_group(spec), spec.key.path[-1], dest.parent if partitioned else dest, partitioned)
        try:
            warehouse.ensure_views(self.paths, [view], self.catalog_timeout_seconds)
            view_status = "ok"
        except warehouse.CatalogLocked as exc:
            # The data is safely written; only the catalogue refresh waits for the reader to leave.
            context.log.warning(str(exc))
            view_status = "pending: DuckDB file locked by another process"
        context.add_output_metadata(self._file_metadata(context, written, view, view_status))

    def _write(self, spec: dg.AssetSpec, partition: str | None, obj: object) -> pathlib.Path:
        dest = self._location(spec, partition)
        if isinstance(obj, warehouse.StagedParquet):
            warehouse.publish_staged(obj, dest)
        elif isinstance(obj, (pd.DataFrame, pa.Table)):
            warehouse.write_parquet_atomic(obj, dest)
        else:
            raise TypeError(
                f"asset {spec.key.to_user_string()} returned {type(obj).__name__}; the warehouse stores {SUPPORTED}"
            )
        return dest

    def _file_metadata(
        self, context: dg.OutputContext, files: list[pathlib.Path], view: warehouse.ViewSpec, view_status: str
    ) -> dict:
        parquet = pq.ParquetFile(files[0])
        head = next(parquet.iter_batches(batch_size=5), None)
        preview = pa.Table.from_batches([head]) if head is not None else parquet.schema_arrow.empty_table()
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        size = sum(os.path.getsize(f) for f in files)
        return {
            "dagster/row_count": dg.MetadataValue.int(rows),
            "dagster/column_schema": column_schema(parquet.schema_arrow, _column_descriptions(context)),
            "path": dg.MetadataValue.path(str(files[0] if len(files) == 1 else files[0].parent)),
            "size": dg.MetadataValue.text(human_size(size)),
            "duckdb_view": dg.MetadataValue.text(f"{view.qualified} ({view_status})"),
            "preview": dg.MetadataValue.md(warehouse.preview_markdown(preview)),
        }

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
            # An input declared with metadata allow_missing_partitions (e.g. a leaderboard over
            # whichever variants were trained) reads the partitions that exist and says which do not.
            if missing and (context.definition_metadata or {}).get("allow_missing_partitions"):
                context.log.info(
                    f"{name}: reading {len(files)} materialized partition(s); not materialized: "
                    f"{', '.join(sorted(missing))}"
                )
            elif missing:
                raise FileNotFoundError(f"{name}: partitions {sorted(missing)} are not materialized in {location}")
        typ = context.dagster_type.typing_type
        if not files:
            if typ is pathlib.Path and (context.definition_metadata or {}).get("allow_missing"):
                return location  # the asset reads it only if it needs it, and says so when it is missing
            if partitioned and (context.definition_metadata or {}).get("allow_missing_partitions"):
                # none materialized yet: an empty table (the leaderboard skips a protocol without runs)
                return pa.table({}) if typ is pa.Table else pd.DataFrame()
            raise FileNotFoundError(f"no Parquet data at {location}: materialize {name} first")
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

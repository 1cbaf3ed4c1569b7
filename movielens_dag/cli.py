"""`movielens-dag`: query the warehouse (read-only), refresh its catalogue, print the leaderboard.

Materializing is Dagster's: `dg launch --job demo_job`, or the UI (`make dev`)."""

import argparse
import csv
import sys

import duckdb
import pyarrow as pa

from movielens_dag import warehouse
from movielens_dag.paths import DataPaths, resolve_data_dir

# Statement types that cannot write: the connection is read-only as well, but COPY/EXPORT/ATTACH
# could still write files elsewhere, so they are refused before anything runs.
READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA", "CALL"}


def data_paths(data_dir: str | None) -> DataPaths:
    return DataPaths(resolve_data_dir(data_dir))


# Rows per Arrow record batch when streaming a result: bounds memory whatever the result size.
BATCH_ROWS = 65_536
DEFAULT_SHOWN_ROWS = 40  # table and markdown show this many rows unless --max-rows says otherwise


def run_sql(paths: DataPaths, sql: str, fmt: str, max_rows: int | None = None, out=None) -> int:
    """Run read-only statements and print each result; csv and markdown stream Arrow record batches.

    ``max_rows`` caps the rows printed in every format (None: 40 for table and markdown, all for csv;
    0: all). A capped result says so on stderr. Memory stays bounded by one batch, whatever the size.
    """
    out = out or sys.stdout
    limit = (None if fmt == "csv" else DEFAULT_SHOWN_ROWS) if max_rows is None else (max_rows or None)
    con = warehouse.connect_read_only(paths)
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if not statements:
            print("error: no SQL statement given", file=sys.stderr)
            return 2
        for statement in statements:
            kind = statement.type.name
            if kind not in READ_ONLY_STATEMENTS:
                print(
                    f"error: {kind} statements are not allowed; `movielens-dag sql` is read-only "
                    f"(allowed: {', '.join(sorted(READ_ONLY_STATEMENTS))})",
                    file=sys.stderr,
                )
                return 2
        for statement in statements:
            try:
                relation = con.sql(statement.query)
                if relation is None:
                    continue
                if fmt == "table":
                    relation.show(max_rows=limit or 2**62, max_width=200)
                    continue
                # One row past the cap tells whether the result was cut, without running the rest of it.
                batches = (relation if limit is None else relation.limit(limit + 1)).fetch_record_batch(BATCH_ROWS)
                if fmt == "csv":
                    shown, more = _write_csv(batches, out, limit)
                else:
                    head = _first_rows(batches, limit)
                    shown, more = min(head.num_rows, limit or head.num_rows), limit is not None and head.num_rows > limit
                    out.write(warehouse.preview_markdown(head, rows=shown, max_chars=200) + "\n")
                if more:
                    print(f"(first {shown:,} rows shown; --max-rows N to change, --max-rows 0 for all)", file=sys.stderr)
            except duckdb.Error as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        return 0
    finally:
        con.close()


def _write_csv(batches: pa.RecordBatchReader, out, limit: int | None) -> tuple[int, bool]:
    """Write batches as CSV (header first) up to ``limit`` rows; (rows written, whether more were left)."""
    writer = csv.writer(out)
    writer.writerow(batches.schema.names)
    written = 0
    for batch in batches:
        if limit is not None and written + batch.num_rows > limit:
            batch = batch.slice(0, limit - written)
            writer.writerows(zip(*(c.to_pylist() for c in batch.columns)))
            return written + batch.num_rows, True
        writer.writerows(zip(*(c.to_pylist() for c in batch.columns)))
        written += batch.num_rows
    return written, False


def _first_rows(batches: pa.RecordBatchReader, limit: int | None) -> pa.Table:
    """Up to ``limit + 1`` rows (all rows when ``limit`` is None) as one table."""
    kept, count = [], 0
    for batch in batches:
        kept.append(batch)
        count += batch.num_rows
        if limit is not None and count > limit:
            break
    return pa.Table.from_batches(kept, schema=batches.schema)


def cmd_sql(args: argparse.Namespace) -> int:
    try:
        return run_sql(data_paths(args.data_dir), args.query, args.format, args.max_rows)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_catalog(args: argparse.Namespace) -> int:
    paths = data_paths(args.data_dir)
    changed = warehouse.sync_catalog(paths)
    views = warehouse.discover_views(paths)
    print(f"{len(views)} views in {paths.duckdb_file}; refreshed: {', '.join(changed) or 'none'}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """The recommender leaderboard as the README's markdown table (read-only, from the DuckDB view)."""
    from movielens_dag.recommender.results import markdown

    paths = data_paths(args.data_dir)
    try:
        con = warehouse.connect_read_only(paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        board = con.execute("SELECT * FROM recommender.recommender_leaderboard ORDER BY dataset, rank").df()
    except duckdb.Error as exc:
        print(f"error: {exc}\nmaterialize the recommender first: make leaderboard (or make demo)", file=sys.stderr)
        return 1
    finally:
        con.close()
    for dataset, g in board.groupby("dataset", sort=True):
        print(f"### {dataset}\n\n{markdown(g.reset_index(drop=True))}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="movielens-dag", description=__doc__)
    parser.add_argument(
        "--data-dir", help="data directory (default: $MOVIELENS_DATA_DIR, else <repo>/data)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sql = sub.add_parser("sql", help="run read-only SQL against the warehouse views")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    sql.add_argument("--max-rows", type=int, default=None,
                     help="print at most N rows in any format (default: 40 for table and markdown, all for csv; "
                     "0: all)")
    sql.set_defaults(func=cmd_sql)

    catalog = sub.add_parser("catalog", help="recreate the DuckDB views from the Parquet files")
    catalog.set_defaults(func=cmd_catalog)

    board = sub.add_parser("leaderboard", help="print the recommender leaderboard as a markdown table")
    board.set_defaults(func=cmd_leaderboard)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

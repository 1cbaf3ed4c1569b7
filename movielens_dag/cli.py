"""`movielens-dag`: query the warehouse (read-only), search it, refresh its catalogue, print the leaderboards,
publish the dataset.

Materializing is Dagster's: `dg launch --job demo_job`, or the UI (`make dev`)."""

import argparse
import csv
import sys
from pathlib import Path

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
                batches = (relation if limit is None else relation.limit(limit + 1)).to_arrow_reader(BATCH_ROWS)
                if fmt == "csv":
                    shown, more = _write_csv(batches, out, limit)
                else:
                    head = _first_rows(batches, limit)
                    shown = min(head.num_rows, limit or head.num_rows)
                    more = limit is not None and head.num_rows > limit
                    out.write(warehouse.preview_markdown(head, rows=shown, max_chars=200) + "\n")
                if more:
                    print(
                        f"(first {shown:,} rows shown; --max-rows N to change, --max-rows 0 for all)", file=sys.stderr
                    )
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
    """The recommender leaderboard as the README's markdown tables, one per dataset and protocol (read-only,
    from the DuckDB view)."""
    from movielens_dag.recommender.results import markdown, temporal_markdown

    paths = data_paths(args.data_dir)
    try:
        con = warehouse.connect_read_only(paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        board = con.execute("SELECT * FROM recommender.recommender_leaderboard ORDER BY dataset, protocol, rank").df()
    except duckdb.Error as exc:
        print(f"error: {exc}\nmaterialize the recommender first: make leaderboard (or make demo)", file=sys.stderr)
        return 1
    finally:
        con.close()
    if args.protocol:
        board = board[board["protocol"] == args.protocol]
    for (dataset, protocol), g in board.groupby(["dataset", "protocol"], sort=True):
        render = temporal_markdown if protocol == "temporal" else markdown
        print(f"### {dataset}, {protocol.replace('_', '-')}\n\n{render(g.reset_index(drop=True))}\n")
    return 0


def cmd_rating_leaderboard(args: argparse.Namespace) -> int:
    """The rating-model leaderboard as the README's markdown table (read-only, from the DuckDB view)."""
    from movielens_dag.rating_model.results import markdown

    paths = data_paths(args.data_dir)
    try:
        con = warehouse.connect_read_only(paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        board = con.execute("SELECT * FROM rating_model.rating_leaderboard ORDER BY dataset, split DESC, rank").df()
    except duckdb.Error as exc:
        print(
            f"error: {exc}\nmaterialize the rating model first: make rating-leaderboard (or make demo)", file=sys.stderr
        )
        return 1
    finally:
        con.close()
    for dataset, g in board.groupby("dataset", sort=True):
        print(f"### {dataset}\n\n{markdown(g.reset_index(drop=True))}\n")
    return 0


def cmd_rating_variants(args: argparse.Namespace) -> int:
    """The rating-model variants (partitions of rating_model_runs), one per line, for scripts."""
    from movielens_dag.rating_model.settings import DEMO_VARIANTS, OFFLINE_VARIANTS, VARIANTS

    print("\n".join(DEMO_VARIANTS if args.demo else VARIANTS if args.all else OFFLINE_VARIANTS))
    return 0


def cmd_variants(args: argparse.Namespace) -> int:
    """The recommender variants (partitions of recommender_runs), one per line, for scripts."""
    from movielens_dag.recommender.config import DEMO_VARIANTS, VARIANTS

    print("\n".join(DEMO_VARIANTS if args.demo else VARIANTS))
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI plus the artifacts server its plots link to; stops cleanly on SIGINT/SIGTERM."""
    from movielens_dag import devserver
    from movielens_dag.settings import read_environment

    env = read_environment()
    paths = data_paths(args.data_dir)
    return devserver.run(
        devserver.dg_dev_command(args.host, args.port), paths.artifacts, env.value("MOVIELENS_ARTIFACTS_URL")
    )


def cmd_search(args: argparse.Namespace) -> int:
    """Free-text search: embed the query with the documents' model, rank every movie, apply the filters."""
    from movielens_dag.embeddings.models import ModelNotFoundError
    from movielens_dag.search.settings import TextSearchSettings
    from movielens_dag.search.text import search_warehouse

    settings = TextSearchSettings(model=args.model, query_prompt=args.query_prompt, device=args.device)
    try:
        found = search_warehouse(
            data_paths(args.data_dir),
            args.query,
            k=args.k,
            genre=args.genre,
            min_year=args.min_year,
            max_year=args.max_year,
            settings=settings,
        )
    except (FileNotFoundError, ModelNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.format == "csv":
        found.assign(genres=found["genres"].map("|".join)).to_csv(sys.stdout, index=False)
        return 0
    for row in found.itertuples(index=False):
        year = "" if row.year is None or str(row.year) == "<NA>" else f" ({row.year})"
        print(f"{row.rank:>3}  {row.score:.3f}  {row.movie_id:>7}  {row.title}{year}  [{', '.join(row.genres)}]")
    if found.empty:
        print("no movie passes the filters")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Upload the dataset folder with HF_TOKEN, or print what would be uploaded."""
    from movielens_dag.paths import BUNDLED_MOVIELENS_DIR
    from movielens_dag.publish import upload
    from movielens_dag.settings import read_environment

    env = read_environment()
    paths = data_paths(args.data_dir)
    folder = Path(args.folder) if args.folder else paths.published / "enriched_dataset"
    try:
        if args.build:
            from movielens_dag.publish.dataset import build_dataset, inputs_from_warehouse
            from movielens_dag.publish.settings import PublishSettings

            variant = env.value("MOVIELENS_VARIANT")
            source = env.value("MOVIELENS_SOURCE_DIR")
            release = Path(source) if source else BUNDLED_MOVIELENS_DIR / variant
            manifest = build_dataset(
                folder,
                inputs_from_warehouse(paths, variant, release),
                PublishSettings(
                    include_embeddings=not args.no_embeddings, acknowledge_licence=args.acknowledge_licence
                ),
            )
            print(f"built {folder}: {manifest.as_dict()['tables']}; left out: {manifest.excluded or 'nothing'}")
        token = env.value("HF_TOKEN")
        if not token or args.dry_run:
            print(upload.describe_plan(folder, args.repo_id))
            print(
                "dry run: nothing uploaded"
                if args.dry_run
                else "HF_TOKEN is not set: nothing uploaded (set it to a token with write access to upload)"
            )
            return 0
        url = upload.upload(folder, args.repo_id, token, private=not args.public)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"uploaded {folder} to {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="movielens-dag", description=__doc__)
    parser.add_argument("--data-dir", help="data directory (default: $MOVIELENS_DATA_DIR, else <repo>/data)")
    sub = parser.add_subparsers(dest="command", required=True)

    sql = sub.add_parser("sql", help="run read-only SQL against the warehouse views")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    sql.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="print at most N rows in any format (default: 40 for table and markdown, all for csv; 0: all)",
    )
    sql.set_defaults(func=cmd_sql)

    catalog = sub.add_parser("catalog", help="recreate the DuckDB views from the Parquet files")
    catalog.set_defaults(func=cmd_catalog)

    board = sub.add_parser("leaderboard", help="print the recommender leaderboard as a markdown table")
    board.add_argument("--protocol", choices=["leave_one_out", "temporal"], help="only this protocol's table")
    board.set_defaults(func=cmd_leaderboard)

    variants = sub.add_parser("variants", help="list the recommender variants (partitions of recommender_runs)")
    variants.add_argument("--demo", action="store_true", help="only the two variants `make demo` trains")
    variants.set_defaults(func=cmd_variants)

    rating_board = sub.add_parser(
        "rating-leaderboard", help="print the rating-model leaderboard (per split) as a markdown table"
    )
    rating_board.set_defaults(func=cmd_rating_leaderboard)

    rating_variants = sub.add_parser(
        "rating-variants", help="list the rating-model variants that run offline (partitions of rating_model_runs)"
    )
    which = rating_variants.add_mutually_exclusive_group()
    which.add_argument("--demo", action="store_true", help="only the variant `make demo` trains")
    which.add_argument("--all", action="store_true", help="also those needing a TMDB token or posters")
    rating_variants.set_defaults(func=cmd_rating_variants)

    dev = sub.add_parser("dev", help="the Dagster UI (dg dev) plus the server for the plots in its metadata")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    search = sub.add_parser("search", help="free-text search over the movie vectors, with filters")
    search.add_argument("query", help='what the movie is about, e.g. "a heist that goes wrong"')
    search.add_argument("--k", type=int, default=10, help="how many movies (default 10)")
    search.add_argument("--genre", action="append", help="keep movies with this genre (repeat: any of them)")
    search.add_argument("--min-year", type=int)
    search.add_argument("--max-year", type=int)
    search.add_argument("--model", help="embedding model (default: the one movie_embeddings was made with)")
    search.add_argument("--query-prompt", help="instruction before the query (default: the model's 'query' prompt)")
    search.add_argument("--device", default="auto")
    search.add_argument("--format", choices=["table", "csv"], default="table")
    search.set_defaults(func=cmd_search)

    publish = sub.add_parser("publish", help="upload the Hugging Face dataset folder (HF_TOKEN), or show the plan")
    publish.add_argument("--repo-id", required=True, help="the dataset repo, e.g. 'me/movielens-sids'")
    publish.add_argument("--folder", help="dataset folder (default: <data dir>/published/enriched_dataset)")
    publish.add_argument("--build", action="store_true", help="(re)build the folder from the warehouse first")
    publish.add_argument("--no-embeddings", action="store_true", help="with --build: leave the embeddings out")
    publish.add_argument(
        "--acknowledge-licence",
        action="store_true",
        help="with --build: I hold GroupLens's permission to redistribute this release's ratings",
    )
    publish.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    publish.add_argument("--dry-run", action="store_true", help="only print what would be uploaded")
    publish.set_defaults(func=cmd_publish)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

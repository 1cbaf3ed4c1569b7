"""Read one MovieLens release into the normalized schema, validating as we go.

Small tables (movies, links: ≤ 100k rows) are parsed in Python, which gives exact line numbers.
Large tables (ratings, tags: up to 32M rows) stream through DuckDB straight into Parquet, in bounded
memory; DuckDB's reject table supplies the file/line of any malformed record.
"""

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from movielens_dag.movielens.errors import DataError
from movielens_dag.movielens.line_endings import is_line_ending_error, normalised_copy
from movielens_dag.movielens.titles import parse_title
from movielens_dag.movielens.variants import Variant

NO_GENRES = "(no genres listed)"

MOVIES_SCHEMA = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("title", pa.string()),
        ("year", pa.int32()),
        ("genres", pa.list_(pa.string())),
        ("alt_titles", pa.list_(pa.string())),
        ("raw_title", pa.string()),
    ]
)
LINKS_SCHEMA = pa.schema([("movie_id", pa.int32()), ("imdb_id", pa.string()), ("tmdb_id", pa.int64())])
INTERACTION_TYPES = {
    "user_id": "INTEGER",
    "movie_id": "INTEGER",
    "rating": "FLOAT",
    "tag": "VARCHAR",
    "timestamp": "BIGINT",
}


def source_file(source_dir: Path, variant: Variant, table: str) -> Path:
    path = source_dir / variant.file_name(table)
    if not path.exists():
        raise DataError(
            path,
            None,
            f"missing {variant.file_name(table)} for {variant.name}",
            "Point MOVIELENS_SOURCE_DIR at the extracted release folder, or unset it to download",
        )
    return path


def check_row_count(
    path: Path, table: str, rows: int, documented: int | None, min_fraction: float | None = None
) -> None:
    """Refuse an empty core table, or one far below the release's documented size, before anything is written.

    ``rows == 0`` is always an error (a header-only ratings.csv would otherwise replace good data).
    With ``min_fraction`` and a documented count (fixed releases only), fewer than
    ``min_fraction * documented`` rows is an error too; leave it None for a deliberate subset.
    """
    if rows == 0:
        raise DataError(
            path,
            None,
            f"no {table} records (the file is empty or has only its header)",
            f"Restore the release's {path.name} (re-download it, or point MOVIELENS_SOURCE_DIR at a complete "
            "release); nothing was written and the stored table is unchanged",
        )
    if documented and min_fraction is not None and rows < min_fraction * documented:
        raise DataError(
            path,
            None,
            f"only {rows:,} {table} records where the release documents {documented:,} "
            f"(under {min_fraction:.0%}): the file looks truncated",
            f"Restore the release's {path.name}; if the folder is a deliberate subset, turn the documented-size "
            "check off (min_fraction None); nothing was written and the stored table is unchanged",
        )


def decode(path: Path, data: bytes, encodings: tuple[str, ...]) -> tuple[str, str]:
    """Decode with the first encoding that fits; the error names the line of the first bad byte."""
    first_error = None
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    line = data.count(b"\n", 0, first_error.start) + 1
    raise DataError(
        path,
        line,
        f"bytes {data[first_error.start : first_error.start + 4]!r} are not valid "
        f"{'/'.join(encodings)} ({first_error.reason})",
        "Re-download the file or convert it to UTF-8",
    )


def _records(path: Path, variant: Variant, n_fields: int) -> tuple[list[tuple[int, list[str]]], str]:
    """(line number, fields) for each data line; header checked for CSV."""
    # .dat files of ml-1m are Latin-1; newer releases are UTF-8. Valid UTF-8 is tried first, and
    # genuine Latin-1 text with accents is practically never valid UTF-8, so the choice is safe.
    encodings = ("utf-8",) if variant.format == "csv" else ("utf-8", "latin-1")
    text, encoding = decode(path, path.read_bytes(), encodings)
    out = []
    if variant.format == "csv":
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            next(reader, None)  # header (an empty file has none; check_row_count refuses it)
            for fields in reader:
                if fields:
                    out.append((reader.line_num, fields))
        except csv.Error as exc:
            raise DataError(path, reader.line_num, f"malformed CSV ({exc})") from None
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                out.append((number, line.split("::")))
    for number, fields in out:
        if len(fields) != n_fields:
            raise DataError(path, number, f"expected {n_fields} fields, found {len(fields)}: {fields!r:.120}")
    return out, encoding


def _int(path: Path, line: int, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(path, line, f"{name} {value!r} is not an integer") from None


def read_movies(source_dir: Path, variant: Variant, min_fraction: float | None = None) -> tuple[pa.Table, dict]:
    """movies.* → one row per movie; an empty file (or, with ``min_fraction``, a truncated one) is refused."""
    path = source_file(source_dir, variant, "movies")
    records, encoding = _records(path, variant, 3)
    check_row_count(path, "movies", len(records), variant.expected_movies, min_fraction)
    seen: dict[int, int] = {}
    rows = {name: [] for name in MOVIES_SCHEMA.names}
    for line, (movie_id, raw_title, genres) in records:
        movie = _int(path, line, "movieId", movie_id)
        if movie in seen:
            raise DataError(
                path,
                line,
                f"duplicate movieId {movie} (first on line {seen[movie]})",
                "Each movie must appear once; remove one of the two lines",
            )
        seen[movie] = line
        if not raw_title.strip():
            raise DataError(path, line, f"movieId {movie} has an empty title")
        parsed = parse_title(raw_title)
        rows["movie_id"].append(movie)
        rows["title"].append(parsed.title)
        rows["year"].append(parsed.year)
        rows["genres"].append([] if genres in ("", NO_GENRES) else genres.split("|"))
        rows["alt_titles"].append(parsed.alt_titles)
        rows["raw_title"].append(raw_title)
    table = pa.Table.from_pydict(rows, schema=MOVIES_SCHEMA)
    return table, {"source_file": str(path), "encoding": encoding}


_IMDB = re.compile(r"^(?:tt)?(\d{1,10})$")


def read_links(source_dir: Path, variant: Variant, movie_ids: set[int]) -> tuple[pa.Table, dict]:
    """links.csv → (movie_id, 'tt0114709', tmdb_id). Releases without links get one null row per movie."""
    if not variant.has_links:
        ids = sorted(movie_ids)
        table = pa.Table.from_pydict(
            {"movie_id": ids, "imdb_id": [None] * len(ids), "tmdb_id": [None] * len(ids)},
            schema=LINKS_SCHEMA,
        )
        return table, {"source_file": f"none ({variant.name} ships no links file)"}
    path = source_file(source_dir, variant, "links")
    records, _ = _records(path, variant, 3)
    seen: dict[int, int] = {}
    rows = {"movie_id": [], "imdb_id": [], "tmdb_id": []}
    for line, (movie_id, imdb, tmdb) in records:
        movie = _int(path, line, "movieId", movie_id)
        if movie in seen:
            raise DataError(path, line, f"duplicate movieId {movie} (first on line {seen[movie]})")
        seen[movie] = line
        if movie not in movie_ids:
            raise DataError(
                path,
                line,
                f"movieId {movie} is not in movies.{variant.format}",
                "links must refer to known movies",
            )
        imdb_match = _IMDB.match(imdb.strip()) if imdb.strip() else None
        if imdb.strip() and not imdb_match:
            raise DataError(path, line, f"imdbId {imdb!r} is not a number")
        rows["movie_id"].append(movie)
        rows["imdb_id"].append(f"tt{int(imdb_match.group(1)):07d}" if imdb_match else None)
        rows["tmdb_id"].append(_int(path, line, "tmdbId", tmdb) if tmdb.strip() else None)
    missing = movie_ids - seen.keys()
    for movie in sorted(missing):  # keep one row per movie so joins never lose a movie
        rows["movie_id"].append(movie)
        rows["imdb_id"].append(None)
        rows["tmdb_id"].append(None)
    table = pa.Table.from_pydict(rows, schema=LINKS_SCHEMA)
    return table, {"source_file": str(path), "movies_without_link_row": len(missing)}


# --- large tables through DuckDB --------------------------------------------------------------------


def duckdb_connection(temp_dir: Path, memory_limit: str = "2GB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a memory cap and a spill folder, for bounded-memory conversion."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{temp_dir}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _csv_source(path: Path, variant: Variant, columns: list[str], typed: bool = True) -> str:
    """read_csv(...) with declared columns; typed, a value that does not cast becomes a reject."""
    cols = ", ".join(f"'{c}': '{INTERACTION_TYPES[c] if typed else 'VARCHAR'}'" for c in columns)
    common = f"columns = {{{cols}}}, store_rejects = true, auto_detect = false"
    if variant.format == "csv":
        return f"read_csv('{path}', header = true, delim = ',', quote = '\"', escape = '\"', {common})"
    # "::" separated, no quoting. ml-1m is Latin-1; ratings/tags text is ASCII there.
    encoding = "latin-1" if variant.name == "ml-1m" else "utf-8"
    return (
        f"read_csv('{path}', header = false, delim = '::', quote = '', escape = '', encoding = '{encoding}', {common})"
    )


def line_at(path: Path, byte_offset: int) -> int:
    """Physical line number of a byte offset (DuckDB's own `line` counts records, not lines)."""
    newlines, done = 0, 0
    with open(path, "rb") as f:
        while done < byte_offset:
            block = f.read(min(1 << 20, byte_offset - done))
            if not block:
                break
            newlines += block.count(b"\n")
            done += len(block)
    return newlines + 1


def _raise_rejects(con: duckdb.DuckDBPyConnection, path: Path, read_path: Path) -> None:
    """The first rejected record, named by its physical line (counted in ``read_path``, the file DuckDB read)."""
    rejects = con.execute(
        "SELECT line_byte_position, error_type, error_message, csv_line FROM reject_errors "
        "ORDER BY line_byte_position, byte_position LIMIT 1"
    ).fetchall()
    if rejects:
        total = con.execute("SELECT count(DISTINCT line_byte_position) FROM reject_errors").fetchone()[0]
        position, kind, message, csv_line = rejects[0]
        # line_byte_position points into the record's first line (byte_position can lie past its end,
        # which made a missing-columns error one line too high).
        raise DataError(
            path,
            line_at(read_path, int(position)),
            f"{kind.lower()}: {message.splitlines()[0]} — {csv_line.strip(chr(13) + chr(10))!r:.120}"
            + (f" ({total} bad records in all)" if total > 1 else ""),
            "Fix or remove the record; nothing was written",
        )


def _locate(con, source: str, path: Path, variant: Variant, condition: str, reason: str) -> None:
    """Find the first record (in file order) failing ``condition`` and raise with its line."""
    offset = 1 if variant.format == "csv" else 0  # the header is line 1
    row = con.execute(
        f"SELECT n + {offset}, * EXCLUDE (n) FROM (SELECT row_number() OVER () AS n, * "
        f"FROM {source}) WHERE {condition} ORDER BY n LIMIT 1"
    ).fetchone()
    if row is not None:
        raise DataError(path, int(row[0]), f"{reason}: {row[1:]!r:.120}")


def convert_interactions(
    source_dir: Path,
    variant: Variant,
    table: str,
    movie_ids_parquet: Path,
    dest: Path,
    temp_dir: Path,
    log: Callable[[str], None] = print,
    min_fraction: float | None = None,
) -> dict:
    """ratings/tags file → Parquet at ``dest`` (streamed), after validating every record.

    Raises DataError naming the line of: a malformed record, a non-integer id, a rating outside
    0.5–5, an empty field, or a movie that movies.* does not list; and for ratings, an empty file
    (or, with ``min_fraction``, one far below the documented count; see ``check_row_count``).
    On any error ``dest`` is removed, so nothing half-checked can be published. Mixed CRLF/LF line
    endings are accepted (see ``line_endings``).
    """
    path = source_file(source_dir, variant, table)
    with duckdb_connection(temp_dir) as con:
        read_path = path
        try:
            log(f"converting {path} to Parquet with DuckDB")
            con.execute(f"CREATE TEMP TABLE movie_ids AS SELECT movie_id FROM read_parquet('{movie_ids_parquet}')")
            try:
                stats = _convert(con, path, path, variant, table, dest)
            except duckdb.InvalidInputException as exc:
                if not is_line_ending_error(exc):
                    raise
                log(f"{path.name} mixes line endings (CRLF and LF); reading a copy with LF endings")
                read_path = normalised_copy(path, variant.format == "csv", temp_dir)
                con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
                stats = _convert(con, path, read_path, variant, table, dest)
            if table == "ratings":
                check_row_count(path, table, stats["rows"], variant.expected_ratings, min_fraction)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        finally:
            if read_path != path:
                read_path.unlink(missing_ok=True)
    log(f"wrote {stats['rows']:,} {table} rows")
    return stats


def _convert(
    con: duckdb.DuckDBPyConnection, path: Path, read_path: Path, variant: Variant, table: str, dest: Path
) -> dict:
    """Stream ``read_path`` into ``dest`` and validate it; errors name ``path`` (the file the user has)."""
    columns = ["user_id", "movie_id", "rating" if table == "ratings" else "tag", "timestamp"]
    source = _csv_source(read_path, variant, columns)
    raw = _csv_source(read_path, variant, columns, typed=False)  # only read again to locate an error
    typed = f"SELECT * REPLACE (to_timestamp(timestamp) AS timestamp) FROM {source}"
    try:
        con.execute(f"COPY ({typed}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd)")
    except duckdb.InvalidInputException as exc:
        if read_path != path and is_line_ending_error(exc):  # still refused after the rewrite: a stray CR
            raise DataError(
                path,
                None,
                f"DuckDB cannot split this file into lines ({str(exc).splitlines()[0]})",
                "Save it with LF or CRLF line endings and no bare CR characters",
            ) from None
        raise
    _raise_rejects(con, path, read_path)
    bad = "user_id IS NULL OR movie_id IS NULL OR timestamp IS NULL" + (
        " OR rating IS NULL OR rating < 0.5 OR rating > 5" if table == "ratings" else " OR tag IS NULL"
    )
    rows, invalid, unknown, users, movies = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {bad}), "
        f"count(*) FILTER (WHERE movie_id NOT IN (SELECT movie_id FROM movie_ids)), "
        f"count(DISTINCT user_id), count(DISTINCT movie_id) FROM read_parquet('{dest}')"
    ).fetchone()
    if invalid:
        raw_bad = (
            "TRY_CAST(user_id AS INTEGER) IS NULL OR TRY_CAST(movie_id AS INTEGER) IS NULL "
            "OR TRY_CAST(timestamp AS BIGINT) IS NULL"
            + (
                " OR NOT coalesce(TRY_CAST(rating AS FLOAT) BETWEEN 0.5 AND 5, false)"
                if table == "ratings"
                else " OR tag IS NULL"
            )
        )
        _locate(
            con,
            raw,
            path,
            variant,
            raw_bad,
            "empty or invalid field (ids and timestamps must be integers, ratings between 0.5 and 5)",
        )
    if unknown:
        _locate(
            con,
            raw,
            path,
            variant,
            "TRY_CAST(movie_id AS INTEGER) NOT IN (SELECT movie_id FROM movie_ids)",
            f"movie not listed in movies.{variant.format} ({unknown} such records in all)",
        )
    return {"rows": rows, "users": users, "movies": movies, "source_file": str(path)}


def empty_tags_table() -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([], pa.int32()),
            "movie_id": pa.array([], pa.int32()),
            "tag": pa.array([], pa.string()),
            "timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )

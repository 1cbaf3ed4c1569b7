import pathlib
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa

from movielens_dag import warehouse
from movielens_dag.assets.conventions import OWNERS, code_version, columns
from movielens_dag.movielens import quality, readers
from movielens_dag.movielens.source import check_release_folder, check_stored_source
from movielens_dag.resources.movielens_source import MovieLensSource
from movielens_dag.resources.storage import DataDir

GROUP = "movielens"
VERSION = code_version("movielens_dag.movielens")
MOVIE_ID = ("int32", "MovieLens movieId")
USER_ID = ("int32", "MovieLens userId")
TIMESTAMP = ("timestamp[us, UTC]", "when the user gave it (UTC)")


@dg.asset(
    group_name=GROUP,
    kinds={"python", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(
        {
            "variant": ("string", "the release, e.g. ml-latest-small"),
            "source_dir": ("string", "the folder the files were read from (bundled, MOVIELENS_SOURCE_DIR or download)"),
            "file": ("string", "file name"),
            "bytes": ("int64", "file size"),
            "modified_at": ("timestamp[us, UTC]", "file modification time"),
        }
    ),
)
def movielens_files(
    context: dg.AssetExecutionContext, data_dir: DataDir, movielens_source: MovieLensSource
) -> dg.Output:
    """The release's source files (bundled, local folder, or downloaded + checksum-verified zip)."""
    variant = movielens_source.get_variant()
    source_dir = movielens_source.resolve(data_dir.paths, context.log.info)
    check_release_folder(source_dir, variant)  # fail before a bad folder replaces the stored listing
    files = sorted(p for p in source_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    table = pd.DataFrame(
        {
            "variant": variant.name,
            "source_dir": str(source_dir),
            "file": [p.name for p in files],
            "bytes": [p.stat().st_size for p in files],
            "modified_at": [datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in files],
        }
    )
    return dg.Output(
        table,
        metadata={"variant": variant.name, "source_dir": dg.MetadataValue.path(str(source_dir))},
    )


def _source(files: pd.DataFrame, movielens_source: MovieLensSource, paths) -> pathlib.Path:
    """The folder movielens_files recorded, after checking it is the release configured now."""
    folder = pathlib.Path(files["source_dir"].iloc[0])
    check_stored_source(
        str(files["variant"].iloc[0]), folder, movielens_source.get_variant(), movielens_source.source_dir, paths
    )
    return folder


@dg.asset(
    group_name=GROUP,
    kinds={"python", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "title": ("string", "title with its article restored: 'Matrix, The (1999)' -> 'The Matrix'"),
            "year": ("int32", "release year from the title; null when absent"),
            "genres": ("list<string>", "MovieLens genres; empty for '(no genres listed)'"),
            "alt_titles": ("list<string>", "a.k.a. and parenthesised alternate titles"),
            "raw_title": ("string", "the title exactly as in the release"),
        }
    ),
)
def movies(movielens_files: pd.DataFrame, movielens_source: MovieLensSource, data_dir: DataDir) -> dg.Output:
    """One row per movie: title with its article restored, year, genres, alternate titles."""
    variant = movielens_source.get_variant()
    table, meta = readers.read_movies(
        _source(movielens_files, movielens_source, data_dir.paths), variant, movielens_source.min_fraction()
    )
    years = table["year"].to_pandas()
    genres = pd.Series([g for gs in table["genres"].to_pylist() for g in gs]).value_counts()
    return dg.Output(
        table,
        metadata={
            "variant": variant.name,
            "encoding": meta["encoding"],
            "movies_without_year": int(years.isna().sum()),
            "movies_without_genres": sum(1 for g in table["genres"].to_pylist() if not g),
            "movies_with_alt_titles": sum(1 for a in table["alt_titles"].to_pylist() if a),
            "year_range": f"{int(years.min())}–{int(years.max())}" if years.notna().any() else "n/a",
            "genres": dg.MetadataValue.md(genres.rename("movies").to_frame().to_markdown()),
        },
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "imdb_id": ("string", "IMDb id such as 'tt0114709'; null when unknown"),
            "tmdb_id": ("int64", "TMDB id; null when unknown (releases without links: always)"),
        }
    ),
)
def links(
    movielens_files: pd.DataFrame, movies: pa.Table, movielens_source: MovieLensSource, data_dir: DataDir
) -> dg.Output:
    """IMDb and TMDB ids per movie (nulls where the release has none)."""
    variant = movielens_source.get_variant()
    table, meta = readers.read_links(
        _source(movielens_files, movielens_source, data_dir.paths), variant, set(movies["movie_id"].to_pylist())
    )
    return dg.Output(
        table,
        metadata={
            "source_file": meta["source_file"],
            "missing_imdb_id": table["imdb_id"].null_count,
            "missing_tmdb_id": table["tmdb_id"].null_count,
        },
    )


def _interactions(context, table: str, files, movies_path, data_dir, movielens_source) -> dg.Output:
    variant = movielens_source.get_variant()
    staged = warehouse.staging_file(data_dir.paths, table)
    try:
        stats = readers.convert_interactions(
            _source(files, movielens_source, data_dir.paths),
            variant,
            table,
            movies_path,
            staged,
            data_dir.paths.staging / "duckdb_tmp",
            context.log.info,
            movielens_source.min_fraction(),
        )
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    metadata = {
        "variant": variant.name,
        "source_file": stats["source_file"],
        "distinct_users": stats["users"],
        "distinct_movies": stats["movies"],
    }
    return dg.Output(warehouse.StagedParquet(staged), metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(
        {"user_id": USER_ID, "movie_id": MOVIE_ID, "rating": ("float", "0.5 to 5 stars"), "timestamp": TIMESTAMP}
    ),
)
def ratings(
    context: dg.AssetExecutionContext,
    movielens_files: pd.DataFrame,
    movies: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Every rating (user_id, movie_id, rating, timestamp), streamed to Parquet by DuckDB."""
    return _interactions(context, "ratings", movielens_files, movies, data_dir, movielens_source)


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    code_version=VERSION,
    metadata=columns(
        {
            "user_id": USER_ID,
            "movie_id": MOVIE_ID,
            "tag": ("string", "free text as the user typed it"),
            "timestamp": TIMESTAMP,
        }
    ),
)
def tags(
    context: dg.AssetExecutionContext,
    movielens_files: pd.DataFrame,
    movies: pathlib.Path,
    data_dir: DataDir,
    movielens_source: MovieLensSource,
) -> dg.Output:
    """Free-text user tags (empty for releases without tags, such as ml-1m)."""
    if not movielens_source.get_variant().has_tags:
        return dg.Output(readers.empty_tags_table(), metadata={"note": "this release has no tags"})
    return _interactions(context, "tags", movielens_files, movies, data_dir, movielens_source)


# --- checks ----------------------------------------------------------------------------------------


def _unique(path: pathlib.Path, columns: list[str]) -> dg.AssetCheckResult:
    total, examples = quality.duplicate_keys(path, columns)
    return dg.AssetCheckResult(passed=total == 0, metadata={"duplicate_keys": total, "examples": str(examples)})


def _references_movies(child: pathlib.Path, movies: pathlib.Path) -> dg.AssetCheckResult:
    total, examples = quality.orphan_references(child, movies, "movie_id")
    return dg.AssetCheckResult(passed=total == 0, metadata={"orphan_rows": total, "unknown_movie_ids": str(examples)})


MOVIES_IN = {"movies": dg.AssetIn("movies")}


@dg.asset_check(asset="movielens_files", blocking=True)
def release_files_present(movielens_files: pd.DataFrame, movielens_source: MovieLensSource) -> dg.AssetCheckResult:
    """The release folder holds the files every reader needs (movies and ratings, links and tags where
    the release has them), none of them empty."""
    variant = movielens_source.get_variant()
    need = ["movies", "ratings"] + (["links"] if variant.has_links else []) + (["tags"] if variant.has_tags else [])
    sizes = dict(zip(movielens_files["file"], movielens_files["bytes"]))
    missing = [variant.file_name(t) for t in need if variant.file_name(t) not in sizes]
    empty = [variant.file_name(t) for t in need if sizes.get(variant.file_name(t)) == 0]
    return dg.AssetCheckResult(
        passed=not missing and not empty,
        metadata={
            "variant": variant.name,
            "missing": ", ".join(missing) or "none",
            "empty": ", ".join(empty) or "none",
        },
    )


@dg.asset_check(asset="movies", blocking=True)
def movies_unique_movie_id(movies: pathlib.Path) -> dg.AssetCheckResult:
    """No movie_id appears twice."""
    return _unique(movies, ["movie_id"])


@dg.asset_check(asset="links", blocking=True)
def links_unique_movie_id(links: pathlib.Path) -> dg.AssetCheckResult:
    """One links row per movie."""
    return _unique(links, ["movie_id"])


@dg.asset_check(asset="links", additional_ins=MOVIES_IN, blocking=True)
def links_movies_exist(links: pathlib.Path, movies: pathlib.Path) -> dg.AssetCheckResult:
    """Every link refers to a movie in `movies`."""
    return _references_movies(links, movies)


@dg.asset_check(asset="ratings", additional_ins=MOVIES_IN, blocking=True)
def ratings_movies_exist(ratings: pathlib.Path, movies: pathlib.Path) -> dg.AssetCheckResult:
    """Every rating refers to a movie in `movies`."""
    return _references_movies(ratings, movies)


@dg.asset_check(asset="tags", additional_ins=MOVIES_IN, blocking=True)
def tags_movies_exist(tags: pathlib.Path, movies: pathlib.Path) -> dg.AssetCheckResult:
    """Every tag refers to a movie in `movies`."""
    return _references_movies(tags, movies)


@dg.asset_check(asset="ratings", additional_ins=MOVIES_IN, blocking=True)
def documented_counts(
    ratings: pathlib.Path, movies: pathlib.Path, movielens_source: MovieLensSource
) -> dg.AssetCheckResult:
    """Movies, ratings and users match the figures GroupLens documents for this release (blocking: a
    fixed release with other counts is a damaged copy; set MOVIELENS_SUBSET for a deliberate part)."""
    variant = movielens_source.get_variant()
    actual = {
        "movies": quality.count(movies),
        "ratings": quality.count(ratings),
        "users": quality.count(ratings, "count(DISTINCT user_id)"),
    }
    expected = {
        "movies": variant.expected_movies,
        "ratings": variant.expected_ratings,
        "users": variant.expected_users,
    }
    known = {k: v for k, v in expected.items() if v is not None}
    # A subset (MOVIELENS_SUBSET) only warns; ml-latest documents no counts (it changes over time).
    severity = dg.AssetCheckSeverity.WARN if movielens_source.subset else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        passed=all(actual[k] == v for k, v in known.items()),
        severity=severity,
        metadata={
            "variant": variant.name,
            **{f"{k}_actual": v for k, v in actual.items()},
            **{f"{k}_expected": v for k, v in known.items()},
        },
    )

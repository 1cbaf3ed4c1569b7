"""Group ``enrichment``: TMDB ids and details, poster images, IMDb titles, Wikipedia plots, review queue,
fetch log.

All HTTP goes through the ``http_fetcher`` resource and is recorded in the fetch store under
``DataPaths.cache / "fetch_store"``; each run fetches only what is new, failed, stale or changed.
Without TMDB_READ_ACCESS_TOKEN the TMDB assets still materialize (from whatever is stored, making no
request) with ``skipped: no TMDB_READ_ACCESS_TOKEN`` in their metadata, so the rest of the DAG runs.
"""

import asyncio
import hashlib
import pathlib
from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from movielens_dag.assets.conventions import OWNERS, WEEKLY_REFRESH, code_version, columns, columns_from_arrow
from movielens_dag.enrichment import pipeline, review, tables, wikipedia
from movielens_dag.enrichment.overrides import read_overrides
from movielens_dag.enrichment.posters import POSTER_IMAGES, PosterConfigError, PosterSettings
from movielens_dag.enrichment.settings import OVERRIDES_FILE, RefreshSettings, TmdbIdSettings
from movielens_dag.http.blob_store import BlobStore
from movielens_dag.http.fetch_store import STATUSES, FetchStore
from movielens_dag.http.fetcher import AuthError
from movielens_dag.resources.config import config_class, to_settings
from movielens_dag.resources.http import NO_TOKEN, HttpFetcher
from movielens_dag.resources.sources import WikipediaPlotsSource
from movielens_dag.resources.storage import DataDir
from movielens_dag.warehouse import preview_markdown

GROUP = "enrichment"
VERSION = code_version("movielens_dag.enrichment", "movielens_dag.http")
COMMON = {"group_name": GROUP, "owners": OWNERS, "code_version": VERSION, "freshness_policy": WEEKLY_REFRESH}
MOVIE_ID = ("int32", "MovieLens movieId")
FETCH = {
    "fetch_status": ("string", "ok | not_found | client_error | failed | missing (never fetched)"),
    "fetched_at": ("timestamp[us, UTC]", "when the stored response was fetched"),
    "fetch_error": ("string", "why the fetch failed (never contains a credential)"),
}
TMDB_POOL = "tmdb"
IMDB_POOL = "imdb"


RefreshConfig = config_class(RefreshSettings, name="RefreshConfig")
IdsConfig = config_class(TmdbIdSettings, name="IdsConfig")
PosterConfig = config_class(PosterSettings, name="PosterConfig")


def _store(data_dir: DataDir) -> FetchStore:
    return FetchStore(data_dir.paths.cache / "fetch_store")


def _run(coro_fn, fetcher_cm, store: FetchStore):
    """Run `coro_fn(fetcher)` on a fresh event loop with the fetcher open (or None), then commit
    what is buffered and compact the store if it has grown many part files."""

    async def main():
        if fetcher_cm is None:
            return await coro_fn(None), {}
        async with fetcher_cm as fetcher:
            result = await coro_fn(fetcher)
        return result, fetcher.summary()

    try:
        return asyncio.run(main())
    finally:
        store.close()


def _fetch_metadata(report: pipeline.FetchReport, summary: dict) -> dict:
    return {
        "http_requests": int(summary.get("attempts", 0)),
        "keys_wanted": report.wanted,
        "fetch_reasons": dict(report.reasons) or "nothing to fetch",
        "fetch_outcomes": dict(report.outcomes) or "no requests",
        "retries": int(summary.get("retries", 0)),
        "achieved_requests_per_second": float(summary.get("requests_per_second", 0.0)),
    }


def _auth_failure(exc: AuthError) -> dg.Failure:
    return dg.Failure(description=str(exc), metadata={"source": exc.source, "http_status": exc.status})


@dg.asset(
    **COMMON,
    pool=TMDB_POOL,
    kinds={"python", "parquet"},
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "tmdb_id": ("int64", "the resolved TMDB id; null when unresolved"),
            "imdb_id": ("string", "the IMDb id used (override, links.csv or TMDB)"),
            "method": ("string", "override | links | find | search | unresolved"),
            "confidence": ("float", "0-1; below 0.7 the movie is in the review queue"),
            "reason": ("string", "why this id (which rule, which override line)"),
            "candidates": ("list<struct>", "the search candidates considered, best first"),
        }
    ),
)
def tmdb_ids(
    context: dg.AssetExecutionContext,
    config: IdsConfig,
    movies: pd.DataFrame,
    links: pd.DataFrame,
    http_fetcher: HttpFetcher,
    data_dir: DataDir,
) -> dg.Output:
    """TMDB id per movie and how it was found: override > links.csv > /find by IMDb id > /search.

    `confidence` < 0.7 and unresolved movies appear in `enrichment_review_queue` with candidates.
    """
    overrides = read_overrides(pathlib.Path(config.overrides_path), set(movies["movie_id"].astype(int)))
    imdb_of = dict(zip(links["movie_id"], links["imdb_id"]))  # plain dicts: a pandas lookup per movie was slow
    tmdb_of = dict(zip(links["movie_id"], links["tmdb_id"]))
    refs = [
        pipeline.MovieRef(
            int(m.movie_id),
            m.title,
            None if pd.isna(m.year) else int(m.year),
            tuple(m.alt_titles),
            _opt(imdb_of.get(m.movie_id)),
            _opt_int(tmdb_of.get(m.movie_id)),
        )
        for m in movies.itertuples(index=False)
    ]
    store = _store(data_dir)
    fetcher = http_fetcher.fetcher(store) if http_fetcher.tmdb_enabled else None
    try:
        (resolutions, report), summary = _run(
            lambda f: pipeline.resolve_tmdb_ids(
                refs, overrides, store, f, http_fetcher.tmdb_api_base_url, _now(), config.max_age_days, context.log.info
            ),
            fetcher,
            store,
        )
    except AuthError as exc:
        raise _auth_failure(exc) from None
    table = tables.tmdb_ids_table(resolutions)
    methods = Counter(r.method for r in resolutions)
    low = sum(1 for r in resolutions if r.tmdb_id is not None and r.confidence < 0.7)
    meta = {
        "methods": dict(methods),
        "resolved": len(resolutions) - methods["unresolved"],
        "unresolved": methods["unresolved"],
        "low_confidence": low,
        "overrides": len(overrides),
        "overrides_file": dg.MetadataValue.path(config.overrides_path),
        **_fetch_metadata(report, summary),
    }
    if fetcher is None:
        meta["skipped"] = f"{NO_TOKEN}: only overrides, links.csv and stored responses were used"
    return dg.Output(table, metadata=meta)


@dg.asset(
    **COMMON,
    pool=TMDB_POOL,
    kinds={"python", "parquet"},
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "tmdb_id": ("int64", "TMDB id"),
            **FETCH,
            "imdb_id": ("string", "IMDb id from TMDB external ids"),
            "wikidata_id": ("string", "Wikidata id"),
            "title": ("string", "TMDB title"),
            "original_title": ("string", "title in the original language"),
            "overview": ("string", "TMDB plot summary"),
            "tagline": ("string", "tagline"),
            "release_date": ("date", "first release date"),
            "runtime": ("int32", "minutes"),
            "budget": ("int64", "US dollars (0 = unknown on TMDB)"),
            "revenue": ("int64", "US dollars"),
            "original_language": ("string", "ISO 639-1"),
            "spoken_languages": ("list<string>", "languages spoken"),
            "production_countries": ("list<string>", "countries"),
            "genres": ("list<string>", "TMDB genres"),
            "keywords": ("list<string>", "TMDB keywords"),
            "directors": ("list<string>", "directors"),
            "writers": ("list<string>", "writers"),
            "cast": ("list<string>", "top-billed cast"),
            "vote_average": ("float", "TMDB mean vote (as of fetched_at)"),
            "vote_count": ("int64", "TMDB votes"),
            "popularity": ("float", "TMDB popularity score"),
            "poster_path": ("string", "poster file on TMDB's image CDN"),
        }
    ),
)
def tmdb_movies(
    context: dg.AssetExecutionContext,
    config: RefreshConfig,
    tmdb_ids: pd.DataFrame,
    http_fetcher: HttpFetcher,
    data_dir: DataDir,
) -> dg.Output:
    """TMDB details per movie (one call each, with keywords, external ids and credits appended)."""
    resolved = {int(r.movie_id): int(r.tmdb_id) for r in tmdb_ids.itertuples(index=False) if pd.notna(r.tmdb_id)}
    store = _store(data_dir)
    fetcher = http_fetcher.fetcher(store) if http_fetcher.tmdb_enabled else None
    try:
        report, summary = _run(
            lambda f: pipeline.refresh_tmdb_movies(
                list(resolved.values()),
                store,
                f,
                http_fetcher.tmdb_api_base_url,
                _now(),
                config.max_age_days,
                config.use_changes_feed,
                context.log.info,
            ),
            fetcher,
            store,
        )
    except AuthError as exc:
        raise _auth_failure(exc) from None
    table, statuses = tables.tmdb_movies_table(store, resolved)
    meta = {
        "fetch_status": dict(statuses),
        **_fetch_metadata(report, summary),
        "with_overview": int(pc.sum(pc.is_valid(table["overview"])).as_py() or 0),
    }
    if fetcher is None:
        meta["skipped"] = f"{NO_TOKEN}: no TMDB request made; rows come from stored responses only"
    return dg.Output(table, metadata=meta)


@dg.asset(
    **COMMON,
    pool=TMDB_POOL,
    kinds={"python", "parquet"},
    metadata=columns_from_arrow(
        POSTER_IMAGES,
        {
            "movie_id": "MovieLens movieId",
            "tmdb_id": "TMDB id (null: unresolved)",
            "poster_path": "poster file on TMDB's image CDN (from tmdb_movies)",
            "size": "TMDB image size fetched (w185 ...)",
            "status": "ok | no_tmdb_id | no_poster | not_found | broken_image | failed | client_error | not_fetched",
            "sha256": "SHA-256 of the image bytes (ok only)",
            "file": "image file relative to <data dir>/posters (ok only)",
            "bytes": "file size",
            "width": "pixels",
            "height": "pixels",
            "fetched_at": "when the stored response was fetched",
            "error": "why it failed (never contains a credential)",
        },
    ),
)
def poster_images(
    context: dg.AssetExecutionContext,
    config: PosterConfig,
    tmdb_ids: pa.Table,
    tmdb_movies: pa.Table,
    http_fetcher: HttpFetcher,
    data_dir: DataDir,
) -> dg.Output:
    """One row per movie with the outcome of fetching its TMDB poster (size `w185` by default) into
    `<data dir>/posters/`, content-addressed (the file name is the SHA-256 of its bytes). The image base
    URL comes from TMDB `/configuration`. Resumable and incremental through the fetch store: a re-run
    fetches only new, failed or deleted posters. A missing poster is a recorded outcome, not an error.
    Without TMDB_READ_ACCESS_TOKEN no request is made (rows come from stored responses only)."""
    from movielens_dag.enrichment.posters import poster_refs, refresh_posters, status_counts

    paths = data_dir.paths
    store, blobs = _store(data_dir), BlobStore(paths.posters)
    refs = poster_refs(tmdb_ids, tmdb_movies)
    fetcher = http_fetcher.fetcher(store, blobs=blobs) if http_fetcher.tmdb_enabled else None
    settings = to_settings(config, PosterSettings())
    try:
        (table, report), summary = _run(
            lambda f: refresh_posters(
                refs, store, f, blobs, http_fetcher.tmdb_api_base_url, _now(), settings, context.log.info
            ),
            fetcher,
            store,
        )
    except AuthError as exc:
        raise _auth_failure(exc) from None
    except PosterConfigError as exc:
        raise dg.Failure(description=str(exc)) from None
    counts = status_counts(table)
    ok = table.filter(pc.equal(table["status"], "ok"))
    distinct = {f: b for f, b in zip(ok["file"].to_pylist(), ok["bytes"].to_pylist(), strict=True)}
    meta = {
        "status": counts,
        "with_poster": counts["ok"],
        **_fetch_metadata(report, summary),
        "distinct_images": len(distinct),
        "megabytes_on_disk": round(sum(distinct.values()) / 1e6, 2),
        "folder": dg.MetadataValue.path(str(paths.posters)),
        "poster_size": settings.size,
        "fetched": dg.MetadataValue.md(
            preview_markdown(ok.select(["movie_id", "poster_path", "width", "height", "bytes", "file"]), rows=5)
        ),
    }
    if fetcher is None:
        meta["skipped"] = f"{NO_TOKEN}: no request made; posters come from stored responses only"
    return dg.Output(table, metadata=meta)


@dg.asset(
    **COMMON,
    pool=IMDB_POOL,
    kinds={"python", "parquet"},
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "imdb_id": ("string", "IMDb id"),
            **FETCH,
            "imdb_title": ("string", "IMDb title"),
            "imdb_year": ("int32", "release year on IMDb"),
            "title_type": ("string", "movie, tvMovie, ..."),
            "plot": ("string", "IMDb plot"),
            "rating": ("float", "IMDb rating"),
            "votes": ("int64", "IMDb votes"),
            "genres": ("list<string>", "IMDb genres"),
            "keywords": ("list<string>", "IMDb keywords"),
            "directors": ("list<string>", "directors"),
            "writers": ("list<string>", "writers"),
            "stars": ("list<string>", "stars"),
            "languages": ("list<string>", "languages"),
            "countries": ("list<string>", "countries"),
            "featured_reviews": ("list<string>", "review excerpts"),
            "similar_titles": ("list<string>", "IMDb 'more like this'"),
        }
    ),
)
def imdb_titles(
    context: dg.AssetExecutionContext,
    config: RefreshConfig,
    tmdb_ids: pd.DataFrame,
    tmdb_movies: pd.DataFrame,
    http_fetcher: HttpFetcher,
    data_dir: DataDir,
) -> dg.Output:
    """IMDb GraphQL per title: plot, keywords, rating, credits, languages, countries, reviews, similar.

    Opt-in (set IMDB_GRAPHQL_URL). A 401/403 disables IMDb for the run with one message.
    """
    imdb_of = {int(r.movie_id): r.imdb_id for r in tmdb_ids.itertuples(index=False) if isinstance(r.imdb_id, str)}
    for r in tmdb_movies.itertuples(index=False):
        if int(r.movie_id) not in imdb_of and isinstance(r.imdb_id, str):
            imdb_of[int(r.movie_id)] = r.imdb_id
    store = _store(data_dir)
    fetcher = http_fetcher.fetcher(store) if http_fetcher.imdb_enabled else None
    report, summary = _run(
        lambda f: pipeline.refresh_imdb_titles(
            list(imdb_of.values()),
            store,
            f,
            http_fetcher.imdb_graphql_url or "",
            _now(),
            config.max_age_days,
            context.log.info,
        ),
        fetcher,
        store,
    )
    table, statuses = tables.imdb_titles_table(store, imdb_of)
    meta = {"fetch_status": dict(statuses), **_fetch_metadata(report, summary)}
    if fetcher is None:
        meta["skipped"] = "IMDb is opt-in: set IMDB_GRAPHQL_URL to enable it (stored responses are still used)"
    if report.disabled:
        context.log.warning(report.disabled)
        meta["disabled"] = report.disabled
    return dg.Output(table, metadata=meta)


@dg.asset(
    **COMMON,
    kinds={"python", "parquet"},
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "match": ("string", "title_year | title_year_director | alt_title ... | ambiguous"),
            "wiki_title": ("string", "title in the CSV"),
            "wiki_year": ("int32", "year in the CSV"),
            "director": ("string", "director in the CSV"),
            "cast": ("string", "cast in the CSV"),
            "origin": ("string", "Origin/Ethnicity column"),
            "wiki_page": ("string", "Wikipedia URL"),
            "csv_line": ("int32", "line of the CSV row"),
            "plot": ("string", "the plot (CC BY-SA)"),
            "candidates": ("list<struct>", "the rows that matched equally well (ambiguous only)"),
        }
    ),
)
def wikipedia_plots(
    context: dg.AssetExecutionContext,
    wikipedia_source: WikipediaPlotsSource,
    movies: pd.DataFrame,
    tmdb_movies: pd.DataFrame,
) -> dg.Output:
    """Plots from the Kaggle "Wikipedia Movie Plots" CSV, matched on title + year ±1 (+ director)."""
    path = wikipedia_source.path()
    if not path.exists():
        return dg.Output(
            tables.WIKIPEDIA_PLOTS.empty_table(),
            metadata={"skipped": f"no Wikipedia plots CSV at {path} (set WIKIPEDIA_PLOTS_CSV)"},
        )
    plots = wikipedia.read_plots(path)
    directors = {
        int(r.movie_id): tuple(r.directors)
        for r in tmdb_movies.itertuples(index=False)
        if r.fetch_status == "ok" and r.directors is not None
    }
    keys = [
        wikipedia.MovieKey(
            int(m.movie_id),
            m.title,
            None if pd.isna(m.year) else int(m.year),
            tuple(m.alt_titles),
            directors.get(int(m.movie_id), ()),
        )
        for m in movies.itertuples(index=False)
    ]
    result = wikipedia.match_plots(keys, plots)
    table = tables.wikipedia_table(result)
    titles = dict(zip(movies["movie_id"].astype(int), movies["title"]))
    ambiguous = pd.DataFrame(
        [
            {
                "movie_id": m,
                "title": titles[m],
                "candidates": "; ".join(f"{p.title} ({p.year}, {p.director})" for p in ps),
            }
            for m, ps in result.ambiguous.items()
        ]
    )
    return dg.Output(
        table,
        metadata={
            "csv": dg.MetadataValue.path(str(path)),
            "plots_in_csv": len(plots),
            "csv_years": f"{min(p.year for p in plots)}–{max(p.year for p in plots)}" if plots else "n/a",
            "matched": len(result.matches),
            "eligible_movies": result.eligible,
            "match_rate": round(len(result.matches) / result.eligible, 4) if result.eligible else 0.0,
            "match_rate_all_movies": round(len(result.matches) / max(len(movies), 1), 4),
            "ambiguous": len(result.ambiguous),
            "movies_without_year": result.no_year,
            "by_rule": dict(Counter(how for _, how in result.matches.values())),
            "ambiguous_cases": dg.MetadataValue.md(ambiguous.to_markdown(index=False) if len(ambiguous) else "none"),
        },
    )


@dg.asset(
    **COMMON,
    kinds={"python", "parquet"},
    metadata=columns(
        {
            "movie_id": MOVIE_ID,
            "title": ("string", "MovieLens title"),
            "year": ("int32", "MovieLens year"),
            "num_ratings": ("int64", "ratings of the movie (most-rated first)"),
            "issue": (
                "string",
                "unresolved | tmdb_not_found | imdb_mismatch | low_confidence | parse_error | fetch_failed "
                "| wikipedia_ambiguous",
            ),
            "detail": ("string", "what exactly is wrong"),
            "tmdb_id": ("int64", "the current TMDB id, if any"),
            "candidates": ("list<struct>", "candidates to choose from"),
            "suggested_override": ("string", "the line to append to data/overrides/tmdb_ids.csv"),
        }
    ),
)
def enrichment_review_queue(
    movies: pd.DataFrame,
    links: pd.DataFrame,
    tmdb_ids: pd.DataFrame,
    tmdb_movies: pd.DataFrame,
    wikipedia_plots: pd.DataFrame,
    ratings: pathlib.Path,
) -> dg.Output:
    """Movies a person should check, most-rated first, each with the override line that fixes it."""
    with duckdb.connect() as con:
        counts = dict(con.sql(f"SELECT movie_id, count(*) FROM read_parquet('{_glob(ratings)}') GROUP BY 1").fetchall())
    table = review.build_review_queue(movies, tmdb_ids, tmdb_movies, wikipedia_plots, counts, links)
    return dg.Output(
        table,
        metadata={
            "by_issue": dict(Counter(table["issue"].to_pylist())) or "nothing to review",
            "overrides_file": dg.MetadataValue.path(str(OVERRIDES_FILE)),
            "top": dg.MetadataValue.md(
                preview_markdown(table.select(["movie_id", "title", "issue", "suggested_override"]), rows=10)
            ),
        },
    )


@dg.asset(
    **COMMON,
    deps=[tmdb_ids, tmdb_movies, poster_images, imdb_titles],
    kinds={"duckdb", "parquet"},
    metadata=columns(
        {
            "source": (
                "string",
                "tmdb_find | tmdb_search | tmdb_movie | tmdb_changes | tmdb_configuration | tmdb_poster | "
                "imdb_title ...",
            ),
            "key": ("string", "what was asked for (an id or a query)"),
            "status": ("string", "ok | not_found | client_error | failed"),
            "http_status": ("int16", "last HTTP status; null when no response"),
            "url": ("string", "request URL (no credential)"),
            "error": ("string", "error message (no credential)"),
            "attempts": ("int16", "tries including retries"),
            "elapsed_ms": ("int32", "time for the last try"),
            "fetched_at": ("timestamp[us, UTC]", "when"),
            "run_id": ("string", "the Dagster run that fetched it"),
            "payload_bytes": ("int64", "stored response size"),
            "parse_status": (
                "string",
                "ok responses: 'ok' when they fit their schema, 'parse_error' when not; null otherwise",
            ),
            "parse_error": ("string", "the fields that did not fit, with what they held"),
        }
    ),
)
def fetch_log(data_dir: DataDir) -> dg.Output:
    """Every recorded HTTP outcome (source, key, status, url, attempts, fetched_at), payloads left out.

    The payloads stay in the fetch store: `read_parquet('<data>/cache/fetch_store/*.parquet')`.
    """
    store = _store(data_dir)
    table = tables.fetch_log_table(store)
    by = Counter(zip(table["source"].to_pylist(), table["status"].to_pylist()))
    return dg.Output(
        table,
        metadata={
            "store": dg.MetadataValue.path(str(store.root)),
            "store_files": len(store.files()),
            "by_source_status": {f"{s}/{st}": n for (s, st), n in sorted(by.items())} or "empty",
        },
    )


# ---- checks ----------------------------------------------------------------------------------------
def _duplicates(ids: pd.Series) -> list[int]:
    return sorted(int(i) for i in ids[ids.duplicated()].unique())


@dg.asset_check(asset=tmdb_ids, additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def one_id_row_per_movie(tmdb_ids: pd.DataFrame, movies: pd.DataFrame) -> dg.AssetCheckResult:
    """Every movie has exactly one id row (resolved or not), and no row names an unknown movie."""
    dup = _duplicates(tmdb_ids["movie_id"])
    missing = sorted(set(movies["movie_id"]) - set(tmdb_ids["movie_id"]))
    unknown = sorted(set(tmdb_ids["movie_id"]) - set(movies["movie_id"]))
    resolved = float(tmdb_ids["tmdb_id"].notna().mean()) if len(tmdb_ids) else 0.0
    return dg.AssetCheckResult(
        passed=not (dup or missing or unknown),
        metadata={
            "duplicated": len(dup),
            "missing": len(missing),
            "unknown": len(unknown),
            "resolved_share": resolved,
            "examples": str({"duplicated": dup[:5], "missing": missing[:5], "unknown": unknown[:5]}),
        },
    )


@dg.asset_check(asset=tmdb_movies, additional_ins={"tmdb_ids": dg.AssetIn("tmdb_ids")}, blocking=True)
def one_detail_row_per_resolved_movie(tmdb_movies: pd.DataFrame, tmdb_ids: pd.DataFrame) -> dg.AssetCheckResult:
    """One details row per movie with a resolved TMDB id, for that id."""
    want = {int(m): int(t) for m, t in zip(tmdb_ids["movie_id"], tmdb_ids["tmdb_id"]) if pd.notna(t)}
    have = {int(m): int(t) for m, t in zip(tmdb_movies["movie_id"], tmdb_movies["tmdb_id"])}
    wrong = sorted(m for m, t in have.items() if want.get(m) != t)
    dup = _duplicates(tmdb_movies["movie_id"])
    missing = sorted(set(want) - set(have))
    return dg.AssetCheckResult(
        passed=not (wrong or dup or missing),
        metadata={
            "resolved": len(want),
            "rows": len(tmdb_movies),
            "wrong_id": len(wrong),
            "duplicated": len(dup),
            "missing": len(missing),
            "examples": str({"wrong_id": wrong[:5], "missing": missing[:5]}),
        },
    )


@dg.asset_check(asset=tmdb_movies, additional_ins={"tmdb_ids": dg.AssetIn("tmdb_ids")})
def tmdb_coverage(tmdb_movies: pd.DataFrame, tmdb_ids: pd.DataFrame, http_fetcher: HttpFetcher) -> dg.AssetCheckResult:
    """With a token, at least 90% of the movies have TMDB details; without one, the share is reported."""
    ok = int((tmdb_movies["fetch_status"] == "ok").sum())
    share = ok / len(tmdb_ids) if len(tmdb_ids) else 0.0
    return dg.AssetCheckResult(
        passed=share >= 0.9 or not http_fetcher.tmdb_enabled,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "movies_with_details": ok,
            "movies": len(tmdb_ids),
            "coverage": share,
            "token_set": http_fetcher.tmdb_enabled,
        },
        description=None if http_fetcher.tmdb_enabled else "no TMDB_READ_ACCESS_TOKEN: coverage not enforced",
    )


@dg.asset_check(asset=poster_images, blocking=True)
def every_poster_file_is_there_and_matches_its_hash(poster_images: pa.Table, data_dir: DataDir) -> dg.AssetCheckResult:
    """Every `ok` poster's file exists under `<data dir>/posters` and its bytes hash to its name and sha256."""
    blobs = BlobStore(data_dir.paths.posters)
    ok = poster_images.filter(pc.equal(poster_images["status"], "ok"))
    files, shas = ok["file"].to_pylist(), ok["sha256"].to_pylist()
    bad = sorted(
        {str(f) for f, h in zip(files, shas, strict=True) if not f or pathlib.Path(f).stem != h or not blobs.verify(f)}
    )
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "ok_rows": ok.num_rows,
            "distinct_files": len(set(files)),
            "missing_or_corrupt": len(bad),
            "examples": str(bad[:5]),
        },
    )


@dg.asset_check(asset=poster_images, additional_ins={"tmdb_ids": dg.AssetIn("tmdb_ids")}, blocking=True)
def one_poster_row_per_movie(poster_images: pd.DataFrame, tmdb_ids: pd.DataFrame) -> dg.AssetCheckResult:
    """Exactly one row per `tmdb_ids` movie, with a known status."""
    from movielens_dag.enrichment.posters import STATUSES as POSTER_STATUSES

    dup = _duplicates(poster_images["movie_id"])
    missing = sorted(set(tmdb_ids["movie_id"]) - set(poster_images["movie_id"]))
    unknown = sorted(set(poster_images["movie_id"]) - set(tmdb_ids["movie_id"]))
    bad_status = sorted(set(poster_images["status"]) - set(POSTER_STATUSES))
    return dg.AssetCheckResult(
        passed=not (dup or missing or unknown or bad_status),
        metadata={
            "rows": len(poster_images),
            "movies": len(tmdb_ids),
            "duplicated": len(dup),
            "missing": len(missing),
            "unknown": len(unknown),
            "unknown_statuses": ", ".join(bad_status) or "none",
            "examples": str({"duplicated": dup[:5], "missing": missing[:5], "unknown": unknown[:5]}),
        },
    )


@dg.asset_check(asset=poster_images)
def few_poster_fetches_fail(poster_images: pd.DataFrame) -> dg.AssetCheckResult:
    """At most 5% of the posters requested ended `failed` or `client_error` (retries exhausted, bad requests);
    `not_found` and `no_poster` are TMDB's answers, not failures."""
    status = poster_images["status"]
    attempted = int(status.isin(["ok", "not_found", "broken_image", "failed", "client_error"]).sum())
    failed = int(status.isin(["failed", "client_error"]).sum())
    share = failed / attempted if attempted else 0.0
    return dg.AssetCheckResult(
        passed=share <= 0.05,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"requested_posters": attempted, "failed": failed, "failed_share": share, "threshold": 0.05},
    )


@dg.asset_check(asset=imdb_titles, additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def imdb_rows_name_known_movies(imdb_titles: pd.DataFrame, movies: pd.DataFrame) -> dg.AssetCheckResult:
    """At most one IMDb row per movie, each for a movie in `movies`."""
    dup = _duplicates(imdb_titles["movie_id"])
    unknown = sorted(set(imdb_titles["movie_id"]) - set(movies["movie_id"]))
    return dg.AssetCheckResult(
        passed=not (dup or unknown),
        metadata={"rows": len(imdb_titles), "duplicated": len(dup), "unknown": len(unknown)},
    )


@dg.asset_check(asset=wikipedia_plots, additional_ins={"movies": dg.AssetIn("movies")}, blocking=True)
def plots_match_one_row_per_movie(wikipedia_plots: pd.DataFrame, movies: pd.DataFrame) -> dg.AssetCheckResult:
    """At most one plot per movie, each for a movie in `movies`, and matched plots are not empty."""
    dup = _duplicates(wikipedia_plots["movie_id"])
    unknown = sorted(set(wikipedia_plots["movie_id"]) - set(movies["movie_id"]))
    matched = wikipedia_plots[wikipedia_plots["match"] != "ambiguous"]
    empty = int(matched["plot"].fillna("").str.strip().eq("").sum())
    return dg.AssetCheckResult(
        passed=not (dup or unknown or empty),
        metadata={"rows": len(wikipedia_plots), "duplicated": len(dup), "unknown": len(unknown), "empty_plots": empty},
    )


@dg.asset_check(asset=enrichment_review_queue, blocking=True)
def every_issue_is_known_and_actionable(enrichment_review_queue: pd.DataFrame) -> dg.AssetCheckResult:
    """Every row names a known issue; every row whose issue an override fixes carries the line to add."""
    unknown = sorted(set(enrichment_review_queue["issue"]) - set(review.ISSUES))
    fixable = enrichment_review_queue["issue"].isin(review.FIXABLE_BY_OVERRIDE)
    no_line = int((fixable & enrichment_review_queue["suggested_override"].fillna("").eq("")).sum())
    return dg.AssetCheckResult(
        passed=not unknown and no_line == 0,
        metadata={
            "rows": len(enrichment_review_queue),
            "unknown_issues": ", ".join(unknown) or "none",
            "fixable_without_line": no_line,
        },
    )


@dg.asset_check(asset=fetch_log, blocking=True)
def fetch_log_is_clean(fetch_log: pd.DataFrame, http_fetcher: HttpFetcher) -> dg.AssetCheckResult:
    """Every status is a known one, and no URL or error message contains the TMDB token."""
    unknown = sorted(set(fetch_log["status"]) - set(STATUSES))
    token = http_fetcher.tmdb_read_access_token.strip() if http_fetcher.tmdb_enabled else None
    leaks = 0
    if token:
        text = fetch_log["url"].fillna("") + " " + fetch_log["error"].fillna("")
        leaks = int(text.str.contains(token, regex=False).sum())
    return dg.AssetCheckResult(
        passed=not unknown and leaks == 0,
        metadata={"rows": len(fetch_log), "unknown_statuses": ", ".join(unknown) or "none", "rows_with_token": leaks},
    )


@dg.asset_check(asset=fetch_log)
def responses_fit_their_schema(fetch_log: pd.DataFrame) -> dg.AssetCheckResult:
    """At most 1% of the successful responses fail their schema (each one is a per-movie parse_error in the
    review queue, never a failed asset; many of them mean the API changed)."""
    ok = fetch_log[fetch_log["status"] == "ok"]
    bad = int((ok["parse_status"] == "parse_error").sum()) if "parse_status" in ok else 0
    share = bad / len(ok) if len(ok) else 0.0
    return dg.AssetCheckResult(
        passed=share <= 0.01,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"ok_responses": len(ok), "parse_errors": bad, "share": share},
    )


# ---- refresh job, schedule, overrides sensor ---------------------------------------------------
REFRESH_SELECTION = dg.AssetSelection.groups(GROUP) | dg.AssetSelection.assets("movie_documents")

enrichment_refresh_job = dg.define_asset_job(
    "enrichment_refresh",
    selection=REFRESH_SELECTION,
    description="Fetch what is new, failed, older than max_age_days or changed on TMDB; rebuild documents.",
)

enrichment_weekly_schedule = dg.ScheduleDefinition(
    name="enrichment_weekly_refresh",
    job=enrichment_refresh_job,
    cron_schedule="0 4 * * 1",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def overrides_digest(path: pathlib.Path | None = None) -> str:
    path = path or OVERRIDES_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@dg.sensor(job=enrichment_refresh_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def tmdb_overrides_sensor(context: dg.SensorEvaluationContext):
    """Re-runs the enrichment when data/overrides/tmdb_ids.csv changes (first look just records it)."""
    digest = overrides_digest()
    if context.cursor is None:
        context.update_cursor(digest)
        return dg.SkipReason(f"recorded the current overrides file ({digest[:12]})")
    if digest == context.cursor:
        return dg.SkipReason("overrides file unchanged")
    context.update_cursor(digest)
    return dg.RunRequest(run_key=f"overrides-{digest}", tags={"trigger": "tmdb_overrides_changed"})


# ---- helpers -------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _opt(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _glob(path: pathlib.Path) -> str:
    return str(path / "*.parquet") if path.is_dir() else str(path)

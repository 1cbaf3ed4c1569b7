"""Group ``enrichment``: TMDB ids and details, IMDb titles, Wikipedia plots, review queue, fetch log.

All HTTP goes through the ``http_fetcher`` resource and is recorded in the fetch store under
``DataPaths.cache / "fetch_store"``; each run fetches only what is new, failed, stale or changed.
Without TMDB_READ_ACCESS_TOKEN the TMDB assets still materialize (from whatever is stored, making no
request) with ``skipped: no TMDB_READ_ACCESS_TOKEN`` in their metadata, so the rest of the DAG runs.
"""

import asyncio
import hashlib
import pathlib
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.compute as pc

from movielens_dag.enrichment import pipeline, review, tables, wikipedia
from movielens_dag.enrichment.overrides import read_overrides
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import AuthError
from movielens_dag.enrichment.settings import OVERRIDES_FILE, RefreshSettings, TmdbIdSettings
from movielens_dag.resources.config import config_class
from movielens_dag.resources.http import NO_TOKEN, HttpFetcher
from movielens_dag.resources.sources import WikipediaPlotsSource
from movielens_dag.resources.storage import DataDir
from movielens_dag.warehouse import preview_markdown

GROUP = "enrichment"
TMDB_POOL = "tmdb"
IMDB_POOL = "imdb"


RefreshConfig = config_class(RefreshSettings, name="RefreshConfig")
IdsConfig = config_class(TmdbIdSettings, name="IdsConfig")


def _store(data_dir: DataDir) -> FetchStore:
    return FetchStore(data_dir.paths.cache / "fetch_store")


def _run(coro_fn, fetcher_cm, store: FetchStore):
    """Run ``coro_fn(fetcher)`` on a fresh event loop with the fetcher open (or None), then commit
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


@dg.asset(group_name=GROUP, pool=TMDB_POOL, kinds={"python", "parquet"})
def tmdb_ids(context: dg.AssetExecutionContext, config: IdsConfig, movies: pd.DataFrame, links: pd.DataFrame,
             http_fetcher: HttpFetcher, data_dir: DataDir) -> dg.Output:
    """TMDB id per movie and how it was found: override > links.csv > /find by IMDb id > /search.

    ``confidence`` < 0.7 and unresolved movies appear in ``enrichment_review_queue`` with candidates.
    """
    overrides = read_overrides(pathlib.Path(config.overrides_path), set(movies["movie_id"].astype(int)))
    linked = links.set_index("movie_id")
    refs = [
        pipeline.MovieRef(
            int(m.movie_id), m.title, None if pd.isna(m.year) else int(m.year), tuple(m.alt_titles),
            _opt(linked["imdb_id"].get(m.movie_id)), _opt_int(linked["tmdb_id"].get(m.movie_id)),
        )
        for m in movies.itertuples(index=False)
    ]
    store = _store(data_dir)
    fetcher = http_fetcher.fetcher(store) if http_fetcher.tmdb_enabled else None
    try:
        (resolutions, report), summary = _run(
            lambda f: pipeline.resolve_tmdb_ids(refs, overrides, store, f, http_fetcher.tmdb_api_base_url,
                                                _now(), config.max_age_days, context.log.info), fetcher, store)
    except AuthError as exc:
        raise _auth_failure(exc) from None
    table = tables.tmdb_ids_table(resolutions)
    methods = Counter(r.method for r in resolutions)
    low = sum(1 for r in resolutions if r.tmdb_id is not None and r.confidence < 0.7)
    meta = {
        "methods": dict(methods), "resolved": len(resolutions) - methods["unresolved"],
        "unresolved": methods["unresolved"], "low_confidence": low, "overrides": len(overrides),
        "overrides_file": dg.MetadataValue.path(config.overrides_path), **_fetch_metadata(report, summary),
    }
    if fetcher is None:
        meta["skipped"] = f"{NO_TOKEN}: only overrides, links.csv and stored responses were used"
    return dg.Output(table, metadata=meta)


@dg.asset(group_name=GROUP, pool=TMDB_POOL, kinds={"python", "parquet"})
def tmdb_movies(context: dg.AssetExecutionContext, config: RefreshConfig, tmdb_ids: pd.DataFrame,
                http_fetcher: HttpFetcher, data_dir: DataDir) -> dg.Output:
    """TMDB details per movie (one call each, with keywords, external ids and credits appended)."""
    resolved = {int(r.movie_id): int(r.tmdb_id) for r in tmdb_ids.itertuples(index=False) if pd.notna(r.tmdb_id)}
    store = _store(data_dir)
    fetcher = http_fetcher.fetcher(store) if http_fetcher.tmdb_enabled else None
    try:
        report, summary = _run(
            lambda f: pipeline.refresh_tmdb_movies(list(resolved.values()), store, f, http_fetcher.tmdb_api_base_url,
                                                   _now(), config.max_age_days, config.use_changes_feed,
                                                   context.log.info), fetcher, store)
    except AuthError as exc:
        raise _auth_failure(exc) from None
    table, statuses = tables.tmdb_movies_table(store, resolved)
    meta = {"fetch_status": dict(statuses), **_fetch_metadata(report, summary),
            "with_overview": int(pc.sum(pc.is_valid(table["overview"])).as_py() or 0)}
    if fetcher is None:
        meta["skipped"] = f"{NO_TOKEN}: no TMDB request made; rows come from stored responses only"
    return dg.Output(table, metadata=meta)


@dg.asset(group_name=GROUP, pool=IMDB_POOL, kinds={"python", "parquet"})
def imdb_titles(context: dg.AssetExecutionContext, config: RefreshConfig, tmdb_ids: pd.DataFrame,
                tmdb_movies: pd.DataFrame, http_fetcher: HttpFetcher, data_dir: DataDir) -> dg.Output:
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
        lambda f: pipeline.refresh_imdb_titles(list(imdb_of.values()), store, f, http_fetcher.imdb_graphql_url or "",
                                               _now(), config.max_age_days, context.log.info), fetcher, store)
    table, statuses = tables.imdb_titles_table(store, imdb_of)
    meta = {"fetch_status": dict(statuses), **_fetch_metadata(report, summary)}
    if fetcher is None:
        meta["skipped"] = "IMDb is opt-in: set IMDB_GRAPHQL_URL to enable it (stored responses are still used)"
    if report.disabled:
        context.log.warning(report.disabled)
        meta["disabled"] = report.disabled
    return dg.Output(table, metadata=meta)


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def wikipedia_plots(context: dg.AssetExecutionContext, wikipedia_source: WikipediaPlotsSource, movies: pd.DataFrame,
                    tmdb_movies: pd.DataFrame) -> dg.Output:
    """Plots from the Kaggle "Wikipedia Movie Plots" CSV, matched on title + year ±1 (+ director)."""
    path = wikipedia_source.path()
    if not path.exists():
        return dg.Output(tables.WIKIPEDIA_PLOTS.empty_table(),
                         metadata={"skipped": f"no Wikipedia plots CSV at {path} (set WIKIPEDIA_PLOTS_CSV)"})
    plots = wikipedia.read_plots(path)
    directors = {int(r.movie_id): tuple(r.directors) for r in tmdb_movies.itertuples(index=False)
                 if r.fetch_status == "ok" and r.directors is not None}
    keys = [wikipedia.MovieKey(int(m.movie_id), m.title, None if pd.isna(m.year) else int(m.year),
                               tuple(m.alt_titles), directors.get(int(m.movie_id), ())) for m in movies.itertuples(index=False)]
    result = wikipedia.match_plots(keys, plots)
    table = tables.wikipedia_table(result)
    titles = dict(zip(movies["movie_id"].astype(int), movies["title"]))
    ambiguous = pd.DataFrame([{"movie_id": m, "title": titles[m], "candidates": "; ".join(f"{p.title} ({p.year}, {p.director})" for p in ps)}
                              for m, ps in result.ambiguous.items()])
    return dg.Output(table, metadata={
        "csv": dg.MetadataValue.path(str(path)), "plots_in_csv": len(plots),
        "csv_years": f"{min(p.year for p in plots)}–{max(p.year for p in plots)}" if plots else "n/a",
        "matched": len(result.matches), "eligible_movies": result.eligible,
        "match_rate": round(len(result.matches) / result.eligible, 4) if result.eligible else 0.0,
        "match_rate_all_movies": round(len(result.matches) / max(len(movies), 1), 4),
        "ambiguous": len(result.ambiguous), "movies_without_year": result.no_year,
        "by_rule": dict(Counter(how for _, how in result.matches.values())),
        "ambiguous_cases": dg.MetadataValue.md(ambiguous.to_markdown(index=False) if len(ambiguous) else "none"),
    })


@dg.asset(group_name=GROUP, kinds={"python", "parquet"})
def enrichment_review_queue(movies: pd.DataFrame, links: pd.DataFrame, tmdb_ids: pd.DataFrame,
                            tmdb_movies: pd.DataFrame, wikipedia_plots: pd.DataFrame, ratings: pathlib.Path) -> dg.Output:
    """Movies a person should check, most-rated first, each with the override line that fixes it."""
    with duckdb.connect() as con:
        counts = dict(con.sql(f"SELECT movie_id, count(*) FROM read_parquet('{_glob(ratings)}') GROUP BY 1").fetchall())
    table = review.build_review_queue(movies, tmdb_ids, tmdb_movies, wikipedia_plots, counts, links)
    return dg.Output(table, metadata={
        "by_issue": dict(Counter(table["issue"].to_pylist())) or "nothing to review",
        "overrides_file": dg.MetadataValue.path(str(OVERRIDES_FILE)),
        "top": dg.MetadataValue.md(preview_markdown(table.select(["movie_id", "title", "issue", "suggested_override"]), rows=10)),
    })


@dg.asset(group_name=GROUP, deps=[tmdb_ids, tmdb_movies, imdb_titles], kinds={"duckdb", "parquet"})
def fetch_log(data_dir: DataDir) -> dg.Output:
    """Every recorded HTTP outcome (source, key, status, url, attempts, fetched_at), payloads left out.

    The payloads stay in the fetch store: ``read_parquet('<data>/cache/fetch_store/*.parquet')``.
    """
    store = _store(data_dir)
    table = store.log_table()
    by = Counter(zip(table["source"].to_pylist(), table["status"].to_pylist()))
    return dg.Output(table, metadata={
        "store": dg.MetadataValue.path(str(store.root)), "store_files": len(store.files()),
        "by_source_status": {f"{s}/{st}": n for (s, st), n in sorted(by.items())} or "empty",
    })


# ---- refresh job, schedule, overrides sensor ---------------------------------------------------
REFRESH_SELECTION = dg.AssetSelection.groups(GROUP) | dg.AssetSelection.assets("movie_documents")

enrichment_refresh_job = dg.define_asset_job(
    "enrichment_refresh", selection=REFRESH_SELECTION,
    description="Fetch what is new, failed, older than max_age_days or changed on TMDB; rebuild documents.",
)

enrichment_weekly_schedule = dg.ScheduleDefinition(
    name="enrichment_weekly_refresh", job=enrichment_refresh_job, cron_schedule="0 4 * * 1",
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
    return datetime.now(timezone.utc)


def _opt(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _glob(path: pathlib.Path) -> str:
    return str(path / "*.parquet") if path.is_dir() else str(path)


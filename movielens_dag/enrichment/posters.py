"""TMDB poster images: resolve the image base URL, fetch each movie's poster once, check it decodes.

1. ``/configuration`` (through the one fetcher, re-read after ``configuration_max_age_days``) gives
   the image base URL and the poster sizes TMDB serves; a size it does not list is an error before
   any image is requested.
2. Each movie's ``poster_path`` (from ``tmdb_movies``) becomes one binary request keyed by
   ``<size><poster_path>``. The fetch store decides what is new, failed or stale exactly as for the
   other TMDB sources (``enrichment.pipeline.fetch_needed``), so a killed run resumes and a repeated
   run makes no request. TMDB gives a changed poster a new ``poster_path``, so a stored poster never
   goes stale unless ``max_age_days`` is set.
3. The bytes land content-addressed in the ``BlobStore`` (``DataPaths.posters``); a stored file that
   has gone missing is fetched again.
4. ``poster_table`` gives one row per movie with an outcome: ``ok``, ``no_tmdb_id``, ``no_poster``
   (TMDB lists none), ``not_found`` (404), ``broken_image`` (bytes no decoder reads), ``failed`` /
   ``client_error`` (HTTP), ``not_fetched`` (no token and nothing stored, or no TMDB details for the
   movie, so whether it has a poster is unknown). Only ``ok`` has a file.

Plain code: no Dagster. Pillow is imported inside ``check_image``.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from movielens_dag.enrichment.pipeline import FetchReport, fetch_needed
from movielens_dag.http.blob_store import BlobStore
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import FetchRequest, RateLimitedFetcher
from movielens_dag.settings import setting

SOURCE_CONFIGURATION, SOURCE_POSTER = "tmdb_configuration", "tmdb_poster"
STATUSES = ("ok", "no_tmdb_id", "no_poster", "not_found", "broken_image", "failed", "client_error", "not_fetched")
POSTER_IMAGES = pa.schema(
    [
        ("movie_id", pa.int32()),
        ("tmdb_id", pa.int64()),
        ("poster_path", pa.string()),
        ("size", pa.string()),
        ("status", pa.string()),
        ("sha256", pa.string()),
        ("file", pa.string()),
        ("bytes", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("error", pa.string()),
    ]
)


class PosterConfigError(ValueError):
    """A poster setting TMDB cannot serve (e.g. a size /configuration does not list)."""


@dataclass(frozen=True)
class PosterSettings:
    """Which poster images to fetch and how long a stored answer counts as fresh."""

    size: str = setting("w185", "Poster size, one of the poster_sizes TMDB's /configuration lists (w92 ... original).")
    configuration_max_age_days: float = setting(7.0, "Re-read TMDB /configuration after this many days.")
    max_age_days: float | None = setting(
        None, "Refetch a stored poster after this many days; None: never (a new poster gets a new poster_path)."
    )


@dataclass(frozen=True)
class PosterRef:
    movie_id: int
    tmdb_id: int | None
    poster_path: str | None
    details_status: str = "ok"  # the tmdb_movies fetch_status: without details, whether a poster exists is unknown


def poster_refs(tmdb_ids: pa.Table, tmdb_movies: pa.Table) -> list[PosterRef]:
    """One ref per ``tmdb_ids`` movie: its TMDB id and the ``poster_path`` of its ``tmdb_movies`` details."""
    details = {
        m: (t, p, s)
        for m, t, p, s in zip(
            *(tmdb_movies[c].to_pylist() for c in ("movie_id", "tmdb_id", "poster_path", "fetch_status")), strict=True
        )
    }
    refs = []
    for movie_id, tmdb_id in zip(tmdb_ids["movie_id"].to_pylist(), tmdb_ids["tmdb_id"].to_pylist(), strict=True):
        known_id, poster_path, status = details.get(movie_id, (None, None, "missing"))
        if tmdb_id is not None and known_id != tmdb_id:  # details of another id (an override changed it)
            poster_path, status = None, "missing"
        refs.append(PosterRef(movie_id, tmdb_id, poster_path if status == "ok" else None, status))
    return refs


def configuration_request(base_url: str) -> FetchRequest:
    return FetchRequest(SOURCE_CONFIGURATION, "configuration", f"{base_url.rstrip('/')}/configuration")


def image_base_url(payload: dict, size: str) -> str:
    """The base URL of TMDB's images (https when offered); the size must be one TMDB lists."""
    images = payload.get("images") or {}
    base = images.get("secure_base_url") or images.get("base_url")
    if not base:
        raise PosterConfigError("TMDB /configuration has no images.base_url; cannot build poster URLs")
    sizes = images.get("poster_sizes") or []
    if size not in sizes:
        raise PosterConfigError(f"poster size {size!r} is not one TMDB serves; use one of {sizes}")
    return base


def poster_key(size: str, poster_path: str) -> str:
    return f"{size}{poster_path}"


def poster_request(image_base: str, size: str, poster_path: str) -> FetchRequest:
    if not poster_path.startswith("/"):
        raise ValueError(f"poster_path {poster_path!r} should start with '/' (as TMDB returns it)")
    return FetchRequest(
        SOURCE_POSTER, poster_key(size, poster_path), f"{image_base.rstrip('/')}/{size}{poster_path}", binary=True
    )


def check_image(path) -> tuple[int, int]:
    """(width, height) of an image file that decodes completely; raises on a broken one."""
    from PIL import Image

    with Image.open(path) as img:
        img.verify()  # structure
    with Image.open(path) as img:
        img.load()  # every pixel (a truncated file fails here)
        return img.size


async def refresh_posters(
    refs: Iterable[PosterRef],
    store: FetchStore,
    fetcher: RateLimitedFetcher | None,
    blobs: BlobStore,
    base_url: str,
    now: datetime,
    settings: PosterSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pa.Table, FetchReport]:
    """Fetch what is missing, failed, stale or whose file is gone; return the poster_images table."""
    refs, settings = list(refs), settings or PosterSettings()
    report = await fetch_needed(
        [configuration_request(base_url)], store, fetcher, now, settings.configuration_max_age_days
    )
    config = {k: p for k, p, _ in store.iter_ok_payloads(SOURCE_CONFIGURATION, ["configuration"])}
    if "configuration" not in config:
        return poster_table(refs, store, blobs, settings.size), report  # no token and nothing stored
    image_base = image_base_url(json.loads(config["configuration"]), settings.size)
    requests = [
        poster_request(image_base, settings.size, r.poster_path)
        for r in refs
        if r.tmdb_id is not None and r.poster_path
    ]
    report.add(await fetch_needed(requests, store, fetcher, now, settings.max_age_days, progress=progress))
    if fetcher is not None:  # a recorded poster whose file was deleted: fetch it again
        gone = {
            k
            for k, p, _ in store.iter_ok_payloads(SOURCE_POSTER, [r.key for r in requests])
            if not blobs.path(json.loads(p)["file"]).is_file()
        }
        if gone:
            report.reasons["file_missing"] += len(gone)
            for record in await fetcher.fetch_many([r for r in requests if r.key in gone]):
                report.outcomes[record.status] += 1
    return poster_table(refs, store, blobs, settings.size), report


def poster_table(refs: list[PosterRef], store: FetchStore, blobs: BlobStore, size: str) -> pa.Table:
    """One row per movie: the outcome, and for ``ok`` the file (relative to the blob root) and its size."""
    latest = store.latest(SOURCE_POSTER)
    keys = [poster_key(size, r.poster_path) for r in refs if r.tmdb_id is not None and r.poster_path]
    ok = {k: (json.loads(p), at) for k, p, at in store.iter_ok_payloads(SOURCE_POSTER, keys)}
    checked: dict[str, tuple[int, int] | str] = {}  # file -> (w, h) or the decoder's error
    rows = []
    for r in refs:
        row = {"movie_id": r.movie_id, "tmdb_id": r.tmdb_id, "poster_path": r.poster_path, "size": size}
        key = poster_key(size, r.poster_path) if r.poster_path else None
        state = latest.get(key) if key else None
        if r.tmdb_id is None:
            row["status"] = "no_tmdb_id"
        elif r.details_status != "ok" and not r.poster_path:
            row.update(status="not_fetched", error=f"no TMDB details for tmdb_id {r.tmdb_id} ({r.details_status})")
        elif not r.poster_path:
            row["status"] = "no_poster"
        elif state is None:
            row["status"] = "not_fetched"
        elif key in ok and state.status != "not_found":  # a later failed refresh keeps the good copy
            meta, fetched_at = ok[key]
            row.update(sha256=meta["sha256"], file=meta["file"], bytes=meta["bytes"], fetched_at=fetched_at)
            if meta["file"] not in checked:
                try:
                    checked[meta["file"]] = check_image(blobs.path(meta["file"]))
                except Exception as exc:
                    checked[meta["file"]] = f"{type(exc).__name__}: {exc}"
            result = checked[meta["file"]]
            if isinstance(result, str):
                row.update(status="broken_image", error=result, file=None)
            else:
                row.update(status="ok", width=result[0], height=result[1])
        else:
            row.update(status=state.status, fetched_at=state.fetched_at, error=state.error)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=POSTER_IMAGES)


def status_counts(table: pa.Table) -> dict[str, int]:
    counts = Counter(table["status"].to_pylist())
    return {s: counts.get(s, 0) for s in STATUSES}

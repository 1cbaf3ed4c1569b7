"""A TMDB v3 + IMDb GraphQL emulator on 127.0.0.1, for tests, benchmarks and offline demos.

Serves the real recorded responses in ``fixtures/`` (movie 550, a /find, a /search, the 404 and 401
bodies, an IMDb mainSearch) plus generated movies for any other id, TMDB's ``/configuration`` and
small generated poster images under ``/t/p/<size>/<file>`` (with 404s, broken images and movies
without a ``poster_path`` on demand), and misbehaves on demand: a
token-bucket rate limit answered with 429 + Retry-After, added latency, random or scripted faults
(429, 500, 502, 503, timeout, connection reset, malformed JSON, 401, 403).

    python -m movielens_dag.devtools.api_emulator --port 8765 --rps 40 --latency 0.1 --error-rate 0.05
    TMDB_API_BASE_URL=http://127.0.0.1:8765/3 IMDB_GRAPHQL_URL=http://127.0.0.1:8765/imdb/graphql ...

It is a small HTTP/1.1 server on asyncio streams (keep-alive, Content-Length bodies) so that it can
do what a framework hides: reset a connection, hang, or send half a body. ``GET /_stats`` returns
counters as JSON. It only ever binds to 127.0.0.1.
"""

import argparse
import asyncio
import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from movielens_dag.enrichment.titles import normalise_title

FIXTURES = Path(__file__).parent / "fixtures"
HOST = "127.0.0.1"
FAULTS = ("429", "500", "502", "503", "timeout", "reset", "malformed", "401", "403")
SINNERS_IMDB_ID = "tt31193180"  # the movie in the recorded /find response
POSTER_SIZES = ["w92", "w154", "w185", "w342", "w500", "w780", "original"]  # TMDB's /configuration lists these
# TMDB's error bodies (only ever serialised, never mutated)
RATE_LIMITED = {"status_code": 25, "status_message": "Your request count is over the allowed limit."}
INTERNAL_ERROR = {"status_code": 11, "status_message": "Internal error: Something went wrong, contact TMDB."}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class EmulatorConfig:
    requests_per_second: float | None = None  # None: no rate limit
    burst: int | None = None  # bucket size; default one second of rate
    latency_s: float = 0.0
    error_rate: float = 0.0  # share of requests that get a random fault from `faults`
    faults: tuple[str, ...] = ("429", "500", "502", "503")
    retry_after_s: int = 1
    hang_s: float = 30.0  # how long a "timeout" fault hangs before answering
    tmdb_token: str | None = None  # required Bearer token; None accepts any request
    imdb_blocked: bool = False  # every IMDb request gets 403
    missing_tmdb_ids: set[int] = field(default_factory=set)
    missing_imdb_ids: set[str] = field(default_factory=set)
    changed_tmdb_ids: list[int] = field(default_factory=list)  # served by /movie/changes
    no_poster_tmdb_ids: set[int] = field(default_factory=set)  # their details have poster_path null
    missing_posters: set[str] = field(default_factory=set)  # poster files ('/poster7.jpg') that 404
    broken_posters: set[str] = field(default_factory=set)  # poster files served as bytes no decoder reads
    seed: int = 0


@dataclass(frozen=True)
class CatalogMovie:
    tmdb_id: int
    title: str
    year: int | None
    imdb_id: str | None = None
    vote_count: int = 100
    original_title: str | None = None


def generated_imdb_id(tmdb_id: int) -> str:
    return f"tt{9_000_000 + tmdb_id:07d}"


class Emulator:
    def __init__(self, config: EmulatorConfig | None = None, catalog: list[CatalogMovie] = ()):
        self.config = config or EmulatorConfig()
        self.catalog = {m.tmdb_id: m for m in catalog}
        self.script: dict[str, deque[str]] = defaultdict(deque)  # path -> faults for the next hits
        self.hits: Counter[str] = Counter()  # path (without query) -> requests
        self.last_authorization: dict[str, str | None] = {}  # path -> Authorization header last seen
        self.statuses: Counter[str] = Counter()  # status or fault kind -> count
        self.first_hit: float | None = None
        self.last_hit: float | None = None
        self._rng = random.Random(self.config.seed)
        self._tokens = float(self._bucket_size())
        self._refilled = time.monotonic()
        self._server: asyncio.AbstractServer | None = None
        self.port: int | None = None

    # ---- control -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def tmdb_url(self) -> str:
        return f"{self.base_url}/3"

    @property
    def imdb_url(self) -> str:
        return f"{self.base_url}/imdb/graphql"

    def fail_next(self, path: str, *faults: str) -> None:
        """Answer the next hits on ``path`` (e.g. '/3/movie/551') with these faults, in order ('ok' = none)."""
        for fault in faults:
            if fault != "ok" and fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; choose from {FAULTS}")
        self.script[path].extend(faults)

    def total_hits(self, prefix: str = "") -> int:
        return sum(n for path, n in self.hits.items() if path.startswith(prefix))

    def stats(self) -> dict:
        span = (self.last_hit or 0) - (self.first_hit or 0)
        return {
            "hits": dict(self.hits),
            "statuses": dict(self.statuses),
            "total": self.total_hits(),
            "span_s": round(span, 3),
        }

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    # ---- HTTP plumbing -------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                keep_open = await self._respond(writer, method, target, headers, body)
                if not keep_open or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(self, writer, method: str, target: str, headers: dict, body: bytes) -> bool:
        url = urlsplit(target)
        path, query = url.path, dict(parse_qsl(url.query, keep_blank_values=True))
        now = time.monotonic()
        self.first_hit = self.first_hit or now
        self.last_hit = now
        if path == "/_stats":
            await self._send(writer, 200, self.stats())
            return True
        self.hits[path] += 1
        self.last_authorization[path] = headers.get("authorization")
        if not self._take_token():
            self.statuses["429-rate-limit"] += 1
            await self._send(writer, 429, RATE_LIMITED, {"Retry-After": str(self.config.retry_after_s)})
            return True
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        fault = self._next_fault(path)
        if fault is not None:
            self.statuses[fault] += 1
            return await self._send_fault(writer, fault, path)
        try:
            status, payload = self._route(method, path, query, headers, body)
        except Exception as exc:  # a bug here must not look like a network fault
            status, payload = 500, {"emulator_error": repr(exc)}
        self.statuses[str(status)] += 1
        if isinstance(payload, Image):
            await self._send(writer, status, None, raw=payload.data, content_type=payload.content_type)
        else:
            await self._send(writer, status, payload)
        return True

    async def _send(
        self,
        writer,
        status: int,
        payload,
        extra: dict | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json;charset=utf-8",
    ) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(data)}",
        ] + [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    async def _send_fault(self, writer, fault: str, path: str) -> bool:
        if fault == "429":
            await self._send(writer, 429, RATE_LIMITED, {"Retry-After": str(self.config.retry_after_s)})
        elif fault in ("500", "502", "503"):
            await self._send(writer, int(fault), INTERNAL_ERROR)
        elif fault == "401":
            await self._send(writer, 401, fixture("tmdb/invalid-api-key.json"))
        elif fault == "403":
            await self._send(writer, 403, None, raw=b"<html><body>403 Forbidden</body></html>")
        elif fault == "malformed":
            data = b'{"id": 1, "title": "Trunc'
            await self._send(writer, 200, None, raw=data)
        elif fault == "timeout":
            await asyncio.sleep(self.config.hang_s)
            await self._send(writer, 504, {"status_message": "too late"})
        elif fault == "reset":  # RST instead of FIN: SO_LINGER with a zero timeout, then close
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        return True

    def _bucket_size(self) -> int:
        rps = self.config.requests_per_second
        return self.config.burst or (max(1, int(rps)) if rps else 1)

    def _take_token(self) -> bool:
        rps = self.config.requests_per_second
        if not rps:
            return True
        now = time.monotonic()
        self._tokens = min(self._bucket_size(), self._tokens + (now - self._refilled) * rps)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _next_fault(self, path: str) -> str | None:
        queue = self.script.get(path)
        if queue:
            fault = queue.popleft()
            return None if fault == "ok" else fault
        if self.config.error_rate and self._rng.random() < self.config.error_rate:
            return self._rng.choice(self.config.faults)
        return None

    # ---- routes --------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, object]:
        if path.startswith("/imdb"):
            if self.config.imdb_blocked:
                return 403, {"message": "Forbidden"}
            return 200, self._imdb(json.loads(body or b"{}"))
        if path.startswith("/t/p/"):  # image.tmdb.org/t/p/<size>/<file>: no token needed
            return self._poster(path)
        if not path.startswith("/3/"):
            return 404, fixture("tmdb/resource-not-found.json")
        token = self.config.tmdb_token
        if token is not None and headers.get("authorization") != f"Bearer {token}":
            return 401, fixture("tmdb/invalid-api-key.json")
        parts = path.split("/")[2:]
        if parts == ["configuration"]:
            return 200, self._configuration()
        if parts == ["movie", "changes"]:
            return 200, self._changes(int(query.get("page", 1)))
        if len(parts) == 2 and parts[0] == "movie" and parts[1].isdigit():
            return self._movie(int(parts[1]), query.get("append_to_response", ""))
        if len(parts) == 2 and parts[0] == "find":
            return 200, self._find(parts[1])
        if parts == ["search", "movie"]:
            return 200, self._search(query.get("query", ""), query.get("year"))
        return 404, fixture("tmdb/resource-not-found.json")

    def _movie(self, tmdb_id: int, append: str) -> tuple[int, dict]:
        if tmdb_id in self.config.missing_tmdb_ids:
            return 404, fixture("tmdb/resource-not-found.json")
        extras = [a for a in append.split(",") if a]
        if tmdb_id == 550 and tmdb_id not in self.catalog:
            doc = fixture("tmdb/movie-details.json")
            names = {
                "keywords": "movie-keywords.json",
                "credits": "movie-credits.json",
                "external_ids": "movie-external-ids.json",
            }
            for extra in extras:
                if extra in names:
                    part = fixture(f"tmdb/{names[extra]}")
                    part.pop("id", None)
                    doc[extra] = part
            return 200, doc
        movie = self.catalog.get(tmdb_id) or CatalogMovie(tmdb_id, f"Generated Movie {tmdb_id}", 1950 + tmdb_id % 70)
        doc = generated_details(movie, extras)
        if tmdb_id in self.config.no_poster_tmdb_ids:
            doc["poster_path"] = None
        return 200, doc

    def _configuration(self) -> dict:
        images = f"{self.base_url}/t/p/"
        return {
            "images": {
                "base_url": images,
                "secure_base_url": images,
                "poster_sizes": POSTER_SIZES,
                "backdrop_sizes": ["w300", "w780", "w1280", "original"],
                "logo_sizes": ["w45", "w92", "w154", "w185", "w300", "w500", "original"],
                "profile_sizes": ["w45", "w185", "h632", "original"],
                "still_sizes": ["w92", "w185", "w300", "original"],
            },
            "change_keys": ["adult", "images", "overview", "poster_path", "release_dates", "title"],
        }

    def _poster(self, path: str) -> tuple[int, object]:
        size, _, name = path[len("/t/p/") :].partition("/")
        file = "/" + name
        if size not in POSTER_SIZES or not name or file in self.config.missing_posters:
            return 404, Image(b"<html><body>404 Not Found</body></html>", "text/html")
        if file in self.config.broken_posters:  # a JPEG header and then nothing a decoder can read
            return 200, Image(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(40)), "image/jpeg")
        return 200, Image(generated_poster(file, size), "image/jpeg")

    def _find(self, imdb_id: str) -> dict:
        if imdb_id == SINNERS_IMDB_ID:
            return fixture("tmdb/find-by-id-movie.json")
        found = [m for m in self.catalog.values() if (m.imdb_id or generated_imdb_id(m.tmdb_id)) == imdb_id]
        return {
            "movie_results": [search_result(m) for m in found],
            "person_results": [],
            "tv_results": [],
            "tv_episode_results": [],
            "tv_season_results": [],
        }

    def _search(self, text: str, year: str | None) -> dict:
        if text == "RRRrrrr!!!":
            return fixture("tmdb/search-movie.json")
        wanted = normalise_title(text)  # TMDB's search folds case, accents and punctuation too
        found = [
            m
            for m in self.catalog.values()
            if wanted
            and (wanted in normalise_title(m.title) or wanted in normalise_title(m.original_title or ""))
            and (not year or m.year == int(year))
        ]  # like TMDB's `year`: that release year only
        found.sort(key=lambda m: -m.vote_count)
        return {
            "page": 1,
            "results": [search_result(m) for m in found[:20]],
            "total_pages": 1,
            "total_results": len(found),
        }

    def _changes(self, page: int) -> dict:
        ids = self.config.changed_tmdb_ids
        pages = max(1, -(-len(ids) // 100))
        chunk = ids[(page - 1) * 100 : page * 100]
        return {
            "results": [{"id": i, "adult": False} for i in chunk],
            "page": page,
            "total_pages": pages,
            "total_results": len(ids),
        }

    def _imdb(self, request: dict) -> dict:
        query, variables = request.get("query", ""), request.get("variables") or {}
        if "mainSearch" in query:
            if "matrix" in str(variables.get("searchTerm", "")).lower():
                return fixture("imdb/mainsearch-the-matrix.json")
            return {"data": {"mainSearch": {"edges": []}}}
        imdb_id = str(variables.get("id", ""))
        if imdb_id in self.config.missing_imdb_ids or not imdb_id.startswith("tt"):
            return {"data": {"title": None}}
        return {"data": {"title": generated_imdb_title(imdb_id)}}


@dataclass(frozen=True)
class Image:
    data: bytes
    content_type: str


def generated_poster(file: str, size: str) -> bytes:
    """A small JPEG (2:3, width from the size name, 'original' = 500) whose colours depend on the file."""
    import hashlib
    import io

    from PIL import Image as PILImage
    from PIL import ImageDraw

    width = 500 if size == "original" else int(size[1:])
    h = hashlib.sha256(file.encode()).digest()
    img = PILImage.new("RGB", (width, width * 3 // 2), (h[0], h[1], h[2]))
    draw = ImageDraw.Draw(img)
    for i in range(4):  # a few bands, so posters differ in shape as well as colour
        top = (h[3 + i] * img.height) // 256
        draw.rectangle([0, top, width, top + img.height // 8], fill=(h[7 + i], h[11 + i], h[15 + i]))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def search_result(m: CatalogMovie) -> dict:
    return {
        "id": m.tmdb_id,
        "title": m.title,
        "original_title": m.original_title or m.title,
        "release_date": f"{m.year}-06-01" if m.year else "",
        "vote_count": m.vote_count,
        "popularity": m.vote_count / 10,
        "vote_average": 6.5,
        "original_language": "en",
        "adult": False,
        "overview": f"Search overview of {m.title}.",
    }


_GENRES = ["Drama", "Comedy", "Thriller", "Romance", "Action", "Horror", "Documentary", "Animation"]


def generated_details(m: CatalogMovie, extras: list[str]) -> dict:
    n = m.tmdb_id
    imdb_id = m.imdb_id or generated_imdb_id(n)
    doc = {
        "id": n,
        "imdb_id": imdb_id,
        "title": m.title,
        "original_title": m.original_title or m.title,
        "overview": f"{m.title} is a generated film about case number {n}, told over {80 + n % 60} minutes.",
        "tagline": f"Tagline {n}.",
        "release_date": f"{m.year}-06-01" if m.year else "",
        "runtime": 80 + n % 60,
        "budget": n * 1000,
        "revenue": n * 2500,
        "original_language": "en",
        "popularity": n % 100 / 3,
        "vote_average": round(5 + n % 50 / 10, 1),
        "vote_count": m.vote_count,
        "poster_path": f"/poster{n}.jpg",
        "genres": [{"id": i, "name": _GENRES[(n + i) % len(_GENRES)]} for i in range(1 + n % 3)],
        "production_countries": [{"iso_3166_1": "US", "name": "United States of America"}],
        "spoken_languages": [{"english_name": "English", "iso_639_1": "en", "name": "English"}],
    }
    if "keywords" in extras:
        doc["keywords"] = {"keywords": [{"id": n * 10 + i, "name": f"keyword {(n + i) % 97}"} for i in range(4)]}
    if "external_ids" in extras:
        doc["external_ids"] = {"imdb_id": imdb_id, "wikidata_id": f"Q{n}", "facebook_id": None}
    if "credits" in extras:
        doc["credits"] = {
            "cast": [
                {"id": n * 100 + i, "name": f"Actor {(n + i) % 991}", "character": f"Role {i}", "order": i}
                for i in range(6)
            ],
            "crew": [
                {"id": n * 100 + 50, "name": f"Director {n % 97}", "job": "Director", "department": "Directing"},
                {"id": n * 100 + 51, "name": f"Writer {n % 89}", "job": "Screenplay", "department": "Writing"},
            ],
        }
    return doc


def generated_imdb_title(imdb_id: str) -> dict:
    n = int(imdb_id[2:] or 0)
    return {
        "id": imdb_id,
        "titleText": {"text": f"IMDb Title {n}"},
        "originalTitleText": {"text": f"IMDb Title {n}"},
        "releaseYear": {"year": 1950 + n % 70},
        "titleType": {"id": "movie"},
        "plot": {"plotText": {"plainText": f"An IMDb plot outline for title {n}."}},
        "ratingsSummary": {"aggregateRating": round(5 + n % 50 / 10, 1), "voteCount": 1000 + n % 5000},
        "genres": {"genres": [{"text": _GENRES[n % len(_GENRES)]}]},
        "keywords": {"edges": [{"node": {"text": f"imdb keyword {(n + i) % 53}"}} for i in range(3)]},
        "principalCredits": [
            {
                "category": {"id": "director", "text": "Director"},
                "credits": [{"name": {"id": f"nm{n % 997:07d}", "nameText": {"text": f"Director {n % 97}"}}}],
            },
            {
                "category": {"id": "cast", "text": "Stars"},
                "credits": [
                    {"name": {"id": f"nm{n % 991 + i:07d}", "nameText": {"text": f"Star {(n + i) % 991}"}}}
                    for i in range(3)
                ],
            },
        ],
        "spokenLanguages": {"spokenLanguages": [{"id": "en", "text": "English"}]},
        "countriesOfOrigin": {"countries": [{"id": "US", "text": "United States"}]},
        "featuredReviews": {
            "edges": [
                {
                    "node": {
                        "summary": {"originalText": f"Review of {n}"},
                        "text": {"originalText": {"plainText": "Worth a look."}},
                        "authorRating": 7,
                    }
                }
            ]
        },
        "moreLikeThisTitles": {
            "edges": [{"node": {"id": f"tt{n + i:07d}", "titleText": {"text": f"IMDb Title {n + i}"}}} for i in (1, 2)]
        },
    }


_REASONS = {
    200: "OK",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@contextlib.contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, catalog: list[CatalogMovie] = (), port: int = 0
) -> Iterator[Emulator]:
    """Run an emulator on a background thread's event loop for the duration of a ``with`` block."""
    emulator = Emulator(config, catalog)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(emulator.start(port))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="api-emulator", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the API emulator did not start within 10 s")

    async def shutdown() -> None:
        await emulator.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:  # connections still open (keep-alive, hanging "timeout" faults)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        yield emulator
    finally:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rps", type=float, default=None, help="rate limit, requests/second")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--faults", default="429,500,502,503", help=f"comma-separated, from {','.join(FAULTS)}")
    parser.add_argument("--token", default=None, help="require this Bearer token (default: accept any)")
    parser.add_argument("--imdb-blocked", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        requests_per_second=args.rps,
        latency_s=args.latency,
        error_rate=args.error_rate,
        faults=tuple(f for f in args.faults.split(",") if f),
        tmdb_token=args.token,
        imdb_blocked=args.imdb_blocked,
        seed=args.seed,
    )

    async def run() -> None:
        emulator = Emulator(config)
        await emulator.start(args.port)
        print(f"API emulator on {emulator.base_url} (TMDB {emulator.tmdb_url}, IMDb {emulator.imdb_url})", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()

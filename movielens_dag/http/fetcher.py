"""One rate-limited, retrying, recording HTTP fetcher for every enrichment source.

Per host: a token bucket (aiolimiter) at the configured requests/second, a cap on requests in
flight, and a per-attempt deadline. Each attempt takes one token, so retries count against the rate.
Retries (tenacity, policy in ``retry.py``): 429/5xx, timeouts, connection errors and malformed bodies,
with exponential backoff + full jitter, or exactly the server's Retry-After when it sends one.
401/403 raise ``AuthError`` at once (the message names the token variable, never its value).
404 → ``not_found`` and other 4xx → ``client_error``, both final. Every outcome goes to the
``FetchStore`` (when given), committed in batches while the run goes.

A ``binary`` request (an image) is not parsed as JSON: its bytes go to the ``BlobStore`` (content
addressed) and the stored payload is a small JSON record of them (sha256, file, bytes, content type).
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiolimiter
import httpx
import tenacity

from movielens_dag.http.blob_store import BlobStore, extension_for
from movielens_dag.http.fetch_store import FetchRecord, FetchStore, utcnow
from movielens_dag.http.retry import MalformedResponse, is_retryable, raise_for_retryable, retry_policy


@dataclass(frozen=True)
class HostPolicy:
    requests_per_second: float
    max_concurrency: int = 16
    timeout_s: float = 15.0  # whole attempt: connect + send + read the full body
    max_attempts: int = 6
    initial_wait_s: float = 0.5
    max_wait_s: float = 60.0
    burst: int | None = None  # tokens available at once; default a quarter second of rate


@dataclass(frozen=True)
class Credential:
    """Headers sent only to URLs under ``url_prefix``; never logged, stored or shown in errors."""

    url_prefix: str
    headers: Mapping[str, str] = field(repr=False)
    name: str  # the environment variable named in auth errors ("... is missing or wrong")


@dataclass(frozen=True)
class FetchRequest:
    source: str
    key: str
    url: str
    params: Mapping[str, str | int] | None = None  # httpx encodes them (titles with &, ?, #, é)
    method: str = "GET"
    json_body: Any = None
    binary: bool = False  # the body is bytes for the BlobStore (an image), not JSON


class AuthError(RuntimeError):
    """The server refused our credentials (401/403). Not retried."""

    def __init__(self, source: str, host: str, status: int, credential_name: str | None):
        who = f"{credential_name} is missing or wrong" if credential_name else "credentials are missing or wrong"
        super().__init__(
            f"{source}: HTTP {status} from {host}: {who} (the token itself is never printed). "
            "Fix the environment variable and re-run; nothing already fetched is lost."
        )
        self.source, self.host, self.status = source, host, status


class _Host:
    def __init__(self, policy: HostPolicy):
        self.policy = policy
        burst = policy.burst or max(1, int(policy.requests_per_second / 4))
        self.limiter = aiolimiter.AsyncLimiter(burst, burst / policy.requests_per_second)
        self.slots = asyncio.Semaphore(policy.max_concurrency)


class RateLimitedFetcher:
    """``async with RateLimitedFetcher(policies, store) as f: await f.fetch_many(requests)``."""

    def __init__(
        self,
        policies: Mapping[str, HostPolicy],
        store: FetchStore | None = None,
        credentials: Iterable[Credential] = (),
        default_policy: HostPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "movielens-dag (+https://github.com/)",
        blobs: BlobStore | None = None,
    ):
        self.policies = dict(policies)  # keyed by host[:port]
        self.blobs = blobs  # where the bodies of binary requests go
        self.default_policy = default_policy or HostPolicy(requests_per_second=5, max_concurrency=4)
        self.store = store
        self._credentials = sorted(credentials, key=lambda c: -len(c.url_prefix))  # longest prefix wins
        self.run_id = uuid.uuid4().hex[:12]
        self.stats: Counter[str] = Counter()  # attempts, http_<status>, retries, timeouts, ...
        self._transport = transport
        self._user_agent = user_agent
        self._hosts: dict[str, _Host] = {}
        self._client: httpx.AsyncClient | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._first_send = 0.0
        self._last_response = 0.0
        total = sum(p.max_concurrency for p in self.policies.values()) + self.default_policy.max_concurrency
        self.max_pending = max(64, 8 * total)

    async def __aenter__(self) -> "RateLimitedFetcher":
        total = sum(p.max_concurrency for p in self.policies.values()) + self.default_policy.max_concurrency
        self._client = httpx.AsyncClient(
            transport=self._transport,
            limits=httpx.Limits(max_connections=total, max_keepalive_connections=total),
            headers={"User-Agent": self._user_agent, "Accept": "application/json"},
            follow_redirects=True,
        )
        self._flush_lock = asyncio.Lock()
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self.store is not None:
            await asyncio.to_thread(self.store.flush)
        if self._client is not None:
            await self._client.aclose()

    # ---- public --------------------------------------------------------------------------------
    async def fetch(self, request: FetchRequest) -> FetchRecord:
        host_key = httpx.URL(request.url).netloc.decode()
        host = self._host(host_key)
        started = time.monotonic()
        attempts = 0
        last_status: int | None = None
        try:
            async for attempt in tenacity.AsyncRetrying(
                **retry_policy(host.policy.max_attempts, host.policy.initial_wait_s, host.policy.max_wait_s),
                before_sleep=lambda state: self.stats.update(["retries"]),
            ):
                with attempt:
                    attempts += 1
                    response = await self._attempt(host, request)
                    last_status = response.status_code
                    record = self._classify(request, host_key, response, attempts, started)
        except AuthError:
            raise
        except Exception as exc:  # retryable errors that outlived every attempt
            if not is_retryable(exc):
                raise
            record = self._record(
                request, "failed", getattr(exc, "status", last_status), None, _describe(exc), attempts, started
            )
        await self._remember(record)
        return record

    async def fetch_many(
        self,
        requests: Iterable[FetchRequest],
        on_result: Callable[[FetchRecord], None] | None = None,
        collect: bool = True,
    ) -> list[FetchRecord]:
        """Fetch concurrently (limits apply per host); duplicate (source, key) pairs go out once.

        At most ``max_pending`` requests are in progress (sending, waiting or backing off), so a
        list of 100,000 keys costs no more memory than a short one; with ``collect=False`` the records
        (and their payloads) are not kept either: read them back from the store. The first
        ``AuthError`` cancels everything still pending and is raised; what was fetched stays recorded.
        """
        unique = list({(r.source, r.key): r for r in requests}.values())
        gate = asyncio.Semaphore(self.max_pending)
        results: list[tuple[int, FetchRecord]] = []
        pending: set[asyncio.Task] = set()

        async def one(index: int, request: FetchRequest) -> None:
            try:
                record = await self.fetch(request)
                if on_result is not None:
                    on_result(record)
                if collect:
                    results.append((index, record))
            finally:
                gate.release()

        def reap(tasks) -> None:
            for task in [t for t in tasks if t.done()]:
                pending.discard(task)
                task.result()  # re-raises an AuthError (or a bug) at once

        try:
            for index, request in enumerate(unique):
                await gate.acquire()
                reap(list(pending))
                pending.add(asyncio.ensure_future(one(index, request)))
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                reap(done)
        except BaseException:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise
        return [record for _, record in sorted(results, key=lambda pair: pair[0])]

    def summary(self) -> dict[str, float]:
        """Counters, and the request rate between the first send and the last response."""
        span = max(self._last_response - self._first_send, 1e-9) if self._first_send else 0.0
        rate = self.stats["attempts"] / span if span else 0.0
        return {**self.stats, "active_s": round(span, 3), "requests_per_second": round(rate, 3)}

    # ---- internals -----------------------------------------------------------------------------
    def _host(self, host_key: str) -> _Host:
        if host_key not in self._hosts:
            self._hosts[host_key] = _Host(self.policies.get(host_key, self.default_policy))
        return self._hosts[host_key]

    async def _attempt(self, host: _Host, request: FetchRequest) -> httpx.Response:
        assert self._client is not None, "use RateLimitedFetcher as 'async with'"
        async with host.slots:  # take a slot first, then a token: tokens are only spent on sends
            await host.limiter.acquire()
            self.stats["attempts"] += 1
            self._first_send = self._first_send or time.monotonic()
            headers = dict(credential.headers) if (credential := self._credential(request.url)) else {}
            if request.binary:
                headers["Accept"] = "*/*"
            try:
                async with asyncio.timeout(host.policy.timeout_s):
                    response = await self._client.request(
                        request.method,
                        request.url,
                        params=request.params,
                        json=request.json_body,
                        headers=headers or None,
                        timeout=host.policy.timeout_s,
                    )
            except (TimeoutError, httpx.TimeoutException):
                self.stats["timeouts"] += 1
                raise
            except httpx.TransportError:
                self.stats["connection_errors"] += 1
                raise
        self._last_response = time.monotonic()
        self.stats[f"http_{response.status_code}"] += 1
        raise_for_retryable(response)
        return response

    def _credential(self, url: str) -> Credential | None:
        return next((c for c in self._credentials if url.startswith(c.url_prefix)), None)

    def _classify(
        self, request: FetchRequest, host_key: str, response: httpx.Response, attempts: int, started: float
    ) -> FetchRecord:
        status = response.status_code
        if status in (401, 403):
            credential = self._credential(request.url)
            raise AuthError(request.source, host_key, status, credential.name if credential else None)
        if status == 404:
            return self._record(request, "not_found", status, response.text, None, attempts, started)
        if status >= 400 or status < 200:
            return self._record(
                request,
                "client_error",
                status,
                response.text,
                f"HTTP {status}: {response.text[:200]}",
                attempts,
                started,
            )
        if request.binary:
            return self._record(request, "ok", status, self._keep_body(request, response), None, attempts, started)
        text = response.text
        try:
            json.loads(text)
        except ValueError as exc:
            self.stats["malformed"] += 1
            raise MalformedResponse(_public_url(response.request.url), str(exc)) from None
        return self._record(request, "ok", status, text, None, attempts, started)

    def _keep_body(self, request: FetchRequest, response: httpx.Response) -> str:
        """Write a binary body to the blob store; the payload records where it went."""
        if self.blobs is None:
            raise ValueError(f"{request.source}/{request.key} is a binary request: give the fetcher a BlobStore")
        content_type = response.headers.get("content-type")
        sha, rel = self.blobs.put(response.content, extension_for(content_type))
        return json.dumps({"sha256": sha, "file": rel, "bytes": len(response.content), "content_type": content_type})

    def _record(
        self,
        request: FetchRequest,
        status: str,
        http_status: int | None,
        payload: str | None,
        error: str | None,
        attempts: int,
        started: float,
    ) -> FetchRecord:
        return FetchRecord(
            source=request.source,
            key=request.key,
            status=status,
            http_status=http_status,
            url=_public_url(httpx.URL(request.url, params=request.params)),
            payload=payload,
            error=error,
            attempts=attempts,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            fetched_at=utcnow(),
            run_id=self.run_id,
        )

    async def _remember(self, record: FetchRecord) -> None:
        self.stats[record.status] += 1
        if self.store is None:
            return
        self.store.append(record)
        if self.store.should_flush():
            assert self._flush_lock is not None
            batch = self.store.take_batch()
            async with self._flush_lock:  # one writer thread at a time; the event loop keeps going
                await asyncio.to_thread(self.store.write_batch, batch)


_SECRET_PARAMS = {"api_key", "apikey", "token", "access_token", "key"}


def _public_url(url: httpx.URL) -> str:
    """The URL with credential-looking query parameters removed (TMDB uses a header; belt and braces)."""
    params = [(k, v) for k, v in url.params.multi_items() if k.lower() not in _SECRET_PARAMS]
    return str(url.copy_with(params=params or None))


def _describe(exc: BaseException) -> str:
    kind = type(exc).__name__
    text = str(exc) or kind
    return text if text.startswith(kind) else f"{kind}: {text}"

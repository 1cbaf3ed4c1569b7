"""Which HTTP failures are worth retrying and how long to wait: one policy for every HTTP caller."""

import email.utils
import time

import httpx
import tenacity

# 408 request timeout, 425 too early, 429 rate limited, 5xx server trouble.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class RetryableStatus(Exception):
    """A response whose status says "try again later"; carries the server's Retry-After, if any."""

    def __init__(self, status: int, url: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.url = url
        self.retry_after = retry_after


class MalformedResponse(Exception):
    """A 2xx response whose body is not the JSON it should be (truncated, HTML error page...).

    Retried: proxies and overloaded servers send these transiently.
    """

    def __init__(self, url: str, detail: str):
        super().__init__(f"malformed response body from {url}: {detail}")
        self.url = url


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def raise_for_retryable(response: httpx.Response) -> None:
    """Raise RetryableStatus when the response status is one we retry."""
    if response.status_code in RETRYABLE_STATUSES:
        raise RetryableStatus(
            response.status_code,
            str(response.request.url.copy_with(query=None)),  # never log query strings (keys)
            parse_retry_after(response.headers.get("retry-after")),
        )


def is_retryable(exc: BaseException) -> bool:
    """Timeouts (httpx's and an overall asyncio deadline), connection and protocol errors,
    retryable statuses and malformed bodies."""
    return isinstance(
        exc,
        (RetryableStatus, MalformedResponse, httpx.TimeoutException, httpx.TransportError, TimeoutError),
    )


class wait_retry_after_or_backoff(tenacity.wait.wait_base):
    """Honour the server's Retry-After when given, else exponential backoff with full jitter."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0):
        self.backoff = tenacity.wait_random_exponential(multiplier=initial, max=maximum)
        self.maximum = maximum

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self.maximum)
        return self.backoff(retry_state)


def retry_policy(max_attempts: int = 6, initial_wait: float = 0.5, max_wait: float = 30.0) -> dict:
    """Keyword arguments for ``tenacity.Retrying`` / ``tenacity.AsyncRetrying``."""
    return dict(
        retry=tenacity.retry_if_exception(is_retryable),
        wait=wait_retry_after_or_backoff(initial_wait, max_wait),
        stop=tenacity.stop_after_attempt(max_attempts),
        reraise=True,
    )

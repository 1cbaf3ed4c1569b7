"""The one HTTP fetcher resource every enrichment asset uses (TMDB, TMDB's image CDN, IMDb GraphQL).

The TMDB token arrives through ``dg.EnvVar("TMDB_READ_ACCESS_TOKEN")`` (the UI shows the variable's
name, never its value). It only ever travels in the Authorization header: it is not part of any URL,
log line, metadata value, stored record or exception message.
"""

import dagster as dg
import httpx

from movielens_dag.enrichment.tmdb import DEFAULT_BASE_URL
from movielens_dag.http.blob_store import BlobStore
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import Credential, HostPolicy, RateLimitedFetcher
from movielens_dag.resources import from_env
from movielens_dag.settings import Environment, read_environment

NO_TOKEN = "no TMDB_READ_ACCESS_TOKEN"
# Where TMDB's /configuration points poster URLs (images need no token: the credential never goes there).
TMDB_IMAGE_HOST = "image.tmdb.org"


def _host(url: str) -> str:
    return httpx.URL(url).netloc.decode()


class HttpFetcher(dg.ConfigurableResource):
    """Rate limits, retries and credentials per source; builds a 'RateLimitedFetcher' per run."""

    tmdb_api_base_url: str = DEFAULT_BASE_URL
    tmdb_read_access_token: str | None = None
    tmdb_requests_per_second: float = 40.0
    tmdb_max_concurrency: int = 16
    tmdb_image_requests_per_second: float = 20.0
    tmdb_image_max_concurrency: int = 8
    imdb_graphql_url: str | None = None  # opt-in: unofficial endpoint, often blocked
    imdb_requests_per_second: float = 5.0
    imdb_max_concurrency: int = 4
    timeout_s: float = 15.0
    max_attempts: int = 6

    @property
    def tmdb_enabled(self) -> bool:
        return bool(self.tmdb_read_access_token and self.tmdb_read_access_token.strip())

    @property
    def imdb_enabled(self) -> bool:
        return bool(self.imdb_graphql_url and self.imdb_graphql_url.strip())

    def policies(self) -> dict[str, HostPolicy]:
        policies = {}
        if self.tmdb_enabled:
            policies[_host(self.tmdb_api_base_url)] = HostPolicy(
                requests_per_second=self.tmdb_requests_per_second,
                max_concurrency=self.tmdb_max_concurrency,
                timeout_s=self.timeout_s,
                max_attempts=self.max_attempts,
            )
            policies.setdefault(
                TMDB_IMAGE_HOST,
                HostPolicy(
                    requests_per_second=self.tmdb_image_requests_per_second,
                    max_concurrency=self.tmdb_image_max_concurrency,
                    timeout_s=self.timeout_s,
                    max_attempts=self.max_attempts,
                ),
            )
        if self.imdb_enabled:
            policies.setdefault(
                _host(self.imdb_graphql_url),
                HostPolicy(
                    requests_per_second=self.imdb_requests_per_second,
                    max_concurrency=self.imdb_max_concurrency,
                    timeout_s=self.timeout_s,
                    max_attempts=self.max_attempts,
                ),
            )
        return policies

    def credentials(self) -> list[Credential]:
        if not self.tmdb_enabled:
            return []
        prefix = self.tmdb_api_base_url.rstrip("/") + "/"
        token = self.tmdb_read_access_token.strip()
        return [Credential(prefix, {"Authorization": f"Bearer {token}"}, "TMDB_READ_ACCESS_TOKEN")]

    def fetcher(self, store: FetchStore, blobs: BlobStore | None = None) -> RateLimitedFetcher:
        """A fetcher that records into ``store`` (and keeps binary bodies, e.g. posters, in ``blobs``); use
        it as ``async with``."""
        return RateLimitedFetcher(self.policies(), store, self.credentials(), blobs=blobs)


def http_fetcher_from_env(env: Environment | None = None) -> HttpFetcher:
    """The resource as ``definitions.py`` registers it (key ``http_fetcher``)."""
    env = env or read_environment()
    return HttpFetcher(
        tmdb_api_base_url=from_env(env, "TMDB_API_BASE_URL"),
        tmdb_read_access_token=from_env(env, "TMDB_READ_ACCESS_TOKEN"),
        tmdb_requests_per_second=env.float("TMDB_REQUESTS_PER_SECOND"),
        tmdb_image_requests_per_second=env.float("TMDB_IMAGE_REQUESTS_PER_SECOND"),
        imdb_graphql_url=from_env(env, "IMDB_GRAPHQL_URL"),
    )

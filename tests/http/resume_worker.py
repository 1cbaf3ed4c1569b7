"""Subprocess for the kill -9 test: fetch movies 1..N from the emulator into a fetch store, slowly."""

import asyncio
import sys
from pathlib import Path

from movielens_dag.enrichment import tmdb
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import HostPolicy, RateLimitedFetcher


async def main(port: int, store_dir: Path, count: int) -> None:
    host = f"127.0.0.1:{port}"
    store = FetchStore(store_dir, batch_size=20)
    policy = HostPolicy(requests_per_second=100, max_concurrency=8, timeout_s=5, initial_wait_s=0.01)
    async with RateLimitedFetcher({host: policy}, store) as fetcher:
        base = f"http://{host}/3"
        await fetcher.fetch_many([tmdb.movie_request(base, n) for n in range(1, count + 1)])


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))

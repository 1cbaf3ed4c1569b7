"""Enrichment fetch benchmark: RateLimitedFetcher vs a sequential client, against the local emulator.

    python benchmarks/enrichment.py                    # 2,000 movies, 40 req/s, 100 ms, 5 % 429/5xx
    python benchmarks/enrichment.py --movies 200 --no-sequential

The emulator runs in its own process on 127.0.0.1 with a 40 req/s token bucket (429 + Retry-After
beyond it), 100 ms latency and 5 % injected 429/500/502/503. Each movie is one
``/movie/{id}?append_to_response=keywords,external_ids,credits`` call, as in ``tmdb_movies``.
The concurrent run must reach >= 95 % of the limit with zero lost movies (exit code 1 otherwise).
The sequential run is the prior art's way: one request at a time, a sleep of 1/limit between
requests, no retries; its failed movies are counted as lost. Prints a markdown report.
"""

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from movielens_dag.enrichment import tmdb
from movielens_dag.enrichment.pipeline import fetch_needed
from movielens_dag.http.fetch_store import FetchStore
from movielens_dag.http.fetcher import HostPolicy, RateLimitedFetcher


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(port: int, args) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "movielens_dag.devtools.api_emulator",
        "--port",
        str(port),
        "--rps",
        str(args.rps),
        "--latency",
        str(args.latency),
        "--error-rate",
        str(args.error_rate),
        "--faults",
        "429,500,502,503",
        "--seed",
        "7",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("emulator did not start")


def server_stats(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=5).json()


async def concurrent_run(port: int, args, store: FetchStore) -> dict:
    base = f"http://127.0.0.1:{port}/3"
    policy = HostPolicy(requests_per_second=args.rps, max_concurrency=args.concurrency, timeout_s=10, max_attempts=8)
    requests = [tmdb.movie_request(base, n) for n in range(1, args.movies + 1)]
    async with RateLimitedFetcher({f"127.0.0.1:{port}": policy}, store) as fetcher:
        started = time.monotonic()
        report = await fetch_needed(requests, store, fetcher, datetime.now(UTC), 30)
        elapsed = time.monotonic() - started
    ok = {k for k, s in store.latest(tmdb.SOURCE_MOVIE).items() if s.status == "ok"}
    return {
        "elapsed_s": elapsed,
        "requests": fetcher.stats["attempts"],
        "ok": len(ok),
        "retries": fetcher.stats["retries"],
        "lost": args.movies - len(ok),
        "outcomes": dict(report.outcomes),
        "stats": dict(fetcher.stats),
    }


def sequential_run(port: int, args) -> dict:
    base = f"http://127.0.0.1:{port}/3"
    ok = lost = 0
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        for n in range(1, args.movies + 1):
            try:
                response = client.get(f"{base}/movie/{n}", params={"append_to_response": tmdb.APPEND})
                response.json()
                ok += response.status_code == 200
                lost += response.status_code != 200
            except (httpx.HTTPError, json.JSONDecodeError):
                lost += 1
            time.sleep(1 / args.rps)
    elapsed = time.monotonic() - started
    return {"elapsed_s": elapsed, "requests": args.movies, "ok": ok, "lost": lost, "retries": 0}


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{cpu}, {os.cpu_count()} cores visible, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movies", type=int, default=2000)
    parser.add_argument("--rps", type=float, default=40.0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-sequential", action="store_true")
    args = parser.parse_args()

    port = free_port()
    emulator = start_emulator(port, args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = FetchStore(Path(tmp) / "fetch_store")
            before = server_stats(port)
            conc = asyncio.run(concurrent_run(port, args, store))
            after = server_stats(port)
            rerun = asyncio.run(concurrent_run(port, args, store))  # nothing to do: must make no request
            seq = None if args.no_sequential else sequential_run(port, args)
    finally:
        emulator.terminate()
        emulator.wait(10)

    rate = conc["requests"] / conc["elapsed_s"]
    ratio = rate / args.rps
    served = {k: after["statuses"].get(k, 0) - before["statuses"].get(k, 0) for k in after["statuses"]}
    passed = ratio >= 0.95 and conc["lost"] == 0 and rerun["requests"] == 0
    lines = [
        f"### Enrichment fetch: {args.movies:,} movies, {args.rps:g} req/s limit, "
        f"{args.latency * 1000:.0f} ms latency, "
        f"{args.error_rate:.0%} injected 429/5xx",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- Command: `python benchmarks/enrichment.py --movies {args.movies} --rps {args.rps:g} "
        f"--latency {args.latency:g} "
        f"--error-rate {args.error_rate:g}`",
        "",
        "| client | wall time | HTTP requests | requests/s | share of limit | retries | movies ok | lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| RateLimitedFetcher (concurrency {args.concurrency}) | {conc['elapsed_s']:.1f} s | {conc['requests']:,} | "
        f"{rate:.2f} | {ratio:.1%} | {conc['retries']} | {conc['ok']:,} | {conc['lost']} |",
    ]
    if seq:
        seq_rate = seq["requests"] / seq["elapsed_s"]
        lines.append(
            f"| sequential, sleep 1/limit, no retries (prior art) | {seq['elapsed_s']:.1f} s | "
            f"{seq['requests']:,} | "
            f"{seq_rate:.2f} | {seq_rate / args.rps:.1%} | 0 | {seq['ok']:,} | {seq['lost']} |"
        )
    lines += [
        "",
        f"- Emulator responses during the concurrent run: {json.dumps(dict(sorted(served.items())))}",
        f"- Re-run over the same fetch store: {rerun['requests']} requests ({rerun['elapsed_s']:.2f} s)",
    ]
    if seq:
        lines.append(
            f"- Speed-up over the sequential client: {seq['elapsed_s'] / conc['elapsed_s']:.1f}x wall time, "
            f"and {seq['lost']} movies lost by it vs {conc['lost']}"
        )
    lines.append(f"- Bar (>= 95 % of the limit, 0 lost, re-run makes 0 requests): {'PASS' if passed else 'FAIL'}")
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

"""Ratings ingestion at ML-32M scale: peak memory and time, ours (DuckDB streaming) vs pandas.

Both read ratings.csv, check every movie id exists and every rating is in range, and write Parquet.

    python benchmarks/ingestion.py               # 32,000,204 synthetic ratings, 87,585 movies
    python benchmarks/ingestion.py --rows 2e6    # quick look

Each method runs in its own subprocess so its peak RSS (ru_maxrss) is measured alone. The floor
from the issue: ≤ 4 GiB peak for ML-32M.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OURS = """
import json, sys, time
from pathlib import Path
from movielens_dag.movielens import readers
from movielens_dag.movielens.variants import get_variant
src, work = Path(sys.argv[1]), Path(sys.argv[2])
variant = get_variant("ml-32m")
start = time.perf_counter()
stats = readers.convert_interactions(src, variant, "ratings", work / "ids.parquet",
                                     work / "ours.parquet", work / "spill", log=lambda m: None)
import resource
print(json.dumps({"seconds": time.perf_counter() - start, "rows": stats["rows"],
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""

PANDAS = """
import json, sys, time
from pathlib import Path
import pandas as pd
src, work = Path(sys.argv[1]), Path(sys.argv[2])
movies = pd.read_parquet(work / "ids.parquet")
start = time.perf_counter()
ratings = pd.read_csv(src / "ratings.csv")
ratings.columns = ["user_id", "movie_id", "rating", "timestamp"]
assert ratings["movie_id"].isin(movies["movie_id"]).all()
assert ratings["rating"].between(0.5, 5).all() and not ratings.isna().any().any()
ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s", utc=True)
ratings.to_parquet(work / "pandas.parquet", index=False)
import resource
print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(ratings),
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def make_release(folder: Path, rows: int, movies: int, users: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT i AS movieId, 'Movie ' || i || ' (' || (1900 + i % 120) || ')' AS title, "
        f"'Drama|Comedy' AS genres FROM range(1, {movies + 1}) t(i)) TO '{folder / 'movies.csv'}' (HEADER)"
    )
    con.execute(
        f"COPY (SELECT 1 + (i % {users}) AS userId, 1 + (hash(i) % {movies}) AS movieId, "
        f"(1 + hash(i * 7) % 10) / 2.0 AS rating, 1000000000 + i AS timestamp "
        f"FROM range({rows}) t(i)) TO '{folder / 'ratings.csv'}' (HEADER)"
    )


def measure(script: str, src: Path, work: Path) -> dict:
    """Run one method in a fresh interpreter; it reports its own peak RSS (ru_maxrss)."""
    proc = subprocess.run([sys.executable, "-c", script, str(src), str(work)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=float, default=32_000_204)
    parser.add_argument("--movies", type=int, default=87_585)
    parser.add_argument("--users", type=int, default=200_948)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    rows = int(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "ml-32m"
        t0 = time.perf_counter()
        make_release(src, rows, args.movies, args.users)
        size = (src / "ratings.csv").stat().st_size
        # Both methods get the movie ids as Parquet (what the `movies` asset stores) and time only
        # the ratings conversion + validation.
        ids = duckdb.sql(f"SELECT movieId::INTEGER AS movie_id FROM read_csv('{src / 'movies.csv'}')")
        ids.write_parquet(str(work / "ids.parquet"))
        print(f"synthetic ratings.csv: {rows:,} rows, {size / 2**30:.2f} GiB, made in {time.perf_counter() - t0:.0f}s")
        ours = measure(OURS, src, work)
        base = {} if args.skip_pandas else measure(PANDAS, src, work)
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, python {platform.python_version()}"
    )
    print("\n| method | rows | seconds | peak RSS (GiB) |\n|---|---|---|---|")
    for name, r in [("ours: DuckDB stream → Parquet", ours), ("baseline: pandas read_csv → to_parquet", base)]:
        if r:
            print(
                f"| {name} | {r.get('rows', '-'):,} | {r.get('seconds', float('nan')):.1f} | "
                f"{r.get('peak_rss_gib', float('nan')):.2f} |"
                if "error" not in r
                else f"| {name} | error: {r['error']} | | |"
            )
    if ours and base and "error" not in ours and "error" not in base:
        print(
            f"\nratio (pandas / ours): time {base['seconds'] / ours['seconds']:.2f}×, "
            f"peak memory {base['peak_rss_gib'] / ours['peak_rss_gib']:.2f}×"
        )


if __name__ == "__main__":
    main()

"""Benchmark: one top-10 similar-movie query, exact (numpy, torch, DuckDB SQL) vs DuckDB's HNSW index.

For each size (ML-32M: 87,585 x 1024; ml-latest-small: 9,742 x 384) the same clustered unit vectors
(``synthetic_mixture`` from benchmarks/semantic_ids.py, normalised) and the same query movies go to:

* numpy: ``x @ q`` then argpartition (what ``movielens_dag.search`` runs), ``--threads`` BLAS threads;
* torch: ``x @ q`` then ``topk``, ``--threads`` torch threads;
* SQL exact: ``ORDER BY array_cosine_similarity(v, q) DESC LIMIT 10`` over a FLOAT[d] table, and
  ``list_dot_product`` over FLOAT[] lists (what the ``search.similar_to`` macro reads from Parquet);
* HNSW: DuckDB's ``vss`` extension, loaded from the ``duckdb-extension-vss`` wheel's file with
  autoinstall/autoload off (no INSTALL, no network). The wheel pins duckdb==1.5.5, the project runs
  duckdb 2.x, so this part runs in a second interpreter (``--vss-python``) made by
  ``python benchmarks/search.py --setup-vss`` (a venv at .venv-vss with duckdb==1.5.5 and
  duckdb-extension-vss==1.5.5). Recall@10 is measured against the exact top 10 of the same queries.

It reports the median and p95 latency of one query, recall@10, index build time and peak memory, and
(for the exact numpy path) the time to compute every movie's top 20 (what ``similar_movies`` does in
full), extrapolated from ``--allpairs-rows`` query rows. Run from the repo root:

    nice -n 10 python benchmarks/search.py                       # both sizes, every method
    python benchmarks/search.py --sizes 9742x384 --no-hnsw       # quick look
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "benchmarks"))
VSS_VENV = ROOT / ".venv-vss"
VSS_PINS = ["duckdb==1.5.5", "duckdb-extension-vss==1.5.5", "numpy"]


def clustered_unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    from semantic_ids import synthetic_mixture  # benchmarks/semantic_ids.py

    x = synthetic_mixture(n, dim, components=max(64, n // 100), seed=seed, latent=min(64, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def stats_ms(seconds: list[float], cpu_seconds: list[float] | None = None) -> dict:
    """Wall-clock median / p95 of one query, and the median CPU time it used (all threads of this
    process: on a shared box the CPU time is the steadier figure, the wall time what a user waits)."""
    ms = np.asarray(seconds) * 1000
    out = {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}
    if cpu_seconds is not None:
        out["cpu_median_ms"] = float(np.median(np.asarray(cpu_seconds) * 1000))
    return out


def exact_ids(x: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    from movielens_dag.search.neighbours import top_k

    return top_k(x[queries], x, k)[0]


def bench_numpy(x: np.ndarray, queries: np.ndarray, k: int, threads: int) -> dict:
    from threadpoolctl import threadpool_limits

    times, cpu = [], []
    with threadpool_limits(limits=threads):
        for q in queries:
            t, c = time.perf_counter(), time.process_time()
            s = x @ x[q]
            top = np.argpartition(-s, k)[:k]
            top[np.argsort(-s[top])]
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return stats_ms(times[1:], cpu[1:])


def bench_torch(x: np.ndarray, queries: np.ndarray, k: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    times, cpu = [], []
    with torch.inference_mode():
        for q in queries:
            t, c = time.perf_counter(), time.process_time()
            torch.topk(xt @ xt[int(q)], k)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return stats_ms(times[1:], cpu[1:])


def bench_allpairs(x: np.ndarray, rows: int, k: int, threads: int) -> dict:
    """Every movie's top-k (the similar_movies full build), timed on ``rows`` query rows and extrapolated."""
    from threadpoolctl import threadpool_limits

    from movielens_dag.search.neighbours import top_k

    rows = min(rows, len(x))
    with threadpool_limits(limits=threads):
        t = time.perf_counter()
        top_k(x[:rows], x, k, np.arange(rows))
        seconds = time.perf_counter() - t
    return {"rows_timed": rows, "seconds_timed": seconds, "full_build_s_extrapolated": seconds * len(x) / rows}


def bench_incremental(x: np.ndarray, k: int, threads: int, fraction: float, seed: int) -> dict:
    """similar_movies after ``fraction`` of the vectors changed: incremental update vs full recompute."""
    from threadpoolctl import threadpool_limits

    from movielens_dag.search.neighbours import exact_neighbours, update_neighbours

    rng = np.random.default_rng(seed)
    ids = np.arange(len(x))
    with threadpool_limits(limits=threads):
        previous = exact_neighbours(ids, x, k)
        changed = rng.choice(len(x), size=max(1, int(fraction * len(x))), replace=False)
        x2 = x.copy()
        x2[changed] += 0.3 * rng.standard_normal((changed.size, x.shape[1])).astype(np.float32) / np.sqrt(x.shape[1])
        x2[changed] /= np.linalg.norm(x2[changed], axis=1, keepdims=True)
        t = time.perf_counter()
        full = exact_neighbours(ids, x2, k)
        full_s = time.perf_counter() - t
        t = time.perf_counter()
        updated, stats = update_neighbours(previous, ids, x2, k)
        incremental_s = time.perf_counter() - t
    assert np.array_equal(updated.neighbour_ids, full.neighbour_ids)
    return {
        "changed": int(changed.size),
        "recomputed": stats.recomputed,
        "full_s": full_s,
        "incremental_s": incremental_s,
        "speedup": full_s / incremental_s,
    }


def vector_literal(v: np.ndarray) -> str:
    """The query vector as SQL text. Binding a 1024-float Python list as a parameter costs DuckDB's Python
    API 0.1-0.3 s per query (measured with duckdb 1.5.5), more than the search itself; a literal is what a
    user's SQL or a macro over a stored vector amounts to."""
    return "[" + ",".join(f"{float(e):.9g}" for e in v) + "]"


def bench_sql(x: np.ndarray, queries: np.ndarray, k: int, threads: int, exact: np.ndarray, folder: Path) -> dict:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, d = x.shape
    path = folder / "vectors.parquet"
    pq.write_table(
        pa.table({"id": np.arange(n, dtype=np.int32), "v": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), d)}),
        path,
    )
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(f"CREATE TABLE t AS SELECT id, v::FLOAT[{d}] AS v, v::FLOAT[] AS l FROM read_parquet('{path}')")
    out = {}
    for name, sql in [
        ("sql_array_cosine", f"SELECT id FROM t ORDER BY array_cosine_similarity(v, {{q}}::FLOAT[{d}]) DESC LIMIT {k}"),
        ("sql_list_dot", f"SELECT id FROM t ORDER BY list_dot_product(l, {{q}}::FLOAT[]) DESC LIMIT {k}"),
        (
            "sql_parquet_list_cosine",
            (
                f"SELECT id FROM read_parquet('{path}') "
                f"ORDER BY list_cosine_similarity(v::FLOAT[], {{q}}::FLOAT[]) DESC LIMIT {k}"
            ),
        ),
    ]:
        times, cpu, hits = [], [], 0
        for i, q in enumerate(queries):
            t, c = time.perf_counter(), time.process_time()
            ids = [r[0] for r in con.execute(sql.format(q=vector_literal(x[q]))).fetchall()]
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            hits += len(set(ids) & set(exact[i].tolist()))
        out[name] = {**stats_ms(times[1:], cpu[1:]), "recall_at_10": hits / (k * len(queries))}
    con.close()
    return out


HNSW_CHILD = r"""
import json, sys, time
import numpy as np, duckdb, duckdb_extension_vss
from pathlib import Path
args = json.loads(sys.argv[1])


def lit(v):  # the query vector as SQL text (see vector_literal)
    return "[" + ",".join(f"{float(e):.9g}" for e in v) + "]"


def vm(key):  # /proc/self/status in GiB: VmRSS now, VmHWM peak (both reset by exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 2**20
    return float("nan")


ext = next(Path(duckdb_extension_vss.__file__).parent.glob("extensions/*/vss.duckdb_extension"))
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                             "threads": args["threads"]})
con.execute(f"LOAD '{ext}'")  # a file on disk: no INSTALL, no network
loaded = con.execute("SELECT loaded, install_path FROM duckdb_extensions() WHERE extension_name = 'vss'").fetchone()
x = np.load(args["vectors"], mmap_mode="r"); queries = np.load(args["queries"]); exact = np.load(args["exact"])
n, d, k = x.shape[0], x.shape[1], args["k"]
con.execute(f"CREATE TABLE t (id INTEGER, v FLOAT[{d}])")
con.execute(f"INSERT INTO t SELECT id, v::FLOAT[{d}] FROM read_parquet('{args['parquet']}')")
rss0 = vm("VmRSS")
out = {"duckdb": duckdb.__version__, "vss_loaded": bool(loaded[0]), "vss_file": str(ext), "runs": []}
for m in args["m"]:
    con.execute("DROP INDEX IF EXISTS idx")
    t = time.perf_counter()
    con.execute(f"CREATE INDEX idx ON t USING HNSW (v) WITH (metric = 'cosine', M = {m}, "
                f"ef_construction = {args['ef_construction']})")
    build = time.perf_counter() - t
    rss = vm("VmRSS")
    sql = f"SELECT id FROM t ORDER BY array_cosine_distance(v, {{q}}::FLOAT[{d}]) LIMIT {k}"
    plan = "\n".join(str(r[1]) for r in con.execute("EXPLAIN " + sql.format(q=lit(x[0]))).fetchall())
    for ef in args["ef_search"]:
        con.execute(f"SET hnsw_ef_search = {ef}")
        times, cpu, hits = [], [], 0
        for i, q in enumerate(queries):
            tq, cq = time.perf_counter(), time.process_time()
            ids = [r[0] for r in con.execute(sql.format(q=lit(x[q]))).fetchall()]
            times.append(time.perf_counter() - tq)
            cpu.append(time.process_time() - cq)
            hits += len(set(ids) & set(exact[i].tolist()))
        ms = np.asarray(times[1:]) * 1000
        out["runs"].append({"M": m, "ef_construction": args["ef_construction"], "ef_search": ef,
                            "build_s": build, "uses_index": "HNSW_INDEX_SCAN" in plan,
                            "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
                            "cpu_median_ms": float(np.median(np.asarray(cpu[1:]) * 1000)),
                            "recall_at_10": hits / (k * len(queries)),
                            "rss_with_index_gib": rss, "rss_before_index_gib": rss0, "peak_rss_gib": vm("VmHWM")})
print(json.dumps(out))
"""


def bench_hnsw(
    x: np.ndarray,
    queries: np.ndarray,
    exact: np.ndarray,
    k: int,
    threads: int,
    folder: Path,
    python: Path,
    m_values: list[int],
    ef_search: list[int],
    ef_construction: int,
) -> dict:
    for name, arr in [("vectors", x), ("queries", queries), ("exact", exact)]:
        np.save(folder / f"{name}.npy", arr)
    args = {
        "vectors": str(folder / "vectors.npy"),
        "queries": str(folder / "queries.npy"),
        "exact": str(folder / "exact.npy"),
        "parquet": str(folder / "vectors.parquet"),
        "k": k,
        "threads": threads,
        "m": m_values,
        "ef_search": ef_search,
        "ef_construction": ef_construction,
    }
    t = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-c", HNSW_CHILD, json.dumps(args)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"HNSW child failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["child_wall_s"] = time.perf_counter() - t
    return result


def setup_vss() -> Path:
    """A venv at .venv-vss with the duckdb version the vss wheel is built for."""
    subprocess.run([sys.executable, "-m", "venv", str(VSS_VENV)], check=True)
    subprocess.run([str(VSS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *VSS_PINS], check=True)
    return VSS_VENV / "bin" / "python"


def run_size(n: int, dim: int, args: argparse.Namespace) -> dict:
    t = time.perf_counter()
    x = clustered_unit_vectors(n, dim, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    queries = rng.choice(n, size=args.queries, replace=False)
    exact = exact_ids(x, queries, args.k)
    result = {
        "n": n,
        "dim": dim,
        "queries": int(args.queries),
        "threads": args.threads,
        "generate_s": time.perf_counter() - t,
        "vectors_gib": x.nbytes / 2**30,
    }
    print(f"== {n:,} x {dim}: vectors ready ({x.nbytes / 2**20:,.0f} MiB)", flush=True)
    result["numpy"] = bench_numpy(x, queries, args.k, args.threads)
    print("numpy", result["numpy"], flush=True)
    result["torch"] = bench_torch(x, queries, args.k, args.threads)
    print("torch", result["torch"], flush=True)
    result["allpairs_numpy_top20"] = bench_allpairs(x, args.allpairs_rows, 20, args.threads)
    print("all pairs", result["allpairs_numpy_top20"], flush=True)
    if n <= args.incremental_max_n:
        result["incremental_top20"] = bench_incremental(x, 20, args.threads, args.changed_fraction, args.seed)
        print("incremental", result["incremental_top20"], flush=True)
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        folder = Path(tmp)
        result.update(
            bench_sql(x, queries[: args.sql_queries], args.k, args.threads, exact[: args.sql_queries], folder)
        )
        print("sql", {k: v for k, v in result.items() if k.startswith("sql")}, flush=True)
        if not args.no_hnsw:
            python = Path(args.vss_python)
            if not python.exists():
                raise SystemExit(f"{python} does not exist: run `python benchmarks/search.py --setup-vss` first")
            result["hnsw"] = bench_hnsw(
                x,
                queries,
                exact,
                args.k,
                args.threads,
                folder,
                python,
                args.hnsw_m,
                args.ef_search,
                args.ef_construction,
            )
            print("hnsw", json.dumps(result["hnsw"], indent=1), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="87585x1024,9742x384", help="comma-separated NxD")
    parser.add_argument("--queries", type=int, default=200, help="query movies per method")
    parser.add_argument("--sql-queries", type=int, default=20, help="query movies for the (slow) exact SQL")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allpairs-rows", type=int, default=4096)
    parser.add_argument(
        "--incremental-max-n",
        type=int,
        default=20_000,
        help="time the incremental similar_movies update for sizes up to this many movies",
    )
    parser.add_argument("--changed-fraction", type=float, default=0.01)
    parser.add_argument("--no-hnsw", action="store_true")
    parser.add_argument("--setup-vss", action="store_true", help="create .venv-vss and exit")
    parser.add_argument("--vss-python", default=str(VSS_VENV / "bin" / "python"))
    parser.add_argument("--hnsw-m", type=lambda s: [int(v) for v in s.split(",")], default=[16])
    parser.add_argument("--ef-search", type=lambda s: [int(v) for v in s.split(",")], default=[16, 32, 64, 128, 256])
    parser.add_argument("--ef-construction", type=int, default=128)
    parser.add_argument("--tmp-dir", default=None)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.setup_vss:
        print(setup_vss())
        return
    import duckdb

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, duckdb {duckdb.__version__}",
        "sizes": [],
    }
    for size in args.sizes.split(","):
        n, d = (int(v) for v in size.lower().split("x"))
        results["sizes"].append(run_size(n, d, args))
    results["peak_rss_gib_main"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

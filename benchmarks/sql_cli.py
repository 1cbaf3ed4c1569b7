"""`movielens-dag sql` memory: peak RSS growth while printing a 5,000,000-row result, ours vs a git revision.

    python benchmarks/sql_cli.py                      # csv and markdown, this checkout vs `main`
    python benchmarks/sql_cli.py --rows 1000000 --baseline-rev ''

Each run is its own interpreter; growth = VmHWM after the query minus VmHWM before it (Linux).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = textwrap.dedent("""
    import importlib.util, json, sys, time
    sys.path.insert(0, sys.argv[6])
    from movielens_dag.paths import DataPaths
    if sys.argv[5]:  # the CLI module as it was at a git revision
        spec = importlib.util.spec_from_file_location("cli_at_rev", sys.argv[5])
        cli = importlib.util.module_from_spec(spec); spec.loader.exec_module(cli)
    else:
        from movielens_dag import cli

    def hwm():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

    root, fmt, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    max_rows = None if sys.argv[4] == "default" else int(sys.argv[4])
    cli.run_sql(DataPaths(root), "SELECT 1", "csv", 40, out=open("/dev/null", "w"))
    before, start = hwm(), time.perf_counter()
    sql = (f"SELECT i AS user_id, i % 87585 AS movie_id, (i % 10) / 2.0 AS rating, 'movie ' || i AS title "
           f"FROM range({rows}) t(i)")
    with open("/dev/null", "w") as out:
        rc = cli.run_sql(DataPaths(root), sql, fmt, 40 if max_rows is None and sys.argv[5] else max_rows, out=out)
    print(json.dumps({"rc": rc, "growth_mib": round(hwm() - before, 1),
                      "seconds": round(time.perf_counter() - start, 1)}))
""")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--baseline-rev", default="main")
    args = p.parse_args()
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        duckdb.connect(str(Path(tmp) / "warehouse.duckdb")).close()
        variants = {"ours": ""}
        if args.baseline_rev:
            old = Path(tmp) / "cli_at_rev.py"
            old.write_text(
                subprocess.run(
                    ["git", "show", f"{args.baseline_rev}:movielens_dag/cli.py"],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            variants[f"before ({args.baseline_rev})"] = str(old)
        print("| method | format | rows printed | peak RSS growth (MiB) | seconds |\n|---|---|---:|---:|---:|")
        for name, path in variants.items():
            for fmt, max_rows in (("csv", "default"), ("csv", "3"), ("markdown", "default")):
                run = subprocess.run(
                    [sys.executable, "-c", PROBE, tmp, fmt, str(args.rows), max_rows, path, str(ROOT)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(run.stdout.splitlines()[-1])
                shown = {"default": "all" if fmt == "csv" else "40", "3": "3"}[max_rows]
                if path and fmt == "csv":
                    shown = "all (ignores --max-rows)"
                print(f"| {name} | {fmt} (--max-rows {max_rows}) | {shown} | {r['growth_mib']} | {r['seconds']} |")


if __name__ == "__main__":
    main()

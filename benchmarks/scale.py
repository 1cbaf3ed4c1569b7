"""Scale rehearsal, part 1: a synthetic release with ML-32M's shape, written in the ml-32m CSV format.

    python benchmarks/scale.py generate /big/ml-32m-synthetic            # 87,585 movies, 32,000,204 ratings
    python benchmarks/scale.py generate /tmp/tiny --movies 500 --users 300 --ratings 20000 --tags 2000

The generator is `movielens_dag.devtools.synthetic_release` (what it imitates is in its docstring).
Point `MOVIELENS_SOURCE_DIR` at the folder with `MOVIELENS_VARIANT=ml-32m` to materialize it. The line
printed at the end gives wall time, peak RSS (this process, ru_maxrss) and file sizes.
"""

import argparse
import dataclasses
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from movielens_dag.devtools.synthetic_release import ML_32M, write_release


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a synthetic release folder")
    gen.add_argument("folder", type=Path)
    for field in ("movies", "users", "ratings", "tags", "tag_users", "seed", "block_users"):
        gen.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(ML_32M, field))
    args = parser.parse_args(argv)
    shape = dataclasses.replace(ML_32M, **{f: getattr(args, f) for f in
                                           ("movies", "users", "ratings", "tags", "tag_users", "seed", "block_users")})
    start = time.perf_counter()
    stats = write_release(args.folder, shape, log=lambda m: print(m, flush=True))
    stats["wall_seconds"] = round(time.perf_counter() - start, 1)
    stats["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    stats["machine"] = f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
    print(json.dumps(stats, default=str))
    return stats


if __name__ == "__main__":
    main()

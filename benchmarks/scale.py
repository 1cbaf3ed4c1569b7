"""Scale rehearsal: a synthetic release with ML-32M's shape, then the non-training DAG on it, asset by asset.

    python benchmarks/scale.py generate /big/ml-32m-synthetic            # 87,585 movies, 32,000,204 ratings
    python benchmarks/scale.py generate /tmp/tiny --movies 500 --users 300 --ratings 20000 --tags 2000
    nice -n 5 python benchmarks/scale.py rehearse /big/rehearsal         # generates (or reuses) the release
    python benchmarks/scale.py rehearse /tmp/r --movies 8758 --users 20095 --ratings 3200020 --tags 200007 \
        --tag-users 1600 --extras sid_map_pca,sid_map_umap,similar_movies

`generate`: the generator is `movielens_dag.devtools.synthetic_release` (what it imitates is in its
docstring); the line printed at the end gives wall time, peak RSS and file sizes.

`rehearse <work>`: the release goes to `<work>/release` (reused when its shape file matches), the
warehouse to a fresh `<work>/data` and the Dagster instance to a fresh `<work>/dagster_home`. Then, with
MOVIELENS_VARIANT=ml-32m, no TMDB token and the bundled MiniLM, one `dg launch --assets ...` per asset
(a multi-asset's outputs together) in dependency order, each materializing the asset and running its
checks. Every launch is watched by `ProcessTreeSampler`: the launch's wall and CPU time, the peak of the
whole process tree, and from the run's event log the asset step's own time, process peak and rows,
and each check's result, time and peak. Writes `<work>/rehearsal.json` and `<work>/rehearsal.md`.
A smaller shape than ML-32M's runs with MOVIELENS_SUBSET=1 (its documented counts are not ML-32M's).

`tokens <work>`: the length of the rehearsal's movie documents in the bundled MiniLM's tokens (a seeded
sample), the per-item cost behind the GPU estimates in docs/benchmarks.md.
"""

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
from movielens_dag.devtools.proctree import ProcessTreeSampler
from movielens_dag.devtools.synthetic_release import ML_32M, write_release

SHAPE_FIELDS = ("movies", "users", "ratings", "tags", "tag_users", "seed", "block_users")
GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    assets: tuple[str, ...]
    config: dict | None = None  # run config ("ops": {...})


def steps(threads: int | None) -> dict[str, Step]:
    """Every step the rehearsal knows, in dependency order; the non-training DAG first, then extras."""
    cpu = {"threads": threads} if threads else {}
    one = lambda *names: [Step(n, (n,)) for n in names]
    return {
        s.name: s
        for s in [
            *one(
                "movielens_files",
                "movies",
                "links",
                "ratings",
                "tags",
                "tmdb_ids",
                "tmdb_movies",
                "imdb_titles",
                "wikipedia_plots",
                "enrichment_review_queue",
                "fetch_log",
                "movie_documents",
            ),
            Step("movie_embeddings", ("movie_embeddings",), {"ops": {"movie_embeddings": {"config": cpu}}}),
            Step(
                "semantic_id_fit",
                ("semantic_ids", "sid_codebooks", "sid_quality"),
                {"ops": {"semantic_id_fit": {"config": cpu}}},
            ),
            *one("user_sequences"),
            # extras: not part of the goal, timed when asked for (--extras)
            Step("sid_map_pca", ("sid_map",), {"ops": {"sid_map": {"config": {"projection": "pca"}}}}),
            Step("sid_map_umap", ("sid_map",), {"ops": {"sid_map": {"config": {"projection": "umap"}}}}),
            Step("similar_movies", ("similar_movies",)),
        ]
    }


EXTRAS = ("sid_map_pca", "sid_map_umap", "similar_movies")


# ---- generate -------------------------------------------------------------------------------------
def _shape(args):
    return dataclasses.replace(ML_32M, **{f: getattr(args, f) for f in SHAPE_FIELDS})


def generate(folder: Path, shape) -> dict:
    start = time.perf_counter()
    stats = write_release(folder, shape, log=lambda m: print(m, flush=True))
    stats["wall_seconds"] = round(time.perf_counter() - start, 1)
    stats["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    stats["machine"] = f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
    return stats


def release_for(folder: Path, shape) -> tuple[Path, dict | None]:
    """Reuse ``folder`` when it holds a release of this shape; otherwise (re)generate it."""
    marker = folder / ".shape.json"  # hidden: movielens_files lists only visible files
    wanted = dataclasses.asdict(shape)
    if marker.exists() and json.loads(marker.read_text()) == wanted and (folder / "ratings.csv").exists():
        print(f"reusing the release in {folder}", flush=True)
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    stats = generate(folder, shape)
    marker.write_text(json.dumps(wanted))
    return folder, stats


# ---- rehearse -------------------------------------------------------------------------------------
def fresh_home(home: Path) -> None:
    """A new, empty Dagster instance configured like the repo's (dagster.yaml), storage under ``home``."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")


def environment(release: Path, data: Path, home: Path, subset: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOVIELENS_", "TMDB_", "IMDB_", "WIKIPEDIA_"))}
    env.update(
        MOVIELENS_VARIANT="ml-32m",
        MOVIELENS_SOURCE_DIR=str(release),
        MOVIELENS_DATA_DIR=str(data),
        MOVIELENS_EMBEDDING_MODEL="bundled",
        MOVIELENS_EMBEDDING_DEVICE="cpu",
        DAGSTER_HOME=str(home),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )  # this checkout's code, whatever .venv installed
    if subset:
        env["MOVIELENS_SUBSET"] = "1"
    return env


def read_run(home: Path) -> dict:
    """From the newest run's event log: per Dagster step its times, pid, status; rows; check results."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        entries = instance.all_logs(run.run_id)
    steps_seen: dict[str, dict] = {}
    rows: dict[str, int] = {}
    checks: list[dict] = []
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kind, key = event.event_type, entry.step_key
        step = steps_seen.setdefault(key, {}) if key else {}
        if kind == DagsterEventType.STEP_START:
            step["start"] = entry.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            step["end"], step["ok"] = entry.timestamp, kind == DagsterEventType.STEP_SUCCESS
        elif kind == DagsterEventType.STEP_WORKER_STARTED:
            step["pid"] = int(event.engine_event_data.metadata["pid"].value)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            step["asset"] = True
            count = materialization.metadata.get("dagster/row_count")
            rows[materialization.asset_key.to_user_string()] = int(count.value) if count is not None else None
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            checks.append(
                {
                    "check": evaluation.check_name,
                    "step": key,
                    "passed": bool(evaluation.passed),
                    "severity": evaluation.severity.value,
                }
            )
    return {"run_id": run.run_id, "status": run.status.value, "steps": steps_seen, "rows": rows, "checks": checks}


def run_step(step: Step, env: dict[str, str], log_dir: Path) -> dict:
    command = [str(ROOT / ".venv" / "bin" / "dg"), "launch", "--assets", ",".join(step.assets)]
    if step.config:
        command += ["--config-json", json.dumps(step.config)]
    print(f"== {step.name}: {' '.join(command[1:])}", flush=True)
    load_before = os.getloadavg()
    started = time.time()
    with open(log_dir / f"{step.name}.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        with ProcessTreeSampler(process.pid) as sampler:
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - started
    tree = sampler.figures
    run = read_run(Path(env["DAGSTER_HOME"]))
    by_pid = tree.processes
    per_step = {}
    for key, s in run["steps"].items():
        figures = by_pid.get(s.get("pid"))
        per_step[key] = {
            "seconds": round(s["end"] - s["start"], 2) if "end" in s and "start" in s else None,
            "ok": s.get("ok"),
            "asset": s.get("asset", False),
            "peak_rss_gib": round(figures.peak_rss_bytes / GIB, 3) if figures else None,
            "cpu_seconds": round(figures.cpu_seconds, 1) if figures else None,
        }
    for check in run["checks"]:
        check.update({k: per_step.get(check["step"], {}).get(k) for k in ("seconds", "peak_rss_gib")})
    asset_steps = [v for v in per_step.values() if v["asset"]]
    record = {
        "step": step.name,
        "assets": list(step.assets),
        "config": step.config,
        "ok": process.returncode == 0,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "asset_seconds": sum(v["seconds"] or 0 for v in asset_steps),
        "asset_peak_rss_gib": max((v["peak_rss_gib"] or 0 for v in asset_steps), default=None),
        "asset_cpu_seconds": sum(v["cpu_seconds"] or 0 for v in asset_steps),
        "checks_seconds": round(sum(c["seconds"] or 0 for c in run["checks"]), 2),
        "peak_tree_rss_gib": round(tree.peak_tree_rss_bytes / GIB, 3),
        "max_process_rss_gib": round(max((p.peak_rss_bytes for p in by_pid.values()), default=0) / GIB, 3),
        "rows": run["rows"],
        "checks": run["checks"],
        "dagster_steps": per_step,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "run_id": run["run_id"],
        "run_status": run["status"],
    }
    failed = [c["check"] for c in run["checks"] if not c["passed"]]
    print(
        f"   {'ok' if record['ok'] else 'FAILED'} in {record['wall_seconds']} s "
        f"(asset {record['asset_seconds']:.1f} s, "
        f"checks {record['checks_seconds']:.1f} s), asset peak {record['asset_peak_rss_gib']} GiB, tree peak "
        f"{record['peak_tree_rss_gib']} GiB, rows {run['rows']}, load {load_before[0]:.1f}"
        + (f", failed checks: {failed}" if failed else ""),
        flush=True,
    )
    return record


def _gib(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(records: list[dict]) -> str:
    head = (
        "| asset | wall s | asset step s | checks s | CPU s | peak RSS GiB (asset step) | peak RSS GiB (tree) "
        "| rows | checks passed | load |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    )
    lines = [head]
    for r in records:
        rows = ", ".join(f"{n:,}" if isinstance(n, int) else "?" for n in r["rows"].values()) or "–"
        checks = f"{sum(c['passed'] for c in r['checks'])}/{len(r['checks'])}"
        lines.append(
            f"| {r['step']}{'' if r['ok'] else ' (FAILED)'} | {r['wall_seconds']:.1f} | "
            f"{r['asset_seconds']:.1f} | {r['checks_seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{_gib(r['asset_peak_rss_gib'])} | {_gib(r['peak_tree_rss_gib'])} | {rows} | {checks} | "
            f"{r['load_before'][0]:.1f} |"
        )
    main = [r for r in records if r["step"] not in EXTRAS]
    lines.append(
        f"| **total (non-training DAG)** | **{sum(r['wall_seconds'] for r in main):.1f}** | "
        f"**{sum(r['asset_seconds'] for r in main):.1f}** | "
        f"**{sum(r['checks_seconds'] for r in main):.1f}** | "
        f"**{sum(r['cpu_seconds'] for r in main):.1f}** | "
        f"**{_gib(max((r['asset_peak_rss_gib'] or 0 for r in main), default=0))}** | "
        f"**{_gib(max((r['peak_tree_rss_gib'] for r in main), default=0))}** | | | |"
    )
    return "\n".join(lines)


def rehearse(work: Path, shape, threads: int | None, selected: list[str], keep_data: bool) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    release, generated = release_for(work / "release", shape)
    data, home, logs = work / "data", work / "dagster_home", work / "logs"
    if not keep_data:
        shutil.rmtree(data, ignore_errors=True)
        fresh_home(home)
    logs.mkdir(exist_ok=True)
    env = environment(release, data, home, subset=dataclasses.asdict(shape) != dataclasses.asdict(ML_32M))
    known = steps(threads)
    records = []
    for name in selected:
        records.append(run_step(known[name], env, logs))
        if not records[-1]["ok"]:
            print(f"{name} failed: see {logs / (name + '.log')}", flush=True)
            break
    report = {
        "shape": dataclasses.asdict(shape),
        "threads": threads,
        "generated": generated,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "steps": records,
    }
    (work / "rehearsal.json").write_text(json.dumps(report, indent=1, default=str))
    table = markdown(records)
    (work / "rehearsal.md").write_text(table + "\n")
    print(table, flush=True)
    return report


def document_tokens(documents: Path, sample: int = 3000, seed: int = 0) -> dict:
    """Mean, p95 and max MiniLM token counts of ``sample`` random documents of a movie_documents file."""
    import numpy as np
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from movielens_dag.embeddings.models import resolve_model

    docs = pq.read_table(documents, columns=["document"]).column("document").to_pylist()
    picked = np.random.default_rng(seed).choice(len(docs), min(sample, len(docs)), replace=False)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("bundled").path)
    n = np.array([len(tokenizer(docs[i])["input_ids"]) for i in picked])
    return {
        "documents": len(docs),
        "sampled": len(picked),
        "mean_tokens": round(float(n.mean()), 1),
        "p95_tokens": float(np.percentile(n, 95)),
        "max_tokens": int(n.max()),
        "estimated_total_tokens": int(round(float(n.mean()) * len(docs))),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a synthetic release folder")
    gen.add_argument("folder", type=Path)
    reh = sub.add_parser("rehearse", help="materialize the non-training DAG on a synthetic release, asset by asset")
    reh.add_argument("work", type=Path, help="folder for the release, the warehouse, the instance and the report")
    reh.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads for embedding and the SID fit (default: torch's, one per core)",
    )
    reh.add_argument("--steps", default=None, help="comma-separated steps to run (default: the non-training DAG)")
    reh.add_argument("--extras", default="", help=f"steps to run after the DAG: any of {', '.join(EXTRAS)}")
    reh.add_argument(
        "--keep-data",
        action="store_true",
        help="reuse the warehouse and instance of a previous rehearsal (to rerun some --steps)",
    )
    tok = sub.add_parser("tokens", help="MiniLM token counts of a rehearsal's movie documents")
    tok.add_argument("work", type=Path, help="the rehearsal folder (reads data/warehouse/documents)")
    tok.add_argument("--sample", type=int, default=3000)
    for p in (gen, reh):
        for f in SHAPE_FIELDS:
            p.add_argument(f"--{f.replace('_', '-')}", type=int, default=getattr(ML_32M, f))
    args = parser.parse_args(argv)
    if args.command == "tokens":
        stats = document_tokens(args.work / "data" / "warehouse" / "documents" / "movie_documents.parquet", args.sample)
        print(json.dumps(stats))
        return stats
    if args.command == "generate":
        stats = generate(args.folder, _shape(args))
        print(json.dumps(stats, default=str))
        return stats
    known = list(steps(args.threads))
    selected = args.steps.split(",") if args.steps else [s for s in known if s not in EXTRAS]
    selected += [e for e in args.extras.split(",") if e]
    unknown = [s for s in selected if s not in known]
    if unknown:
        parser.error(f"unknown steps {unknown}; known: {', '.join(known)}")
    return rehearse(args.work, _shape(args), args.threads, selected, args.keep_data)


if __name__ == "__main__":
    main()

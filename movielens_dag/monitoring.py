"""Keeping a local instance unstuck: runs whose process died, and steps waiting for a pool slot.

Dagster's run monitoring (enabled in dagster.yaml) frees the pool slots of finished runs, but it cannot
tell that a *local* run's process is gone: a run killed with `kill -9` stays STARTED and keeps its
slot of the `tmdb` or `embedding_model` pool (limit 1), so every later run of that pool waits forever,
saying so only in a DEBUG line. The `stuck_runs` sensor (running by default with the daemon) closes the
gap, every 30 s:

* a STARTED run whose process (the pid of its RUN_START event) no longer exists on this machine is
  marked failed, with the reason in its log; run monitoring then frees its slots;
* a step waiting for a pool slot gets one INFO line in its run's log: which run holds the slot, and how
  it will be freed.

It acts only with Dagster's local run launcher, where run processes live on this machine.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg

POOLS = ("tmdb", "imdb", "embedding_model")
GRACE_SECONDS = 20.0  # a run younger than this may not have written its RUN_START event yet


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process that looks like a Dagster run (Linux /proc)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:
        if "State:\tZ" in (proc / "status").read_text():
            return False
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True  # no /proc: trust kill(pid, 0)
    return any(word in cmdline for word in ("dagster", "dg", "python"))  # a reused pid is another program


def _run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    return records[0].dagster_event.pid if records and records[0].dagster_event else None


def fail_dead_runs(instance: dg.DagsterInstance, now: float | None = None) -> list[str]:
    """Mark failed every STARTED run whose process is gone; returns their ids."""
    now = time.time() if now is None else now
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        if record.start_time is not None and now - record.start_time < GRACE_SECONDS:
            continue
        pid = _run_pid(instance, run.run_id)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(
            run,
            f"The process of this run (pid {pid}) is gone: it was killed or crashed. Marked failed by the "
            "stuck_runs sensor; Dagster's run monitoring frees its pool slots. Re-run it: finished batches of "
            "its work are kept (fetch store, embedding cache).",
        )
        failed.append(run.run_id)
    return failed


def explain_waiting_steps(instance: dg.DagsterInstance, told: set[str]) -> list[str]:
    """One INFO line in the log of each run with a step waiting for a pool slot (once per run, step and
    holder). Returns the keys of the explanations written (add them to ``told``)."""
    written = []
    infos = instance.event_log_storage.get_concurrency_infos(list(POOLS))
    for pool, info in infos.items():
        holders = sorted({slot.run_id for slot in info.claimed_slots})
        for pending in info.pending_steps:
            if pending.assigned_timestamp is not None:
                continue
            key = f"{pending.run_id}:{pending.step_key}:{','.join(holders)}"
            run = instance.get_run_by_id(pending.run_id)
            if key in told or run is None:
                continue
            held_by = []
            for holder_id in holders:
                holder = instance.get_run_by_id(holder_id)
                held_by.append(
                    f"run {holder_id} ({holder.job_name}, {holder.status.value})"
                    if holder
                    else f"run {holder_id} (deleted)"
                )
            instance.report_engine_event(
                f"Step {pending.step_key} waits for a slot of pool '{pool}' (limit {info.limit}), held by "
                f"{', '.join(held_by) or 'nobody yet'}. It starts when that run finishes; a run whose process died "
                "is marked failed by the stuck_runs sensor within a minute and run monitoring frees its slot. "
                f"To allow more at once: `dagster instance concurrency set {pool} N`.",
                run,
            )
            written.append(key)
    return written


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def stuck_runs(context: dg.SensorEvaluationContext):
    """Fails local runs whose process died (freeing their pool slots) and explains waiting steps."""
    instance = context.instance
    if type(instance.run_launcher).__name__ != "DefaultRunLauncher":
        return dg.SkipReason("only local run processes are checked (DefaultRunLauncher)")
    failed = fail_dead_runs(instance)
    told = set(json.loads(context.cursor)) if context.cursor else set()
    written = explain_waiting_steps(instance, told)
    if written:
        context.update_cursor(json.dumps(sorted(told | set(written))[-1000:]))
    if failed:
        context.log.warning(f"marked failed (process gone): {', '.join(failed)}")
    return None  # nothing to launch; no per-tick message

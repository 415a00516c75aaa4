"""The fault scenarios, each a function returning one row of the reliability summary.

The tests in this folder run them at small loads and assert on the row; the benchmark script
``benchmarks/reliability_summary.py`` runs them at full size and prints the table. Each scenario
takes a running throwaway service (see :mod:`service_tools`) and cleans up after itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import batchnb
from batchnb import local
from batchnb.core.session import Session
from batchnb.data.watch import JobWatcher
from batchnb.local import LocalService

try:  # imported as a module of tests/reliability or from the benchmark script
    from .service_tools import admin, count_runs, fault_stats, marker_command, wait_until
except ImportError:  # pragma: no cover
    from service_tools import admin, count_runs, fault_stats, marker_command, wait_until  # type: ignore[no-redef]

FAULTS = dict(throttle=0.10, error500=0.02, drop=0.02)


@dataclass
class Row:
    """One line of the summary table."""

    scenario: str
    load: str
    faults: str = ""
    expected: int = 0
    seen: int = 0
    duplicates: int = 0
    lost: int = 0
    reruns: int = 0  # runs again after a service kill or a preemption: Batch's own semantics
    secrets: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def session_for(service: LocalService) -> Session:
    return batchnb.connect("local", state_dir=str(service.state_dir))


def _pool(session: Session, pool_id: str, *, nodes: int = 2, slots: int = 8, spot: int = 0) -> None:
    spec = batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=nodes, spot_nodes=spot,
                            task_slots_per_node=slots)
    session.create_pool(spec, wait=True, timeout=120)


def _marker_tasks(n: int, marker_dir: Path, *, sleep: float = 0.0, prefix: str = "t") -> list[batchnb.TaskSpec]:
    command = marker_command(marker_dir, sleep=sleep)
    return [batchnb.TaskSpec(f"{prefix}{i:05d}", command) for i in range(n)]


def _run_watcher(watcher: JobWatcher, seen: list[str], stop: threading.Event) -> threading.Thread:
    """The monitor's data layer, polling on its own event loop (as in a kernel) until stopped."""

    def on_update(w: JobWatcher) -> None:
        seen.append(w.status_text())
        if stop.is_set():
            w.stop()

    def main() -> None:
        # run() returns once it sees no task active or running, which can happen between two
        # chunks of a bulk add; a monitor opened during submission is started again, as a user would.
        while not stop.is_set():
            asyncio.run(watcher.run(interval=0.1, on_update=on_update))
            stop.wait(0.1)

    thread = threading.Thread(target=main, name="reliability-watcher", daemon=True)
    thread.start()
    return thread


def _task_outcomes(session: Session, job_id: str) -> tuple[int, int, int]:
    """(tasks listed, completed with exit code 0, max requeue count) straight from the service."""
    tasks = list(session.batch_client.list_tasks(job_id, select=["id", "state", "executionInfo"]))
    ok = sum(1 for t in tasks if str(t.state).lower().endswith("completed")
             and t.execution_info is not None and t.execution_info.exit_code == 0)
    requeues = max((t.execution_info.requeue_count or 0) for t in tasks if t.execution_info) if tasks else 0
    return len(tasks), ok, requeues


# ------------------------------------------------------------------------------------ scenarios


def faults_during_submit_and_monitor(service: LocalService, n_tasks: int, *, seed: int = 28,
                                     timeout: float = 600) -> Row:
    """N tasks added in bulk and monitored while 10 % of requests are throttled (429/503 with
    Retry-After), 2 % get 500 and 2 % lose their connection (half before, half after the work).

    The default seed puts a 500 and both kinds of dropped connection among the first requests
    (the bulk add's), so that a small run meets every kind of fault, not only throttling."""
    started = time.monotonic()
    row = Row("throttling + 500s + drops during bulk add and monitor", f"{n_tasks:,} tasks",
              faults="10% 429/503, 2% 500, 2% drop", expected=n_tasks)
    session = session_for(service)
    marker_dir = Path(tempfile.mkdtemp(prefix="markers-", dir=service.state_dir))
    pool_id, job_id = "rel-faults-pool", f"rel-faults-{seed}"
    try:
        _pool(session, pool_id)
        job = session.create_job(job_id, pool=pool_id)
        before = fault_stats(service)
        local.inject_faults(service, **FAULTS, retry_after=0.5, seed=seed)
        watcher = JobWatcher(session.batch_client, job_id)
        statuses: list[str] = []
        stop = threading.Event()
        thread = _run_watcher(watcher, statuses, stop)
        try:
            # Tasks that take a moment, so that the monitor polls (and meets faults) while they run.
            result = job.add_tasks(_marker_tasks(n_tasks, marker_dir, sleep=0.05), timeout=timeout)
            # The event-loop poller may have stopped on its own (it stops once it sees no task
            # active, which can happen between two chunks); from here the script's way, in this
            # thread: synchronous refreshes, which must ride out the same faults.
            stop.set()
            thread.join(timeout=60)
            assert not thread.is_alive(), "the monitor's poller did not stop"

            def caught_up() -> bool:
                watcher.refresh()
                statuses.append(watcher.status_text())
                return watcher.done and watcher.counts["completed"] == n_tasks and len(watcher.tasks) == n_tasks

            wait_until(caught_up, timeout=timeout, what=f"{n_tasks} completed tasks seen by the watcher",
                       interval=0.2)
            job.wait(timeout=timeout, poll=0.2)
        finally:
            stop.set()
            watcher.stop()
            thread.join(timeout=30)
            after = fault_stats(service)
            local.inject_faults(service)  # off, for the counting below
        injected = {k: after[k] - before.get(k, 0) for k in after}
        listed, ok, _ = _task_outcomes(session, job_id)
        runs = count_runs(marker_dir)
        row.seen = len(runs.first_runs)
        row.duplicates = sum(runs.extra_runs.values()) + max(0, listed - n_tasks)
        row.lost = n_tasks - len(runs.first_runs & {t.id for t in _marker_tasks(n_tasks, marker_dir)})
        row.faults = (f"{injected['requests']} requests: {injected['throttle']} throttled, "
                      f"{injected['error500']} x 500, {injected['drop']} dropped")
        row.details = dict(listed=listed, succeeded=ok, added=len(result.added), existed=len(result.already_existed),
                           requests=result.requests, retries=result.retries, injected=injected,
                           watcher_throttled=watcher.throttle_count, watcher_alive_until_done=True,
                           throttle_lines=sum("throttled" in s for s in statuses),
                           statuses=len(statuses))
        if watcher.throttle_count:
            row.notes.append(f"monitor showed throttling {watcher.throttle_count}x and kept going")
    finally:
        local.inject_faults(service)
        session.delete_job(job_id)
        session.close()
    row.seconds = time.monotonic() - started
    return row


# Longer than the service takes to commit a finished task (its scheduler flushes every fraction of a second).
SETTLED_MARGIN_S = 3.0


def service_killed_mid_job(service: LocalService, n_tasks: int, *, timeout: float = 600) -> Row:
    """Half the tasks are added and running; the other half is being added when the Batch server
    is SIGKILLed and restarted. Every acknowledged task must exist afterwards and complete."""
    started = time.monotonic()
    row = Row("service SIGKILLed mid-job and restarted", f"{n_tasks:,} tasks", faults="1 SIGKILL of the server",
              expected=n_tasks)
    session = session_for(service)
    marker_dir = Path(tempfile.mkdtemp(prefix="markers-", dir=service.state_dir))
    pool_id, job_id = "rel-kill-pool", "rel-kill"
    tasks = _marker_tasks(n_tasks, marker_dir, sleep=0.2)
    half = n_tasks // 2
    try:
        _pool(session, pool_id)
        job = session.create_job(job_id, pool=pool_id)
        first = job.add_tasks(tasks[:half])
        wait_until(lambda: job.task_counts()["completed"] >= min(half, 16), timeout=120, what="some tasks done")
        # Some tasks must have settled well before the kill, or the duplicate check below checks nothing.
        first_started = min(f.stat().st_mtime for f in marker_dir.iterdir())
        wait_until(lambda: time.time() - first_started > SETTLED_MARGIN_S + 1.0, timeout=30,
                   what="the first runs to settle")
        second: dict[str, Any] = {}

        def add_rest() -> None:
            try:
                second["result"] = job.add_tasks(tasks[half:], timeout=timeout)
            except Exception as exc:  # reported below
                second["error"] = exc

        # Every add request is throttled until the kill (the injected faults live in the server
        # process and die with it), so the add is certainly in progress, retrying, when the server
        # is killed: a fixed sleep could let it finish first and test nothing.
        throttled_before = fault_stats(service)["throttle"]
        local.inject_faults(service, throttle=1.0, retry_after=0.5, seed=5)
        adder = threading.Thread(target=add_rest)
        adder.start()
        wait_until(lambda: fault_stats(service)["throttle"] > throttled_before, timeout=60,
                   what="the second add to reach the server")
        assert adder.is_alive(), "the add finished before the kill: the scenario tests nothing"
        old_pid = local.status(state_dir=service.state_dir).server_pid
        killed_at = time.time()
        restarted = local.restart_server(service.state_dir, kill=True)
        assert restarted.batch_url == service.batch_url, (
            f"the restarted server moved from {service.batch_url} to {restarted.batch_url}")
        adder.join(timeout=timeout)
        assert "error" not in second, f"bulk add across the restart failed: {second.get('error')}"
        acknowledged = first.total + second["result"].total
        counts = job.wait(timeout=timeout, poll=0.5)
        listed, ok, _ = _task_outcomes(session, job_id)
        runs = count_runs(marker_dir)
        row.seen = len(runs.first_runs)
        row.lost = n_tasks - len(runs.first_runs)
        row.reruns = sum(runs.extra_runs.values())
        # Tasks running (or just finished, not yet committed) at the kill run again: Batch's own
        # semantics, counted as re-runs. A task whose first run began well before the kill had
        # finished and been committed: running it again is a duplicate. (Counting listed tasks, as
        # before, could never find one: the service refuses a second task of the same id.)
        settled_before = killed_at - SETTLED_MARGIN_S - 0.2  # 0.2: each task's own sleep
        settled = {t for t in runs.first_runs if (marker_dir / t).stat().st_mtime < settled_before}
        row.duplicates = sum(n for task_id, n in runs.extra_runs.items() if task_id in settled)
        row.details = dict(acknowledged=acknowledged, listed=listed, succeeded=ok, counts=counts,
                           old_server_pid=old_pid, retries_during_restart=second["result"].retries,
                           settled_at_kill=len(settled))
        assert second["result"].retries >= 1, "the add did not have to retry across the restart"
        if row.reruns:
            row.notes.append(f"{row.reruns} re-run(s) after service kill (tasks running at the kill are requeued)")
    finally:
        _cleanup(session, job_id)
    row.seconds = time.monotonic() - started
    return row


def _cleanup(session: Session, *job_ids: str) -> None:
    try:
        for job_id in job_ids:
            session.delete_job(job_id)
    except Exception as exc:  # never hide the scenario's own failure behind a cleanup error
        print(f"cleanup of {job_ids} failed: {exc}")
    finally:
        session.close()


def spot_nodes_preempted(service: LocalService, n_tasks: int, *, timeout: float = 300) -> Row:
    """Tasks running on spot nodes when every node is preempted: requeued (requeueCount) and completed."""
    started = time.monotonic()
    row = Row("spot nodes preempted mid-run", f"{n_tasks:,} tasks, 2 spot nodes", faults="2 preemptions",
              expected=n_tasks)
    session = session_for(service)
    marker_dir = Path(tempfile.mkdtemp(prefix="markers-", dir=service.state_dir))
    pool_id, job_id = "rel-spot-pool", "rel-spot"
    try:
        _pool(session, pool_id, nodes=0, spot=2, slots=2)
        job = session.create_job(job_id, pool=pool_id)
        job.add_tasks(_marker_tasks(n_tasks, marker_dir, sleep=1.5))
        wait_until(lambda: job.task_counts()["running"] >= 2, timeout=60, what="tasks running")
        for node in list(session.batch_client.list_nodes(pool_id)):
            admin(service, "POST", f"/pools/{pool_id}/nodes/{node.id}/preempt", {"recoverAfter": 0.3})
        job.wait(timeout=timeout, poll=0.5)
        frame = job.tasks()
        listed, ok, max_requeue = _task_outcomes(session, job_id)
        runs = count_runs(marker_dir)
        row.seen = len(runs.first_runs)
        row.lost = n_tasks - ok
        row.reruns = sum(runs.extra_runs.values())
        row.duplicates = max(0, listed - n_tasks)
        requeued = int((frame["requeue_count"].fillna(0) > 0).sum())
        row.details = dict(listed=listed, succeeded=ok, requeued_tasks=requeued, max_requeue=max_requeue)
        row.notes.append(f"{requeued} task(s) requeued (requeueCount > 0), re-run after preemption")
    finally:
        session.delete_job(job_id)
        session.close()
    row.seconds = time.monotonic() - started
    return row


def azurite_stopped_mid_upload(service: LocalService, n_files: int, *, size: int = 64 * 1024,
                               kill: int = signal.SIGTERM) -> Row:
    """Azurite is killed while ``n_files`` files go up; the upload names what did not make it, and
    after a restart a second upload sends exactly the files storage does not have."""
    started = time.monotonic()
    row = Row("Azurite stopped mid-upload, upload re-run", f"{n_files:,} files x {size // 1024} KiB",
              faults="1 kill of Azurite", expected=n_files)
    session = session_for(service)
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=service.state_dir))
    for i in range(n_files):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(size))
    container = "rel-upload"
    watcher_session = session_for(service)
    try:
        outcome: dict[str, Any] = {}

        def upload() -> None:
            try:
                outcome["result"] = session.storage.upload(folder, container=container, max_concurrency=2,
                                                           progress=False, raise_on_error=False)
            except Exception as exc:  # reported below
                outcome["error"] = exc

        thread = threading.Thread(target=upload)
        thread.start()
        wait_until(lambda: len(_blob_names(watcher_session, container)) >= max(5, n_files // 10), timeout=60,
                   what="part of the upload done", interval=0.02)
        pid = local.status(state_dir=service.state_dir).azurite_pid
        os.kill(pid, kill)
        thread.join(timeout=300)
        assert not thread.is_alive(), "upload did not return after storage went away"
        assert "error" not in outcome, f"upload raised instead of reporting: {outcome.get('error')!r}"
        first = outcome["result"]
        failed = {i.blob for i in first.failed}
        local.start(state_dir=service.state_dir, quiet=True)
        present = set(_blob_names(watcher_session, container))
        second = session.storage.upload(folder, container=container, progress=False)
        resent = {i.blob for i in second.uploaded}
        final = set(_blob_names(watcher_session, container))
        row.seen = len(final)
        row.lost = n_files - len(final)
        row.duplicates = len(resent - failed - (set(f.name for f in folder.iterdir()) - present))
        row.details = dict(first_uploaded=len(first.uploaded), first_failed=len(failed),
                           missing_after_restart=n_files - len(present), resent=len(resent),
                           resent_beyond_failed=len(resent - failed), failed_reported=sorted(failed)[:3],
                           first_seconds=first.seconds)
        row.notes.append(f"first run: {len(first.uploaded)} uploaded, {len(failed)} reported failed; "
                         f"re-run sent {len(resent)}")
    finally:
        watcher_session.close()
        session.close()
    row.seconds = time.monotonic() - started
    return row


def _blob_names(session: Session, container: str) -> list[str]:
    try:
        return session.storage.list_blobs(container)
    except Exception:  # the container may not exist yet
        return []


_PART_ONE = """\
import json, batchnb
s = batchnb.connect("local")
job = s.create_job("rel-nb-job", pool="rel-nb-pool")
job.add_tasks([batchnb.TaskSpec(f"t{i:04d}", "/bin/sh -c 'sleep 0.5'") for i in range(N_TASKS)])
m = s.map(lambda v: v * v, range(N_ITEMS), pool="rel-nb-pool", job_id="rel-nb-map", wait=False)
table = job.tasks()
json.dump({"ids": sorted(table.index), "map_job": m.job_id}, open("part1.json", "w"))
print("part one done", len(table))
"""

_PART_TWO = """\
import json, batchnb
s = batchnb.connect("local")
before = json.load(open("part1.json"))
job = s.job("rel-nb-job")
table = job.tasks()
counts = job.wait(timeout=300, poll=0.5)
values = s.map_result(before["map_job"]).wait(timeout=300).values()
json.dump({"ids": sorted(table.index), "final_ids": sorted(job.tasks().index), "counts": counts,
           "values": values}, open("part2.json", "w"))
print("part two done", len(values))
"""


def kernel_restarted_mid_job(service: LocalService, n_tasks: int, *, n_items: int = 50) -> Row:
    """Two notebook runs in two kernels sharing the service: the second re-attaches by id."""
    import json

    import nbformat
    from nbclient import NotebookClient

    started = time.monotonic()
    row = Row("kernel restarted mid-job (notebook in two parts)", f"{n_tasks} tasks + map of {n_items}",
              faults="1 kernel shutdown", expected=n_tasks + n_items)
    session = session_for(service)
    workdir = Path(tempfile.mkdtemp(prefix="nb-", dir=service.state_dir))
    env = {**os.environ, "BATCHNB_LOCAL_STATE_DIR": str(service.state_dir)}
    try:
        _pool(session, "rel-nb-pool", nodes=2, slots=4)
        for name, source in (("part1", _PART_ONE), ("part2", _PART_TWO)):
            code = source.replace("N_TASKS", str(n_tasks)).replace("N_ITEMS", str(n_items))
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
            NotebookClient(nb, timeout=400, kernel_name="python3",
                           resources={"metadata": {"path": str(workdir)}}).execute(env=env)
        one = json.loads((workdir / "part1.json").read_text())
        two = json.loads((workdir / "part2.json").read_text())
        values = two["values"]
        row.seen = len(two["final_ids"]) + sum(1 for i, v in enumerate(values) if v == i * i)
        row.lost = row.expected - row.seen
        row.duplicates = max(0, len(two["final_ids"]) - n_tasks)
        row.details = dict(same_table=one["ids"] == two["ids"], counts=two["counts"], n_values=len(values))
        if one["ids"] == two["ids"]:
            row.notes.append("re-attached task table identical")
    finally:
        session.delete_job("rel-nb-job")
        session.delete_job("rel-nb-map")
        session.close()
    row.seconds = time.monotonic() - started
    return row


def lost_answers_during_bulk_add(service: LocalService, n_tasks: int, *, seed: int = 5) -> Row:
    """Many dropped connections, half of them after the service added the tasks: the retry meets
    TaskExists for tasks of its own lost request, which must count as added, exactly once."""
    started = time.monotonic()
    row = Row("lost answers during bulk add (TaskExists on retry)", f"{n_tasks:,} tasks", expected=n_tasks)
    session = session_for(service)
    job_id = f"rel-lost-{seed}"
    try:
        _pool(session, "rel-faults-pool")
        job = session.create_job(job_id, pool="rel-faults-pool")
        before = fault_stats(service)
        local.inject_faults(service, drop=0.5, seed=seed)
        try:
            tasks = [batchnb.TaskSpec(f"x{i:05d}", "true") for i in range(n_tasks)]
            result = job.add_tasks(tasks, max_concurrency=2, timeout=300)
        finally:
            after = fault_stats(service)
            local.inject_faults(service)
        listed = [t.id for t in session.batch_client.list_tasks(job_id, select=["id"])]
        row.faults = f"{after['drop'] - before['drop']} dropped (50%)"
        row.seen = len(set(listed))
        row.duplicates = len(listed) - len(set(listed))
        row.lost = n_tasks - len(set(listed) & {t.id for t in tasks})
        row.details = dict(added=len(result.added), existed=len(result.already_existed), retries=result.retries)
        row.notes.append(f"bulk add: {len(result.added)} added, {len(result.already_existed)} reported "
                         "as pre-existing")
    finally:
        session.delete_job(job_id)
        session.close()
    row.seconds = time.monotonic() - started
    return row

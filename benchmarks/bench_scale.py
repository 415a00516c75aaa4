"""A million-task job end to end on the local service: submission, service memory, list pages, kernel table.

All in one run, on a pool with 0 nodes (nothing runs; only the data path is measured):

1. **Submission.** N tasks with the raw SDK's ``create_tasks(max_concurrency=8)`` (the models
   built beforehand, not timed) into one job, then N tasks through batchnb's own path,
   ``job.add_tasks(batchnb.sweep(...), max_concurrency=8)`` with the sweep's building timed, into
   another. Target: batchnb's rate >= 0.8 of the raw SDK's.
2. **Service memory and list pages.** The service's RSS growth per task held (both jobs:
   2 N tasks; target <= 1 KB per task), and the time per 1,000-task list page (the watcher's
   narrow ``$select``) of the N-task job against that of a 10,000-task job in the same service
   (target: the same rate, ratio <= 1.25). Pages are read as raw HTTP (the service's time only).
3. **Kernel.** The first ``job.tasks()`` of the N-task job (target <= 60 s, frame <= 300 MB at
   10^6), then 1 % of the tasks are terminated and ``job.tasks()`` again: its requests (target
   <= 3 + changed/1000) and bytes (target < 5 % of the full load's).

    python benchmarks/bench_scale.py             # 1,000,000 tasks (several minutes)
    python benchmarks/bench_scale.py --quick     # 10,000 tasks, small job 2,000 (CI smoke run, < 60 s)
    python benchmarks/bench_scale.py --check     # exit 1 on a missed target (full size only)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from azure.batch import models as m

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    add_check_option,
    add_state_parent_option,
    client_for,
    finish,
    local_service,
    make_job,
    make_pool,
    mib,
    print_table,
    server_stats,
)

import batchnb  # noqa: E402
from batchnb.data import frames  # noqa: E402
from batchnb.data.watch import watcher_for  # noqa: E402
from batchnb.local.faults_client import signed_request  # noqa: E402

POOL = "scale-empty"
RAW_JOB, NB_JOB, SMALL_JOB = "scale-raw", "scale-nb", "scale-small"
CONCURRENCY = 8
SMALL = 10_000
FULL = 1_000_000
QUICK = 10_000
CHANGED_FRACTION = 0.01
TEMPLATE = "python3 simulate.py --seed {seed} --alpha {alpha}"
ALPHAS = (0.5, 1.0, 2.0, 4.0)

TARGET_SUBMIT = 0.8
TARGET_BYTES_PER_TASK = 1024
TARGET_PAGE_RATIO = 1.25
TARGET_LOAD_S = 60.0
TARGET_FRAME_BYTES = 300 * 10**6
TARGET_REFRESH_BYTES = 0.05


def _raw_tasks(n: int) -> list[m.BatchTaskCreateOptions]:
    seeds = n // len(ALPHAS)
    return [m.BatchTaskCreateOptions(id=f"raw-{i:07d}",
                                     command_line=TEMPLATE.format(seed=i // len(ALPHAS), alpha=ALPHAS[i % len(ALPHAS)]))
            for i in range(seeds * len(ALPHAS))]


def submission(client, session, n: int) -> dict:
    tasks = _raw_tasks(n)
    start = time.perf_counter()
    result = client.create_tasks(RAW_JOB, tasks, max_concurrency=CONCURRENCY)
    raw_s = time.perf_counter() - start
    raw_failed = sum(r.status != "success" for r in result.result_values or [])
    del tasks, result

    job = session.job(NB_JOB)
    start = time.perf_counter()
    added = job.add_tasks(batchnb.sweep(TEMPLATE, seed=range(n // len(ALPHAS)), alpha=ALPHAS, id_prefix="nb",
                                        max_tasks=n), max_concurrency=CONCURRENCY, timeout=3600)
    nb_s = time.perf_counter() - start
    return {"n": n // len(ALPHAS) * len(ALPHAS), "raw_s": raw_s, "raw_failed": raw_failed, "nb_s": nb_s,
            "nb_added": len(added.added), "nb_requests": added.requests}


def _page_seconds(service, job_id: str, pages: int) -> tuple[float, int]:
    """Seconds per list page (1,000 tasks, the watcher's $select) over the first ``pages`` pages,
    read as raw HTTP so that only the service's time counts, not the SDK's deserialisation."""
    version = "api-version=2024-07-01.20.0"
    query = f"{version}&maxresults=1000&$select={frames.TASK_SELECT}"
    path = f"/jobs/{job_id}/tasks"
    got = 0
    start = time.perf_counter()
    for _ in range(pages):
        response = signed_request(service, "GET", path, query=query)
        response.raise_for_status()
        body = response.json()
        got += len(body["value"])
        link = body.get("odata.nextLink")
        if not link:
            break
        parts = urlsplit(link)
        path, query = parts.path, f"{parts.query}&{version}"
    return (time.perf_counter() - start) / max(1, got / 1000), got


def _terminate(client, job_id: str, task_ids: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda t: client.terminate_task(job_id, t), task_ids))


def run(n: int, state_parent: Path | None) -> dict:
    out: dict = {"small": (small := SMALL if n >= 10 * SMALL else max(1000, n // 5))}
    with local_service(state_parent) as service:
        client = client_for(service)
        session = batchnb.connect("local", state_dir=str(service.state_dir))
        try:
            make_pool(client, POOL, nodes=0, slots=1)
            for job_id in (RAW_JOB, NB_JOB, SMALL_JOB):
                make_job(client, job_id, POOL)
            client.create_tasks(SMALL_JOB, [m.BatchTaskCreateOptions(id=f"s{i:05d}", command_line="true")
                                            for i in range(small)], max_concurrency=CONCURRENCY)
            out["before"] = server_stats(service)
            out["submit"] = submission(client, session, n)
            out["after"] = server_stats(service)

            # List pages: the small job's pages against the big job's first ones (the same work
            # per page, so the same time unless a request costs something that grows with the job).
            _page_seconds(service, SMALL_JOB, 2)  # warm up
            out["page_small"] = min(_page_seconds(service, SMALL_JOB, small // 1000)[0] for _ in range(3))
            out["page_big"] = min(_page_seconds(service, NB_JOB, 10)[0] for _ in range(3))

            job = session.job(NB_JOB)
            start = time.perf_counter()
            frame = job.tasks()
            out["load_s"] = time.perf_counter() - start
            out["frame_bytes"] = int(frame.memory_usage(deep=True).sum())
            out["rows"] = len(frame)
            watcher = watcher_for(session.batch_client, NB_JOB)
            full = watcher.last_stats
            out["full_requests"], out["full_bytes"] = full.requests, full.bytes
            changed = list(frame.index[:: int(1 / CHANGED_FRACTION)])
            del frame
            _terminate(client, NB_JOB, changed)
            start = time.perf_counter()
            frame = job.tasks()
            out["refresh_s"] = time.perf_counter() - start
            stats = watcher.last_stats
            out["changed"] = len(changed)
            out["refresh_requests"], out["refresh_bytes"] = stats.requests, stats.bytes
            out["refresh_rows"] = stats.rows
            out["completed_rows"] = int((frame["state"] == "completed").sum())
        finally:
            session.close()
            client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small smoke run ({QUICK:,} tasks)")
    parser.add_argument("--tasks", type=int, default=None, help=f"tasks per job (default {FULL:,})")
    add_state_parent_option(parser)
    add_check_option(parser)
    args = parser.parse_args(argv)
    n = args.tasks or (QUICK if args.quick else FULL)
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3

    r = run(n, args.state_parent)
    s = r["submit"]
    n = s["n"]
    raw_rate, nb_rate = n / s["raw_s"], n / s["nb_s"]
    held = r["after"].get("tasks", 0) - r["before"].get("tasks", 0)
    grown = (r["after"].get("rssBytes") or 0) - (r["before"].get("rssBytes") or 0)
    per_task = grown / max(1, held)
    page_ratio = r["page_big"] / r["page_small"]
    refresh_budget = 3 + r["changed"] / 1000
    refresh_share = r["refresh_bytes"] / max(1, r["full_bytes"])
    print_table(f"A job of {n:,} tasks on the local service (pool with 0 nodes; load average "
                f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})", [
        (f"raw SDK create_tasks(max_concurrency={CONCURRENCY})",
         f"{s['raw_s']:8.2f} s  {raw_rate:8.0f} tasks/s  ({s['raw_failed']} failed)"),
        ("batchnb job.add_tasks(sweep(...)), sweep built inside",
         f"{s['nb_s']:8.2f} s  {nb_rate:8.0f} tasks/s  ({s['nb_added']:,} added, {s['nb_requests']:,} requests)"),
        ("1. submission ratio batchnb/raw", f"{nb_rate / raw_rate:8.2f}    (target >= {TARGET_SUBMIT})"),
        ("service RSS before / after", f"{mib(r['before'].get('rssBytes'))} / {mib(r['after'].get('rssBytes'))}"
                                       f"  ({held:,} tasks added, peak {mib(r['after'].get('maxRssBytes'))})"),
        ("2. service memory per task held", f"{per_task:8.0f} B   (target <= {TARGET_BYTES_PER_TASK} B)"),
        (f"list page of 1,000 tasks, job of {r['small']:,}", f"{r['page_small'] * 1000:8.1f} ms"),
        (f"list page of 1,000 tasks, job of {n:,}", f"{r['page_big'] * 1000:8.1f} ms"),
        ("2. page time ratio big/small", f"{page_ratio:8.2f}    (target <= {TARGET_PAGE_RATIO})"),
        ("3. first job.tasks()", f"{r['load_s']:8.2f} s   ({r['rows']:,} rows, {r['full_requests']:,} requests, "
                                 f"{r['full_bytes'] / 2**20:.0f} MiB; target <= {TARGET_LOAD_S:.0f} s at 10^6)"),
        ("3. DataFrame memory", f"{r['frame_bytes'] / 10**6:8.1f} MB  ({r['frame_bytes'] / max(1, r['rows']):.0f} B/row;"
                                f" target <= {TARGET_FRAME_BYTES / 10**6:.0f} MB at 10^6)"),
        (f"3. refresh after {r['changed']:,} changed", f"{r['refresh_s']:8.2f} s   {r['refresh_requests']} requests "
                                                       f"(target <= {refresh_budget:.0f}), {r['refresh_rows']:,} rows"),
        ("3. refresh bytes / full load bytes", f"{refresh_share:8.3f}    (target < {TARGET_REFRESH_BYTES})"),
    ])
    failures = []
    if s["raw_failed"] or s["nb_added"] != n:
        failures.append(f"submission: raw {s['raw_failed']} failed; batchnb added {s['nb_added']} of {n}")
    if r["rows"] != n or r["completed_rows"] != r["changed"]:
        failures.append(f"table: {r['rows']} rows of {n}; {r['completed_rows']} completed of {r['changed']} changed")
    missed = []
    if nb_rate / raw_rate < TARGET_SUBMIT:
        missed.append(f"submission ratio {nb_rate / raw_rate:.2f} < {TARGET_SUBMIT}")
    if per_task > TARGET_BYTES_PER_TASK:
        missed.append(f"service memory {per_task:.0f} B per task > {TARGET_BYTES_PER_TASK}")
    if page_ratio > TARGET_PAGE_RATIO:
        missed.append(f"list page ratio {page_ratio:.2f} > {TARGET_PAGE_RATIO}")
    if r["load_s"] > TARGET_LOAD_S * n / FULL:
        missed.append(f"first job.tasks() {r['load_s']:.1f} s > {TARGET_LOAD_S * n / FULL:.1f} s")
    if r["frame_bytes"] > TARGET_FRAME_BYTES * n / FULL:
        missed.append(f"frame {r['frame_bytes'] / 10**6:.0f} MB > {TARGET_FRAME_BYTES * n / FULL / 10**6:.0f} MB")
    if r["refresh_requests"] > refresh_budget:
        missed.append(f"refresh {r['refresh_requests']} requests > {refresh_budget:.0f}")
    if refresh_share >= TARGET_REFRESH_BYTES:
        missed.append(f"refresh bytes {refresh_share:.3f} of a full load >= {TARGET_REFRESH_BYTES}")
    return finish(args, failures=failures, missed=missed, targets_apply=n >= FULL)


if __name__ == "__main__":
    sys.exit(main())

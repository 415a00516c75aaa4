"""Submission: N tasks with the SDK's `create_tasks(max_concurrency=8)` against a one-task-per-request loop.

The job sits on a pool with 0 nodes, so nothing runs and only submission is timed. The loop
(`create_task` once per task) is timed on a smaller number of tasks and extrapolated to N, as
running it for all N would take minutes while telling nothing more. The server's memory (RSS)
is read from its admin statistics before and after.

    python benchmarks/bench_submit.py            # 100,000 tasks; loop timed on 2,000
    python benchmarks/bench_submit.py --quick    # 5,000 tasks; loop timed on 200 (CI smoke run)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

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
    trivial_tasks,
)

CONCURRENCY = 8


def run(bulk_count: int, loop_count: int, state_parent: Path | None) -> dict:
    with local_service(state_parent) as service:
        client = client_for(service)
        try:
            make_pool(client, "bench-empty", nodes=0, slots=1)
            make_job(client, "bench-bulk", "bench-empty")
            make_job(client, "bench-loop", "bench-empty")
            before = server_stats(service)

            tasks = trivial_tasks(bulk_count)
            start = time.perf_counter()
            result = client.create_tasks("bench-bulk", tasks, max_concurrency=CONCURRENCY)
            bulk_s = time.perf_counter() - start
            failed = [r for r in result.result_values or [] if r.status != "success"]

            singles = trivial_tasks(loop_count)
            start = time.perf_counter()
            for task in singles:
                client.create_task("bench-loop", task)
            loop_s = time.perf_counter() - start

            counts = client.get_job_task_counts("bench-bulk").task_counts
            after = server_stats(service)
            return {"bulk_s": bulk_s, "loop_s": loop_s, "failed": len(failed), "bulk_active": counts.active,
                    "before": before, "after": after}
        finally:
            client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (5,000 tasks, loop on 200)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks submitted in bulk (default 100,000)")
    parser.add_argument("--loop-tasks", type=int, default=None, help="tasks in the timed loop (default 2,000)")
    add_state_parent_option(parser)
    add_check_option(parser)
    args = parser.parse_args(argv)
    bulk_count = args.tasks or (5_000 if args.quick else 100_000)
    loop_count = args.loop_tasks or (200 if args.quick else 2_000)

    r = run(bulk_count, loop_count, args.state_parent)
    bulk_rate = bulk_count / r["bulk_s"]
    loop_rate = loop_count / r["loop_s"]
    loop_extrapolated_s = bulk_count / loop_rate
    print_table(f"Submission of {bulk_count:,} tasks (pool with 0 nodes)", [
        (f"create_tasks(max_concurrency={CONCURRENCY})",
         f"{r['bulk_s']:8.2f} s  {bulk_rate:8.0f} tasks/s  ({r['bulk_active']:,} active, {r['failed']} failed)"),
        ("create_task loop",
         f"{loop_extrapolated_s:8.2f} s  {loop_rate:8.0f} tasks/s  (timed on {loop_count:,}, extrapolated)"),
        ("ratio bulk/loop", f"{bulk_rate / loop_rate:8.1f} x"),
        ("server RSS before", mib(r["before"].get("rssBytes"))),
        ("server RSS after", f"{mib(r['after'].get('rssBytes'))}  (peak {mib(r['after'].get('maxRssBytes'))}, "
                             f"{r['after'].get('tasks', 0):,} tasks held)"),
    ])
    failures = []
    if r["failed"] or r["bulk_active"] != bulk_count:
        failures.append(f"{r['failed']} tasks failed to submit; {r['bulk_active']} of {bulk_count} active")
    return finish(args, failures=failures, missed=[])


if __name__ == "__main__":
    sys.exit(main())

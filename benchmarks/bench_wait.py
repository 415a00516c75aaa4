"""What job.wait() pays for not trusting Azure's lagging task counts.

wait() used to return as soon as Get Task Counts read 0 active / 0 running; Azure documents that
those counts may lag behind the task list, so wait() now confirms "done" with one list query for
unfinished tasks ($filter=state ne 'completed', $select=id,state). This script measures that final
check on a finished job of N tasks, against the counts-only check in the same run (requests counted
by the service, time per check), and how long wait() takes to return on a fresh job with the
service's counts lagging by 0 s and by 2 s.

    python benchmarks/bench_wait.py            # a job of 10,000 tasks
    python benchmarks/bench_wait.py --quick    # 500 tasks (CI smoke run)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_state_parent_option, finish, local_service, print_table, server_stats  # noqa: E402

import batchnb  # noqa: E402
from batchnb.local import emulate  # noqa: E402

REPEATS = 30


def timed_checks(check, service) -> tuple[float, float]:
    """(milliseconds per check, requests per check) over REPEATS calls."""
    before = server_stats(service)["requests"]
    start = time.perf_counter()
    for _ in range(REPEATS):
        check()
    elapsed = time.perf_counter() - start
    requests = server_stats(service)["requests"] - before - 1  # minus the stats call itself
    return 1000 * elapsed / REPEATS, requests / REPEATS


def wait_seconds(session, pool_id: str, n_tasks: int) -> float:
    job = session.create_job(f"bench-wait-{uuid.uuid4().hex[:8]}", pool=pool_id)
    job.task_counts()  # with the lag on, later reads get this snapshot: 0 tasks, as Azure's may read
    job.add_tasks([batchnb.TaskSpec(f"t{i:04d}", "python3 -c 'import time; time.sleep(0.5)'")
                   for i in range(n_tasks)])
    start = time.perf_counter()
    job.wait(timeout=300, poll=0.5)
    elapsed = time.perf_counter() - start
    assert (job.tasks()["state"].astype(str) == "completed").all(), "wait() returned before the tasks finished"
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (500 tasks)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks in the finished job (default 10,000)")
    parser.add_argument("--check", action="store_true", help="exit 1 if wait() returned before its tasks ended")
    add_state_parent_option(parser)
    args = parser.parse_args(argv)
    n = args.tasks or (500 if args.quick else 10_000)

    with local_service(args.state_parent) as service:
        session = batchnb.connect("local", state_dir=str(service.state_dir))
        try:
            pool = session.create_pool(batchnb.PoolSpec("bench-wait", vm_size="standard_d4s_v3", dedicated_nodes=2,
                                                        task_slots_per_node=8), wait=True, timeout=120)
            done = session.create_job("bench-wait-done", pool=pool.id)
            done.add_tasks([batchnb.TaskSpec(f"t{i:06d}", "true") for i in range(n)], timeout=600)
            done.wait(timeout=1800)

            def counts_only() -> None:
                counts = done.task_counts()
                assert counts["active"] == 0 and counts["running"] == 0

            old_ms, old_requests = timed_checks(counts_only, service)
            new_ms, new_requests = timed_checks(lambda: done.wait(timeout=60), service)
            plain = wait_seconds(session, pool.id, 8)
            emulate(service, task_counts_lag=2.0)
            lagged = wait_seconds(session, pool.id, 8)
        finally:
            session.close()

    print_table(f"job.wait() on Azure's lagging counts ({n:,}-task finished job, {REPEATS} checks each)", [
        ("final check, counts only (old wait)", f"{old_ms:7.1f} ms, {old_requests:.0f} request(s)"),
        ("final check, counts + unfinished list", f"{new_ms:7.1f} ms, {new_requests:.0f} request(s)"),
        ("ratio (new / old)", f"{new_ms / old_ms:7.2f} x"),
        ("wait() for 8 x 0.5 s tasks, counts exact", f"{plain:7.2f} s"),
        ("wait() for 8 x 0.5 s tasks, counts 2 s late", f"{lagged:7.2f} s (correct; old wait() returned at once)"),
    ])
    # Eight 0.5 s tasks cannot all be done in under 0.5 s: a wait() that returned sooner trusted stale
    # counts (wait_seconds also asserts every task completed, which raises and exits non-zero).
    early = [f"wait() returned after {s:.2f} s, before its tasks could end" for s in (plain, lagged) if s < 0.5]
    return finish(args, failures=early, missed=[])


if __name__ == "__main__":
    raise SystemExit(main())

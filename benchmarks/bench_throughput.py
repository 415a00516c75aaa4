"""Throughput: N trivial tasks (`true`) on a pool of 2 nodes x 4 slots, against `xargs -P 8`.

The local service is timed from the first task submission (SDK `create_tasks`) to the moment the
job's task counts say all N completed; xargs runs the same N command lines, 8 at a time, with no
shell. Both run in this one process's session on the same machine, so the ratio is meaningful
even when the absolute rates are not. On a machine that other work keeps busy the wall-clock ratio
swings with that load, so the CPU seconds per task are printed too (Linux): the service's own
(its process) and its tasks', against xargs with its children. Target: the service reaches >= 0.8 of xargs' rate (issue 16;
it was 0.5).

    python benchmarks/bench_throughput.py            # 10,000 tasks
    python benchmarks/bench_throughput.py --quick    # 400 tasks (CI smoke run)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
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
    wait_for,
)

COMMAND_LINE = "true"
NODES, SLOTS = 2, 4
TARGET_RATIO = 0.8


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> tuple[float, float] | None:
    """(own, reaped children's) CPU seconds of a process, from /proc (None where there is none)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(v) / tick for v in fields[11:15])
    return utime + stime, cutime + cstime


def run_xargs(count: int, parallel: int, cpu: list[float] | None = None) -> float:
    """Seconds for xargs to run `count` copies of the command line, `parallel` at a time (its CPU
    seconds, children included, are appended to ``cpu``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as lines:
        lines.write("".join(f"{i}\n" for i in range(count)))
        lines.flush()
        # One run of the program per input line (`true 0`, `true 1`, ...), exec'd without a shell:
        # GNU xargs cannot take the program itself from its input.
        argv = ["xargs", "-P", str(parallel), "-n", "1", COMMAND_LINE]
        with open(lines.name) as stdin:
            cpu_before = _children_cpu()
            start = time.perf_counter()
            subprocess.run(argv, stdin=stdin, check=True)
            elapsed = time.perf_counter() - start
            if cpu is not None:
                cpu.append(_children_cpu() - cpu_before)
            return elapsed


def run_service(count: int, state_parent: Path | None) -> tuple[float, int, dict]:
    """Seconds from submission to all completed, the number that succeeded, and server stats."""
    with local_service(state_parent) as service:
        client = client_for(service)
        try:
            make_pool(client, "bench-pool", nodes=NODES, slots=SLOTS)
            make_job(client, "bench-job", "bench-pool")
            tasks = trivial_tasks(count, COMMAND_LINE)
            cpu_before = process_cpu(service.server_pid)
            start = time.perf_counter()
            client.create_tasks("bench-job", tasks, max_concurrency=8)
            counts = wait_for(lambda: (c := client.get_job_task_counts("bench-job").task_counts).completed >= count
                              and c, timeout=max(120.0, count / 20), interval=0.05, what=f"{count} tasks completed")
            elapsed = time.perf_counter() - start
            cpu_after = process_cpu(service.server_pid)
            stats = server_stats(service)
            if cpu_before and cpu_after:
                stats["cpu"] = tuple(after - before for before, after in zip(cpu_before, cpu_after))
            return elapsed, counts.succeeded, stats
        finally:
            client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (400 tasks)")
    parser.add_argument("--tasks", type=int, default=None, help="number of tasks (default 10,000)")
    add_state_parent_option(parser)
    add_check_option(parser)
    args = parser.parse_args(argv)
    count = args.tasks or (400 if args.quick else 10_000)

    # xargs runs before and after the service, and the ratio uses their mean: on a machine whose
    # load changes during the run, that brackets the service's measurement fairly.
    xargs_cpu: list[float] = []
    xargs_before = run_xargs(count, NODES * SLOTS, xargs_cpu)
    service_s, succeeded, stats = run_service(count, args.state_parent)
    xargs_after = run_xargs(count, NODES * SLOTS, xargs_cpu)
    xargs_s = (xargs_before + xargs_after) / 2
    xargs_rate, service_rate = count / xargs_s, count / service_s
    ratio = service_rate / xargs_rate
    cpu_rows = []
    if "cpu" in stats:
        own, tasks_cpu = stats["cpu"]
        xargs_per_task = sum(xargs_cpu) / len(xargs_cpu) / count
        cpu_rows = [("CPU per task", f"service {own / count * 1000:.2f} ms + its tasks {tasks_cpu / count * 1000:.2f} ms"
                                     f" vs xargs and its tasks {xargs_per_task * 1000:.2f} ms  (ratio "
                                     f"{xargs_per_task / ((own + tasks_cpu) / count):.2f})")]
    print_table(f"Throughput: {count:,} x `{COMMAND_LINE}`, {NODES} nodes x {SLOTS} slots vs xargs -P {NODES * SLOTS}", [
        ("xargs -P 8 (mean)", f"{xargs_s:8.2f} s  {xargs_rate:8.0f} tasks/s  "
                              f"(before {count / xargs_before:.0f}/s, after {count / xargs_after:.0f}/s)"),
        ("local service", f"{service_s:8.2f} s  {service_rate:8.0f} tasks/s  ({succeeded:,} succeeded)"),
        ("ratio service/xargs", f"{ratio:8.2f}   (target >= {TARGET_RATIO})"),
        *cpu_rows,
        ("server RSS after", f"{mib(stats.get('rssBytes'))}  (peak {mib(stats.get('maxRssBytes'))})"),
    ])
    failures = [f"only {succeeded} of {count} tasks succeeded"] if succeeded != count else []
    missed = [f"ratio service/xargs {ratio:.2f} < {TARGET_RATIO}"] if ratio < TARGET_RATIO else []
    # The target is set for the full size; at --quick (400 tasks) start-up costs weigh on the ratio.
    return finish(args, failures=failures, missed=missed, targets_apply=not args.quick)


if __name__ == "__main__":
    sys.exit(main())

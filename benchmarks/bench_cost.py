"""Accounting cost: what ``job.cost()`` costs on a 100,000-task job, against plain listings.

1. **Service side.** A job of N tasks on the local service (a pool with 0 nodes, so the tasks stay
   active: the listing is the same size either way). Times and meters ``job.cost()`` (one paged
   ``list_tasks`` with a narrow ``$select``, the pool and its nodes) against the baseline a user
   would otherwise run: ``list(client.list_tasks(job))`` (everything, as Batch Explorer does), and
   the same narrow listing alone. Requests and response bytes are counted by a ``raw_response_hook``.
2. **Kernel side.** Synthetic REST dicts of N *completed* tasks (times, nodes, retries, two slot
   sizes, dedicated and spot nodes): the time to compute the cost table against the time to build
   the ordinary typed task table (``batchnb.data.frames.tasks_frame``) from the same rows.

    python benchmarks/bench_cost.py            # 100,000 tasks
    python benchmarks/bench_cost.py --quick    # 10,000 tasks (CI smoke run)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    add_check_option,
    add_state_parent_option,
    finish,
    local_service,
    make_job,
    make_pool,
    print_table,
    trivial_tasks,
)
from azure.batch import BatchClient  # noqa: E402
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402

from batchnb.core.cost import prices  # noqa: E402
from batchnb.core.cost.job_cost import PoolFacts, job_cost_frame  # noqa: E402
from batchnb.core.cost.live import cost_from_task_frame  # noqa: E402
from batchnb.core.session import Session  # noqa: E402
from batchnb.data.frames import tasks_frame  # noqa: E402

JOB, POOL = "bench-cost", "bench-cost-empty"
FULL_SIZE = 100_000
ROUNDS = 3


class Meter:
    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    def __call__(self, pipeline_response) -> None:
        self.requests += 1
        length = pipeline_response.http_response.headers.get("Content-Length")
        self.bytes += int(length) if length and length.isdigit() else 0


def synthetic_rows(n: int) -> list[dict]:
    """Completed tasks of 10-70 s over 100 nodes (a fifth of them spot), some retried or requeued."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        start = base + timedelta(seconds=i % 3600)
        end = start + timedelta(seconds=10 + i % 61)
        rows.append({"id": f"t{i:06d}", "state": "completed", "requiredSlots": 1 + (i % 7 == 0),
                     "nodeInfo": {"poolId": POOL, "nodeId": f"n{i % 100:03d}"},
                     "executionInfo": {"startTime": start.isoformat().replace("+00:00", "Z"),
                                       "endTime": end.isoformat().replace("+00:00", "Z"),
                                       "retryCount": int(i % 50 == 0), "requeueCount": int(i % 97 == 0),
                                       "exitCode": 0, "result": "success"}})
    return rows


def kernel_side(n: int) -> list[tuple[str, str]]:
    rows = synthetic_rows(n)
    facts = {POOL.lower(): PoolFacts(POOL, "standard_d2s_v3", 4, frozenset(f"n{i:03d}" for i in range(80)),
                                     frozenset(f"n{i:03d}" for i in range(80, 100)))}

    def price_of(size: str, spot: bool):
        return prices.vm_price(size, spot=spot)

    base_times, cost_times, live_times = [], [], []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        table = tasks_frame(rows)
        base_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frame = job_cost_frame(rows, facts, price_of)
        cost_times.append(time.perf_counter() - t0)
        # What a job monitor's cost line does on each pricing: its watcher's table, no listing.
        t0 = time.perf_counter()
        live = cost_from_task_frame(table.copy(), POOL, facts, price_of)
        live_times.append(time.perf_counter() - t0)
    base, cost, live_s = (statistics.median(t) for t in (base_times, cost_times, live_times))
    summary = frame.attrs["summary"]
    same = abs(live.attrs["summary"]["total_cost"] - summary["total_cost"]) <= 1e-9 * max(summary["total_cost"], 1)
    return [
        (f"task table from {n:,} REST rows (baseline)", f"{base * 1000:8.1f} ms"),
        ("cost table from the same rows", f"{cost * 1000:8.1f} ms  ({cost / base:.2f}x the baseline)"),
        ("monitor: cost table from the typed task table", f"{live_s * 1000:8.1f} ms  ({live_s / base:.2f}x the "
                                                          f"baseline; same total: {same})"),
        ("  its totals", f"{summary['core_hours']:.1f} core-h, {summary['total_cost']:.2f} "
                         f"{summary['currency']} ({summary['retries']} retries, {summary['requeues']} requeues)"),
    ]


def service_side(n: int, state_parent) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with local_service(state_parent) as service:
        meter = Meter()
        credential = AzureNamedKeyCredential(service.account_name, service.account_key)
        client = BatchClient(service.batch_url, credential, raw_response_hook=meter)
        plain = BatchClient(service.batch_url, credential)
        make_pool(plain, POOL, nodes=0, slots=4)
        make_job(plain, JOB, POOL)
        every = trivial_tasks(n)
        for start in range(0, n, 10_000):
            plain.create_tasks(JOB, every[start:start + 10_000], max_concurrency=8)
        session = Session(client, account=service.account_name, endpoint=service.batch_url, auth_mode="shared key")

        def measure(fn) -> tuple[float, int, int]:
            times, reqs, size = [], 0, 0
            for _ in range(ROUNDS):
                meter.requests = meter.bytes = 0
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
                reqs, size = meter.requests, meter.bytes
            return statistics.median(times), reqs, size

        full = measure(lambda: list(client.list_tasks(JOB)))
        narrow = measure(lambda: list(client.list_tasks(JOB, select=["id", "state", "executionInfo", "nodeInfo",
                                                                     "requiredSlots"])))
        cost = measure(lambda: session.job(JOB).cost())
        for name, (seconds, reqs, size) in (("full listing list_tasks(job) (baseline)", full),
                                            ("narrow listing, cost's $select", narrow),
                                            ("job.cost()", cost)):
            rows.append((f"{name}", f"{seconds:7.2f} s  {reqs:4d} requests  {size / 2**20:6.1f} MiB  "
                                    f"({seconds / full[0]:.2f}x the baseline's time)"))
        plain.close()
        client.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 tasks instead of 100,000")
    add_state_parent_option(parser)
    add_check_option(parser)
    args = parser.parse_args()
    n = FULL_SIZE // 10 if args.quick else FULL_SIZE
    os.environ.setdefault(prices.OFFLINE_ENV, "1")  # the snapshot: no network in a benchmark
    print_table(f"job.cost() on a {n:,}-task job (median of {ROUNDS})", service_side(n, args.state_parent))
    print()
    print_table(f"cost arithmetic for {n:,} completed tasks (median of {ROUNDS})", kernel_side(n))
    # No target: the ratios are reported; a wrong result raises (exit 1 with a traceback).
    return finish(args, failures=[], missed=[])


if __name__ == "__main__":
    sys.exit(main())

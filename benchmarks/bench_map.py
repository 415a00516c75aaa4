"""map() overhead: `session.map(lambda x: x, range(N))` on the local service vs the same in-process.

The function does nothing, so everything measured is batchnb's and the service's cost: pickling,
staging the chunks in Azurite, adding the tasks, starting a runner process per task on the
nodes (2 nodes x 4 slots), uploading the results and reading them back in order. Reported as
total seconds and milliseconds per item, for the default chunking and for chunk sizes giving
about 8 tasks (one per slot), 100 tasks (the default) and 1,000 tasks (not with --quick).

It also times a one-item map on the warm pool (the round trip a user waits for in a cell) and,
when `distributed` is installed (`pip install distributed`), the same two things on Dask's
LocalCluster (2 worker processes x 4 threads, like the pool) beside it. Targets (issue 16): the
one-item map returns in <= 50 ms (median of the warm runs), and map() of all the items finishes
before Dask's `client.map` does.

    python benchmarks/bench_map.py            # 10,000 items
    python benchmarks/bench_map.py --quick    # 1,000 items (CI smoke run)

It starts a throwaway local service, or reuses the one in $BATCHNB_LOCAL_STATE_DIR when set.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_check_option, env_or_throwaway_service, finish, print_table  # noqa: E402

import batchnb  # noqa: E402

NODES, SLOTS = 2, 4
ONE_ITEM_TARGET_S = 0.050
ONE_ITEM_RUNS = 10


def one_item_map(session, pool_id: str, runs: int) -> list[float]:
    """Seconds of `session.map(fn, [1])` on the warm pool, `runs` times (after one untimed warm-up)."""
    session.map(lambda x: x + 1, [1], pool=pool_id)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        assert session.map(lambda x: x + 1, [1], pool=pool_id) == [2]
        times.append(time.perf_counter() - start)
    return times


def dask_figures(items: list[int], runs: int) -> tuple[list[float], float] | None:
    """(one-item round trips, seconds for all items) on a Dask LocalCluster, or None without Dask."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    with LocalCluster(n_workers=NODES, threads_per_worker=SLOTS, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        fn = lambda x: x + 1  # noqa: E731
        client.submit(fn, 1, pure=False).result()  # warm: the function and the workers
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            assert client.gather(client.map(fn, [1], pure=False)) == [2]
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = client.gather(client.map(lambda x: x, items, pure=False))
        total = time.perf_counter() - start
        assert out == items
    return times, total


def in_process(items: list[int]) -> float:
    fn = lambda x: x  # noqa: E731 - the same kind of function map() gets
    start = time.perf_counter()
    out = [fn(x) for x in items]
    elapsed = time.perf_counter() - start
    assert out == items
    return elapsed


def run_map(session, pool_id: str, items: list[int], chunk_size: int | None) -> tuple[float, float, int, int]:
    """(seconds to submit, seconds in total, number of tasks, chunk size) for one map() of `items`."""
    start = time.perf_counter()
    result = session.map(lambda x: x, items, pool=pool_id, chunk_size=chunk_size, wait=False,
                         job_id=f"bench-map-{uuid.uuid4().hex[:8]}")
    submitted = time.perf_counter() - start
    result.wait(timeout=max(600.0, len(items) / 5))
    values = result.values()
    total = time.perf_counter() - start
    assert values == items, "map() returned wrong or reordered results"
    return submitted, total, result.n_tasks, result.chunk_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (1,000 items)")
    parser.add_argument("--items", type=int, default=None, help="number of items (default 10,000)")
    add_check_option(parser)
    args = parser.parse_args(argv)
    n = args.items or (1000 if args.quick else 10_000)
    items = list(range(n))
    # (label, chunk_size): None is map()'s default (about four tasks per pool slot).
    variants: list[tuple[str, int | None]] = [("default", None)]
    # 1,000 tasks of one item each is the slow end (minutes): the full run only.
    for tasks in (NODES * SLOTS,) if args.quick else (NODES * SLOTS, 1000):
        variants.append((f"~{tasks} tasks", max(1, math.ceil(n / tasks))))

    local_s = in_process(items)
    runs = 5 if args.quick else ONE_ITEM_RUNS
    rows = [("in-process list comprehension", f"{local_s:8.4f} s  {local_s / n * 1000:8.4f} ms/item")]
    totals: dict[str, float] = {}
    with env_or_throwaway_service() as svc:
        session = batchnb.connect("local", state_dir=str(svc.state_dir))
        pool_id = f"bench-map-{uuid.uuid4().hex[:6]}"
        try:
            session.create_pool(batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=NODES,
                                                 task_slots_per_node=SLOTS), wait=True, timeout=120)
            one = one_item_map(session, pool_id, runs)
            for label, chunk in variants:
                submitted, total, n_tasks, used_chunk = run_map(session, pool_id, items, chunk)
                totals[label] = total
                overhead = (total - local_s) / n * 1000
                rows.append((f"map(), {label} (chunk_size={used_chunk}, {n_tasks} tasks)",
                             f"{total:8.2f} s  {overhead:8.3f} ms/item  (submit {submitted:5.2f} s, "
                             f"{total / n_tasks * 1000:6.1f} ms/task)"))
        finally:
            session.delete_pool(pool_id)
            session.close()
    one_median = statistics.median(one)
    rows.insert(1, (f"map() of 1 item, warm pool ({runs} runs)",
                    f"{one_median * 1000:8.1f} ms median  (min {min(one) * 1000:.1f} ms; target <= "
                    f"{ONE_ITEM_TARGET_S * 1000:.0f} ms)"))
    missed = [f"1-item map() median {one_median * 1000:.0f} ms > {ONE_ITEM_TARGET_S * 1000:.0f} ms"] \
        if one_median > ONE_ITEM_TARGET_S else []
    dask = dask_figures(items, runs)
    if dask is None:
        rows.append(("Dask LocalCluster", "not measured: `distributed` is not installed"))
    else:
        dask_one, dask_total = dask
        dask_median = statistics.median(dask_one)
        rows.append((f"Dask LocalCluster, 1 item ({runs} runs)",
                     f"{dask_median * 1000:8.1f} ms median  (map()/Dask {one_median / dask_median:.1f}x)"))
        rows.append((f"Dask LocalCluster, {n:,} items",
                     f"{dask_total:8.2f} s  (map() default/Dask {totals['default'] / dask_total:.2f}; target < 1)"))
        if totals["default"] >= dask_total:
            missed.append(f"map() of {n:,} items {totals['default']:.2f} s is not ahead of Dask's {dask_total:.2f} s")
    print_table(f"map(lambda x: x) over {n:,} items, {NODES} nodes x {SLOTS} slots, local service", rows)
    # Wrong or reordered results fail the asserts (exit 1); the targets are set for the full size.
    return finish(args, failures=[], missed=missed, targets_apply=not args.quick)


if __name__ == "__main__":
    sys.exit(main())

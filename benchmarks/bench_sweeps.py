"""Notebook sweeps, reruns and the map cache, measured on the local service (2 nodes x 4 slots).

1. Overhead per parameter set of a notebook task (papermill + a kernel on the node) against the
   same code as a script task (`python3 -c ...`), both through batchnb on the same pool.
2. A map of N items with 1 % failing: how many items MapResult.rerun() resubmits (it must be
   exactly the failed items' count) against the chunk-level rerun a per-task retry would do.
3. A cached map's unchanged rerun against the first run (ratio of times; tasks submitted).

    python benchmarks/bench_sweeps.py            # 8 notebook runs, 10,000 map items
    python benchmarks/bench_sweeps.py --quick    # 4 notebook runs, 1,000 map items (CI smoke run)
    python benchmarks/bench_sweeps.py --check    # exit 1 when a target is missed

It starts a throwaway local service, or reuses the one in $BATCHNB_LOCAL_STATE_DIR when set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import env_or_throwaway_service, finish, print_table  # noqa: E402

import batchnb  # noqa: E402

NODES, SLOTS = 2, 4
CODE = "import math\nvalue = sum(math.sqrt(i) for i in range(1000 * n))"


def _notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(CODE + "\nimport batchnb\nbatchnb.record('value', value)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def notebook_vs_script(session, pool_id: str, runs: int) -> tuple[float, float]:
    """(seconds per parameter set as a notebook, as a script task), from submission to done."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _notebook(Path(tmp) / "bench.ipynb")
        start = time.perf_counter()
        sweep = session.run_notebook(path, parameters={"n": list(range(1, runs + 1))}, pool=pool_id,
                                     job_id=f"bench-nb-{uuid.uuid4().hex[:6]}", timeout=900)
        notebook_s = time.perf_counter() - start
        assert set(sweep.results()["status"]) == {"succeeded"}, sweep.results()
    job = session.create_job(f"bench-script-{uuid.uuid4().hex[:6]}", pool=pool_id)
    start = time.perf_counter()
    job.add_tasks(batchnb.sweep("python3 -c \"n = {n}\n" + CODE.replace('"', '\\"') + "\"", n=range(1, runs + 1)))
    job.wait(timeout=600)
    script_s = time.perf_counter() - start
    assert job.task_counts()["failed"] == 0
    return notebook_s / runs, script_s / runs


def rerun_precision(session, pool_id: str, n: int) -> tuple[int, int, int, float]:
    """(failed items, items the rerun submitted, items in the failed chunks, rerun seconds)."""
    def one_percent_fail(v):
        if v % 100 == 42:
            raise RuntimeError(v)
        return v

    result = session.map(one_percent_fail, range(n), pool=pool_id, errors="collect", timeout=900)
    failed = len(result.errors)
    chunk_items = len({e.index // result.chunk_size for e in result.errors}) * result.chunk_size
    start = time.perf_counter()
    result.rerun(fn=lambda v: v, timeout=900)
    seconds = time.perf_counter() - start
    assert result.ok and result.values() == list(range(n))
    resubmitted = session.map_result(result.reruns[0]).n_items
    return failed, resubmitted, chunk_items, seconds


def cache_ratio(session, pool_id: str, n: int) -> tuple[float, float, int]:
    salt = uuid.uuid4().hex

    def work(v):
        return (salt, v * v)

    before = set(session.list_jobs().index)
    start = time.perf_counter()
    first = session.map(work, range(n), pool=pool_id, cache=True, timeout=900)
    first_s = time.perf_counter() - start
    after_first = set(session.list_jobs().index)
    start = time.perf_counter()
    again = session.map(work, range(n), pool=pool_id, cache=True, timeout=900)
    again_s = time.perf_counter() - start
    assert again == first
    assert len(after_first - before) == 1
    return first_s, again_s, len(set(session.list_jobs().index) - after_first)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    runs, n = (4, 1000) if args.quick else (8, 10_000)
    rows: list[tuple[str, str]] = []
    missed: list[str] = []
    with env_or_throwaway_service() as svc:
        session = batchnb.connect("local", state_dir=str(svc.state_dir))
        pool_id = f"bench-sw-{uuid.uuid4().hex[:6]}"
        try:
            session.create_pool(batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=NODES,
                                                 task_slots_per_node=SLOTS), wait=True, timeout=120)
            per_nb, per_script = notebook_vs_script(session, pool_id, runs)
            rows.append((f"notebook vs script task, {runs} parameter sets",
                         f"{per_nb:6.2f} s vs {per_script:6.2f} s per set: {per_nb / per_script:5.1f}x "
                         f"(+{per_nb - per_script:.2f} s for papermill and a kernel)"))
            failed, resubmitted, chunk_items, rerun_s = rerun_precision(session, pool_id, n)
            rows.append((f"map of {n:,} items, 1 % failing: rerun()",
                         f"resubmitted {resubmitted} items for {failed} failures (a chunk-level rerun: "
                         f"{chunk_items:,}); {rerun_s:.2f} s"))
            if resubmitted != failed:
                missed.append(f"rerun resubmitted {resubmitted} items, not the {failed} that failed")
            first_s, again_s, jobs = cache_ratio(session, pool_id, n)
            rows.append((f"map(cache=True) of {n:,} items, unchanged rerun",
                         f"{again_s:6.2f} s vs {first_s:6.2f} s first: {again_s / first_s:5.3f} of the time, "
                         f"{jobs} job(s) submitted"))
            if jobs != 0:
                missed.append(f"the cached rerun submitted {jobs} job(s)")
            if again_s >= first_s:
                missed.append("the cached rerun was not faster than the first run")
        finally:
            session.delete_pool(pool_id)
            session.close()
    print_table("Notebook sweeps, reruns and the map cache (local service, 2 nodes x 4 slots)", rows)
    return finish(args, failures=missed, missed=[])


if __name__ == "__main__":
    sys.exit(main())

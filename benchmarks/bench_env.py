"""Node environments: what the first map() on a fresh, bare pool costs, and uv against pip.

1. ``session.map()`` of a pandas function on a fresh local pool (2 nodes x 2 slots, 8 items, one
   per task): time to the first result and to all results, for the first map (its tasks install
   the environment) and for a second one (nothing to install), with the installs per node.
2. Installing the same environment (pandas as this kernel has it, pinned with what it requires)
   into a new venv, as a node does: uv (``uv venv`` + ``uv pip install``) against pip
   (``python -m venv`` + ``pip install``), each with an empty cache (downloads) and again with
   the cache the first run filled.

    python benchmarks/bench_env.py            # pandas
    python benchmarks/bench_env.py --quick    # part 1 with pandas; part 2 with cloudpickle only (CI smoke run)

Part 2 downloads from the package index (twice, into throwaway caches).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import finish, local_service, print_table  # noqa: E402

import batchnb  # noqa: E402

NODES, SLOTS, ITEMS = 2, 2, 8


def make_fn():
    def mean_of(n):
        import pandas as pd

        return float(pd.Series(range(n)).mean())

    return mean_of


def one_map(session, pool_id: str) -> tuple[float, float]:
    """(seconds to the first finished task, seconds to all results) for one map of ITEMS items."""
    start = time.perf_counter()
    result = session.map(make_fn(), range(1, ITEMS + 1), pool=pool_id, chunk_size=1, wait=False,
                         job_id=f"bench-env-{uuid.uuid4().hex[:8]}")
    job = session.job(result.job_id)
    while job.task_counts()["completed"] == 0:
        time.sleep(0.05)
    first = time.perf_counter() - start
    values = result.wait(timeout=600).values()
    total = time.perf_counter() - start
    assert values == [float(n - 1) / 2 for n in range(1, ITEMS + 1)], values
    return first, total


def map_rows() -> list[tuple[str, str]]:
    rows = []
    with local_service() as svc:
        session = batchnb.connect("local", state_dir=str(svc.state_dir))
        pool_id = f"bench-env-{uuid.uuid4().hex[:6]}"
        try:
            pool = session.create_pool(batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=NODES,
                                                        task_slots_per_node=SLOTS), wait=True, timeout=120)
            cold_first, cold_total = one_map(session, pool_id)
            warm_first, warm_total = one_map(session, pool_id)
            per_node = collections.Counter(i["node"] for i in pool.list_environment_installs())
            seconds = [i["seconds"] for i in pool.list_environment_installs()]
        finally:
            session.delete_pool(pool_id)
            session.close()
    rows.append(("first map (installs; uv cache of this machine): first result / all", f"{cold_first:7.2f} s / {cold_total:7.2f} s"))
    rows.append(("second map (installed): first result / all", f"{warm_first:7.2f} s / {warm_total:7.2f} s"))
    rows.append(("cold / warm, all results", f"{cold_total / warm_total:7.2f} x"))
    rows.append(("installs per node (must be 1)", ", ".join(str(per_node[n]) for n in sorted(per_node))))
    rows.append(("install time on the nodes (uv, in the first map)", ", ".join(f"{s:.2f} s" for s in seconds)))
    return rows


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def installer_rows(requirements: list[str]) -> list[tuple[str, str]]:
    import uv

    uv_bin = uv.find_uv_bin()
    base_python = getattr(sys, "_base_executable", sys.executable)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-env-") as tmp:
        root = Path(tmp)
        req = root / "requirements.txt"
        req.write_text("\n".join(requirements) + "\n")
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update(UV_CACHE_DIR=str(root / "uv-cache"), PIP_CACHE_DIR=str(root / "pip-cache"),
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        for run in ("cold", "cached"):
            venv = root / f"uv-{run}"
            results.setdefault("uv", []).append(
                _timed([uv_bin, "venv", "--quiet", "--python", base_python, str(venv)], env)
                + _timed([uv_bin, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                          "-r", str(req)], env))
            venv = root / f"pip-{run}"
            results.setdefault("pip", []).append(
                _timed([base_python, "-m", "venv", str(venv)], env)
                + _timed([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(req)], env))
    rows = []
    for tool in ("uv", "pip"):
        cold, cached = results[tool]
        rows.append((f"{tool}: venv + install, empty cache / cached", f"{cold:7.2f} s / {cached:7.2f} s"))
    rows.append(("pip / uv, empty cache", f"{results['pip'][0] / results['uv'][0]:7.2f} x"))
    rows.append(("pip / uv, cached", f"{results['pip'][1] / results['uv'][1]:7.2f} x"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: installers compared on cloudpickle only")
    parser.add_argument("--check", action="store_true", help="exit 1 when a run went wrong (the maps assert their results)")
    args = parser.parse_args(argv)
    rows = map_rows()
    import cloudpickle
    import pandas as pd

    requirements = ([f"cloudpickle=={cloudpickle.__version__}"] if args.quick
                    else list(batchnb.Environment.from_kernel(pd).packages))
    what = "pandas and its requirements" if not args.quick else "cloudpickle"
    print_table(f"map() of a pandas function on a fresh bare local pool ({NODES} nodes x {SLOTS} slots, "
                f"{ITEMS} one-item tasks)", rows)
    print()
    print_table(f"installing {what} ({len(requirements)} pinned distributions) into a new venv",
                installer_rows(requirements))
    return finish(args, failures=[], missed=[])


if __name__ == "__main__":
    sys.exit(main())

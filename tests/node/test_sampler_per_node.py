"""Each emulated node reports its own CPU and memory, not the machine's (issue 10, point 6).

Local nodes share one machine, so host-wide figures made every node's line the same. The local
runtime marks node processes with BATCHNB_EMULATED_NODE=1; the sampler then sums the processes of
its own node. On Azure (no marker) it keeps the VM's figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchnb import _constants
from batchnb.core.specs.sampler_start_task import start_task_command
from batchnb.data.watch import PoolWatcher
from batchnb.node import sampler
from tests.data.test_watch_pools import stop_samplers
from tests.local.service.helpers import make_job, make_pool, py, task, uid, wait_for

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(not os.path.isdir("/proc"), reason="per-node figures come from Linux /proc")]

BURN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


def test_marker_name_is_shared_with_the_service() -> None:
    assert sampler.EMULATED_NODE_ENV == _constants.EMULATED_NODE_ENV


def test_node_processes_counts_only_that_nodes_processes_and_reaped_children(tmp_path) -> None:
    roots = {name: tmp_path / name for name in ("busy", "idle", "children")}
    for root in roots.values():
        root.mkdir()

    def on(name: str) -> dict[str, str]:
        return {**os.environ, "AZ_BATCH_NODE_ROOT_DIR": str(roots[name])}

    # "children" burns only in short-lived processes its shell reaps: seen through the parent's
    # reaped-children time, not as a live process at sample time.
    procs = [subprocess.Popen([sys.executable, "-c", BURN.format(seconds=60)], env=on("busy")),
             subprocess.Popen(["/bin/sh", "-c", "sleep 60"], env=on("idle")),
             subprocess.Popen(["/bin/sh", "-c", f"while true; do {sys.executable} -c "
                               f"'for i in range(2000000): pass'; done"], env=on("children"))]
    try:
        samplers = {name: sampler.Sampler(name, str(tmp_path), node_root=str(root)) for name, root in roots.items()}
        for s in samplers.values():
            s.prime()
        totals = dict.fromkeys(roots, 0.0)
        for _ in range(3):
            time.sleep(1.5)
            for name, s in samplers.items():
                sample = s.sample()
                assert 0.0 <= sample["cpu"] <= 100.0 and 0.0 <= sample["mem"] <= 100.0, sample
                totals[name] += sample["cpu"]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert totals["idle"] < 0.5, totals  # a sleeping shell uses no CPU
    assert totals["busy"] > max(4 * totals["idle"], 1.0), totals
    assert totals["children"] > max(4 * totals["idle"], 1.0), totals


def test_without_the_marker_the_figures_stay_host_wide(tmp_path) -> None:
    # Azure: one VM per node, no marker, the VM's own figures.
    env = {k: v for k, v in os.environ.items() if k != _constants.EMULATED_NODE_ENV}
    env.update(AZ_BATCH_NODE_SHARED_DIR=str(tmp_path), AZ_BATCH_NODE_ID="tvm-azure",
               AZ_BATCH_NODE_ROOT_DIR=str(tmp_path / "empty-root"))
    subprocess.run([sys.executable, str(sampler.__file__), "--once", "--interval", "0.3"], env=env,
                   check=True, timeout=30)
    line = (tmp_path / _constants.METRICS_FILE_NAME).read_text().splitlines()[0]
    # A root no process runs under would read 0 % memory per node; the machine's memory is never 0.
    assert '"mem":0.0' not in line and '"mem":null' not in line


def test_two_local_nodes_report_different_cpu_for_different_loads(batch_client: BatchClient) -> None:
    start = m.BatchStartTask(command_line=start_task_command(interval=0.5), wait_for_success=True)
    pool_id = make_pool(batch_client, uid("pernode"), dedicated=2, slots=1, start_task=start)
    job_id = make_job(batch_client, pool_id)
    try:
        # One CPU-bound task holding 200 MB: it runs on one node, the other stays idle.
        batch_client.create_task(job_id, task("burn", py(
            "import time\nheld = bytearray(200 * 1024 * 1024)\nend = time.time() + 40\n"
            "while time.time() < end:\n    pass\n")))
        wait_for(lambda: batch_client.get_task(job_id, "burn").state == m.BatchTaskState.RUNNING, 60,
                 what="the burning task to run")
        busy_node = batch_client.get_task(job_id, "burn").node_info.node_id
        started = time.time()
        watcher = PoolWatcher(batch_client, pool_id)

        def enough_samples_while_burning() -> bool:
            watcher.refresh()
            util = watcher.utilization
            recent = util[util["time"] >= util["time"].max() - _seconds(20)] if len(util) else util
            return (time.time() - started > 6 and recent["node_id"].nunique() == 2
                    and recent.groupby("node_id").size().min() >= 6)

        wait_for(enough_samples_while_burning, 60, interval=1.0, what="samples from both nodes while one burns")
        util = watcher.utilization
        since = util["time"].max() - _seconds(5)
        during = util[util["time"] >= since]
        by_node = during.groupby("node_id")[["cpu_percent", "mem_percent"]].mean()
        assert set(by_node.index) == set(watcher.nodes.index) and busy_node in by_node.index
        idle_node = next(n for n in by_node.index if n != busy_node)
        busy, idle = by_node.loc[busy_node], by_node.loc[idle_node]
        # No wall-clock bound: the busy node uses some CPU (however loaded the machine), the idle none.
        assert busy["cpu_percent"] > max(4 * idle["cpu_percent"], 2.0), by_node
        assert busy["mem_percent"] > idle["mem_percent"] + 0.3, by_node  # 200 MB held on one node only
    finally:
        stop_samplers(batch_client, pool_id)
        batch_client.begin_delete_job(job_id, polling_interval=0.1).result()
        batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def _seconds(n: float) -> pd.Timedelta:
    return pd.Timedelta(seconds=n)

"""PoolWatcher: nodes, and utilization read from a real sampler on local-service nodes by byte range."""

from __future__ import annotations

import os
import signal

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchnb.core.specs.sampler_start_task import start_task_command
from batchnb.data.watch import FileTail, PoolWatcher, read_task_file_tail
from batchnb.node.sampler import PID_FILE_NAME
from tests.local.service.helpers import make_job, make_pool, py, uid, wait_for, wait_task

pytestmark = pytest.mark.timeout(120)


def stop_samplers(client: BatchClient, pool_id: str) -> None:
    # The sampler detaches from the start task; stop it by the pid it wrote, as a user would.
    for node in client.list_nodes(pool_id):
        try:
            pid = int(b"".join(client.download_node_file(pool_id, node.id, f"shared/{PID_FILE_NAME}")))
        except Exception:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_utilization_comes_from_the_sampler_by_byte_ranges(batch_client: BatchClient) -> None:
    start = m.BatchStartTask(command_line=start_task_command(interval=0.3), wait_for_success=True)
    pool_id = make_pool(batch_client, uid("metrics"), dedicated=2, slots=2, start_task=start)
    try:
        watcher = PoolWatcher(batch_client, pool_id)
        watcher.refresh()
        assert len(watcher.nodes) == 2 and watcher.task_slots_per_node == 2
        assert set(watcher.nodes["state"].astype(str)) <= {"idle", "running"}

        def samples_from_both_nodes() -> bool:
            watcher.refresh()
            util = watcher.utilization
            return util["node_id"].nunique() == 2 and util.groupby("node_id").size().min() >= 3

        wait_for(samples_from_both_nodes, timeout=30, interval=0.4, what="3 samples from each node")
        util = watcher.utilization
        assert util["cpu_percent"].dropna().between(0, 100).all()
        assert util["mem_percent"].between(0, 100).all()
        assert set(util["node_id"]) == set(watcher.nodes.index)
        # Each refresh read only the new lines: no sample was read twice.
        assert not util.duplicated(["node_id", "time"]).any()
        before = len(util)
        stats = watcher.refresh()
        # 2 + pages for pool and nodes, then at most 2 requests per node (size, then the new bytes).
        assert stats.requests <= 2 + 2 * 2
        assert stats.bytes < 20_000  # new lines only, not the whole file again
        assert len(watcher.utilization) >= before
    finally:
        stop_samplers(batch_client, pool_id)
        batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_file_tail_reads_only_new_bytes(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, uid("tail"), dedicated=1)
    job_id = make_job(batch_client, pool_id)
    try:
        code = "import sys\nfor i in range(300): print('line', i)\nsys.stderr.write('the end of it'); sys.exit(2)"
        batch_client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line=py(code)))
        wait_task(batch_client, job_id, "t")
        tail = FileTail(batch_client, job_id, "t", "stdout.txt", max_bytes=100)
        text = tail.read()
        assert text.endswith("line 299\n") and len(text.encode()) <= 100
        assert tail.read() == text  # nothing new: same tail
        assert read_task_file_tail(batch_client, job_id, "t", "stderr.txt") == "the end of it"
        assert read_task_file_tail(batch_client, job_id, "t", "nothere.txt") is None
    finally:
        batch_client.begin_delete_job(job_id, polling_interval=0.1).result()
        batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()

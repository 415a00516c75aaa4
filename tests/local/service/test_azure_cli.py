"""The Azure CLI (`az batch ...` with flags) against the local service, as a new user would drive it.

az is a large install that CI does not need: these tests run when BATCHNB_TEST_AZ names an az
executable (e.g. `python -m venv /tmp/az && /tmp/az/bin/pip install azure-cli`, then
`BATCHNB_TEST_AZ=/tmp/az/bin/az`), and are skipped otherwise. The same request bodies are covered
without az by test_json_strings.py (raw signed requests)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from .helpers import uid, wait_for

AZ = os.environ.get("BATCHNB_TEST_AZ", "")
pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not (AZ and os.access(AZ, os.X_OK)), reason="set BATCHNB_TEST_AZ to an az executable")]


@pytest.fixture(scope="module")
def az(local_service, tmp_path_factory):
    env = {**os.environ, **local_service.env(), "AZURE_CONFIG_DIR": str(tmp_path_factory.mktemp("azcfg")),
           "AZURE_CORE_COLLECT_TELEMETRY": "no", "AZURE_CORE_ONLY_SHOW_ERRORS": "true"}

    def run(*args: str, ok: bool = True):
        done = subprocess.run([AZ, "batch", *args, "-o", "json"], env=env, capture_output=True, text=True,
                              timeout=120)
        if ok:
            assert done.returncode == 0, (args, done.stderr[-2000:])
            return json.loads(done.stdout) if done.stdout.strip() else None
        assert done.returncode != 0, args
        return done.stderr
    return run


def test_pools_resize_jobs_tasks_files_nodes_users_and_schedules_through_az_flags(az, client) -> None:
    pool_id, job_id, sid = uid("az-pool"), uid("az-job"), uid("az-sched")
    az("pool", "create", "--id", pool_id, "--vm-size", "standard_d2s_v3",
       "--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts", "--node-agent-sku-id", "batch.node.ubuntu 22.04",
       "--target-dedicated-nodes", "1", "--task-slots-per-node", "2")
    pool = az("pool", "show", "--pool-id", pool_id)
    assert (pool["targetDedicatedNodes"], pool["taskSlotsPerNode"]) == (1, 2)
    wait_for(lambda: client.get_pool(pool_id).allocation_state == "steady", what="steady")
    az("pool", "resize", "--pool-id", pool_id, "--target-dedicated-nodes", "2")
    wait_for(lambda: client.get_pool(pool_id).current_dedicated_nodes == 2, what="resized")

    az("job", "create", "--id", job_id, "--pool-id", pool_id, "--priority", "5", "--max-parallel-tasks", "3")
    az("job", "set", "--job-id", job_id, "--priority", "7")
    assert az("job", "show", "--job-id", job_id)["priority"] == 7
    az("task", "create", "--job-id", job_id, "--task-id", "t1", "--command-line", "python3 -c \"print('hi')\"",
       "--max-task-retry-count", "2")
    wait_for(lambda: client.get_task(job_id, "t1").state == "completed", 30, what="task done")
    assert client.get_task(job_id, "t1").constraints.max_task_retry_count == 2
    names = [f["name"] for f in az("task", "file", "list", "--job-id", job_id, "--task-id", "t1")]
    assert "stdout.txt" in names

    node_id = az("node", "list", "--pool-id", pool_id)[0]["id"]
    az("node", "user", "create", "--pool-id", pool_id, "--node-id", node_id, "--name", "bob", "--password", "Pa55!x",
       "--is-admin")
    assert "NodeUserExists" in az("node", "user", "create", "--pool-id", pool_id, "--node-id", node_id, "--name",
                                  "bob", "--password", "Pa55!x", ok=False)
    az("node", "user", "delete", "--pool-id", pool_id, "--node-id", node_id, "--user-name", "bob", "--yes")

    az("job-schedule", "create", "--id", sid, "--pool-id", pool_id, "--recurrence-interval", "PT1H",
       "--priority", "3", "--max-parallel-tasks", "2")
    wait_for(lambda: list(client.list_jobs_from_schedule(sid)), what="the schedule's first job")
    assert client.get_job(f"{sid}:job-1").priority == 3
    assert sid in [s["id"] for s in az("job-schedule", "list")]
    az("job-schedule", "disable", "--job-schedule-id", sid)
    assert az("job-schedule", "show", "--job-schedule-id", sid)["state"] == "disabled"
    az("job-schedule", "delete", "--job-schedule-id", sid, "--yes")
    az("job", "delete", "--job-id", job_id, "--yes")
    time.sleep(0.5)
    az("pool", "delete", "--pool-id", pool_id, "--yes")


def test_windows_pool_through_az_is_refused_with_the_reason(az) -> None:
    err = az("pool", "create", "--id", uid("az-win"), "--vm-size", "standard_d2s_v3",
             "--image", "microsoftwindowsserver:windowsserver:2022-datacenter",
             "--node-agent-sku-id", "batch.node.windows amd64", ok=False)
    assert "InvalidPropertyValue" in err and "Linux nodes only" in err

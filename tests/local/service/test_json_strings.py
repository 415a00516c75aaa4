"""Numbers and booleans sent as JSON strings, as the Azure CLI sends every flag-typed value
(`az batch pool create --target-dedicated-nodes 2` puts `"targetDedicatedNodes": "2"` on the wire).
Batch's OData JSON reader takes them, so the local service must too; these tests send the same bodies
as raw signed requests, so CI needs no az (tests/service/test_azure_cli.py drives az itself when present)."""

from __future__ import annotations

import pytest

from batchnb.local.faults_client import signed_request

from .helpers import uid, wait_for, wait_task

pytestmark = pytest.mark.timeout(120)
Q = "api-version=2025-06-01"
IMAGE = {"imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts",
                            "version": "latest"}, "nodeAgentSKUId": "batch.node.ubuntu 22.04"}


def post(service, path: str, body: dict):
    return signed_request(service, "POST", path, body=body, query=Q)


def test_pool_job_and_task_numbers_as_strings_as_the_azure_cli_sends_them(local_service, client) -> None:
    pool_id, job_id = uid("clipool"), uid("clijob")
    r = post(local_service, "/pools", {"id": pool_id, "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE,
                                       "targetDedicatedNodes": "1", "taskSlotsPerNode": "2",
                                       "enableInterNodeCommunication": "false",
                                       "startTask": {"commandLine": "true", "maxTaskRetryCount": "1",
                                                     "waitForSuccess": "true"}})
    assert r.status_code == 201, r.text
    pool = client.get_pool(pool_id)
    assert (pool.target_dedicated_nodes, pool.task_slots_per_node) == (1, 2)
    assert pool.enable_inter_node_communication is False  # "false" is not a truthy string here
    assert pool.start_task.max_task_retry_count == 1 and pool.start_task.wait_for_success is True
    wait_for(lambda: client.get_pool(pool_id).allocation_state == "steady", what="pool steady")

    r = post(local_service, f"/pools/{pool_id}/resize", {"targetDedicatedNodes": "2"})
    assert r.status_code == 202, r.text
    wait_for(lambda: client.get_pool(pool_id).current_dedicated_nodes == 2, what="resized to 2")

    r = post(local_service, "/jobs", {"id": job_id, "poolInfo": {"poolId": pool_id}, "priority": "5",
                                      "maxParallelTasks": "3", "constraints": {"maxTaskRetryCount": "2"}})
    assert r.status_code == 201, r.text
    job = client.get_job(job_id)
    assert (job.priority, job.max_parallel_tasks, job.constraints.max_task_retry_count) == (5, 3, 2)

    r = signed_request(local_service, "PATCH", f"/jobs/{job_id}", body={"priority": "-7"}, query=Q)
    assert r.status_code == 200, r.text
    assert client.get_job(job_id).priority == -7

    r = post(local_service, f"/jobs/{job_id}/tasks", {"id": "t1", "commandLine": "python -c pass",
                                                      "requiredSlots": "2",
                                                      "constraints": {"maxTaskRetryCount": "1"}})
    assert r.status_code == 201, r.text
    done = wait_task(client, job_id, "t1")
    assert (done.required_slots, done.constraints.max_task_retry_count, done.execution_info.exit_code) == (2, 1, 0)
    client.begin_delete_job(job_id, polling_interval=0.1).result()
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()


@pytest.mark.parametrize(("body", "prop", "reason"), [
    ({"targetDedicatedNodes": "-1"}, "targetDedicatedNodes", "between"),  # out of range keeps its error
    ({"targetDedicatedNodes": "two"}, "targetDedicatedNodes", "Expected an integer"),
    ({"targetDedicatedNodes": "1.5"}, "targetDedicatedNodes", "Expected an integer"),
    ({"taskSlotsPerNode": "99999999999"}, "taskSlotsPerNode", "Expected an integer"),  # beyond Int32
    ({"enableAutoScale": "yes"}, "enableAutoScale", "Expected a boolean"),
])
def test_strings_that_are_not_numbers_or_in_range_keep_their_errors(local_service, body, prop, reason) -> None:
    r = post(local_service, "/pools", {"id": uid("bad"), "vmSize": "standard_d2s_v3",
                                       "virtualMachineConfiguration": IMAGE, **body})
    assert r.status_code == 400, r.text
    values = {v["key"]: v["value"] for v in r.json()["values"]}
    assert values["PropertyName"] == prop and reason in values["Reason"]


def test_priority_string_out_of_range_is_out_of_range_priority(local_service, shared_pool) -> None:
    r = post(local_service, "/jobs", {"id": uid("j"), "poolInfo": {"poolId": shared_pool}, "priority": "1001"})
    assert r.status_code == 400 and r.json()["code"] == "OutOfRangePriority", r.text

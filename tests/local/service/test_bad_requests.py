"""Bad requests get the Batch error body and a 4xx, never a 500; a wrongly typed property is refused
before it is stored, so it cannot break scheduling for everyone afterwards."""

from __future__ import annotations

import pytest

from .helpers import make_job, make_pool, raw, task, wait_task

pytestmark = pytest.mark.timeout(120)

WRONG = [1, "x", [], {}, True, [1], {"a": 1}]  # each a wrong JSON type somewhere below

POOL = {"id": "fz", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0, "taskSlotsPerNode": 1,
        "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical"},
                                        "nodeAgentSKUId": "batch.node.ubuntu 22.04"},
        "taskSchedulingPolicy": {"nodeFillType": "pack"}, "startTask": {"commandLine": "true", "maxTaskRetryCount": 0},
        "metadata": [{"name": "a", "value": "b"}], "userAccounts": [{"name": "u", "password": "p"}]}
JOB = {"id": "jj", "priority": 1, "maxParallelTasks": 2, "constraints": {"maxWallClockTime": "PT1H"},
       "onAllTasksComplete": "noaction", "usesTaskDependencies": True, "commonEnvironmentSettings": [{"name": "A"}],
       "jobPreparationTask": {"commandLine": "true"}, "jobManagerTask": {"id": "jm", "commandLine": "true"}}
TASK = {"id": "t", "commandLine": "true", "constraints": {"maxTaskRetryCount": 1},
        "dependsOn": {"taskIds": ["a"], "taskIdRanges": [{"start": 1, "end": 2}]},
        "exitConditions": {"exitCodes": [{"code": 1, "exitOptions": {"dependencyAction": "satisfy"}}],
                           "default": {"dependencyAction": "block"}},
        "resourceFiles": [{"httpUrl": "http://127.0.0.1:1/x", "filePath": "x"}],
        "outputFiles": [{"filePattern": "*.txt", "destination": {"container": {"containerUrl": "http://h/c"}},
                         "uploadOptions": {"uploadCondition": "tasksuccess"}}],
        "environmentSettings": [{"name": "A", "value": "b"}], "multiInstanceSettings": {"numberOfInstances": 1}}
JOB_UPDATE = {"priority": 1, "maxParallelTasks": 1, "constraints": {"maxWallClockTime": "PT1H"},
              "onAllTasksComplete": "noaction", "metadata": []}


def variants(body: dict):
    """The body with one property (or one nested property) replaced by each wrong value."""
    for key, value in body.items():
        for wrong in WRONG:
            yield {**body, key: wrong}
        if isinstance(value, dict):
            for sub in value:
                for wrong in WRONG:
                    yield {**body, key: {**value, sub: wrong}}
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for sub in value[0]:
                for wrong in WRONG:
                    yield {**body, key: [{**value[0], sub: wrong}]}


def _check(resp, body) -> None:
    assert resp.status_code < 500, (body, resp.status_code, resp.text())
    if resp.status_code >= 400:
        assert resp.json()["code"], body


def test_wrongly_typed_bodies_never_500_and_scheduling_survives(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    job_id = make_job(client, pool_id, uses_task_dependencies=True)
    n = 0
    for body in variants(POOL):
        n += 1
        _check(raw(client, "POST", "/pools", json={**body, "id": f"{pool_id}-{n}"} if body["id"] == "fz" else body),
               body)
    for body in variants({**JOB, "poolInfo": {"poolId": pool_id}}):
        n += 1
        _check(raw(client, "POST", "/jobs", json={**body, "id": f"{job_id}-{n}"} if body["id"] == "jj" else body),
               body)
    for body in variants(TASK):
        n += 1
        item = {**body, "id": f"t{n}"} if body["id"] == "t" else body
        _check(raw(client, "POST", f"/jobs/{job_id}/tasks", json=item), body)
        _check(raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", json={"value": [item]}), body)
    for body in variants({**JOB_UPDATE, "poolInfo": {"poolId": pool_id}}):
        _check(raw(client, "PATCH", f"/jobs/{job_id}", json=body), body)
        _check(raw(client, "PUT", f"/jobs/{job_id}", json=body), body)
    for body in variants({"targetDedicatedNodes": 1, "nodeDeallocationOption": "requeue"}):
        _check(raw(client, "POST", f"/pools/{pool_id}/resize", json=body), body)
    for raw_body in (b"[]", b"1", b"null", b'"x"', b'{"value": null}', b"{nope"):
        for path in ("/pools", "/jobs", f"/jobs/{job_id}/tasks", f"/jobs/{job_id}/addtaskcollection"):
            _check(raw(client, "POST", path, content=raw_body, headers={"Content-Type": "application/json"}),
                   raw_body)
    # whatever was accepted, the service still schedules and runs work
    canary = make_job(client, pool_id)
    client.create_task(canary, task("ok", "true"))
    assert wait_task(client, canary, "ok").execution_info.exit_code == 0


def test_unknown_routes_and_verbs(client) -> None:
    resp = raw(client, "GET", "/nothing/here")
    assert resp.status_code == 404 and resp.json()["code"]
    resp = raw(client, "DELETE", "/pools")
    assert resp.status_code == 405 and resp.json()["code"] == "UnsupportedHttpVerb"

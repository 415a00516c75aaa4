"""Tasks held compactly (packed JSON) read back exactly as they were, and list pages stay exact.

A waiting or finished task is kept as its deflated JSON once it is stored and nothing holds its
document (see ``model/entities.Task``): a million-task job fits in ~0.6 GB instead of ~2.2 GB.
What a client reads must not change: every field, through GET and list, before and after.
"""

from __future__ import annotations

import json

from azure.batch import models as m

from batchnb.local.faults_client import signed_request
from batchnb.local.service.model.entities import Job, Task

from .helpers import make_job, make_pool, uid

API = "api-version=2024-07-01.20.0"


def _full_task(task_id: str) -> dict:
    """A task create body with every property a pool without nodes accepts, as REST JSON."""
    return {
        "id": task_id, "displayName": "all fields, ünïcode", "commandLine": "/bin/sh -c 'echo \"$X\" && exit 3'",
        "exitConditions": {"exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}],
                           "default": {"dependencyAction": "block"}},
        "resourceFiles": [{"httpUrl": "https://example.invalid/c/in.txt", "filePath": "in/in.txt",
                           "fileMode": "0644"}],
        "outputFiles": [{"filePattern": "out/*.txt",
                         "destination": {"container": {"containerUrl": "https://example.invalid/c",
                                                       "path": "results"}},
                         "uploadOptions": {"uploadCondition": "taskcompletion"}}],
        "environmentSettings": [{"name": "X", "value": "1 2 3"}, {"name": "EMPTY", "value": ""}],
        "affinityInfo": {"affinityId": "somewhere"},
        "constraints": {"maxWallClockTime": "PT1H", "retentionTime": "P1D", "maxTaskRetryCount": 2},
        "requiredSlots": 1,
        "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "admin"}},
        "dependsOn": {"taskIds": ["parent"], "taskIdRanges": [{"start": 1, "end": 3}]},
    }


def _get(local_service, job_id: str, task_id: str) -> dict:
    response = signed_request(local_service, "GET", f"/jobs/{job_id}/tasks/{task_id}", query=API)
    response.raise_for_status()
    body = response.json()
    body.pop("odata.metadata", None)
    return body


def test_a_waiting_task_reads_back_every_field_after_it_is_packed_and_after_an_update(client, local_service):
    pool = make_pool(client, uid("packpool"), dedicated=0)  # no nodes: the tasks wait (active)
    job = make_job(client, pool, uses_task_dependencies=True)
    client.create_task(job, m.BatchTaskCreateOptions(id="parent", command_line="true"))
    sent = _full_task("full")
    response = signed_request(local_service, "POST", f"/jobs/{job}/tasks", query=API, body=sent)
    assert response.status_code == 201, response.text

    first = _get(local_service, job, "full")
    for name, value in sent.items():
        assert first[name] == value, name
    assert first["state"] == "active"
    stats = signed_request(local_service, "GET", "/_local/stats").json()
    assert stats["packedTasks"] >= 2  # both tasks of this job are held packed

    # An update unpacks the task, changes it, stores it and packs it again: only what changed differs.
    response = signed_request(local_service, "PUT", f"/jobs/{job}/tasks/full", query=API,
                              body={"constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": 5}})
    assert response.status_code == 200, response.text
    second = _get(local_service, job, "full")
    changed = {k for k in first if first[k] != second.get(k)} | set(second) - set(first)
    assert changed == {"constraints", "eTag", "lastModified"}
    assert second["constraints"]["maxTaskRetryCount"] == 5

    # The list shows the same documents as GET does.
    listed = {t.id: t.as_dict() for t in client.list_tasks(job)}
    assert listed["full"]["environmentSettings"] == sent["environmentSettings"]
    assert listed["full"]["eTag"] == second["eTag"]
    assert len(listed) == 2


def test_list_pages_are_exact_after_deletes_and_adds_in_the_middle_of_a_job(client):
    pool = make_pool(client, uid("pagepool"), dedicated=0)
    job = make_job(client, pool)
    client.create_tasks(job, [m.BatchTaskCreateOptions(id=f"t{i:05d}", command_line="true") for i in range(2500)])
    order = [t.id for t in client.list_tasks(job, select=["id"])]  # creation order (chunks race)
    assert sorted(order) == [f"t{i:05d}" for i in range(2500)]
    first_pages = client.list_tasks(job, max_results=1000, select=["id"]).by_page()
    assert [t.id for t in next(first_pages)] == order[:1000]
    deleted = {order[i] for i in (0, 999, 1000, 1001, 1500, 2499)}
    for task_id in deleted:
        client.delete_task(job, task_id)
    added = [f"u{i:05d}" for i in range(10)]
    for task_id in added:
        client.create_task(job, m.BatchTaskCreateOptions(id=task_id, command_line="true"))
    # The listing that was open goes on after the last task it showed, skipping the deleted ones.
    rest = [t.id for page in first_pages for t in page]
    assert rest == [i for i in order[1000:] if i not in deleted] + added
    listed = [t.id for t in client.list_tasks(job, max_results=1000, select=["id"])]
    assert listed == [i for i in order if i not in deleted] + added


def _task(doc: dict) -> Task:
    job = Job(key="j", seq=1, doc={"id": "j"})
    return Task(key=f"j/{doc['id'].lower()}", seq=2, job=job, doc=doc)


def test_packing_round_trips_a_document_with_every_field():
    doc = {**_full_task("Full-1"), "url": "http://127.0.0.1:1/jobs/j/tasks/Full-1", "state": "completed",
           "creationTime": "2026-12-07T00:00:00.000000Z", "stateTransitionTime": "2026-12-07T00:00:01.000000Z",
           "previousState": "running", "previousStateTransitionTime": "2026-12-07T00:00:00.500000Z",
           "eTag": "0x8DC0123456789AB", "lastModified": "2026-12-07T00:00:01.000000Z",
           "executionInfo": {"startTime": "2026-12-07T00:00:00.5Z", "endTime": "2026-12-07T00:00:01Z",
                             "exitCode": 3, "result": "failure", "retryCount": 1, "requeueCount": 0,
                             "failureInfo": {"category": "usererror", "code": "FailureExitCode",
                                             "message": "exit code 3", "details": [{"name": "n", "value": "v"}]}},
           "nodeInfo": {"poolId": "p", "nodeId": "tvmps_1", "nodeUrl": "http://x/pools/p/nodes/tvmps_1"}}
    expected = json.loads(json.dumps(doc))
    task = _task(doc)
    del doc  # only the task holds it now
    packed = _pack(task)
    assert packed
    assert task.packed and task.state == "completed" and task.id == "Full-1"
    assert task.peek() == expected
    assert task.packed  # peek keeps no decoded copy
    assert task.doc == expected
    assert not task.packed  # doc does: callers change it in place


def _pack(task: Task) -> bool:
    # Outside the assert statements: pytest's assertion rewriting keeps their intermediate values.
    return task.pack(json.dumps(task.doc))


def test_a_task_whose_document_someone_still_holds_is_not_packed():
    task = _task({"id": "t", "state": "active", "executionInfo": {"retryCount": 0}})
    held = task.doc
    packed = _pack(task)
    assert not packed  # a change made through `held` would be lost
    info = held["executionInfo"]
    del held
    packed = _pack(task)
    assert not packed  # a nested dict held elsewhere is as bad
    del info
    packed = _pack(task)
    assert packed
    running = _task({"id": "r", "state": "running"})
    packed = _pack(running)
    assert not packed  # a running task changes all the time

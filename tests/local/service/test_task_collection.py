"""addtaskcollection: per-task results, the 100-task and 1 MB limits, the SDK's create_tasks helper."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import error_code, make_job, make_pool, raw, task, wait_tasks_completed

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def idle_pool(client) -> str:
    """A pool without nodes: tasks stay active, so these tests measure only the add path."""
    return make_pool(client, dedicated=0)


def test_collection_results_per_task(client, idle_pool) -> None:
    job_id = make_job(client, idle_pool)
    client.create_task(job_id, task("dup", "true"))
    result = client.create_task_collection(job_id, m.BatchTaskGroup(task_values=[
        task("a", "true"), task("dup", "true"), task("b", "true")]))
    by_id = {r.task_id: r for r in result.result_values}
    assert by_id["a"].status == "success" and by_id["a"].etag and by_id["a"].location
    assert by_id["dup"].status == "clienterror" and by_id["dup"].error.code == "TaskExists"
    assert by_id["b"].status == "success"
    assert client.get_job_task_counts(job_id).task_counts.active == 3


def test_more_than_100_tasks_is_400(client, idle_pool) -> None:
    job_id = make_job(client, idle_pool)
    with pytest.raises(HttpResponseError) as exc:
        client.create_task_collection(job_id, m.BatchTaskGroup(task_values=[
            task(f"t{i}", "true") for i in range(101)]))
    assert exc.value.status_code == 400
    assert client.get_job_task_counts(job_id).task_counts.active == 0


def test_body_over_1mb_is_413_request_body_too_large(client, idle_pool) -> None:
    job_id = make_job(client, idle_pool)
    big = "x" * 12_000
    with pytest.raises(HttpResponseError) as exc:
        client.create_task_collection(job_id, m.BatchTaskGroup(task_values=[
            task(f"t{i}", f"echo {big}") for i in range(100)]))
    assert exc.value.status_code == 413 and error_code(exc.value) == "RequestBodyTooLarge"
    # create_tasks halves the chunk on RequestBodyTooLarge and gets everything in
    client.create_tasks(job_id, [task(f"t{i}", f"echo {big}") for i in range(100)], max_concurrency=2)
    assert client.get_job_task_counts(job_id).task_counts.active == 100


def test_create_tasks_many_in_parallel(client, idle_pool) -> None:
    job_id = make_job(client, idle_pool)
    result = client.create_tasks(job_id, [task(f"t{i:04d}", "true") for i in range(450)], max_concurrency=4)
    assert all(r.status == "success" for r in result.result_values)
    assert len(result.result_values) == 450
    assert client.get_job_task_counts(job_id).task_counts.active == 450
    assert len(list(client.list_tasks(job_id, select=["id"]))) == 450


def test_collection_runs_tasks(client) -> None:
    pool_id = make_pool(client, dedicated=1, slots=4)
    job_id = make_job(client, pool_id)
    client.create_task_collection(job_id, m.BatchTaskGroup(task_values=[task(f"t{i}", "true")
                                                                            for i in range(20)]))
    wait_tasks_completed(client, job_id, 20)
    assert client.get_job_task_counts(job_id).task_counts.succeeded == 20


def test_unknown_properties_and_older_api_version_accepted(client, idle_pool) -> None:
    job_id = make_job(client, idle_pool)
    body = {"value": [{"id": "u1", "commandLine": "true", "someFutureProperty": {"x": 1},
                       "authenticationTokenSettings": {"access": ["job"]}}]}
    resp = raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", api_version="2023-05-01.17.0", json=body)
    assert resp.status_code == 200, resp.text()
    assert resp.json()["value"][0]["status"] == "success"
    resp = raw(client, "POST", f"/jobs/{job_id}/tasks", api_version="2024-07-01.20.0",
               json={"id": "u2", "commandLine": "true", "unknownThing": True})
    assert resp.status_code == 201
    resp = raw(client, "POST", "/pools", json={
        "id": f"{job_id}-pool", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0,
        "certificateReferences": [], "resourceTags": {"a": "b"}, "targetNodeCommunicationMode": "default",
        "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts",
                                                           "sku": "server"},
                                        "nodeAgentSKUId": "batch.node.ubuntu 24.04"}})
    assert resp.status_code == 201, resp.text()


def test_malformed_json_is_400_with_batch_error_body(client, idle_pool) -> None:
    job_id = make_job(client, idle_pool)
    for body in (b"{not json", b"[1, 2]", b'{"value": 5}', b'{"value": [5, "x"]}'):
        resp = raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", content=body,
                   headers={"Content-Type": "application/json"})
        assert resp.status_code in (200, 400), (body, resp.status_code, resp.text())
        if resp.status_code == 400:
            assert resp.json()["code"] and resp.json()["message"]["value"]
        else:
            assert all(r["status"] == "clienterror" for r in resp.json()["value"])

"""Fault injection at run time (/_local/faults): 429/503 carry Retry-After, 500s, dropped
connections, determinism by seed; spot nodes preempted on demand have their tasks requeued."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from .helpers import make_job, make_pool, py, raw, task, wait_for, wait_task

pytestmark = [pytest.mark.timeout(90), pytest.mark.fault]


def set_faults(client: BatchClient, **faults) -> dict:
    resp = raw(client, "POST", "/_local/faults", api_version=None, json=faults)
    assert resp.status_code == 200, resp.text()
    return resp.json()


@pytest.fixture
def no_retry(local_service) -> Iterator[BatchClient]:
    c = BatchClient(local_service.batch_url,
                    AzureNamedKeyCredential(local_service.account_name, local_service.account_key), retry_total=0)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def faults_off(client) -> Iterator[None]:
    try:
        yield
    finally:
        set_faults(client, throttle=0, error500=0, drop=0, retry_after=1)


def test_throttling_carries_retry_after(client, no_retry, faults_off) -> None:
    set_faults(client, throttle=1.0, retry_after=2, seed=1)
    seen = set()
    for _ in range(10):
        with pytest.raises(HttpResponseError) as exc:
            list(no_retry.list_pools())
        resp = exc.value.response
        seen.add(resp.status_code)
        assert resp.status_code in (429, 503)
        assert resp.headers["Retry-After"] == "2"
        assert exc.value.error.code in ("TooManyRequests", "ServerBusy")
    assert seen == {429, 503}
    # admin routes are never faulted
    assert "injected" in raw(client, "GET", "/_local/faults", api_version=None).json()


def test_error_500_and_only_those_have_no_retry_after(client, no_retry, faults_off) -> None:
    set_faults(client, error500=1.0)
    with pytest.raises(HttpResponseError) as exc:
        list(no_retry.list_jobs())
    assert exc.value.status_code == 500 and exc.value.error.code == "InternalError"
    assert "Retry-After" not in exc.value.response.headers


def test_dropped_connection(client, no_retry, faults_off) -> None:
    set_faults(client, drop=1.0)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        list(no_retry.list_pools())


def test_faults_are_deterministic_for_a_seed(client, no_retry, faults_off) -> None:
    def run() -> list[int]:
        set_faults(client, throttle=0.3, error500=0.2, seed=42)
        out = []
        for _ in range(20):
            try:
                list(no_retry.list_pools(max_results=1))
                out.append(200)
            except HttpResponseError as exc:
                out.append(exc.status_code)
        return out
    first = run()
    assert run() == first and set(first) - {200}


def test_sdk_retries_through_a_fraction_of_faults(client, faults_off) -> None:
    set_faults(client, throttle=0.15, error500=0.1, retry_after=0.05, seed=7)
    for _ in range(10):
        assert isinstance(list(client.list_pools()), list)
    stats = raw(client, "GET", "/_local/faults", api_version=None).json()
    assert stats["injected"]["throttle"] + stats["injected"]["error500"] > 0


def test_preempted_spot_node_requeues_its_tasks(client) -> None:
    pool_id = make_pool(client, dedicated=0, low=1, slots=2)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(1.5)")) for i in range(2)])
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 2, what="2 running")
    resp = raw(client, "POST", f"/_local/pools/{pool_id}/nodes/{node_id}/preempt", api_version=None,
               json={"recoverAfter": 0.3})
    assert resp.status_code == 200
    assert client.get_node(pool_id, node_id).state in ("preempted", "creating", "starting", "idle")
    assert list(client.list_pool_node_counts(filter=f"poolId eq '{pool_id}'"))
    for i in range(2):
        t = wait_task(client, job_id, f"t{i}", timeout=30)
        assert t.execution_info.exit_code == 0
        assert t.execution_info.requeue_count == 1 and t.execution_info.retry_count == 0


def test_dedicated_nodes_cannot_be_preempted(client, shared_pool) -> None:
    node_id = next(iter(client.list_nodes(shared_pool))).id
    resp = raw(client, "POST", f"/_local/pools/{shared_pool}/nodes/{node_id}/preempt", api_version=None, json={})
    assert resp.status_code == 400


def test_unusable_node_hands_its_tasks_to_another(client) -> None:
    pool_id = make_pool(client, dedicated=2)
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("t", py("import time; time.sleep(1)")))
    running = wait_task(client, job_id, "t", "running")
    bad = running.node_info.node_id
    resp = raw(client, "POST", f"/_local/pools/{pool_id}/nodes/{bad}/unusable", api_version=None, json={})
    assert resp.status_code == 200 and resp.json()["state"] == "unusable"
    t = wait_task(client, job_id, "t", timeout=20)
    assert t.execution_info.exit_code == 0 and t.node_info.node_id != bad
    assert t.execution_info.requeue_count == 1
    assert client.get_node(pool_id, bad).state == "unusable"
    assert list(client.list_nodes(pool_id, filter="state eq 'unusable'"))

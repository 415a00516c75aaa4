"""Pools through the SDK: create/get/list/exists/update/replace/delete, resize, stop resize,
remove nodes, node counts, supported images, ETags and the headers the spec promises."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from .helpers import POLL, error_code, make_pool, nodes_in, pool_options, uid, wait_for

pytestmark = pytest.mark.timeout(90)


def test_create_get_list_and_defaults(client) -> None:
    pool_id = make_pool(client, dedicated=1, slots=3, fill="pack",
                        metadata=[m.BatchMetadataItem(name="owner", value="tests")], display_name="Pool one")
    pool = client.get_pool(pool_id)
    assert pool.id == pool_id and pool.state == "active"
    assert pool.display_name == "Pool one"
    assert pool.vm_size == "standard_d2s_v3"
    assert pool.task_slots_per_node == 3
    assert pool.task_scheduling_policy.node_fill_type.lower() == "pack"
    assert pool.current_dedicated_nodes == 1 and pool.target_dedicated_nodes == 1
    assert pool.enable_auto_scale is False
    assert pool.resize_timeout is not None
    assert pool.metadata[0].name == "owner"
    assert pool.etag and pool.last_modified and pool.creation_time
    assert pool.virtual_machine_configuration.node_agent_sku_id == "batch.node.ubuntu 22.04"
    assert pool_id in [p.id for p in client.list_pools()]
    # ids are unique case-insensitively and the lookup is case-insensitive too
    assert client.get_pool(pool_id.upper()).id == pool_id


def test_pool_exists_and_missing(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    assert client.pool_exists(pool_id) is True
    # The 15.1 SDK raises on 404 instead of returning False (a known SDK trap).
    with pytest.raises(ResourceNotFoundError):
        client.pool_exists(uid("nope"))
    with pytest.raises(ResourceNotFoundError) as exc:
        client.get_pool(uid("nope"))
    assert error_code(exc.value) == "PoolNotFound"


def test_duplicate_pool_is_pool_exists(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    with pytest.raises(ResourceExistsError) as exc:
        client.create_pool(pool_options(pool_id.upper(), dedicated=0))
    assert error_code(exc.value) == "PoolExists"


def test_create_validation_errors_are_400(client) -> None:
    with pytest.raises(HttpResponseError) as exc:
        client.create_pool(m.BatchPoolCreateOptions(id="bad id!", vm_size="x", virtual_machine_configuration=None))
    assert exc.value.status_code == 400
    with pytest.raises(HttpResponseError) as exc:
        client.create_pool(pool_options(uid("p"), dedicated=0, slots=0))
    assert exc.value.status_code == 400 and error_code(exc.value) == "InvalidPropertyValue"


def test_update_pool_patch_and_replace_properties(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    before = client.get_pool(pool_id)
    client.update_pool(pool_id, m.BatchPoolUpdateOptions(
        metadata=[m.BatchMetadataItem(name="a", value="1")],
        start_task=m.BatchStartTask(command_line="true")))
    after = client.get_pool(pool_id)
    assert after.metadata[0].value == "1"
    assert after.start_task.command_line == "true"
    assert after.etag != before.etag
    # updateproperties is a full replace: omitting the start task removes it
    client.replace_pool_properties(pool_id, m.BatchPoolReplaceOptions(
        application_package_references=[], metadata=[m.BatchMetadataItem(name="b", value="2")]))
    replaced = client.get_pool(pool_id)
    assert replaced.start_task is None
    assert [(i.name, i.value) for i in replaced.metadata] == [("b", "2")]


def test_etag_if_match_gives_412_and_matching_etag_succeeds(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    etag = client.get_pool(pool_id).etag
    update = m.BatchPoolUpdateOptions(metadata=[m.BatchMetadataItem(name="x", value="1")])
    client.update_pool(pool_id, update, etag=etag, match_condition=_if_match())
    with pytest.raises(ResourceModifiedError) as exc:
        client.update_pool(pool_id, update, etag=etag, match_condition=_if_match())
    assert exc.value.status_code == 412
    assert error_code(exc.value) == "ConditionNotMet"


def _if_match():
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


def test_entity_and_mutation_headers(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    resp = client.send_request(HttpRequest("GET", f"/pools/{pool_id}?api-version=2025-06-01"))
    assert resp.status_code == 200
    assert resp.headers["ETag"] == resp.json()["eTag"]
    assert resp.headers["Last-Modified"].endswith("GMT")
    assert resp.headers["request-id"] and resp.headers["DataServiceVersion"] == "3.0"
    resp = client.send_request(HttpRequest("POST", f"/pools/{pool_id}/resize?api-version=2025-06-01",
                                           json={"targetDedicatedNodes": 0}))
    assert resp.status_code == 202
    assert resp.headers["DataServiceId"].endswith(f"/pools/{pool_id}/resize")
    assert resp.headers["ETag"]
    resp = client.send_request(HttpRequest("GET", f"/pools/{pool_id}?api-version=2025-06-01",
                                           headers={"client-request-id": "abc-123",
                                                    "return-client-request-id": "true"}))
    assert resp.headers["client-request-id"] == "abc-123"


def test_resize_up_and_down_and_pool_being_resized(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    poller = client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=3),
                                      polling_interval=POLL)
    # The pool is resizing before the 202: a second resize right away conflicts (the SDK's poller relies on it).
    if client.get_pool(pool_id).allocation_state == "resizing":
        with pytest.raises(ResourceExistsError) as exc:
            client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=2),
                                     polling_interval=POLL).result()
        assert error_code(exc.value) == "PoolBeingResized"
    poller.result()
    wait_for(lambda: len(nodes_in(client, pool_id, ("idle",))) == 3, what="3 idle nodes")
    assert client.get_pool(pool_id).current_dedicated_nodes == 3
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1),
                             polling_interval=POLL).result()
    wait_for(lambda: len(list(client.list_nodes(pool_id))) == 1, what="pool shrunk to 1 node")
    pool = client.get_pool(pool_id)
    assert pool.allocation_state == "steady" and pool.current_dedicated_nodes == 1


def test_resize_low_priority_nodes(client) -> None:
    pool_id = make_pool(client, dedicated=0, low=2)
    nodes = list(client.list_nodes(pool_id))
    assert {n.is_dedicated for n in nodes} == {False}
    assert client.get_pool(pool_id).current_low_priority_nodes == 2


def test_stop_resize_goes_steady(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=POLL)
    client.begin_stop_pool_resize(pool_id, polling_interval=POLL).result()
    pool = wait_for(lambda: (p := client.get_pool(pool_id)).allocation_state == "steady" and p,
                    what="steady after stop resize")
    assert pool.target_dedicated_nodes <= 2


def test_remove_nodes(client) -> None:
    pool_id = make_pool(client, dedicated=3)
    victims = [n.id for n in client.list_nodes(pool_id)][:2]
    client.begin_remove_nodes(pool_id, m.BatchNodeRemoveOptions(node_ids=victims), polling_interval=POLL).result()
    wait_for(lambda: len(list(client.list_nodes(pool_id))) == 1, what="two nodes removed")
    left = [n.id for n in client.list_nodes(pool_id)]
    assert not set(victims) & set(left)
    pool = client.get_pool(pool_id)
    assert pool.target_dedicated_nodes == 1 and pool.current_dedicated_nodes == 1
    with pytest.raises(ResourceNotFoundError) as exc:
        client.begin_remove_nodes(pool_id, m.BatchNodeRemoveOptions(node_ids=["tvm-missing"]),
                                  polling_interval=POLL).result()
    assert error_code(exc.value) == "NodeNotFound"


def test_delete_pool(client) -> None:
    pool_id = make_pool(client, dedicated=2)
    client.begin_delete_pool(pool_id, polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool_id)
    assert pool_id not in [p.id for p in client.list_pools()]


def test_delete_pool_is_deleting_before_the_202(client) -> None:
    # A node takes ~0.15 s to leave, so a GET right after the 202 normally sees "deleting"; on a busy
    # machine it may come too late, so up to three pools are tried. A service that dropped the pool
    # before answering (or never showed "deleting") 404s or shows another state every time: it fails.
    seen: list[str] = []
    for _ in range(3):
        pool_id = make_pool(client, dedicated=1)
        poller = client.begin_delete_pool(pool_id, polling_interval=POLL)
        try:
            seen.append(client.get_pool(pool_id).state)
        except ResourceNotFoundError:
            seen.append("gone")
        poller.result()
        if seen[-1] == "deleting":
            break
    assert seen[-1] == "deleting", seen
    assert set(seen) <= {"deleting", "gone"}, seen


def test_node_counts(client) -> None:
    pool_id = make_pool(client, dedicated=2, low=1)
    counts = {c.pool_id: c for c in client.list_pool_node_counts()}
    assert counts[pool_id].dedicated.idle == 2 and counts[pool_id].dedicated.total == 2
    assert counts[pool_id].low_priority.idle == 1
    only = list(client.list_pool_node_counts(filter=f"poolId eq '{pool_id}'"))
    assert [c.pool_id for c in only] == [pool_id]


def test_supported_images(client) -> None:
    images = list(client.list_supported_images())
    assert any(i.node_agent_sku_id == "batch.node.ubuntu 22.04" for i in images)
    linux = list(client.list_supported_images(filter="osType eq 'linux'"))
    assert linux and all(i.os_type == "linux" for i in linux)


def test_get_pool_select_and_expand_stats(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    pool = client.get_pool(pool_id, select=["id", "state"])
    assert pool.id == pool_id and pool.state == "active" and pool.vm_size is None
    listed = [p for p in client.list_pools(select=["id"], filter=f"id eq '{pool_id}'")]
    assert len(listed) == 1 and listed[0].vm_size is None


def test_shrinking_requeues_running_tasks(client) -> None:
    from .helpers import make_job, py, task, wait_task

    pool_id = make_pool(client, dedicated=2)
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(1.5)")) for i in range(2)])
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 2, what="2 running")
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1,
                                                               node_deallocation_option="requeue"),
                             polling_interval=POLL).result()
    done = [wait_task(client, job_id, f"t{i}", timeout=30) for i in range(2)]
    assert all(t.execution_info.exit_code == 0 for t in done)
    assert sorted(t.execution_info.requeue_count for t in done) == [0, 1]


def test_remove_node_with_task_completion_lets_the_task_finish(client) -> None:
    from .helpers import make_job, py, task, wait_task

    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("t", py("import time; time.sleep(1)")))
    wait_task(client, job_id, "t", "running")
    client.begin_remove_nodes(pool_id, m.BatchNodeRemoveOptions(node_ids=[node_id],
                                                                node_deallocation_option="taskcompletion"),
                              polling_interval=POLL)
    assert client.get_node(pool_id, node_id).state == "leavingpool"
    t = wait_task(client, job_id, "t")
    assert t.execution_info.exit_code == 0 and t.execution_info.requeue_count == 0
    wait_for(lambda: list(client.list_nodes(pool_id)) == [], what="node gone")


def test_account_level_lists(client) -> None:
    assert list(client.list_applications()) == []
    with pytest.raises(ResourceNotFoundError) as exc:
        client.get_application("nope")
    assert error_code(exc.value) == "ApplicationNotFound"

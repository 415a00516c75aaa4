"""Lists: maxresults paging through an absolute odata.nextLink that carries the whole query,
$filter on task/node/job properties, $select, $expand=stats, and 400s for bad queries."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import POLL, error_code, make_job, make_pool, py, raw, task, uid, wait_tasks_completed

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def finished_job(client, shared_pool, tmp_path_factory) -> tuple[str, datetime.datetime]:
    """12 tasks: t00..t09 succeed (t05 after one retry), f10 exits 3, f11 exits 4."""
    job_id = make_job(client, shared_pool)
    # A retry may land on the other node: the marker lives outside the node directories.
    seen = tmp_path_factory.mktemp("retry") / "seen"
    retry_once = (f"import os, sys; first = not os.path.exists({str(seen)!r}); open({str(seen)!r}, 'w').close(); "
                  "sys.exit(1 if first else 0)")
    tasks = [task(f"t{i:02d}", "true") for i in range(10) if i != 5]
    tasks.append(task("t05", py(retry_once), constraints=m.BatchTaskConstraints(max_task_retry_count=1)))
    tasks += [task("f10", py("import sys; sys.exit(3)")), task("f11", py("import sys; sys.exit(4)"))]
    before = datetime.datetime.now(datetime.timezone.utc)
    client.create_tasks(job_id, tasks)
    wait_tasks_completed(client, job_id, 12)
    return job_id, before


def _ids(tasks) -> set[str]:
    return {t.id for t in tasks}


def test_paging_with_max_results(client, finished_job) -> None:
    job_id, _ = finished_job
    assert len(list(client.list_tasks(job_id, max_results=5))) == 12
    pages = list(client.list_tasks(job_id, max_results=5).by_page())
    assert [len(list(p)) for p in pages] == [5, 5, 2]


def test_next_link_is_absolute_and_carries_filter_and_select(client, local_service, finished_job) -> None:
    job_id, _ = finished_job
    resp = raw(client, "GET", f"/jobs/{job_id}/tasks?maxresults=2&$filter=startswith(id,'t')&$select=id,state")
    body = resp.json()
    assert len(body["value"]) == 2 and set(body["value"][0]) <= {"id", "state"}
    link = body["odata.nextLink"]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == local_service.batch_url
    # Follow it as the SDK does: the link plus api-version only.
    seen = [v["id"] for v in body["value"]]
    while link:
        nxt = raw(client, "GET", link.replace(local_service.batch_url, "")).json()
        assert all(set(v) <= {"id", "state"} for v in nxt["value"])
        seen += [v["id"] for v in nxt["value"]]
        link = nxt.get("odata.nextLink")
    assert sorted(seen) == [f"t{i:02d}" for i in range(10)]
    # and through the SDK's own pager
    listed = list(client.list_tasks(job_id, max_results=3, filter="startswith(id, 'f')", select=["id"]))
    assert _ids(listed) == {"f10", "f11"} and all(t.state is None for t in listed)


@pytest.mark.parametrize("flt, expected", [
    ("state eq 'completed'", {f"t{i:02d}" for i in range(10)} | {"f10", "f11"}),
    ("executionInfo/result eq 'failure'", {"f10", "f11"}),
    ("executionInfo/exitCode eq 3", {"f10"}),
    ("(executionInfo/exitCode lt 0) or (executionInfo/exitCode gt 0)", {"f10", "f11"}),
    ("executionInfo/retryCount gt 0", {"t05"}),
    ("startswith(id, 'f') and executionInfo/exitCode ge 4", {"f11"}),
    ("id eq 't03' or id eq 'T04'", {"t03", "t04"}),
    ("(state eq 'completed') and (id lt 't02') and startswith(id, 't')", {"t00", "t01"}),
])
def test_task_filters(client, finished_job, flt, expected) -> None:
    job_id, _ = finished_job
    assert _ids(client.list_tasks(job_id, filter=flt)) == expected


def test_time_filters(client, finished_job) -> None:
    job_id, before = finished_job
    stamp = before.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(list(client.list_tasks(job_id, filter=f"creationTime ge DateTime'{stamp}'"))) == 12
    assert list(client.list_tasks(job_id, filter=f"creationTime lt datetime'{stamp}'")) == []
    newest = max(t.state_transition_time for t in client.list_tasks(job_id))
    assert list(client.list_tasks(job_id, filter=f"stateTransitionTime gt DateTime'{newest.isoformat()}'")) == []
    rfc = before.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert len(list(client.list_tasks(job_id, filter=f"stateTransitionTime ge DateTime'{rfc}'"))) == 12


def test_filter_on_node_id(client, finished_job) -> None:
    job_id, _ = finished_job
    node_id = client.get_task(job_id, "t00").node_info.node_id
    on_node = _ids(client.list_tasks(job_id, filter=f"nodeInfo/nodeId eq '{node_id}'"))
    assert "t00" in on_node and len(on_node) < 12 or len(on_node) == 12


def test_select_and_expand_stats(client, finished_job) -> None:
    job_id, _ = finished_job
    t = client.get_task(job_id, "t00", select=["id", "executionInfo"])
    assert t.id == "t00" and t.execution_info.exit_code == 0 and t.command_line is None
    with_stats = client.get_task(job_id, "t00", expand=["stats"])
    assert with_stats.task_statistics is not None and with_stats.task_statistics.wall_clock_time is not None
    assert client.get_task(job_id, "t00").task_statistics is None
    listed = list(client.list_tasks(job_id, expand=["stats"], select=["id", "stats"], filter="id eq 't01'"))
    assert listed[0].task_statistics is not None


def test_job_and_pool_filters(client, shared_pool, finished_job) -> None:
    job_id, _ = finished_job
    assert job_id in {j.id for j in client.list_jobs(filter="state eq 'active'")}
    assert job_id in {j.id for j in client.list_jobs(filter=f"executionInfo/poolId eq '{shared_pool}'")}
    assert shared_pool in {p.id for p in client.list_pools(filter="allocationState eq 'steady'")}
    assert {p.id for p in client.list_pools(filter=f"startswith(id, '{shared_pool}')")} == {shared_pool}


@pytest.mark.parametrize("query", [
    "$filter=state eq",                     # incomplete
    "$filter=nosuch eq 'x'",                # unknown property
    "$filter=state gt 'active'",            # operator not allowed on state
    "$filter=(state eq 'active'",           # unbalanced
    "$filter=creationTime gt DateTime'yesterday'",
    "maxresults=0",
    "maxresults=1001",
    "maxresults=abc",
    "$expand=tasks",
    "$skiptoken=NOT-A-TOKEN",
])
def test_bad_queries_are_400_not_500(client, finished_job, query) -> None:
    job_id, _ = finished_job
    resp = raw(client, "GET", f"/jobs/{job_id}/tasks?{query}")
    assert resp.status_code == 400, (query, resp.status_code, resp.text())
    body = resp.json()
    assert body["code"] and body["message"]["value"]


def test_sdk_raises_on_bad_filter(client, finished_job) -> None:
    job_id, _ = finished_job
    with pytest.raises(HttpResponseError) as exc:
        list(client.list_tasks(job_id, filter="state eq completed"))
    assert exc.value.status_code == 400 and error_code(exc.value)


def test_list_pools_and_nodes_paging(client) -> None:
    pool_id = make_pool(client, dedicated=3)
    pages = list(client.list_nodes(pool_id, max_results=2).by_page())
    assert [len(list(p)) for p in pages] == [2, 1]
    # Pools of its own only: the account is shared with the whole session, where pools that other
    # tests deleted go on vanishing in the background (a count of all pools, taken twice, can differ).
    prefix = uid("paged")
    own = {make_pool(client, f"{prefix}-{i}", dedicated=0) for i in range(3)}
    pages = list(client.list_pools(max_results=1, filter=f"startswith(id, '{prefix}')").by_page())
    paged = [[p.id for p in page] for page in pages]
    assert [len(page) for page in paged] == [1, 1, 1] and {i for page in paged for i in page} == own
    for own_id in own:  # the account's pool quota is shared with the whole session too
        client.begin_delete_pool(own_id, polling_interval=POLL).result()

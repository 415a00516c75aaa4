"""Tasks: create/get/list/update/delete/terminate/reactivate/subtasks, retries, wall clock limit,
slots as real concurrency, pack vs spread, and the 409s the spec lists."""

from __future__ import annotations

import datetime
import time

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from .helpers import error_code, make_job, make_pool, py, stdout, task, wait_for, wait_task, wait_tasks_completed

pytestmark = pytest.mark.timeout(90)


def test_create_get_list_and_defaults(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, constraints=m.BatchJobConstraints(max_task_retry_count=2))
    client.create_task(job_id, task("Hello", py("print('hi')"), display_name="greeting"))
    t = client.get_task(job_id, "hello")  # ids are case-insensitive, case-preserving
    assert t.id == "Hello" and t.display_name == "greeting"
    assert t.constraints.max_task_retry_count == 2  # inherited from the job
    assert t.required_slots == 1
    assert t.user_identity.auto_user is not None
    t = wait_task(client, job_id, "Hello")
    assert t.execution_info.exit_code == 0 and t.execution_info.result == "success"
    assert t.execution_info.start_time <= t.execution_info.end_time
    assert t.previous_state == "running"
    assert stdout(client, job_id, "Hello") == "hi\n"
    assert [x.id for x in client.list_tasks(job_id)] == ["Hello"]
    with pytest.raises(ResourceExistsError) as exc:
        client.create_task(job_id, task("HELLO", "true"))
    assert error_code(exc.value) == "TaskExists"
    with pytest.raises(ResourceNotFoundError) as exc:
        client.get_task(job_id, "nope")
    assert error_code(exc.value) == "TaskNotFound"
    with pytest.raises(ResourceNotFoundError) as exc:
        client.create_task("no-such-job", task("x", "true"))
    assert error_code(exc.value) == "JobNotFound"
    assert list(client.list_subtasks(job_id, "Hello")) == []


def test_exit_code_and_failure_info(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("seven", py("import sys; sys.exit(7)")))
    t = wait_task(client, job_id, "seven")
    assert t.execution_info.exit_code == 7 and t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "FailureExitCode"
    assert t.execution_info.failure_info.category == "usererror"


def test_retries_up_to_max_task_retry_count(client, shared_pool, tmp_path) -> None:
    job_id = make_job(client, shared_pool)
    # fails twice, then succeeds; a retry may run on the other node, so the counter lives outside both
    n = str(tmp_path / "n")
    code = (f"import os, sys; n = int(open({n!r}).read()) if os.path.exists({n!r}) else 0; "
            f"open({n!r}, 'w').write(str(n + 1)); sys.exit(0 if n >= 2 else 1)")
    client.create_task(job_id, task("flaky", py(code), constraints=m.BatchTaskConstraints(max_task_retry_count=3)))
    client.create_task(job_id, task("hopeless", "false", constraints=m.BatchTaskConstraints(max_task_retry_count=2)))
    flaky = wait_task(client, job_id, "flaky")
    assert flaky.execution_info.result == "success" and flaky.execution_info.retry_count == 2
    assert flaky.execution_info.last_retry_time is not None
    hopeless = wait_task(client, job_id, "hopeless")
    assert hopeless.execution_info.result == "failure" and hopeless.execution_info.retry_count == 2


def test_task_max_wall_clock_time(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("slow", py("import time; time.sleep(30)"), constraints=m.BatchTaskConstraints(
        max_wall_clock_time=datetime.timedelta(seconds=1))))
    t = wait_task(client, job_id, "slow", timeout=15)
    assert t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "TaskEnded"
    assert (t.execution_info.end_time - t.execution_info.start_time).total_seconds() < 10


def test_update_constraints_and_task_completed(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("long", py("import time; time.sleep(30)")))
    t = client.get_task(job_id, "long")
    t.constraints = m.BatchTaskConstraints(max_wall_clock_time=datetime.timedelta(seconds=1),
                                           max_task_retry_count=0)
    client.replace_task(job_id, "long", t)
    updated = client.get_task(job_id, "long")
    assert updated.constraints.max_wall_clock_time == datetime.timedelta(seconds=1)
    done = wait_task(client, job_id, "long", timeout=15)  # the new limit applies
    assert done.execution_info.failure_info.code == "TaskEnded"
    with pytest.raises(ResourceExistsError) as exc:
        client.replace_task(job_id, "long", done)
    assert error_code(exc.value) == "TaskCompleted"


def test_terminate_and_reactivate(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    wait_task(client, job_id, "long", "running")
    with pytest.raises(ResourceExistsError) as exc:
        client.reactivate_task(job_id, "long")
    assert error_code(exc.value) == "TaskNotCompleted"
    client.terminate_task(job_id, "long")
    t = client.get_task(job_id, "long")
    assert t.state == "completed" and t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "TaskEnded"
    with pytest.raises(ResourceExistsError) as exc:
        client.terminate_task(job_id, "long")
    assert error_code(exc.value) == "TaskCompleted"
    client.reactivate_task(job_id, "long")
    t = client.get_task(job_id, "long")
    assert t.state in ("active", "running", "preparing")
    assert t.execution_info.failure_info is None and t.execution_info.retry_count == 0
    wait_task(client, job_id, "long", "running")
    client.terminate_task(job_id, "long")
    # a successful task cannot be reactivated
    client.create_task(job_id, task("ok", "true"))
    wait_task(client, job_id, "ok")
    with pytest.raises(ResourceExistsError) as exc:
        client.reactivate_task(job_id, "ok")
    assert error_code(exc.value) == "TaskSucceeded"


def test_terminate_an_active_task(client) -> None:
    pool_id = make_pool(client, dedicated=0)  # nowhere to run: the task stays active
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("waiting", "true"))
    client.terminate_task(job_id, "waiting")
    t = client.get_task(job_id, "waiting")
    assert t.state == "completed" and t.execution_info.failure_info.code == "TaskEnded"


def test_delete_task(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("running", py("import time; time.sleep(60)")))
    client.create_task(job_id, task("done", "true"))
    wait_task(client, job_id, "running", "running")
    wait_task(client, job_id, "done")
    client.delete_task(job_id, "running")
    client.delete_task(job_id, "done")
    with pytest.raises(ResourceNotFoundError):
        client.get_task(job_id, "done")
    counts = client.get_job_task_counts(job_id).task_counts
    assert (counts.active, counts.running, counts.completed) == (0, 0, 0)


def test_reactivate_on_completed_job_is_job_completed(client, shared_pool) -> None:
    from azure.batch.models import _models as mm

    from .helpers import POLL, wait_job_state

    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("bad", "false"))
    wait_task(client, job_id, "bad")
    client.begin_terminate_job(job_id, mm.BatchJobTerminateOptions(termination_reason="x"),
                               polling_interval=POLL).result()
    wait_job_state(client, job_id, "completed")
    with pytest.raises(ResourceExistsError) as exc:
        client.reactivate_task(job_id, "bad")
    assert error_code(exc.value) == "JobCompleted"


def test_slots_are_real_concurrency(client) -> None:
    pool_id = make_pool(client, dedicated=2, slots=4)
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(1.5)")) for i in range(8)])
    wait_tasks_completed(client, job_id, 8)
    tasks = list(client.list_tasks(job_id))
    assert all(t.execution_info.exit_code == 0 for t in tasks)
    # all 8 overlap: the latest start is before the earliest end
    assert max(t.execution_info.start_time for t in tasks) < min(t.execution_info.end_time for t in tasks)
    per_node: dict[str, int] = {}
    for t in tasks:
        per_node[t.node_info.node_id] = per_node.get(t.node_info.node_id, 0) + 1
    assert sorted(per_node.values()) == [4, 4]


def test_required_slots_limit_concurrency(client) -> None:
    pool_id = make_pool(client, dedicated=1, slots=4)
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(0.6)"), required_slots=2)
                                 for i in range(4)])
    peak = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        node = next(iter(client.list_nodes(pool_id)))
        assert node.running_task_slots_count <= 4
        peak = max(peak, node.running_tasks_count)
        if client.get_job_task_counts(job_id).task_counts.completed == 4:
            break
        time.sleep(0.05)
    assert peak == 2


@pytest.mark.parametrize("fill", ["pack", "spread"])
def test_node_fill_type(client, fill) -> None:
    pool_id = make_pool(client, dedicated=2, slots=4, fill=fill)
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(1)")) for i in range(4)])
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 4, what="4 running")
    nodes = {n.id: n.running_tasks_count for n in client.list_nodes(pool_id)}
    assert sorted(nodes.values()) == ([0, 4] if fill == "pack" else [2, 2])
    wait_tasks_completed(client, job_id, 4)


def test_node_reports_running_tasks(client) -> None:
    pool_id = make_pool(client, dedicated=1, slots=2)
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("long", py("import time; time.sleep(30)")))
    wait_task(client, job_id, "long", "running")
    node = next(iter(client.list_nodes(pool_id)))
    assert node.state == "running" and node.running_tasks_count == 1 and node.running_task_slots_count == 1
    client.terminate_task(job_id, "long")
    node = wait_for(lambda: (n := next(iter(client.list_nodes(pool_id)))).state == "idle" and n, what="idle")
    assert node.total_tasks_run == 1
    assert node.recent_tasks and node.recent_tasks[0].task_id == "long"


def test_bad_task_bodies_are_400(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    for bad in (task("bad id", "true"), task("x", "true", required_slots=0)):
        with pytest.raises(HttpResponseError) as exc:
            client.create_task(job_id, bad)
        assert exc.value.status_code == 400


def test_create_response_headers_and_task_etags(client, shared_pool) -> None:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError

    from .helpers import raw

    job_id = make_job(client, shared_pool)
    resp = raw(client, "POST", f"/jobs/{job_id}/tasks", json={"id": "h", "commandLine": "true"})
    assert resp.status_code == 201 and resp.content == b""
    assert resp.headers["Location"].endswith(f"/jobs/{job_id}/tasks/h")
    assert resp.headers["DataServiceId"] and resp.headers["ETag"] and resp.headers["Last-Modified"]
    done = wait_task(client, job_id, "h")
    with pytest.raises(ResourceModifiedError):
        client.delete_task(job_id, "h", etag="0xNOTIT", match_condition=MatchConditions.IfNotModified)
    client.delete_task(job_id, "h", etag=done.etag, match_condition=MatchConditions.IfNotModified)

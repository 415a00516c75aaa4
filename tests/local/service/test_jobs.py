"""Jobs: create/get/list/update/replace/delete, disable/enable, terminate, task counts with slot
counts, onAllTasksComplete, onTaskFailure, job maxWallClockTime, priority and maxParallelTasks."""

from __future__ import annotations

import time

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from .helpers import (
    POLL,
    error_code,
    make_job,
    make_pool,
    py,
    raw,
    scheduler_has_run,
    task,
    uid,
    wait_job_state,
    wait_task,
    wait_tasks_completed,
)

pytestmark = pytest.mark.timeout(90)


def test_create_get_list_defaults_and_duplicates(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, display_name="J", metadata=[m.BatchMetadataItem(name="k", value="v")])
    job = client.get_job(job_id)
    assert job.state == "active" and job.display_name == "J"
    assert job.priority == 0 and job.max_parallel_tasks == -1 and job.uses_task_dependencies is False
    assert job.all_tasks_complete_mode == "noaction" and job.task_failure_mode == "noaction"
    assert job.constraints.max_task_retry_count == 0
    assert job.pool_info.pool_id == shared_pool
    assert job.execution_info.pool_id == shared_pool and job.execution_info.start_time
    assert job.etag and job.last_modified and job.creation_time
    assert job_id in [j.id for j in client.list_jobs()]
    assert [j.id for j in client.list_jobs(filter=f"id eq '{job_id}'")] == [job_id]
    with pytest.raises(ResourceExistsError) as exc:
        make_job(client, shared_pool, job_id.upper())
    assert error_code(exc.value) == "JobExists"
    with pytest.raises(ResourceNotFoundError) as exc:
        client.get_job(uid("missing"))
    assert error_code(exc.value) == "JobNotFound"


def test_priority_out_of_range(client, shared_pool) -> None:
    with pytest.raises(HttpResponseError) as exc:
        make_job(client, shared_pool, priority=5000)
    assert exc.value.status_code == 400 and error_code(exc.value) == "OutOfRangePriority"


def test_update_and_replace_job(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, metadata=[m.BatchMetadataItem(name="a", value="1")])
    etag = client.get_job(job_id).etag
    client.update_job(job_id, m.BatchJobUpdateOptions(priority=100, max_parallel_tasks=3))
    job = client.get_job(job_id)
    assert job.priority == 100 and job.max_parallel_tasks == 3
    assert job.metadata[0].name == "a"  # PATCH keeps what it does not name
    assert job.etag != etag
    job.priority = -5
    job.metadata = None
    client.replace_job(job_id, job)
    replaced = client.get_job(job_id)
    assert replaced.priority == -5 and not replaced.metadata  # PUT replaces
    client.create_task(job_id, task("keep", py("import time; time.sleep(30)")))  # keeps the job active
    client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    with pytest.raises(HttpResponseError) as exc:
        client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="noaction"))
    assert exc.value.status_code == 400
    client.terminate_task(job_id, "keep")
    wait_job_state(client, job_id, "completed")


def test_disable_enable_job(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    wait_task(client, job_id, "long", "running")
    poller = client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks="requeue"),
                                      polling_interval=POLL)
    poller.result()
    assert client.get_job(job_id).state == "disabled"
    t = client.get_task(job_id, "long")
    assert t.state == "active" and t.execution_info.requeue_count == 1
    client.create_task(job_id, task("later", "true"))  # a disabled job still accepts tasks ...
    scheduler_has_run(client, make_job(client, pool_id))  # the pool's free node ran a control meanwhile
    assert client.get_task(job_id, "later").state == "active"  # ... but does not run them
    client.begin_enable_job(job_id, polling_interval=POLL).result()
    assert client.get_job(job_id).state == "active"
    wait_task(client, job_id, "long", "running")
    client.terminate_task(job_id, "long")
    wait_task(client, job_id, "later")


def test_disable_with_terminate_and_wait(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    wait_task(client, job_id, "long", "running")
    client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks="terminate"),
                             polling_interval=POLL).result()
    t = client.get_task(job_id, "long")
    assert t.state == "completed" and t.execution_info.result == "failure"
    job2 = make_job(client, pool_id)
    client.create_task(job2, task("short", py("import time; time.sleep(0.5)")))
    wait_task(client, job2, "short", "running")
    client.begin_disable_job(job2, m.BatchJobDisableOptions(disable_tasks="wait"), polling_interval=POLL).result()
    assert client.get_task(job2, "short").state == "completed"
    assert client.get_job(job2).state == "disabled"


def test_terminate_job_and_job_completed_errors(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    client.create_task(job_id, task("queued", "true", constraints=m.BatchTaskConstraints()))
    wait_task(client, job_id, "long", "running")
    client.begin_terminate_job(job_id, mm.BatchJobTerminateOptions(termination_reason="because"),
                               polling_interval=POLL).result()
    job = wait_job_state(client, job_id, "completed")
    assert job.execution_info.termination_reason == "because" and job.execution_info.end_time
    assert client.get_task(job_id, "long").state == "completed"
    with pytest.raises(ResourceExistsError) as exc:
        client.create_task(job_id, task("more", "true"))
    assert error_code(exc.value) == "JobCompleted"
    with pytest.raises(ResourceExistsError) as exc:
        client.update_job(job_id, m.BatchJobUpdateOptions(priority=1))
    assert error_code(exc.value) == "JobCompleted"
    with pytest.raises(ResourceExistsError) as exc:
        client.begin_terminate_job(job_id, mm.BatchJobTerminateOptions(termination_reason="again"),
                                   polling_interval=POLL).result()
    assert error_code(exc.value) == "JobCompleted"


def test_terminate_default_reason(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    # The 15.1 SDK cannot send a terminate without options (it drops the content type): send it raw,
    # with the empty body other clients send.
    resp = client.send_request(HttpRequest("POST", f"/jobs/{job_id}/terminate?api-version=2025-06-01"))
    assert resp.status_code == 202
    assert wait_job_state(client, job_id, "completed").execution_info.termination_reason == "UserTerminate"


def test_delete_job(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    wait_task(client, job_id, "long", "running")
    client.begin_delete_job(job_id, polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError):
        client.get_job(job_id)


def test_task_counts_and_slot_counts(client) -> None:
    pool_id = make_pool(client, dedicated=1, slots=4)
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task("ok1", "true"), task("ok2", "true", required_slots=2),
                                 task("bad", "false", required_slots=3)])
    wait_tasks_completed(client, job_id, 3)
    counts = client.get_job_task_counts(job_id)
    c, s = counts.task_counts, counts.task_slot_counts
    assert (c.active, c.running, c.completed, c.succeeded, c.failed) == (0, 0, 3, 2, 1)
    assert (s.active, s.running, s.completed, s.succeeded, s.failed) == (0, 0, 6, 3, 3)


def test_on_all_tasks_complete_terminates_job(client, shared_pool) -> None:
    # The documented pattern: add the tasks, then switch to terminatejob.
    job_id = make_job(client, shared_pool)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(0.3)")) for i in range(3)])
    client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    job = wait_job_state(client, job_id, "completed")
    assert job.execution_info.termination_reason == "AllTasksComplete"
    assert client.get_job_task_counts(job_id).task_counts.succeeded == 3


def test_on_all_tasks_complete_with_no_tasks_completes_at_once(client, shared_pool) -> None:
    # Batch: a job with no tasks has all its tasks complete.
    job_id = make_job(client, shared_pool, all_tasks_complete_mode="terminatejob")
    assert wait_job_state(client, job_id, "completed").execution_info.termination_reason == "AllTasksComplete"


def test_on_task_failure_performs_exit_options_job_action(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, task_failure_mode="performexitoptionsjobaction")
    client.create_task(job_id, task("fails", "false"))
    job = wait_job_state(client, job_id, "completed")
    assert job.execution_info.termination_reason == "TaskFailed"
    # jobAction none keeps the job going; disable disables it
    job2 = make_job(client, shared_pool, task_failure_mode="performexitoptionsjobaction")
    client.create_task(job2, task("keepgoing", "false", exit_conditions=m.ExitConditions(
        default=m.ExitOptions(job_action="none"))))
    wait_task(client, job2, "keepgoing")
    scheduler_has_run(client, job2)  # the job still runs new tasks: it was not disabled or terminated
    assert client.get_job(job2).state == "active"
    client.create_task(job2, task("dis", "false", exit_conditions=m.ExitConditions(
        exit_codes=[m.ExitCodeMapping(code=1, exit_options=m.ExitOptions(job_action="disable"))])))
    wait_job_state(client, job2, "disabled")


def test_job_action_needs_perform_exit_options(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    with pytest.raises(HttpResponseError) as exc:
        client.create_task(job_id, task("x", "false", exit_conditions=m.ExitConditions(
            default=m.ExitOptions(job_action="terminate"))))
    assert exc.value.status_code == 400


def test_job_max_wall_clock_time(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, constraints=m.BatchJobConstraints(max_wall_clock_time=_seconds(1)))
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    job = wait_job_state(client, job_id, "completed", timeout=15)
    assert job.execution_info.termination_reason == "MaxWallClockTimeExpiry"
    assert client.get_task(job_id, "long").state == "completed"


def _seconds(s: float):
    import datetime

    return datetime.timedelta(seconds=s)


def test_job_priority_orders_work_on_a_busy_pool(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    blocker = make_job(client, pool_id)
    client.create_task(blocker, task("block", py("import time; time.sleep(0.8)")))
    wait_task(client, blocker, "block", "running")
    low = make_job(client, pool_id, priority=-100)
    high = make_job(client, pool_id, priority=500)
    client.create_task(low, task("low", "true"))
    client.create_task(high, task("high", "true"))
    wait_task(client, low, "low", timeout=20)
    t_low, t_high = client.get_task(low, "low"), client.get_task(high, "high")
    assert t_high.execution_info.start_time < t_low.execution_info.start_time


def test_max_parallel_tasks(client) -> None:
    pool_id = make_pool(client, dedicated=1, slots=4)
    job_id = make_job(client, pool_id, max_parallel_tasks=2)
    client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(0.5)")) for i in range(4)])
    peak = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = client.get_job_task_counts(job_id).task_counts
        peak = max(peak, counts.running)
        if counts.completed == 4:
            break
        time.sleep(0.05)
    assert peak == 2
    tasks = list(client.list_tasks(job_id))
    assert _max_overlap(tasks) == 2


def _max_overlap(tasks) -> int:
    events = []
    for t in tasks:
        events.append((t.execution_info.start_time, 1))
        events.append((t.execution_info.end_time, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def test_replace_job_resets_what_it_omits(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, priority=7, max_parallel_tasks=3,
                      constraints=m.BatchJobConstraints(max_task_retry_count=4))
    resp = raw(client, "PUT", f"/jobs/{job_id}", json={"poolInfo": {"poolId": shared_pool}})
    assert resp.status_code == 200
    job = client.get_job(job_id)
    assert job.priority == 0 and job.max_parallel_tasks == -1 and job.constraints.max_task_retry_count == 0
    resp = raw(client, "PUT", f"/jobs/{job_id}", json={"priority": 3})
    assert resp.status_code == 400 and resp.json()["code"] == "MissingRequiredProperty"


def test_job_manager_task_ends_the_job(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, job_manager_task=m.BatchJobManagerTask(
        id="manager", command_line=py("import time; time.sleep(0.3); print('managed')")))
    job = wait_job_state(client, job_id, "completed")
    assert job.execution_info.termination_reason == "JMComplete"
    assert client.get_task(job_id, "manager").execution_info.exit_code == 0

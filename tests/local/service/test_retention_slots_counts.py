"""Azure behaviours a client must survive: task files cleaned up after retentionTime, a task that
needs more slots than a node has, and task counts that lag behind the task list (switchable)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from batchnb.local import emulate

from .helpers import error_code, make_job, raw, stdout, task, wait_for, wait_task

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fast_clock(local_service):
    emulate(local_service, clock_scale=60)  # one retention minute = one second
    yield
    emulate(local_service, clock_scale=1)


def test_task_files_are_cleaned_up_after_retention_time(client, shared_pool, fast_clock) -> None:
    job_id = make_job(client, shared_pool)
    short = m.BatchTaskConstraints(retention_time=timedelta(minutes=1))
    client.create_task(job_id, task("short", "python -c \"print('kept a while')\"", constraints=short))
    client.create_task(job_id, task("default", "python -c \"print('kept 7 days')\""))
    wait_task(client, job_id, "short")
    wait_task(client, job_id, "default")

    def cleaned() -> bool:
        response = raw(client, "GET", f"/jobs/{job_id}/tasks/short/files/stdout.txt")
        if response.status_code == 200:
            return False
        assert (response.status_code, response.json()["code"]) == (409, "TaskFilesCleanedup")
        return True
    wait_for(cleaned, 10, what="retention to pass")
    assert stdout(client, job_id, "default").strip() == "kept 7 days"  # P7D is not over
    assert client.get_task(job_id, "short").state == "completed"  # the task stays; its files went


def test_required_slots_beyond_the_pools_slots_is_refused(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    slots = client.get_pool(shared_pool).task_slots_per_node
    with pytest.raises(HttpResponseError) as info:
        client.create_task(job_id, task("big", "python -c pass", required_slots=slots + 1))
    assert info.value.status_code == 400 and error_code(info.value) == "InvalidPropertyValue"
    values = {v["key"]: v["value"] for v in info.value.response.json()["values"]}
    assert values["PropertyName"] == "requiredSlots" and "taskSlotsPerNode" in values["Reason"]
    client.create_task(job_id, task("fits", "python -c pass", required_slots=slots))
    assert wait_task(client, job_id, "fits").execution_info.exit_code == 0


def test_task_counts_lag_behind_the_task_list_when_switched_on(local_service, client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    emulate(local_service, task_counts_lag=5)
    try:
        assert client.get_job_task_counts(job_id).task_counts.active == 0  # the snapshot is taken now
        client.create_tasks(job_id, [task(f"t{i}", "python -c pass") for i in range(3)])
        assert len(list(client.list_tasks(job_id))) == 3
        counts = client.get_job_task_counts(job_id).task_counts
        assert (counts.active, counts.running, counts.completed) == (0, 0, 0)  # as Azure may answer
        time.sleep(5.5)  # a lag under 5 s would be a wall-clock bound; this waits past one
        assert client.get_job_task_counts(job_id).task_counts.completed + \
            client.get_job_task_counts(job_id).task_counts.active + \
            client.get_job_task_counts(job_id).task_counts.running == 3
    finally:
        emulate(local_service, task_counts_lag=0)
    assert client.get_job_task_counts(job_id).task_counts.active + \
        client.get_job_task_counts(job_id).task_counts.running + \
        client.get_job_task_counts(job_id).task_counts.completed == 3  # exact again

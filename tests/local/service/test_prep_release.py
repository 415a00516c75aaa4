"""Job preparation and release tasks, and their status list."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm
from azure.core.exceptions import ResourceExistsError

from .helpers import POLL, error_code, make_job, make_pool, py, stdout, task, wait_for, wait_job_state, wait_task

pytestmark = pytest.mark.timeout(90)


def test_prep_runs_once_per_node_before_tasks_and_release_at_end(client) -> None:
    pool_id = make_pool(client, dedicated=2, slots=2)
    prep = m.BatchJobPreparationTask(command_line=py(
        "import os; open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/prep-' + os.environ['AZ_BATCH_JOB_ID'], 'a')"
        ".write('p')"))
    release = m.BatchJobReleaseTask(command_line=py("print('released')"))
    job_id = make_job(client, pool_id, job_preparation_task=prep, job_release_task=release)
    job = client.get_job(job_id)
    assert job.job_preparation_task.id == "jobpreparation" and job.job_release_task.id == "jobrelease"
    code = ("import os; print(open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/prep-' + os.environ['AZ_BATCH_JOB_ID'])"
            ".read()); print(os.environ['AZ_BATCH_JOB_PREP_WORKING_DIR'])")
    client.create_tasks(job_id, [task(f"t{i}", py(code)) for i in range(6)])
    for i in range(6):
        t = wait_task(client, job_id, f"t{i}")
        assert t.execution_info.exit_code == 0
        first, prep_wd = stdout(client, job_id, f"t{i}").split()
        assert first == "p"  # ran after the prep task, which ran once on that node
        assert prep_wd.endswith(f"workitems/{job_id}/job-1/jobpreparation/wd")
    statuses = list(client.list_job_preparation_and_release_task_status(job_id))
    assert {s.pool_id for s in statuses} == {pool_id}
    for s in statuses:
        info = s.job_preparation_task_execution_info
        assert info.state == "completed" and info.exit_code == 0 and info.result == "success"
        assert info.task_root_directory.endswith("jobpreparation")
        assert s.job_release_task_execution_info is None
    client.begin_terminate_job(job_id, mm.BatchJobTerminateOptions(termination_reason="done"),
                               polling_interval=POLL).result()
    wait_job_state(client, job_id, "completed")
    statuses = list(client.list_job_preparation_and_release_task_status(job_id))
    assert statuses and all(s.job_release_task_execution_info.state == "completed" for s in statuses)
    assert all(s.job_release_task_execution_info.exit_code == 0 for s in statuses)
    node = statuses[0].node_id
    out = b"".join(client.download_node_file(pool_id, node, f"workitems/{job_id}/job-1/jobrelease/stdout.txt"))
    assert out == b"released\n"


def test_status_without_prep_task_is_409(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    with pytest.raises(ResourceExistsError) as exc:
        list(client.list_job_preparation_and_release_task_status(job_id))
    assert error_code(exc.value) == "JobPreparationTaskNotSpecified"


def test_failed_prep_task_keeps_tasks_off_the_node(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    prep = m.BatchJobPreparationTask(command_line="false", wait_for_success=True,
                                     constraints=m.BatchTaskConstraints(max_task_retry_count=1))
    job_id = make_job(client, pool_id, job_preparation_task=prep)
    client.create_task(job_id, task("t", "true"))
    status = wait_for(lambda: [s for s in client.list_job_preparation_and_release_task_status(job_id)
                               if s.job_preparation_task_execution_info.state == "completed"],
                      what="prep completed")
    info = status[0].job_preparation_task_execution_info
    assert info.result == "failure" and info.exit_code == 1 and info.retry_count == 1
    t = wait_for(lambda: (x := client.get_task(job_id, "t")).state == "active" and x, what="task back in queue")
    assert t.execution_info.exit_code is None


def test_task_id_same_as_prep_task(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool, job_preparation_task=m.BatchJobPreparationTask(command_line="true"))
    with pytest.raises(ResourceExistsError) as exc:
        client.create_task(job_id, task("jobpreparation", "true"))
    assert error_code(exc.value) == "TaskIdSameAsJobPreparationTask"

"""Task dependencies: taskIds, taskIdRanges, exit conditions that satisfy or block."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import error_code, make_job, py, scheduler_has_run, task, wait_task

pytestmark = pytest.mark.timeout(90)


def _dep_job(client, pool_id, **kwargs) -> str:
    return make_job(client, pool_id, uses_task_dependencies=True, **kwargs)


def test_depends_on_needs_uses_task_dependencies(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    with pytest.raises(HttpResponseError) as exc:
        client.create_task(job_id, task("child", "true", depends_on=m.BatchTaskDependencies(task_ids=["a"])))
    assert exc.value.status_code == 400 and error_code(exc.value) == "TaskDependenciesNotSpecifiedOnJob"


def test_task_ids_run_after_their_parents(client, shared_pool) -> None:
    job_id = _dep_job(client, shared_pool)
    client.create_tasks(job_id, [
        task("child", "true", depends_on=m.BatchTaskDependencies(task_ids=["a", "b"])),
        task("a", py("import time; time.sleep(0.5)")),
        task("b", py("import time; time.sleep(0.8)")),
    ])
    assert client.get_task(job_id, "child").state == "active"
    child = wait_task(client, job_id, "child")
    b = client.get_task(job_id, "b")
    assert child.execution_info.start_time >= b.execution_info.end_time


def test_task_id_ranges(client, shared_pool) -> None:
    job_id = _dep_job(client, shared_pool)
    client.create_tasks(job_id, [task(str(i), py("import time; time.sleep(0.3)")) for i in range(1, 6)] + [
        task("merge", "true", depends_on=m.BatchTaskDependencies(
            task_id_ranges=[m.BatchTaskIdRange(start=1, end=5)]))])
    merge = wait_task(client, job_id, "merge")
    ends = [client.get_task(job_id, str(i)).execution_info.end_time for i in range(1, 6)]
    assert merge.execution_info.start_time >= max(ends)


def test_failed_parent_blocks_by_default(client, shared_pool) -> None:
    job_id = _dep_job(client, shared_pool)
    client.create_task(job_id, task("parent", "false"))
    client.create_task(job_id, task("child", "true", depends_on=m.BatchTaskDependencies(task_ids=["parent"])))
    wait_task(client, job_id, "parent")
    scheduler_has_run(client, job_id)
    assert client.get_task(job_id, "child").state == "active"  # blocked: never runs
    client.terminate_task(job_id, "child")
    assert client.get_task(job_id, "child").state == "completed"


def test_exit_condition_satisfy_lets_dependents_run(client, shared_pool) -> None:
    job_id = _dep_job(client, shared_pool)
    client.create_task(job_id, task("parent", py("import sys; sys.exit(3)"), exit_conditions=m.ExitConditions(
        exit_codes=[m.ExitCodeMapping(code=3, exit_options=m.ExitOptions(dependency_action="satisfy"))])))
    client.create_task(job_id, task("child", "true", depends_on=m.BatchTaskDependencies(task_ids=["parent"])))
    parent = wait_task(client, job_id, "parent")
    assert parent.execution_info.result == "failure"
    assert wait_task(client, job_id, "child").execution_info.exit_code == 0


def test_exit_code_range_and_default_block(client, shared_pool) -> None:
    job_id = _dep_job(client, shared_pool)
    satisfy = m.ExitOptions(dependency_action="satisfy")
    block = m.ExitOptions(dependency_action="block")
    client.create_task(job_id, task("ranged", py("import sys; sys.exit(12)"), exit_conditions=m.ExitConditions(
        exit_code_ranges=[m.ExitCodeRangeMapping(start=10, end=20, exit_options=satisfy)])))
    client.create_task(job_id, task("ok-but-blocks", "true", exit_conditions=m.ExitConditions(
        exit_codes=[m.ExitCodeMapping(code=0, exit_options=block)])))
    client.create_task(job_id, task("after-ranged", "true",
                                    depends_on=m.BatchTaskDependencies(task_ids=["ranged"])))
    client.create_task(job_id, task("after-blocker", "true",
                                    depends_on=m.BatchTaskDependencies(task_ids=["ok-but-blocks"])))
    wait_task(client, job_id, "after-ranged")
    wait_task(client, job_id, "ok-but-blocks")
    scheduler_has_run(client, job_id)
    assert client.get_task(job_id, "after-blocker").state == "active"


def test_parent_added_later_and_chains(client, shared_pool) -> None:
    job_id = _dep_job(client, shared_pool)
    client.create_task(job_id, task("c", "true", depends_on=m.BatchTaskDependencies(task_ids=["b"])))
    client.create_task(job_id, task("b", "true", depends_on=m.BatchTaskDependencies(task_ids=["a"])))
    scheduler_has_run(client, job_id)
    assert client.get_task(job_id, "c").state == "active" and client.get_task(job_id, "b").state == "active"
    client.create_task(job_id, task("a", "true"))
    c = wait_task(client, job_id, "c")
    assert c.execution_info.start_time >= client.get_task(job_id, "b").execution_info.end_time

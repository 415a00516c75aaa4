"""Job schedules through the SDK: the operations, the jobs created on the recurrence (on the service's
scaled clock, so a one-minute recurrence takes a second here), and the 409s."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm  # BatchJobTerminateOptions is not exported (SDK quirk)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchnb.local.faults_client import emulate

from .helpers import POLL, error_code, make_job, uid, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", autouse=True)
def fast_clock(local_service):
    """One schedule minute = one second (the service's clock scale, set through the admin API)."""
    assert emulate(local_service, clock_scale=60)["clockScale"] == 60
    yield
    emulate(local_service, clock_scale=1)


def spec(pool_id: str, **kwargs) -> m.BatchJobSpecification:
    return m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=pool_id), **kwargs)


def create(client, pool_id: str, schedule: m.BatchJobScheduleConfiguration, **kwargs) -> str:
    sid = uid("sched")
    client.create_job_schedule(m.BatchJobScheduleCreateOptions(id=sid, schedule=schedule,
                                                               job_specification=spec(pool_id, **kwargs)))
    return sid


def job_ids(client, sid: str) -> list[str]:
    return sorted((j.id for j in client.list_jobs_from_schedule(sid)), key=lambda i: int(i.rsplit("-", 1)[1]))


def test_recurring_schedule_makes_one_job_per_interval_with_the_job_specification(client, shared_pool) -> None:
    jm = m.BatchJobManagerTask(id="jm", command_line="python -c pass")
    sid = create(client, shared_pool, m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(minutes=1)),
                 priority=9, job_manager_task=jm, all_tasks_complete_mode="terminatejob")
    ids = wait_for(lambda: (lambda found: found if len(found) >= 3 else None)(job_ids(client, sid)), 30,
                   what="3 jobs")
    assert ids[:3] == [f"{sid}:job-1", f"{sid}:job-2", f"{sid}:job-3"]
    job = client.get_job(ids[0])
    assert job.priority == 9 and job.execution_info.pool_id == shared_pool
    wait_for(lambda: client.get_job(ids[0]).state == "completed", what="the job manager ends the job")
    jm_task = client.get_task(ids[0], "jm")
    # A scheduled job's directory on the node is workitems/<schedule>/job-<n>, as on Azure.
    assert jm_task.node_info.task_root_directory == f"workitems/{sid}/job-1/jm"
    node_files = [f.name for f in client.list_node_files(shared_pool, jm_task.node_info.node_id, recursive=True)]
    assert f"workitems/{sid}/job-1/jm/stdout.txt" in node_files
    schedule = client.get_job_schedule(sid)
    assert schedule.state == "active" and schedule.execution_info.next_run_time is not None
    assert schedule.execution_info.recent_job.id in job_ids(client, sid)
    assert client.job_schedule_exists(sid)
    assert sid in [s.id for s in client.list_job_schedules(filter=f"id eq '{sid}'")]

    client.begin_terminate_job_schedule(sid, polling_interval=POLL).result()
    assert client.get_job_schedule(sid).state == "completed"
    assert all(client.get_job(j).state == "completed" for j in job_ids(client, sid))
    client.begin_delete_job_schedule(sid, polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError):  # the SDK's exists() raises on 404 (as pool_exists does)
        client.job_schedule_exists(sid)
    wait_for(lambda: not [j for j in client.list_jobs() if j.id.startswith(sid + ":")], what="its jobs deleted")


def test_at_most_one_active_job_and_a_disabled_schedule_makes_none(client, shared_pool) -> None:
    sid = create(client, shared_pool, m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(minutes=1)))
    wait_for(lambda: job_ids(client, sid), what="first job")
    # The first job never ends (no tasks, noaction): no second job, however many intervals pass.
    with pytest.raises(AssertionError):
        wait_for(lambda: len(job_ids(client, sid)) > 1, timeout=3.0)
    client.begin_terminate_job(f"{sid}:job-1", mm.BatchJobTerminateOptions(termination_reason="next"), polling_interval=POLL).result()
    wait_for(lambda: len(job_ids(client, sid)) == 2, what="second job once the first ended")
    client.disable_job_schedule(sid)
    assert client.get_job_schedule(sid).state == "disabled"
    client.begin_terminate_job(f"{sid}:job-2", mm.BatchJobTerminateOptions(termination_reason="next"), polling_interval=POLL).result()
    with pytest.raises(AssertionError):
        wait_for(lambda: len(job_ids(client, sid)) > 2, timeout=3.0)
    client.enable_job_schedule(sid)
    wait_for(lambda: len(job_ids(client, sid)) == 3, what="a job after enable")
    client.begin_delete_job_schedule(sid, polling_interval=POLL).result()


def test_one_off_schedule_with_do_not_run_until_runs_once_then_completes(client, shared_pool) -> None:
    later = datetime.now(timezone.utc) + timedelta(seconds=2)
    sid = create(client, shared_pool, m.BatchJobScheduleConfiguration(do_not_run_until=later),
                 all_tasks_complete_mode="terminatejob")
    assert not job_ids(client, sid)
    assert client.get_job_schedule(sid).execution_info.next_run_time is not None
    wait_for(lambda: job_ids(client, sid), what="the one job after doNotRunUntil")
    wait_for(lambda: client.get_job_schedule(sid).state == "completed", what="schedule completes with its job")
    assert job_ids(client, sid) == [f"{sid}:job-1"]
    client.begin_delete_job_schedule(sid, polling_interval=POLL).result()


def test_update_and_replace(client, shared_pool) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=1)
    sid = create(client, shared_pool, m.BatchJobScheduleConfiguration(do_not_run_until=later))
    client.update_job_schedule(sid, m.BatchJobScheduleUpdateOptions(
        metadata=[m.BatchMetadataItem(name="k", value="v")]))
    got = client.get_job_schedule(sid)
    assert got.metadata[0].name == "k" and got.schedule.do_not_run_until is not None
    client.replace_job_schedule(sid, m.BatchJobSchedule(
        schedule=m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(minutes=5)),
        job_specification=spec(shared_pool, priority=4)))
    got = client.get_job_schedule(sid)
    assert got.metadata is None or got.metadata == []  # a replace drops what it omits
    assert got.schedule.do_not_run_until is None and got.job_specification.priority == 4
    wait_for(lambda: job_ids(client, sid), what="the replaced schedule runs now")
    client.begin_delete_job_schedule(sid, polling_interval=POLL).result()


def _error(call) -> tuple[int, str | None]:
    with pytest.raises(HttpResponseError) as info:
        call()
    return info.value.status_code, error_code(info.value)


def test_conflicts_and_bad_schedules(client, shared_pool) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=1)
    sid = create(client, shared_pool, m.BatchJobScheduleConfiguration(do_not_run_until=later))
    again = m.BatchJobScheduleCreateOptions(id=sid.upper(), schedule=m.BatchJobScheduleConfiguration(),
                                            job_specification=spec(shared_pool))
    assert _error(lambda: client.create_job_schedule(again)) == (409, "JobScheduleExists")
    assert _error(lambda: client.create_job(m.BatchJobCreateOptions(
        id=sid, pool_info=m.BatchPoolInfo(pool_id=shared_pool)))) == (409, "JobScheduleWithSameIdExists")
    job_id = make_job(client, shared_pool)
    same = m.BatchJobScheduleCreateOptions(id=job_id, schedule=m.BatchJobScheduleConfiguration(),
                                           job_specification=spec(shared_pool))
    assert _error(lambda: client.create_job_schedule(same)) == (409, "JobWithSameIdExists")
    short = m.BatchJobScheduleCreateOptions(id=uid("s"), job_specification=spec(shared_pool),
                                            schedule=m.BatchJobScheduleConfiguration(
                                                recurrence_interval=timedelta(seconds=30)))
    assert _error(lambda: client.create_job_schedule(short)) == (400, "InvalidPropertyValue")
    no_pool = m.BatchJobScheduleCreateOptions(id=uid("s"), schedule=m.BatchJobScheduleConfiguration(),
                                              job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo()))
    assert _error(lambda: client.create_job_schedule(no_pool)) == (400, "MissingRequiredProperty")
    client.begin_terminate_job_schedule(sid, polling_interval=POLL).result()
    assert _error(lambda: client.disable_job_schedule(sid)) == (409, "JobScheduleCompleted")
    client.begin_delete_job_schedule(sid, polling_interval=POLL).result()
    assert _error(lambda: client.get_job_schedule(sid)) == (404, "JobScheduleNotFound")

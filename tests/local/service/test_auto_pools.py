"""Auto pools: a pool made with its job (or job schedule) and deleted with it, unless keepAlive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import IMAGE, POLL, error_code, task, uid, wait_for, wait_task

pytestmark = pytest.mark.timeout(120)


def auto_pool(lifetime: str, *, keep_alive: bool = False, prefix: str = "ap") -> m.BatchPoolInfo:
    return m.BatchPoolInfo(auto_pool_specification=m.BatchAutoPoolSpecification(
        auto_pool_id_prefix=prefix, pool_lifetime_option=lifetime, keep_alive=keep_alive,
        pool=m.BatchPoolSpecification(vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE,
                                      target_dedicated_nodes=1)))


def pool_exists(client, pool_id: str) -> bool:
    try:
        return client.get_pool(pool_id).state == "active"
    except HttpResponseError:
        return False


def test_job_auto_pool_runs_tasks_and_goes_with_the_job(client) -> None:
    job_id = uid("autojob")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=auto_pool("job", prefix="nb")))
    job = client.get_job(job_id)
    pool_id = job.execution_info.pool_id
    assert pool_id.startswith("nb_") and job.pool_info.auto_pool_specification.pool_lifetime_option == "job"
    assert client.get_pool(pool_id).target_dedicated_nodes == 1
    client.create_task(job_id, task("t", "python -c pass"))
    assert wait_task(client, job_id, "t", timeout=30).execution_info.exit_code == 0
    client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    wait_for(lambda: client.get_job(job_id).state == "completed", what="job completes")
    wait_for(lambda: not pool_exists(client, pool_id), what="auto pool deleted with its job")


def test_keep_alive_keeps_the_auto_pool_after_its_job_is_deleted(client) -> None:
    job_id = uid("keepjob")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=auto_pool("job", keep_alive=True)))
    pool_id = client.get_job(job_id).execution_info.pool_id
    client.begin_delete_job(job_id, polling_interval=POLL).result()
    assert pool_exists(client, pool_id)
    client.begin_delete_pool(pool_id, polling_interval=POLL).result()


def test_schedule_auto_pool_is_shared_by_its_jobs_and_goes_with_the_schedule(client, local_service) -> None:
    sid = uid("autosched")
    client.create_job_schedule(m.BatchJobScheduleCreateOptions(
        id=sid, schedule=m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(hours=1)),
        job_specification=m.BatchJobSpecification(pool_info=auto_pool("jobschedule"))))
    wait_for(lambda: list(client.list_jobs_from_schedule(sid)), what="the schedule's first job")
    pool_id = client.get_job(f"{sid}:job-1").execution_info.pool_id
    assert pool_exists(client, pool_id)
    client.begin_terminate_job_schedule(sid, polling_interval=POLL).result()
    wait_for(lambda: not pool_exists(client, pool_id), what="auto pool deleted with its schedule")
    client.begin_delete_job_schedule(sid, polling_interval=POLL).result()


@pytest.mark.parametrize(("info", "prop"), [
    (auto_pool("jobschedule", prefix="refused"), "poolInfo.autoPoolSpecification.poolLifetimeOption"),  # schedules only
    (auto_pool("job", prefix="x" * 21), "poolInfo.autoPoolSpecification.autoPoolIdPrefix"),
    (m.BatchPoolInfo(auto_pool_specification=m.BatchAutoPoolSpecification(pool_lifetime_option="job")),
     "poolInfo.autoPoolSpecification.pool"),
])
def test_bad_auto_pool_specifications_are_refused_before_anything_is_made(client, info, prop) -> None:
    with pytest.raises(HttpResponseError) as err:
        client.create_job(m.BatchJobCreateOptions(id=uid("bad"), pool_info=info))
    assert err.value.status_code == 400 and error_code(err.value) in ("InvalidPropertyValue", "MissingRequiredProperty")
    values = {v["key"]: v["value"] for v in err.value.response.json().get("values", [])}
    assert values["PropertyName"] == prop
    assert not [p.id for p in client.list_pools() if p.id.startswith("refused")]  # no pool was made

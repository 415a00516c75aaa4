"""SIGKILL the service with a job schedule and node users in place: after the restart the schedule goes
on where it was (job numbering continues, no second active job) and the node users still exist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm  # BatchJobTerminateOptions is not exported
from azure.core.exceptions import HttpResponseError

from .bare_server import BareServer
from .helpers import error_code, make_pool, nodes_in, wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def test_schedule_and_node_users_survive_sigkill(tmp_path) -> None:
    (tmp_path / "state").mkdir()
    server = BareServer(tmp_path / "state", flags=["--clock-scale", "60"]).start()  # one minute = one second
    try:
        with server.client() as client:
            pool_id = make_pool(client, "sched-pool", dedicated=1)
            node_id = nodes_in(client, pool_id)[0].id
            client.create_node_user(pool_id, node_id, m.BatchNodeUserCreateOptions(name="kept", password="Pa55!"))
            client.create_job_schedule(m.BatchJobScheduleCreateOptions(
                id="every-minute", schedule=m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(minutes=1)),
                job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=pool_id))))
            wait_for(lambda: list(client.list_jobs_from_schedule("every-minute")), what="first job")
        server.kill()
        server.start()
        with server.client() as client:
            schedule = client.get_job_schedule("every-minute")
            assert schedule.state == "active" and schedule.execution_info.recent_job.id == "every-minute:job-1"
            # job-1 is still active: no second job however many intervals pass.
            with pytest.raises(AssertionError):
                wait_for(lambda: len(list(client.list_jobs_from_schedule("every-minute"))) > 1, timeout=3)
            client.begin_terminate_job("every-minute:job-1", mm.BatchJobTerminateOptions(termination_reason="done"),
                                       polling_interval=0.1).result()
            wait_for(lambda: {j.id for j in client.list_jobs_from_schedule("every-minute")}
                     == {"every-minute:job-1", "every-minute:job-2"}, what="numbering continues after the restart")
            with pytest.raises(HttpResponseError) as info:
                client.create_node_user(pool_id, node_id, m.BatchNodeUserCreateOptions(name="kept", password="x"))
            assert error_code(info.value) == "NodeUserExists"
    finally:
        server.stop()

"""Job schedules count against the account's quota of active jobs and job schedules, as on Azure
(ActiveJobAndScheduleQuotaReached); a deleted schedule frees its place."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .bare_server import BareServer
from .helpers import POLL, error_code, make_job, make_pool, uid

pytestmark = pytest.mark.timeout(120)


def test_schedules_and_jobs_share_the_active_quota(tmp_path) -> None:
    server = BareServer(tmp_path, flags=["--active-jobs-quota", "2"]).start()
    try:
        with server.client() as client:
            pool_id = make_pool(client, uid("q"), dedicated=0)
            later = datetime.now(timezone.utc) + timedelta(days=1)

            def schedule(sid: str) -> None:
                client.create_job_schedule(m.BatchJobScheduleCreateOptions(
                    id=sid, schedule=m.BatchJobScheduleConfiguration(do_not_run_until=later),
                    job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=pool_id))))
            schedule("s1")
            make_job(client, pool_id)
            for refused in (lambda: schedule("s2"), lambda: make_job(client, pool_id)):
                with pytest.raises(HttpResponseError) as info:
                    refused()
                assert (info.value.status_code, error_code(info.value)) == (409, "ActiveJobAndScheduleQuotaReached")
            client.begin_delete_job_schedule("s1", polling_interval=POLL).result()
            schedule("s2")  # the deleted schedule's place is free again
    finally:
        server.stop()

"""A job watcher (monitors, job.tasks()) must not call a job done on Azure's lagging task counts.

With the local service's ``task_counts_lag`` on, tasks added a moment ago are missing from Get Task
Counts while the task list already has them, as can happen on Azure."""

from __future__ import annotations

import time

import pytest
from azure.batch import BatchClient

from batchnb.data.watch import JobWatcher
from tests.monitoring.conftest import set_faults
from tests.service.helpers import make_job, py, task, wait_for

pytestmark = pytest.mark.timeout(60)

LAG = 2.0


@pytest.fixture
def lagging_counts(batch_client: BatchClient):
    set_faults(batch_client, task_counts_lag=LAG)
    try:
        yield LAG
    finally:
        set_faults(batch_client, task_counts_lag=0.0)


def test_new_tasks_missing_from_lagging_counts_keep_the_job_not_done(batch_client, empty_pool, lagging_counts):
    job_id = make_job(batch_client, empty_pool)
    batch_client.create_task(job_id, task("first", py("pass")))
    batch_client.terminate_task(job_id, "first")  # completed, without a node
    wait_for(lambda: batch_client.get_task(job_id, "first").state == "completed", what="first completed")
    time.sleep(LAG + 0.5)  # the counts now show 'first' completed...
    batch_client.create_task(job_id, task("second", py("pass")))  # ...but not 'second' yet
    watcher = JobWatcher(batch_client, job_id)
    watcher.refresh()
    assert watcher.counts["active"] == 0 and watcher.counts["completed"] == 1  # the counts lag
    assert str(watcher.tasks.loc["second", "state"]) == "active"
    assert not watcher.done

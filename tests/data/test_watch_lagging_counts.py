"""A job watcher (monitors, job.tasks()) must not call a job done on Azure's lagging task counts.

With ``batchnb.local.emulate(task_counts_lag=...)`` Get Task Counts answers with a snapshot up to
that old, so tasks added after the snapshot are missing from the counts while the task list
already has them, as can happen on Azure."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient

from batchnb.data.watch import JobWatcher
from batchnb.local import emulate
from tests.local.service.helpers import make_job, py, task, wait_for

pytestmark = pytest.mark.timeout(60)

LAG = 10.0  # long enough that the snapshot below is still served when the watcher reads it


@pytest.fixture
def lagging_counts(local_service):
    emulate(local_service, task_counts_lag=LAG)
    try:
        yield LAG
    finally:
        emulate(local_service, task_counts_lag=0)


def test_new_tasks_missing_from_lagging_counts_keep_the_job_not_done(batch_client: BatchClient, empty_pool,
                                                                     lagging_counts):
    job_id = make_job(batch_client, empty_pool)
    batch_client.create_task(job_id, task("first", py("pass")))
    batch_client.terminate_task(job_id, "first")  # completed, without a node
    wait_for(lambda: batch_client.get_task(job_id, "first").state == "completed", what="first completed")
    assert batch_client.get_job_task_counts(job_id).task_counts.completed == 1  # the snapshot: 'first' done
    batch_client.create_task(job_id, task("second", py("pass")))  # missing from the counts for a while
    watcher = JobWatcher(batch_client, job_id)
    watcher.refresh()
    assert watcher.counts["active"] == 0 and watcher.counts["completed"] == 1  # the counts lag
    assert str(watcher.tasks.loc["second", "state"]) == "active"
    assert not watcher.done

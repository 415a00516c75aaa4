"""Azure's Get Task Counts lags behind the task list; job.wait() and map() must not trust it.

The local service's counts are exact unless ``batchnb.local.emulate(task_counts_lag=...)`` is on:
then Get Task Counts answers with a snapshot up to that old. Each test reads the counts once before
adding tasks, so right after ``add_tasks`` they read 0 active / 0 running, as Azure's can.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import batchnb
from batchnb.local import LocalService, emulate

pytestmark = pytest.mark.timeout(120)

LAG_SECONDS = 5.0


@pytest.fixture
def lagging_counts(local_service: LocalService) -> Iterator[float]:
    emulate(local_service, task_counts_lag=LAG_SECONDS)
    try:
        yield LAG_SECONDS
    finally:
        emulate(local_service, task_counts_lag=0)


def test_the_knob_makes_counts_lag_behind_the_task_list(session, pool, unique, lagging_counts):
    job = session.create_job(f"lagknob-{unique}", pool=pool.id)
    job.task_counts()  # the snapshot the next reads get
    job.add_tasks([batchnb.TaskSpec(f"t{i}", "python3 -c 'import time; time.sleep(2)'") for i in range(3)])
    counts = job.task_counts()
    listed = job._list_task_rows(["id", "state"])
    assert len(listed) == 3
    assert counts["active"] == 0 and counts["running"] == 0 and counts["completed"] == 0


def test_wait_does_not_return_while_lagging_counts_read_zero(session, pool, unique, lagging_counts):
    job = session.create_job(f"lagwait-{unique}", pool=pool.id)
    job.task_counts()
    job.add_tasks([batchnb.TaskSpec(f"t{i}", "python3 -c 'import time; time.sleep(1); print(7)'") for i in range(4)])
    job.wait(timeout=60, poll=0.5)
    states = job.tasks()["state"].astype(str)
    assert (states == "completed").all(), states.to_dict()
    assert all(job.stdout(t).strip() == "7" for t in states.index)


def test_wait_raise_on_failure_finds_a_failure_the_counts_do_not_show_yet(session, pool, unique, lagging_counts):
    job = session.create_job(f"lagfail-{unique}", pool=pool.id)
    job.task_counts()
    job.add_tasks(batchnb.TaskSpec("bad", "python3 -c 'import sys; sys.exit(5)'"))
    with pytest.raises(batchnb.errors.TaskFailedError) as info:
        job.wait(timeout=60, poll=0.5, raise_on_failure=True)
    assert info.value.task_id == "bad" and info.value.exit_code == 5


def test_map_collects_every_result_under_lagging_counts(session, pool, lagging_counts):
    result = session.map(lambda v: v * 3, range(12), pool=pool.id, chunk_size=4, timeout=90)
    assert result == [v * 3 for v in range(12)]

"""Bulk task submission: exactly-once under injected faults, bounded by a deadline, chunked.

Chunk sizes as seen on the wire: test_bulk_chunks.py."""

from __future__ import annotations

import time

import pytest

import batchnb
from batchnb.core.tasks.bulk import MAX_CHUNK_BYTES, add_tasks, chunk_tasks
from batchnb.errors import TaskSubmissionError, ValidationError
from batchnb.local import inject_faults

pytestmark = [pytest.mark.timeout(180), pytest.mark.fault]


@pytest.fixture
def faults(local_service):
    """Faults on the shared service for one test; always switched off again."""
    yield lambda **kw: inject_faults(local_service, **kw)
    inject_faults(local_service)


def test_bulk_add_under_injected_503s_adds_every_task_exactly_once(session, unique, faults):
    # A job on a pool that does not exist (allowed by Batch): its tasks stay queued, so the
    # test measures submission only and leaves the shared pool free.
    job = session.create_job(f"bulk-{unique}", pool=f"parked-{unique}", allow_missing_pool=True)
    tasks = batchnb.sweep("python3 -c 'print({i})'", i=range(1000))
    faults(throttle=0.3, retry_after=0.05, seed=1)
    result = job.add_tasks(tasks, max_concurrency=4, timeout=120)
    stats = faults(throttle=0.0)
    assert stats["injected"]["throttle"] > 0, "the faults were not injected"
    assert result.retries > 0
    assert len(result.added) + len(result.already_existed) == 1000
    listed = [row["id"] for row in job._list_task_rows(["id"])]
    assert len(listed) == 1000 and set(listed) == {t.id for t in tasks}
    # Re-running after faults: nothing added twice.
    again = job.add_tasks(tasks)
    assert not again.added and len(again.already_existed) == 1000


def test_bulk_add_gives_up_at_the_deadline_and_reports_what_was_not_added(session, unique, faults):
    job = session.create_job(f"deadline-{unique}", pool=f"parked-{unique}", allow_missing_pool=True)
    tasks = [batchnb.TaskSpec(f"t{i}", "python3 -c 'pass'") for i in range(150)]
    job.add_tasks(tasks[:30])
    faults(throttle=1.0, retry_after=0.05, seed=2)
    started = time.monotonic()
    with pytest.raises(TaskSubmissionError) as info:
        add_tasks(session.batch_client, job.id, tasks, timeout=1.5)
    elapsed = time.monotonic() - started
    faults(throttle=0.0)
    assert elapsed < 10, "the deadline was not honoured"
    error = info.value
    assert error.not_added == [t.id for t in tasks]
    assert not error.added
    assert "deadline" in error.failures["t0"]
    assert "150 of 150" in str(error)
    # After the outage, the same call completes the set, counting the earlier 30 as existing.
    done = job.add_tasks(tasks)
    assert len(done.added) == 120 and len(done.already_existed) == 30


def test_bulk_add_to_a_missing_job_fails_fast_with_the_service_code(session, unique):
    started = time.monotonic()
    with pytest.raises(TaskSubmissionError) as info:
        add_tasks(session.batch_client, f"missing-{unique}", [batchnb.TaskSpec("a", "true")], timeout=60)
    assert time.monotonic() - started < 30  # no retrying until the 60 s deadline: the error is final
    assert "JobNotFound" in info.value.failures["a"]


def test_chunks_respect_count_and_size_limits():
    small = [(f"s{i}", None, 100) for i in range(250)]
    assert [len(c) for c in chunk_tasks(small)] == [100, 100, 50]
    big = [(f"b{i}", None, 300_000) for i in range(7)]
    chunks = chunk_tasks(big)
    assert all(sum(x[2] for x in c) <= MAX_CHUNK_BYTES for c in chunks)
    assert [x[0] for c in chunks for x in c] == [x[0] for x in big]  # order kept
    with pytest.raises(ValidationError):
        chunk_tasks([("huge", None, 2_000_000)])


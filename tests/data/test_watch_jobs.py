"""JobWatcher against the real local service: an incremental refresh costs what changed, not what exists."""

from __future__ import annotations

import asyncio
import time

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchnb.core.transport import Backoff
from batchnb.data.watch import JobWatcher, watcher_for
from tests.data.conftest import set_faults
from tests.local.service.helpers import make_job, make_pool, py, uid, wait_for

pytestmark = pytest.mark.timeout(120)

N_TASKS = 2000


def add_tasks(client: BatchClient, job_id: str, count: int, command: str = "python -c pass") -> None:
    tasks = [m.BatchTaskCreateOptions(id=f"t{i:05d}", command_line=command) for i in range(count)]
    client.create_tasks(job_id, tasks, max_concurrency=4)


@pytest.fixture
def big_job(batch_client: BatchClient, empty_pool: str) -> str:
    """2,000 active tasks, created more than a second ago (the watermark's server-clock cap is whole seconds)."""
    job_id = make_job(batch_client, empty_pool)
    add_tasks(batch_client, job_id, N_TASKS)
    time.sleep(1.1)
    return job_id


def test_incremental_refresh_costs_follow_changes_not_job_size(batch_client: BatchClient, big_job: str) -> None:
    watcher = JobWatcher(batch_client, big_job)
    full = watcher.refresh()
    assert full.full and full.rows == N_TASKS and len(watcher.tasks) == N_TASKS
    assert full.requests >= 2 + N_TASKS // 1000  # job + counts + one page per 1,000 tasks

    nothing = watcher.refresh()
    assert nothing.rows == 0 and nothing.requests == 3

    changed = [f"t{i:05d}" for i in range(0, N_TASKS, 100)]  # 1 %
    for task_id in changed:
        batch_client.terminate_task(big_job, task_id)
    incremental = watcher.refresh()

    assert sorted(incremental.changed_ids) == changed
    assert incremental.rows == len(changed)
    assert incremental.requests == 3
    assert incremental.bytes < 0.05 * full.bytes
    # The merged table is what a full reload would show.
    assert (watcher.tasks.loc[changed, "state"] == "completed").all()
    assert (watcher.tasks["state"] == "active").sum() == N_TASKS - len(changed)
    reloaded = JobWatcher(batch_client, big_job)
    reloaded.refresh()
    assert reloaded.tasks.sort_index()["state"].equals(watcher.tasks.sort_index()["state"])
    assert watcher.counts["completed"] == len(changed) and watcher.counts["active"] == N_TASKS - len(changed)
    assert len(watcher.history) >= 1


def test_watcher_follows_a_running_job_to_done_and_sees_failures(batch_client: BatchClient) -> None:
    pool_id = make_pool(batch_client, uid("watch"), dedicated=2, slots=4)
    job_id = make_job(batch_client, pool_id)
    ok = [m.BatchTaskCreateOptions(id=f"ok{i}", command_line=py("import time; time.sleep(0.2)")) for i in range(12)]
    bad = m.BatchTaskCreateOptions(id="bad", command_line=py("import sys; sys.stderr.write('boom'); sys.exit(3)"))
    batch_client.create_tasks(job_id, [*ok, bad])
    try:
        watcher = JobWatcher(batch_client, job_id).wait(timeout=60, interval=0.3)
        assert watcher.done
        assert len(watcher.tasks) == 13
        assert watcher.counts == {"active": 0, "running": 0, "completed": 13, "succeeded": 12, "failed": 1}
        assert list(watcher.failed().index) == ["bad"]
        assert watcher.tasks.loc["bad", "exit_code"] == 3
        assert watcher.tasks.loc["ok0", "duration"].total_seconds() > 0.1
    finally:
        batch_client.begin_delete_job(job_id, polling_interval=0.1).result()
        batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_run_on_the_event_loop_stops_when_done(batch_client: BatchClient, empty_pool: str) -> None:
    job_id = make_job(batch_client, empty_pool)
    add_tasks(batch_client, job_id, 30)
    watcher = JobWatcher(batch_client, job_id)
    updates: list[int] = []

    async def scenario() -> None:
        task = watcher.start(interval=0.05, on_update=lambda w: updates.append(len(w.tasks)))
        # Several refreshes have run (not merely time has passed): 30 active tasks on a pool
        # without nodes, so the loop is not done and keeps polling.
        await asyncio.to_thread(wait_for, lambda: watcher.refreshes >= 3, 20)
        assert not task.done() and not watcher.done
        for i in range(30):
            await asyncio.to_thread(batch_client.terminate_task, job_id, f"t{i:05d}")
        await asyncio.wait_for(task, timeout=20)  # done: the loop ends by itself

    asyncio.run(scenario())
    assert watcher.done and not watcher.running
    assert updates and updates[-1] == 30
    assert (watcher.tasks["state"] == "completed").all()


@pytest.mark.timeout(300)
def test_stop_ends_the_loop_promptly(batch_client: BatchClient, empty_pool: str) -> None:
    job_id = make_job(batch_client, empty_pool)
    add_tasks(batch_client, job_id, 3)
    watcher = JobWatcher(batch_client, job_id)

    async def scenario() -> float:
        task = watcher.start(interval=3600)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        watcher.stop()
        # The poll in flight may take a while on a busy 2-core machine; the margin is generous and
        # still far short of the hour-long interval the loop would otherwise sleep out.
        await asyncio.wait_for(task, timeout=240)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 240  # stop() ended the loop: it did not sleep out the interval
    assert watcher.refreshes >= 1 and not watcher.done


@pytest.mark.fault
def test_throttling_is_backed_off_recorded_and_survived(batch_client: BatchClient, empty_pool: str,
                                                        no_faults) -> None:
    job_id = make_job(batch_client, empty_pool)
    add_tasks(batch_client, job_id, 5)
    watcher = JobWatcher(batch_client, job_id)
    watcher.refresh()
    seen: list[str] = []

    async def scenario() -> None:
        set_faults(batch_client, throttle=1.0, retry_after=0.3, seed=7)
        task = watcher.start(interval=0.05, on_update=lambda w: seen.append(w.status_text()))
        await asyncio.to_thread(wait_for, lambda: watcher.throttle_count >= 3, 20)
        assert watcher.throttled is not None and watcher.throttled.status in (429, 503)
        assert watcher.throttled.delay >= 0.3  # Retry-After honoured
        set_faults(batch_client, throttle=0.0)
        await asyncio.to_thread(wait_for, lambda: watcher.throttled is None, 20)
        for i in range(5):
            await asyncio.to_thread(batch_client.terminate_task, job_id, f"t{i:05d}")
        await asyncio.wait_for(task, timeout=20)

    asyncio.run(scenario())
    assert any(s.startswith("throttled (HTTP 4") or s.startswith("throttled (HTTP 5") for s in seen)
    assert any("retrying in" in s for s in seen)
    assert watcher.done and watcher.last_error is None


@pytest.mark.fault
def test_sync_refresh_waits_out_throttling(batch_client: BatchClient, empty_pool: str, no_faults) -> None:
    job_id = make_job(batch_client, empty_pool)
    add_tasks(batch_client, job_id, 5)
    watcher = JobWatcher(batch_client, job_id, backoff_cap=0.5)
    set_faults(batch_client, throttle=0.6, retry_after=0.05, seed=3)
    stats = watcher.refresh(max_wait=30)
    assert stats.full and len(watcher.tasks) == 5
    assert watcher.throttled is None


def test_backoff_is_exponential_capped_and_respects_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    assert [backoff.next_delay(None) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert backoff.next_delay(30.0) == 30.0  # the service's Retry-After wins over the cap
    backoff.reset()
    assert backoff.next_delay(0.5) == 1.0


def test_registry_returns_one_watcher_per_client_and_job(batch_client: BatchClient, big_job: str) -> None:
    first = watcher_for(batch_client, big_job)
    assert watcher_for(batch_client, big_job) is first
    assert watcher_for(batch_client, "other") is not first
    first.refresh()
    assert len(watcher_for(batch_client, big_job).tasks) == N_TASKS

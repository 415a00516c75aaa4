"""Counters kept incrementally (task counts, slot counts, node running counts) agree with the tasks
themselves after a churn of retries, terminations, deletions and reactivations."""

from __future__ import annotations

import random
import time

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import error_code, make_job, make_pool, py, task, wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def _counts_from_tasks(tasks) -> tuple[dict, dict]:
    counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
    slots = dict(counts)
    for t in tasks:
        bucket = "running" if t.state == "preparing" else t.state
        counts[bucket] += 1
        slots[bucket] += t.required_slots
        if t.state == "completed":
            outcome = "succeeded" if t.execution_info.result == "success" else "failed"
            counts[outcome] += 1
            slots[outcome] += t.required_slots
    return counts, slots


def test_counts_match_tasks_after_churn(client) -> None:
    rng = random.Random(5)
    pool_id = make_pool(client, dedicated=2, slots=4)
    job_id = make_job(client, pool_id)
    tasks = []
    for i in range(120):
        code = rng.choice([0, 0, 0, 1, 2])
        sleep = rng.choice([0, 0, 0.05, 0.2])
        tasks.append(task(f"t{i:03d}", py(f"import sys, time; time.sleep({sleep}); sys.exit({code})"),
                          required_slots=rng.choice([1, 1, 2]),
                          constraints=m.BatchTaskConstraints(max_task_retry_count=rng.choice([0, 1]))))
    client.create_tasks(job_id, tasks, max_concurrency=2)
    ids = [t.id for t in tasks]
    for task_id in rng.sample(ids, 15):
        try:
            client.terminate_task(job_id, task_id)
        except HttpResponseError as exc:  # it finished first: Batch refuses to terminate a completed task
            assert error_code(exc) == "TaskCompleted", exc
    for task_id in rng.sample(ids, 10):
        client.delete_task(job_id, task_id)
    wait_for(lambda: (c := client.get_job_task_counts(job_id).task_counts).active + c.running == 0, timeout=60,
             what="all settled")
    listed = list(client.list_tasks(job_id))
    for t in [t for t in listed if t.execution_info.result == "failure"][:10]:
        client.reactivate_task(job_id, t.id)
    wait_for(lambda: (c := client.get_job_task_counts(job_id).task_counts).active + c.running == 0, timeout=60,
             what="reactivated settled")
    time.sleep(0.2)
    listed = list(client.list_tasks(job_id))
    assert len(listed) == 110
    counts, slots = _counts_from_tasks(listed)
    result = client.get_job_task_counts(job_id)
    assert result.task_counts.as_dict() == counts
    assert result.task_slot_counts.as_dict() == slots
    nodes = list(client.list_nodes(pool_id))
    assert all(n.running_tasks_count == 0 and n.running_task_slots_count == 0 and n.state == "idle" for n in nodes)

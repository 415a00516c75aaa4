"""Get Task Counts as Azure answers it: possibly behind the task list.

Azure documents that the counts "may not always be up to date; if you need exact task counts, use
a list query". Right after tasks are added they can still read zero active and zero running, so a
client that trusts them believes the job finished. The local service's counters are exact; with
``task_counts_lag`` > 0 (a fault knob: ``--task-counts-lag``, ``inject_faults(task_counts_lag=)``)
it answers with the counts as they were that many seconds ago, rebuilt from each task's creation
and state transition times, so tests can prove that a client survives stale counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from batchnb.local.service.model import clock

_BUCKETS = ("active", "running", "completed", "succeeded", "failed")


def _state_at(doc: dict, as_of: datetime) -> str | None:
    """The task's state at ``as_of`` (None: it did not exist yet). One transition back is exact;
    a task that changed twice since ``as_of`` was still in its first state then, ``active``."""
    if clock.parse_iso(doc["creationTime"]) > as_of:
        return None
    changed = doc.get("stateTransitionTime")
    if not changed or clock.parse_iso(changed) <= as_of:
        return doc["state"]
    before = doc.get("previousStateTransitionTime")
    if doc.get("previousState") and before and clock.parse_iso(before) <= as_of:
        return doc["previousState"]
    return "active"


def lagged_task_counts(job, lag_seconds: float, now: datetime | None = None) -> dict:
    """The ``taskcounts`` body of ``job`` as of ``lag_seconds`` ago (the exact counts for 0)."""
    counts = dict.fromkeys(_BUCKETS, 0)
    slot_counts = dict.fromkeys(_BUCKETS, 0)
    if lag_seconds <= 0:
        return {"taskCounts": dict(job.counts), "taskSlotCounts": dict(job.slot_counts)}
    as_of = (now or clock.now()) - timedelta(seconds=lag_seconds)
    for task in list(job.tasks.values()):
        doc = task.doc
        state = _state_at(doc, as_of)
        if state is None:
            continue
        bucket = "running" if state == "preparing" else state
        slots = int(doc.get("requiredSlots") or 1)
        counts[bucket] += 1
        slot_counts[bucket] += slots
        if bucket == "completed":
            result = (doc.get("executionInfo") or {}).get("result") if doc["state"] == "completed" else None
            outcome = "succeeded" if result == "success" else "failed"
            counts[outcome] += 1
            slot_counts[outcome] += slots
    return {"taskCounts": counts, "taskSlotCounts": slot_counts}

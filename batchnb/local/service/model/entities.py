"""In-memory entities: each holds its REST document (`doc`, exactly what GET returns) and the
service's private bookkeeping (`x`, persisted too), plus runtime-only handles."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(eq=False)
class Pool:
    key: str  # lower-cased id: ids are unique case-insensitively
    seq: int
    doc: dict
    x: dict = field(default_factory=dict)  # node_counter, autoscale history, last enable-autoscale time
    nodes: dict[str, "Node"] = field(default_factory=dict)
    resize_task: asyncio.Task | None = None


@dataclass(eq=False)
class Node:
    key: str  # "<poolkey>/<nodeid>"
    seq: int
    pool: Pool
    doc: dict
    x: dict = field(default_factory=dict)  # root dir, prep status per job, removal pending
    running: dict[str, "Task"] = field(default_factory=dict)  # task.key -> task
    used_slots: int = 0
    lifecycle: asyncio.Task | None = None  # boot / start task / reboot coroutine

    @property
    def id(self) -> str:
        return self.doc["id"]


@dataclass(eq=False)
class Job:
    key: str
    seq: int
    doc: dict
    x: dict = field(default_factory=dict)  # deps_dirty
    tasks: dict[str, "Task"] = field(default_factory=dict)  # task key -> task, insertion (seq) order
    # Active, schedulable, FIFO. An OrderedDict, not a dict: taking the first key of a dict whose
    # front entries were deleted scans the holes (O(n^2) over a 100k-task job); this is O(1).
    pending: OrderedDict[str, None] = field(default_factory=OrderedDict)
    blocked: dict[str, None] = field(default_factory=dict)  # active, waiting on dependencies
    running_count: int = 0
    counts: dict = field(default_factory=lambda: {"active": 0, "running": 0, "completed": 0,
                                                  "succeeded": 0, "failed": 0})
    slot_counts: dict = field(default_factory=lambda: {"active": 0, "running": 0, "completed": 0,
                                                       "succeeded": 0, "failed": 0})
    # (stamp_us, task) per state change; the newest entry per task is the one that matters.
    change_us: list[int] = field(default_factory=list)
    change_tasks: list["Task"] = field(default_factory=list)
    int_ids: dict[int, list[str]] | None = None  # integer task ids for taskIdRanges, built lazily
    ending: asyncio.Task | None = None  # terminate / delete / disable coroutine

    @property
    def id(self) -> str:
        return self.doc["id"]


@dataclass(eq=False)
class Task:
    key: str  # "<jobkey>/<taskkey>"
    seq: int
    job: Job
    doc: dict
    x: dict = field(default_factory=dict)  # dep ("satisfy"|"block"), dep_cursor
    node: Node | None = None
    run: asyncio.Task | None = None
    stamp_us: int = 0

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def slots(self) -> int:
        return int(self.doc.get("requiredSlots") or 1)


def job_pool_key(job: Job) -> str:
    """The (lower-cased) id of the pool a job runs on: its poolInfo.poolId, or the auto pool the
    service created for it (executionInfo.poolId)."""
    pool_id = (job.doc.get("poolInfo") or {}).get("poolId") or (job.doc.get("executionInfo") or {}).get("poolId")
    return str(pool_id or "").lower()


@dataclass(eq=False)
class JobSchedule:
    key: str
    seq: int
    doc: dict
    x: dict = field(default_factory=dict)  # job counter, next run, auto pool id
    ending: asyncio.Task | None = None  # terminate / delete coroutine

    @property
    def id(self) -> str:
        return self.doc["id"]

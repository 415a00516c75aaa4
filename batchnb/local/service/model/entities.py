"""In-memory entities: each holds its REST document (`doc`, exactly what GET returns) and the
service's private bookkeeping (`x`, persisted too), plus runtime-only handles."""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from dataclasses import dataclass, field

from batchnb.local.service.model import task_codec


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
    # Tasks in seq order, for list pages: a page starts by bisection instead of copying every task
    # (which made each page of a million-task job cost ~30 ms). Deleted tasks are skipped, and
    # dropped when they pile up; built lazily, appended to by add_task.
    order: list["Task"] | None = None

    @property
    def id(self) -> str:
        return self.doc["id"]

    def ordered_tasks(self) -> list["Task"]:
        """Every task in seq order; may hold deleted tasks (check ``tasks.get(t.key) is t``)."""
        order = self.order
        if order is None or len(order) < len(self.tasks) or len(order) > 2 * len(self.tasks) + 1000:
            order = self.order = sorted(self.tasks.values(), key=_seq)
        return order


class Task:
    """A task: its REST document and bookkeeping, held compactly once nothing is using it.

    A million-task job is mostly tasks that wait (active) or are done (completed). Once such a
    task's document has been written to the store and no code holds a reference into it, it is
    kept as its deflated JSON (``task_codec``, ~60-90 bytes instead of ~1.5 KB of dicts) and
    decoded again on the first access to :attr:`doc`. :meth:`peek` reads it without keeping the
    decoded copy (listing a million tasks must not decode them all for good).
    """

    __slots__ = ("key", "seq", "job", "_doc", "_packed", "_state", "_x", "node", "run", "stamp_us")

    def __init__(self, key: str, seq: int, job: Job, doc: dict, x: dict | None = None, node: Node | None = None,
                 run: asyncio.Task | None = None, stamp_us: int = 0) -> None:
        self.key = key  # "<jobkey>/<taskkey>"
        self.seq = seq
        self.job = job
        self._doc: dict | None = doc
        self._packed: bytes | None = None
        self._state: str | None = None
        self._x = x  # dep ("satisfy"|"block"), dep_cursor; None when empty and packed
        self.node = node
        self.run = run
        self.stamp_us = stamp_us

    def __repr__(self) -> str:
        return f"Task(key={self.key!r}, seq={self.seq}, state={self.state!r})"

    @property
    def doc(self) -> dict:
        """The REST document (exactly what GET returns), decoded and kept if it was packed."""
        doc = self._doc
        if doc is None:
            doc = self._doc = task_codec.unpack(self._packed)  # type: ignore[arg-type]
            self._packed = None
            self._state = None
        return doc

    def peek(self) -> dict:
        """The document for reading only: a packed task is decoded into a copy that is not kept."""
        doc = self._doc
        return doc if doc is not None else task_codec.unpack(self._packed)  # type: ignore[arg-type]

    @property
    def x(self) -> dict:
        x = self._x
        if x is None:
            x = self._x = {}
        return x

    @property
    def state(self) -> str:
        doc = self._doc
        return doc["state"] if doc is not None else self._state  # type: ignore[return-value]

    @property
    def packed(self) -> bool:
        return self._doc is None

    def pack(self, text: str) -> bool:
        """Hold the document as ``text`` (its JSON, just written to the store) if nothing else can
        still change it: the task waits or is done, and no one holds a reference into the dict
        (CPython reference counts; calibrated below). Returns whether it did."""
        if self._doc is None or self.run is not None or self.node is not None:
            return False
        if self._doc.get("state") not in _PACKABLE_STATES:
            return False
        if _refs(self._doc) > _TOP_REFS or _nested_refs(self._doc) > _NESTED_REFS:
            return False
        self._state = _PACKABLE_STATES[self._doc["state"]]  # a shared string, not one per task
        self._packed = task_codec.pack(text)
        self._doc = None
        if self._x is not None and not self._x:
            self._x = None
        return True

    @property
    def id(self) -> str:
        # Not derivable from the key (lower-cased); a packed task pays one decode.
        return self.peek()["id"]

    @property
    def slots(self) -> int:
        return int(self.peek().get("requiredSlots") or 1)


_PACKABLE_STATES = {"active": "active", "completed": "completed"}


def _refs(obj: object) -> int:
    return sys.getrefcount(obj)


def _nested_refs(container: dict | list) -> int:
    """The largest reference count among the dicts and lists nested in ``container``."""
    most = 0
    for value in container.values() if isinstance(container, dict) else container:
        if isinstance(value, (dict, list)):
            most = max(most, sys.getrefcount(value), _nested_refs(value))
    return most


def _calibrate() -> tuple[int, int]:
    # The counts of a document only the task holds, as seen through these same helpers.
    probe = Task("p/p", 0, None, {"state": "active", "a": {"b": [{}]}})  # type: ignore[arg-type]
    return _refs(probe._doc), _nested_refs(probe._doc)  # noqa: SLF001


_TOP_REFS, _NESTED_REFS = _calibrate()


def _seq(entity) -> int:
    return entity.seq


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

"""The local Batch service's model: state and behaviour (moto-style), reached only through HTTP handlers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from batchnb.local.service.config import ServerConfig
from batchnb.local.service.model import clock
from batchnb.local.service.model.auto_pools import AutoPoolOps
from batchnb.local.service.model.entities import Job, JobSchedule, Node, Pool, Task
from batchnb.local.service.model.job_schedules import JobScheduleOps
from batchnb.local.service.model.jobs import JobOps
from batchnb.local.service.model.node_users import NodeUserOps
from batchnb.local.service.model.nodes import NodeOps
from batchnb.local.service.model.pools import PoolOps
from batchnb.local.service.model.retention import RetentionOps
from batchnb.local.service.model.runtime_port import NodeRuntime
from batchnb.local.service.model.store import Store
from batchnb.local.service.model.tasks import TaskOps
from batchnb.local.service.model.usage import UsageOps

log = logging.getLogger("batchnb.local")


class BatchService(PoolOps, NodeOps, NodeUserOps, JobOps, JobScheduleOps, AutoPoolOps, TaskOps,
                   RetentionOps, UsageOps):
    def __init__(self, config: ServerConfig, *, runtime: Callable[[BatchService], NodeRuntime]):
        """``runtime`` builds what runs the nodes' processes (``runtime.scheduler.Scheduler``); it is
        passed in, not imported, so that the model depends on no runtime code."""
        self.config = config
        self.state_dir = Path(config.state_dir)
        self.nodes_dir = self.state_dir / "nodes"
        self.base_url = ""  # set once the port is known
        self.store = Store(self.state_dir / "batch.sqlite3")
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self.job_schedules: dict[str, JobSchedule] = {}
        self.counts_snapshots: dict[str, tuple[float, dict]] = {}  # job key -> (taken at, counts): lagging counts
        self.retention_heap: list[tuple] = []  # (expiry, seq, job key, task key, endTime): see retention.py
        self.usage_ledger: list[dict] = []  # departed nodes' metered spans (usage.py)
        self.seq = 0
        self._wake = asyncio.Event()
        self._bg: set[asyncio.Task] = set()
        self.scheduler: NodeRuntime = runtime(self)

    # ---- bookkeeping -------------------------------------------------------------------------
    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def touch(self, entity: Pool | Node | Job | Task | JobSchedule, *, modified: bool = True) -> None:
        """Record a change: new ETag/lastModified (for entity-level changes) and queue the write."""
        if modified:
            entity.doc["eTag"] = clock.etag()
            entity.doc["lastModified"] = clock.iso(clock.now())
        self.save(entity)

    def save(self, entity: Pool | Node | Job | Task | JobSchedule) -> None:
        if type(entity) is Task:
            self.store.put("tasks", entity.key, entity.seq, entity.doc, entity.x, entity.pack)
            return
        table = {Pool: "pools", Node: "nodes", Job: "jobs", JobSchedule: "jobschedules"}[type(entity)]
        self.store.put(table, entity.key, entity.seq, entity.doc, entity.x)

    def set_state(self, entity: Pool | Node | Job | Task | JobSchedule, state: str, *, field: str = "state") -> None:
        doc = entity.doc
        if doc.get(field) == state:
            return
        when = clock.stamp()
        if field == "state":
            if doc.get("state") is not None:
                doc["previousState"] = doc["state"]
                doc["previousStateTransitionTime"] = doc.get("stateTransitionTime")
            doc["state"] = state
            doc["stateTransitionTime"] = clock.iso(when)
        else:  # allocationState
            doc[field] = state
            doc[field + "TransitionTime"] = clock.iso(when)
        if isinstance(entity, Node) and field == "state":
            self.note_on_node(entity, f"INFO node state changed to {state}", when=when)
        if isinstance(entity, Task):
            us = int(when.timestamp() * 1_000_000)
            entity.stamp_us = us
            entity.job.change_us.append(us)
            entity.job.change_tasks.append(entity)
        # Only the entity itself changes: a task's state does not move its job's lastModified, as in Batch.
        self.touch(entity)

    def wake(self) -> None:
        """Ask the scheduler for a pass soon (cheap; many wakes coalesce into one pass)."""
        self.scheduler.wake()

    def spawn(self, coro, *, name: str | None = None) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro, name=name)
        self._bg.add(t)
        t.add_done_callback(self._bg_done)
        return t

    def _bg_done(self, t: asyncio.Task) -> None:
        self._bg.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("background step failed", exc_info=t.exception())

    def flush(self) -> None:
        self.store.flush()

    # ---- start / stop ------------------------------------------------------------------------
    def _load_children(self, table: str, parents: dict) -> Iterator[tuple]:
        """Stored rows of ``table`` with their parent (keys are ``parent/child``); orphans are dropped."""
        for key, seq, doc, x in self.store.load(table):
            parent = parents.get(key.split("/", 1)[0])
            if parent is None:
                self.store.delete(table, key)
                continue
            self.seq = max(self.seq, seq)
            yield key, seq, doc, x, parent

    def load(self) -> None:
        """Rebuild the in-memory state after a restart; running work is requeued (as a node
        failure would be) and nodes boot again."""
        self.load_usage()
        for key, seq, doc, x in self.store.load("pools"):
            self.pools[key] = Pool(key=key, seq=seq, doc=doc, x=x)
            self.seq = max(self.seq, seq)
        for key, seq, doc, x, pool in self._load_children("nodes", self.pools):
            pool.nodes[doc["id"]] = Node(key=key, seq=seq, pool=pool, doc=doc, x=x)
        for key, seq, doc, x in self.store.load("jobs"):
            self.jobs[key] = Job(key=key, seq=seq, doc=doc, x=x)
            self.seq = max(self.seq, seq)
        for key, seq, text, x in self.store.load_texts("tasks"):
            job = self.jobs.get(key.split("/", 1)[0])
            if job is None:
                self.store.delete("tasks", key)
                continue
            self.seq = max(self.seq, seq)
            task = job.tasks[key] = Task(key=key, seq=seq, job=job, doc=json.loads(text), x=x)
            # Packed as it is read, from the stored text: a million tasks never sit decoded at once.
            task.pack(text)
        for key, seq, doc, x in self.store.load("jobschedules"):
            self.job_schedules[key] = JobSchedule(key=key, seq=seq, doc=doc, x=x)
            self.seq = max(self.seq, seq)
        for job in self.jobs.values():
            self.recover_job(job)
        for schedule in self.job_schedules.values():
            self.recover_job_schedule(schedule)
        for pool in self.pools.values():
            self.recover_pool(pool)
        self.flush()
        self.pack_tasks()

    def pack_tasks(self) -> int:
        """Hold every waiting or finished task compactly (see ``Task.pack``); after a restart's load."""
        packed = 0
        for job in self.jobs.values():
            for task in job.tasks.values():
                if not task.packed:
                    packed += task.pack(json.dumps(task.doc, separators=(",", ":")))
        return packed

    async def start(self) -> None:
        self.load()
        self.scheduler.start()

    async def stop(self) -> None:
        """Shutting the service down shuts its emulated nodes down: nothing they ran outlives it.
        Tasks that were running are requeued when the service starts again."""
        await self.scheduler.stop()
        for t in list(self._bg):
            t.cancel()
        if self.nodes_dir.exists():
            await self.scheduler.kill_processes_under(self.nodes_dir)
        self.flush()
        self.store.close()

"""Task retention (constraints.retentionTime, P7D by default): once it has passed since a task
completed, its directory on the node is removed and its files answer 409 TaskFilesCleanedup, as on
Azure. Durations run on the service's clock scale (ServerConfig.clock_scale), like job schedules.

Expiries sit in a heap, so a tick costs O(expired) however many tasks are retained.
"""

from __future__ import annotations

import asyncio
import heapq
import shutil

from batchnb.local.service.model import clock
from batchnb.local.service.model.entities import Task
from batchnb.local.service.node_layout import task_dir


class RetentionOps:
    def note_completed(self, task: Task) -> None:
        """Remember when a just-completed task's files expire."""
        doc = task.peek()  # a finished task stays packed
        retention = clock.parse_duration(doc["constraints"].get("retentionTime"))
        end = (doc.get("executionInfo") or {}).get("endTime")
        if retention is None or end is None or task.x.get("files_cleaned"):
            return
        expiry = clock.parse_iso(end).timestamp() + retention.total_seconds() / max(self.config.clock_scale, 1e-9)
        heapq.heappush(self.retention_heap, (expiry, task.seq, task.job.key, task.key, end))

    def retention_tick(self) -> None:
        now = clock.now().timestamp()
        heap = self.retention_heap
        while heap and heap[0][0] <= now:
            _, _, job_key, task_key, end = heapq.heappop(heap)
            job = self.jobs.get(job_key)
            task = job.tasks.get(task_key) if job is not None else None
            # A task reactivated (and maybe completed again) since has a newer entry of its own.
            if task is None or task.state != "completed" or task.peek()["executionInfo"].get("endTime") != end:
                continue
            node = self._node_of(task)
            task.x["files_cleaned"] = True
            self.save(task)
            if node is not None:
                path = task_dir(self.node_root(node), job.id, task.id)
                self.spawn(asyncio.to_thread(shutil.rmtree, path, True), name=f"retention-{task.key}")

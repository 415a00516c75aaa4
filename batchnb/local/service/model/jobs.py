"""Jobs: create, update, disable/enable, terminate, delete, task counts, prep/release status."""

from __future__ import annotations

import asyncio
import shutil

from batchnb.local.service import node_layout
from batchnb.local.service.model import clock, shapes
from batchnb.local.service.model.entities import Job, job_pool_key
from batchnb.local.service.model.errors import bad_value, conflict, find, missing, refuse_states
from batchnb.local.service.model.quotas import job_quota_reached
from batchnb.local.service.model.tasks import mark_requeued
from batchnb.local.service.model.validate import (
    check_duration,
    check_enum,
    check_id,
    check_int,
    check_metadata,
    check_object,
    require,
)

REPLACE_DEFAULTS = {"priority": 0, "allowTaskPreemption": False, "maxParallelTasks": -1,
                    "onAllTasksComplete": "noaction", "constraints": {}}
# Job states with no way back to active.
ENDING_STATES = ("terminating", "completed", "deleting")
JOB_WRITABLE = ("priority", "allowTaskPreemption", "maxParallelTasks", "constraints", "poolInfo",
                "onAllTasksComplete", "metadata", "networkConfiguration")

# States in which a job takes no updates and no new tasks: Azure's 409 for each.
_JOB_FROZEN = {
    "completed": ("JobCompleted", "The specified job is already in a completed state."),
    "terminating": ("JobBeingTerminated", "The specified job is being terminated."),
    "deleting": ("JobBeingDeleted", "The specified job has been marked for deletion and is being garbage collected."),
}

_SHARED_IDS = "jobs and job schedules share one id namespace."
# (creating a schedule?, id held by a schedule?) -> Azure's 409.
_ID_TAKEN = {
    (False, False): ("JobExists", "The specified job already exists."),
    (False, True): ("JobScheduleWithSameIdExists", f"A job schedule with the same id already exists; {_SHARED_IDS}"),
    (True, True): ("JobScheduleExists", "The specified job schedule already exists."),
    (True, False): ("JobWithSameIdExists", f"A job with the same id already exists; {_SHARED_IDS}"),
}


class JobOps:
    def get_job(self, job_id: str) -> Job:
        return find(self.jobs, job_id.lower(), "JobNotFound", "job")

    def _check_job_settings(self, body: dict) -> None:
        check_int(body, "priority", -1000, 1000, code="OutOfRangePriority")
        check_int(body, "maxParallelTasks", 1, 1_000_000, allow=(-1,))
        constraints = body.get("constraints")
        if constraints is not None:
            check_object(constraints, "constraints")
            check_duration(constraints, "maxWallClockTime")
            check_int(constraints, "maxTaskRetryCount", 0, 1_000_000, allow=(-1,), code="InvalidConstraintValue")
        check_enum(body, "onAllTasksComplete", ("noaction", "terminatejob"))
        check_enum(body, "onTaskFailure", ("noaction", "performexitoptionsjobaction"))
        check_metadata(body)

    def create_job(self, body: dict) -> Job:
        body = check_object(body, shape=shapes.JOB_CREATE)
        job_id = self.claim_id(body.get("id"), schedule=False)
        return self.new_job(job_id, body)

    def claim_id(self, raw: object, *, schedule: bool) -> str:
        """A valid id for a new job (or, with ``schedule``, job schedule) that no job and no job
        schedule holds (they share one namespace), with room under the active quota."""
        new_id = check_id(raw)
        for held_by_schedule in (schedule, not schedule):  # the new entity's own kind first, as Azure does
            if new_id.lower() in (self.job_schedules if held_by_schedule else self.jobs):
                raise conflict(*_ID_TAKEN[schedule, held_by_schedule])
        self.check_active_quota()
        return new_id

    def check_active_quota(self) -> None:
        """Active jobs and job schedules share one account quota, as on Azure."""
        active = sum(1 for j in self.jobs.values() if j.doc.get("state") not in ("completed", "deleting"))
        active += sum(1 for s in self.job_schedules.values() if s.doc.get("state") not in ("completed", "deleting"))
        if active >= self.config.quotas.active_jobs:
            raise job_quota_reached(self.config.quotas.active_jobs)

    def check_job_spec(self, body: dict, *, schedule: bool = False) -> None:
        """Everything about a job body but its id: for POST /jobs and a schedule's jobSpecification."""
        pool_info = body.get("poolInfo")
        if not pool_info or not isinstance(pool_info, dict):
            raise missing("poolInfo")
        if not pool_info.get("poolId"):
            if not pool_info.get("autoPoolSpecification"):
                raise missing("poolInfo.poolId")
            self.check_auto_pool_spec(pool_info["autoPoolSpecification"], schedule=schedule)
        self._check_job_settings(body)
        for prop in ("jobPreparationTask", "jobReleaseTask", "jobManagerTask"):
            if body.get(prop) is not None:
                require(check_object(body[prop], prop), "commandLine")
        if body.get("jobReleaseTask") and not body.get("jobPreparationTask"):
            raise bad_value("jobReleaseTask", "...", "A job release task requires a job preparation task.")
        if body.get("jobReleaseTask"):
            check_duration(body["jobReleaseTask"], "maxWallClockTime", maximum_s=900)

    def new_job(self, job_id: str, body: dict, *, schedule=None) -> Job:
        """Create a checked job (``schedule``: the JobSchedule that creates it on its recurrence)."""
        self.check_job_spec(body, schedule=schedule is not None)
        pool_info = body["poolInfo"]
        pool_id = pool_info.get("poolId") or self.open_auto_pool(pool_info["autoPoolSpecification"], job_id=job_id,
                                                                 schedule=schedule)
        now = clock.iso(clock.now())
        constraints = {"maxWallClockTime": clock.INFINITE, "maxTaskRetryCount": 0}
        constraints.update({k: v for k, v in (body.get("constraints") or {}).items() if v is not None})
        doc = {
            "id": job_id,
            "displayName": body.get("displayName"),
            "url": f"{self.base_url}/jobs/{job_id}",
            "creationTime": now,
            "state": None,
            "priority": body.get("priority", 0),
            "allowTaskPreemption": bool(body.get("allowTaskPreemption", False)),
            "maxParallelTasks": body.get("maxParallelTasks", -1),
            "usesTaskDependencies": bool(body.get("usesTaskDependencies", False)),
            "constraints": constraints,
            "poolInfo": ({"poolId": pool_info["poolId"]} if pool_info.get("poolId")
                         else {"autoPoolSpecification": pool_info["autoPoolSpecification"]}),
            "onAllTasksComplete": (body.get("onAllTasksComplete") or "noaction").lower(),
            "onTaskFailure": (body.get("onTaskFailure") or "noaction").lower(),
            "executionInfo": {"startTime": now, "poolId": pool_id},
        }
        for prop in ("commonEnvironmentSettings", "metadata", "networkConfiguration", "jobManagerTask"):
            if body.get(prop) is not None:
                doc[prop] = body[prop]
        if body.get("jobPreparationTask"):
            prep = {"id": "jobpreparation", "constraints": {"maxWallClockTime": clock.INFINITE, "retentionTime": "P7D",
                                                             "maxTaskRetryCount": 0},
                    "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
                    "waitForSuccess": True, "rerunOnNodeRebootAfterSuccess": True}
            prep.update({k: v for k, v in body["jobPreparationTask"].items() if v is not None})
            doc["jobPreparationTask"] = prep
        if body.get("jobReleaseTask"):
            release = {"id": "jobrelease", "maxWallClockTime": "PT15M", "retentionTime": "P7D"}
            release.update({k: v for k, v in body["jobReleaseTask"].items() if v is not None})
            doc["jobReleaseTask"] = release
        doc = {k: v for k, v in doc.items() if v is not None or k == "state"}
        job = Job(key=job_id.lower(), seq=self.next_seq(), doc=doc,
                  x={"schedule": schedule.key} if schedule is not None else {})
        self.jobs[job.key] = job
        self.set_state(job, "active")
        if job.doc.get("jobManagerTask"):
            jm = dict(job.doc["jobManagerTask"])
            self.add_task(job, jm, manager=True)
        self.check_all_complete(job)
        self.wake()
        return job

    # ---- updates --------------------------------------------------------------------------------
    def _updatable(self, job_id: str) -> Job:
        job = self.get_job(job_id)
        refuse_states(job.doc["state"], _JOB_FROZEN)
        return job

    def patch_job(self, job_id: str, body: dict, *, replace: bool = False) -> Job:
        job = self._updatable(job_id)
        body = check_object(body, shape=shapes.JOB_SETTINGS)
        self._check_job_settings(body)
        if replace:
            # PUT is a full replace: what it omits goes back to its default (as the REST docs say).
            if not body.get("poolInfo"):
                raise missing("poolInfo")
            body = {**REPLACE_DEFAULTS, **{k: v for k, v in body.items() if v is not None}}
        new_on_complete = (body.get("onAllTasksComplete") or "").lower()
        if job.doc["onAllTasksComplete"] == "terminatejob" and new_on_complete == "noaction":
            raise bad_value("onAllTasksComplete", "noaction", "terminatejob cannot be changed back to noaction.")
        pool_info = body.get("poolInfo")
        if pool_info is not None and not pool_info.get("poolId"):
            raise missing("poolInfo.poolId")
        if pool_info and pool_info["poolId"].lower() != job_pool_key(job):
            if job.doc["state"] != "disabled":
                raise conflict("OperationInvalidForCurrentState", "poolInfo can be changed only while the job is "
                                                                  "disabled.")
        for prop in JOB_WRITABLE:
            if prop in body and body[prop] is not None:
                value = body[prop]
                if prop == "onAllTasksComplete":
                    value = value.lower()
                if prop == "constraints":
                    value = {"maxWallClockTime": clock.INFINITE, "maxTaskRetryCount": 0, **({} if replace else
                                                                                            job.doc["constraints"]),
                             **{k: v for k, v in value.items() if v is not None}}
                job.doc[prop] = value
            elif replace and prop == "metadata":
                job.doc.pop(prop, None)
        if pool_info:
            job.doc["executionInfo"]["poolId"] = job.doc["poolInfo"]["poolId"]
        self.touch(job)
        self.check_all_complete(job)
        self.wake()
        return job

    def disable_job(self, job_id: str, body: dict) -> Job:
        job = self.get_job(job_id)
        body = check_object(body, shape=shapes.JOB_DISABLE)
        option = check_enum(body, "disableTasks", ("requeue", "terminate", "wait"))
        if option is None:
            raise missing("disableTasks")
        if job.doc["state"] not in ("active", "disabling", "disabled"):
            raise conflict("JobNotActive" if job.doc["state"] != "completed" else "JobCompleted",
                           f"The job cannot be disabled in its current state ({job.doc['state']}).")
        self.set_state(job, "disabling")
        job.ending = self.spawn(self._finish_disable(job, option), name=f"disable-{job.key}")
        return job

    async def _finish_disable(self, job: Job, option: str) -> None:
        if option in ("requeue", "terminate"):
            self.scheduler.evict_job(job, option)
        while job.running_count:
            await asyncio.sleep(0.05)
        if job.doc["state"] == "disabling":
            self.set_state(job, "disabled")
            self.flush()

    def enable_job(self, job_id: str) -> Job:
        job = self.get_job(job_id)
        if job.doc["state"] not in ("disabled", "disabling", "enabling"):
            raise conflict("JobNotDisabled" if job.doc["state"] == "active" else "OperationInvalidForCurrentState",
                           f"The job cannot be enabled in its current state ({job.doc['state']}).")
        if job.ending and not job.ending.done():
            job.ending.cancel()
        self.set_state(job, "enabling")

        async def finish():
            await asyncio.sleep(0.05)
            self.set_state(job, "active")
            self.flush()
            self.wake()
        job.ending = self.spawn(finish())
        return job

    def terminate_job(self, job_id: str, body: dict | None, *, reason: str = "UserTerminate") -> Job:
        job = self._updatable(job_id)
        body = check_object(body or {}, shape=shapes.JOB_TERMINATE)
        self.end_job(job, body.get("terminateReason") or reason)
        return job

    def end_job(self, job: Job, reason: str) -> None:
        """active -> terminating -> completed: running tasks are killed, release tasks run."""
        if job.doc["state"] in ENDING_STATES:
            return
        self.set_state(job, "terminating")
        job.doc["executionInfo"]["terminateReason"] = reason
        job.ending = self.spawn(self._finish_terminate(job), name=f"terminate-{job.key}")

    async def _finish_terminate(self, job: Job) -> None:
        self.scheduler.evict_job(job, "terminate")
        while job.running_count:
            await asyncio.sleep(0.02)
        await self.scheduler.run_release_tasks(job)
        job.doc["executionInfo"]["endTime"] = clock.iso(clock.now())
        self.set_state(job, "completed")
        self.after_job_end(job)
        self.flush()

    def delete_job(self, job_id: str) -> None:
        job = self.get_job(job_id)
        if job.doc["state"] == "deleting":
            return
        was_active = job.doc["state"] not in ("completed", "terminating")
        if job.ending and not job.ending.done():
            job.ending.cancel()
        self.set_state(job, "deleting")
        job.ending = self.spawn(self._finish_delete(job, was_active), name=f"delete-job-{job.key}")

    async def _finish_delete(self, job: Job, was_active: bool) -> None:
        self.scheduler.evict_job(job, "terminate")
        while job.running_count:
            await asyncio.sleep(0.02)
        if was_active:
            await self.scheduler.run_release_tasks(job)
        self.jobs.pop(job.key, None)
        for task in job.tasks.values():
            self.store.delete("tasks", task.key)
        self.store.delete("jobs", job.key)
        self.after_job_end(job)
        self.flush()
        for pool in self.pools.values():
            for node in pool.nodes.values():
                # A scheduled job's directory is workitems/<schedule>/job-<n>; a job's is workitems/<job>.
                await asyncio.to_thread(shutil.rmtree, self.node_root(node) / _removable_dir(job.id), True)

    # ---- counts and status ----------------------------------------------------------------------
    def task_counts(self, job_id: str) -> dict:
        """Exact counts, or with ``config.task_counts_lag_seconds`` a snapshot up to that old: Azure's
        counts lag behind the task list ("may not always be up to date"), and clients must cope."""
        job = self.get_job(job_id)
        lag = self.config.task_counts_lag_seconds
        now = clock.now().timestamp()
        snapshot = self.counts_snapshots.get(job.key)
        if lag > 0 and snapshot is not None and now - snapshot[0] < lag:
            return snapshot[1]
        counts = {"taskCounts": dict(job.counts), "taskSlotCounts": dict(job.slot_counts)}
        if lag > 0:
            self.counts_snapshots[job.key] = (now, counts)
        return counts

    def prep_release_status(self, job_id: str) -> list[dict]:
        job = self.get_job(job_id)
        if not job.doc.get("jobPreparationTask"):
            raise conflict("JobPreparationTaskNotSpecified", "The specified job does not have a job preparation "
                                                             "task.")
        out = []
        for pool in self.pools.values():
            for node in pool.nodes.values():
                info = node.x.get("prep", {}).get(job.key)
                if not info:
                    continue
                item = {"poolId": pool.doc["id"], "nodeId": node.id, "nodeUrl": node.doc["url"],
                        "jobPreparationTaskExecutionInfo": {k: v for k, v in info.items() if k != "release"}}
                if info.get("release"):
                    item["jobReleaseTaskExecutionInfo"] = info["release"]
                out.append(item)
        return out

    def check_all_complete(self, job: Job) -> None:
        if (job.doc["state"] == "active" and job.doc.get("onAllTasksComplete") == "terminatejob"
                and job.counts["active"] == 0 and job.counts["running"] == 0):
            self.end_job(job, "AllTasksComplete")

    def job_tick(self) -> None:
        """Job-level maxWallClockTime."""
        now = clock.now()
        for job in list(self.jobs.values()):
            if job.doc["state"] in ENDING_STATES:
                continue
            limit = clock.parse_duration(job.doc["constraints"].get("maxWallClockTime"))
            if limit is not None and now - clock.parse_iso(job.doc["creationTime"]) > limit:
                self.end_job(job, "MaxWallClockTimeExpiry")

    def recover_job(self, job: Job) -> None:
        """Rebuild queues and counters; tasks that were running when the service died are requeued."""
        tasks = sorted(job.tasks.values(), key=lambda t: t.seq)
        job.tasks = {t.key: t for t in tasks}
        job.order = None
        for task in tasks:  # state and peek(): waiting and finished tasks stay packed
            if task.state in ("running", "preparing"):
                self.scheduler.kill_orphan(task)
                mark_requeued(task.doc)  # counters are rebuilt below, so no move_task here
                self.set_state(task, "active")
            else:
                task.stamp_us = int(clock.parse_iso(task.peek()["stateTransitionTime"]).timestamp() * 1_000_000)
                if task.state == "completed":
                    self.note_completed(task)
            self.count_task(task, +1)
            if task.state == "active":
                self.enqueue(task)
        order = sorted(tasks, key=lambda t: t.stamp_us)
        job.change_us = [t.stamp_us for t in order]
        job.change_tasks = order
        job.running_count = 0
        if job.doc["state"] == "terminating":
            job.ending = self.spawn(self._finish_terminate(job))
        elif job.doc["state"] == "deleting":
            job.ending = self.spawn(self._finish_delete(job, False))
        elif job.doc["state"] == "disabling":
            job.ending = self.spawn(self._finish_disable(job, "requeue"))
        elif job.doc["state"] == "enabling":
            self.set_state(job, "active")


def _removable_dir(job_id: str) -> str:
    """What deleting the job removes from a node: its whole workitems entry (a scheduled job's run only)."""
    rel = node_layout.job_dir(job_id)
    return rel if ":" in job_id else rel.rsplit("/", 1)[0]

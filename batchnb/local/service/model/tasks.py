"""Tasks: add (one or a collection), update constraints, terminate, reactivate, delete, dependencies."""

from __future__ import annotations

import shutil

from batchnb.local.service.model import clock, shapes
from batchnb.local.service.model.entities import Job, Task, job_pool_key
from batchnb.local.service.model.errors import (
    ServiceError,
    bad_value,
    conflict,
    find,
    missing,
)
from batchnb.local.service.model.packages import check_package_references
from batchnb.local.service.model.validate import check_duration, check_id, check_int, check_object
from batchnb.local.service.node_layout import task_dir

MAX_COLLECTION = 100


class TaskOps:
    # ---- lookups ------------------------------------------------------------------------------
    def get_task(self, job_id: str, task_id: str) -> Task:
        job = self.get_job(job_id)
        return find(job.tasks, f"{job.key}/{task_id.lower()}", "TaskNotFound", "task")

    def _job_accepting_tasks(self, job_id: str) -> Job:
        return self._updatable(job_id)  # the same states refuse new tasks as refuse updates

    # ---- add --------------------------------------------------------------------------------------
    def create_task(self, job_id: str, body: dict) -> Task:
        job = self._job_accepting_tasks(job_id)
        task = self.add_task(job, check_object(body))
        self.wake()
        return task

    def add_task_collection(self, job_id: str, body: dict) -> list[dict]:
        job = self._job_accepting_tasks(job_id)
        body = check_object(body)
        items = body.get("value")
        if not isinstance(items, list):
            raise missing("value")
        if len(items) > MAX_COLLECTION:
            raise ServiceError(400, "InvalidPropertyValue", f"A task collection can hold at most {MAX_COLLECTION} "
                               "tasks.", {"PropertyName": "value", "PropertyValue": str(len(items)),
                                         "Reason": f"At most {MAX_COLLECTION} tasks per request."})
        results = []
        for item in items:
            task_id = item.get("id") if isinstance(item, dict) else None
            try:
                task = self.add_task(job, check_object(item, "value"))
            except ServiceError as exc:
                status = "servererror" if exc.status >= 500 else "clienterror"
                error = {"code": exc.code, "message": {"lang": "en-US", "value": exc.message}}
                if exc.values:
                    error["values"] = [{"key": k, "value": v} for k, v in exc.values.items()]
                results.append({"status": status, "taskId": task_id or "", "error": error})
                continue
            results.append({"status": "success", "taskId": task.id, "eTag": task.doc["eTag"],
                            "lastModified": task.doc["lastModified"], "location": task.doc["url"]})
        self.wake()
        return results

    def add_task(self, job: Job, body: dict, *, manager: bool = False) -> Task:
        shapes.check_shape(body, shapes.TASK_CREATE, "")
        task_id = check_id(body.get("id"))
        key = f"{job.key}/{task_id.lower()}"
        if key in job.tasks:
            raise conflict("TaskExists", "The specified task already exists.")
        for reserved, code in (("jobPreparationTask", "TaskIdSameAsJobPreparationTask"),
                               ("jobReleaseTask", "TaskIdSameAsJobReleaseTask")):
            if job.doc.get(reserved) and job.doc[reserved].get("id", "").lower() == task_id.lower():
                raise conflict(code, f"The task id is the same as the job's {reserved}.")
        if not body.get("commandLine"):
            raise missing("commandLine")
        slots = check_int(body, "requiredSlots", 1, 256) or 1
        pool = self.pools.get(job_pool_key(job))
        if pool is not None and slots > pool.doc.get("taskSlotsPerNode", 1):
            # Refused rather than left active for ever: no node of the pool could ever take it.
            raise bad_value("requiredSlots", slots, f"The task needs {slots} slots but the nodes of pool "
                            f"'{pool.doc['id']}' have {pool.doc.get('taskSlotsPerNode', 1)} (taskSlotsPerNode).")
        constraints = _checked_constraints(body)
        deps = body.get("dependsOn")
        if deps:
            if not job.doc.get("usesTaskDependencies"):
                raise ServiceError(400, "TaskDependenciesNotSpecifiedOnJob", "The job does not allow task "
                                   "dependencies; create it with usesTaskDependencies=true.")
            if sum(len(i) for i in deps.get("taskIds") or []) > 64000:
                raise ServiceError(400, "TaskDependencyListTooLong", "The task depends on too many task ids.")
            for r in deps.get("taskIdRanges") or []:
                if not isinstance(r.get("start"), int) or not isinstance(r.get("end"), int) or r["start"] > r["end"]:
                    raise bad_value("dependsOn.taskIdRanges", r, "start and end must be integers with start <= end.")
        exit_conditions = body.get("exitConditions")
        if exit_conditions and job.doc.get("onTaskFailure") == "noaction" and _sets_job_action(exit_conditions):
            raise bad_value("exitConditions", "jobAction", "jobAction can be set only when the job's onTaskFailure is "
                                                          "performexitoptionsjobaction.")
        multi = body.get("multiInstanceSettings")
        if multi is not None:
            self.check_multi_instance(job, multi, body)
        if body.get("containerSettings") is not None:
            self.check_container_task(job, body["containerSettings"])
        check_package_references(body.get("applicationPackageReferences"))
        now = clock.iso(clock.now())
        doc = {
            "id": task_id,
            "url": f"{job.doc['url']}/tasks/{task_id}",
            "creationTime": now,
            "state": None,
            "commandLine": body["commandLine"],
            "constraints": {"maxWallClockTime": clock.INFINITE, "retentionTime": "P7D",
                            "maxTaskRetryCount": job.doc["constraints"].get("maxTaskRetryCount", 0),
                            **{k: v for k, v in constraints.items() if v is not None}},
            "requiredSlots": slots,
            "userIdentity": body.get("userIdentity") or {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
            "executionInfo": {"retryCount": 0, "requeueCount": 0},
        }
        for prop in ("displayName", "exitConditions", "resourceFiles", "outputFiles", "environmentSettings",
                     "affinityInfo", "dependsOn", "applicationPackageReferences", "containerSettings",
                     "multiInstanceSettings"):
            if body.get(prop) is not None:
                doc[prop] = body[prop]
        task = Task(key=key, seq=self.next_seq(), job=job, doc=doc, x={"manager": True} if manager else {})
        job.tasks[key] = task
        if job.order is not None:
            job.order.append(task)
        job.int_ids = None if job.int_ids is None else _add_int_id(job.int_ids, task)
        self.set_state(task, "active")
        self.count_task(task, +1)
        self.enqueue(task)
        return task

    def check_multi_instance(self, job: Job, multi: dict, body: dict) -> None:
        """multiInstanceSettings as Batch checks them: a coordination command, requiredSlots 1, and a
        pool with inter-node communication (when the pool exists already)."""
        check_object(multi, "multiInstanceSettings")
        instances = check_int(multi, "numberOfInstances", 1, 100) or 1
        if not multi.get("coordinationCommandLine"):
            raise missing("multiInstanceSettings.coordinationCommandLine")
        if instances > 1 and (body.get("requiredSlots") or 1) != 1:
            raise bad_value("requiredSlots", body.get("requiredSlots"), "A multi-instance task takes one slot on each "
                                                                        "of its nodes: requiredSlots must be 1.")
        pool = self.pools.get(job_pool_key(job))
        if instances > 1 and pool is not None and not pool.doc.get("enableInterNodeCommunication"):
            raise bad_value("multiInstanceSettings", instances, f"The pool '{pool.doc['id']}' does not have "
                            "enableInterNodeCommunication; a multi-instance task needs a pool created with it.")

    def subtasks(self, job_id: str, task_id: str) -> list[dict]:
        """The subtasks (instances 1..n-1) of a multi-instance task's latest run; [] for other tasks."""
        return list(self.get_task(job_id, task_id).x.get("subtasks") or [])

    def check_container_task(self, job: Job, settings) -> None:
        """A task with containerSettings needs imageName and, as on Azure, a pool with a container
        configuration: on any other pool it is refused here rather than run on the host."""
        check_object(settings, "containerSettings")
        if not settings.get("imageName"):
            raise missing("containerSettings.imageName")
        pool = self.pools.get(job_pool_key(job))
        if pool is not None and not pool.doc["virtualMachineConfiguration"].get("containerConfiguration"):
            raise bad_value("containerSettings", settings.get("imageName"),
                            f"The pool '{pool.doc['id']}' has no containerConfiguration: a task with "
                            "containerSettings can run only on a pool created with a container configuration.")

    # ---- counters and queues --------------------------------------------------------------------
    def count_task(self, task: Task, sign: int) -> None:
        job, doc = task.job, task.peek()  # peek: counting must not unpack a waiting task
        bucket = "running" if doc["state"] == "preparing" else doc["state"]
        slots = task.slots
        job.counts[bucket] += sign
        job.slot_counts[bucket] += sign * slots
        if bucket == "completed":
            outcome = "succeeded" if (doc.get("executionInfo") or {}).get("result") == "success" else "failed"
            job.counts[outcome] += sign
            job.slot_counts[outcome] += sign * slots

    def move_task(self, task: Task, state: str, update=None) -> None:
        """Change a task's state keeping the job's counters exact."""
        self.count_task(task, -1)
        if update is not None:
            update(task.doc)
        self.set_state(task, state)
        self.count_task(task, +1)

    def enqueue(self, task: Task) -> None:
        job = task.job
        if task.peek().get("dependsOn") and not self.dependencies_met(task):
            job.blocked[task.key] = None
        elif task.x.get("manager"):
            job.pending[task.key] = None
            job.pending.move_to_end(task.key, last=False)  # the job manager goes first
        else:
            job.pending[task.key] = None

    def dequeue(self, task: Task) -> None:
        task.job.pending.pop(task.key, None)
        task.job.blocked.pop(task.key, None)

    def dependencies_met(self, task: Task) -> bool:
        """Every parent completed with dependencyAction=satisfy. Resumes from the first parent that
        was not met last time, so a merge task over 10,000 parents costs O(parents) overall."""
        job = task.job
        deps = task.peek()["dependsOn"]
        parents = task.x.get("parents")
        if parents is None:
            parents = [f"{job.key}/{i.lower()}" for i in deps.get("taskIds") or []]
            for r in deps.get("taskIdRanges") or []:
                parents.extend(f"#{n}" for n in range(int(r["start"]), int(r["end"]) + 1))
            task.x["parents"] = parents
            task.x["cursor"] = 0
        cursor = task.x.get("cursor", 0)
        while cursor < len(parents):
            ref = parents[cursor]
            if ref.startswith("#"):
                if job.int_ids is None:
                    job.int_ids = {}
                    for t in job.tasks.values():
                        _add_int_id(job.int_ids, t)
                candidates = [job.tasks[k] for k in job.int_ids.get(int(ref[1:]), []) if k in job.tasks]
                ok = any(c.state == "completed" and c.x.get("dep") == "satisfy" for c in candidates)
            else:
                parent = job.tasks.get(ref)
                ok = parent is not None and parent.state == "completed" and parent.x.get("dep") == "satisfy"
            if not ok:
                task.x["cursor"] = cursor
                return False
            cursor += 1
        task.x["cursor"] = cursor
        return True

    def release_blocked(self, job: Job) -> bool:
        moved = False
        for key in list(job.blocked):
            task = job.tasks.get(key)
            if task is None or task.state != "active":
                job.blocked.pop(key, None)
            elif self.dependencies_met(task):
                job.blocked.pop(key, None)
                job.pending[key] = None
                moved = True
        return moved

    # ---- operations on one task -------------------------------------------------------------
    def replace_task(self, job_id: str, task_id: str, body: dict) -> Task:
        task = self.get_task(job_id, task_id)
        body = check_object(body, shape=shapes.TASK_UPDATE)
        if task.doc["state"] == "completed":
            raise conflict("TaskCompleted", "The specified task is already completed.")
        constraints = _checked_constraints(body)
        task.doc["constraints"] = {"maxWallClockTime": clock.INFINITE, "retentionTime": "P7D",
                                   "maxTaskRetryCount": 0,
                                   **{k: v for k, v in constraints.items() if v is not None}}
        self.touch(task)
        if task.doc["state"] in ("running", "preparing") and constraints.get("maxWallClockTime"):
            self.spawn(self.scheduler.watch_wall_clock(task), name=f"wallclock-{task.key}")
        return task

    def terminate_task(self, job_id: str, task_id: str) -> Task:
        task = self.get_task(job_id, task_id)
        if task.doc["state"] == "completed":
            raise conflict("TaskCompleted", "The specified task is already completed.")
        if task.doc["state"] in ("running", "preparing"):
            self.scheduler.stop_task(task, "terminate")
        else:
            self.dequeue(task)
            self.complete_task(task, exit_code=None, failure=_terminated_failure(), kind="terminate")
        return task

    def complete_task(self, task: Task, *, exit_code: int | None, failure: dict | None, kind: str,
                      start: str | None = None, end: str | None = None) -> None:
        """Move a task to completed with its result, then apply job-level consequences."""
        def update(doc):
            info = doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
            if start:
                info["startTime"] = start
            info["endTime"] = end or clock.iso(clock.now())
            if exit_code is None:
                info.pop("exitCode", None)
            else:
                info["exitCode"] = exit_code
            info["result"] = "failure" if failure else "success"
            if failure:
                info["failureInfo"] = failure
            else:
                info.pop("failureInfo", None)
        self.move_task(task, "completed", update)
        task.x.pop("files_cleaned", None)
        self.note_completed(task)
        self.scheduler.on_task_completed(task, exit_code=exit_code, failed=failure is not None, kind=kind)

    def reactivate_task(self, job_id: str, task_id: str) -> Task:
        task = self.get_task(job_id, task_id)
        self._updatable(job_id)
        if task.doc["state"] != "completed":
            raise conflict("TaskNotCompleted", "The specified task is not completed and cannot be reactivated.")
        if task.doc.get("executionInfo", {}).get("result") == "success":
            raise conflict("TaskSucceeded", "The specified task completed successfully and cannot be reactivated.")

        def update(doc):
            info = doc["executionInfo"]
            for prop in ("exitCode", "failureInfo", "result", "endTime"):
                info.pop(prop, None)
            info["retryCount"] = 0
        self.move_task(task, "active", update)
        task.x.pop("dep", None)
        self.enqueue(task)
        self.wake()
        return task

    def delete_task(self, job_id: str, task_id: str) -> None:
        task = self.get_task(job_id, task_id)
        job = task.job
        if task.doc["state"] in ("running", "preparing"):
            self.scheduler.stop_task(task, "delete")
        self.dequeue(task)
        self.count_task(task, -1)
        job.tasks.pop(task.key, None)
        self.store.delete("tasks", task.key)
        node = self._node_of(task)
        if node is not None:
            shutil.rmtree(task_dir(self.node_root(node), job.id, task.id), ignore_errors=True)
        self.check_all_complete(job)

    def _node_of(self, task: Task):
        """The node the task ran on, if that node is still in its pool."""
        info = task.doc.get("nodeInfo") or {}
        pool = self.pools.get((info.get("poolId") or "").lower())
        return pool.nodes.get(info.get("nodeId")) if pool else None

    def task_files_root(self, job_id: str, task_id: str):
        """The task directory on its node (where stdout.txt/stderr.txt/wd live)."""
        task = self.get_task(job_id, task_id)
        if task.x.get("files_cleaned"):
            raise conflict("TaskFilesCleanedup", "The task's files were cleaned up: its retentionTime has passed.")
        node = self._node_of(task)
        if node is None:
            raise conflict("TaskFilesUnavailable", "The task's files are not available: it has not run on a node "
                                                   "that is still in the pool.")
        return task, task_dir(self.node_root(node), task.job.id, task.id)


def _checked_constraints(body: dict) -> dict:
    """The task's ``constraints`` object (``{}`` when absent), refused with 400 if malformed."""
    constraints = body.get("constraints") or {}
    check_object(constraints, "constraints")
    check_duration(constraints, "maxWallClockTime")
    check_duration(constraints, "retentionTime")
    check_int(constraints, "maxTaskRetryCount", 0, 1_000_000, allow=(-1,), code="InvalidConstraintValue")
    return constraints


def mark_requeued(doc: dict) -> None:
    """What a requeue writes on a task (node removed/rebooted/preempted, service restart): one
    more requeueCount, no node; retryCount is untouched, as in Batch."""
    info = doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
    info["requeueCount"] = info.get("requeueCount", 0) + 1
    info["lastRequeueTime"] = clock.iso(clock.now())
    doc.pop("nodeInfo", None)


def _terminated_failure() -> dict:
    return {"category": "usererror", "code": "TaskEnded", "message": "The task was terminated by a request.",
            "details": [{"name": "Message", "value": "The task was terminated by a request."}]}


def _wall_clock_failure() -> dict:
    return {"category": "usererror", "code": "TaskEnded", "message": "The task exceeded its maximum wall clock "
            "time", "details": [{"name": "Message", "value": "The task exceeded its maximum wall clock time"}]}


def _sets_job_action(exit_conditions: dict) -> bool:
    options = [e.get("exitOptions") or {} for e in (exit_conditions.get("exitCodes") or [])]
    options += [e.get("exitOptions") or {} for e in (exit_conditions.get("exitCodeRanges") or [])]
    options += [exit_conditions.get(k) or {} for k in ("preProcessingError", "fileUploadError", "default")]
    return any((o.get("jobAction") or "none").lower() != "none" for o in options)


def _add_int_id(index: dict, task: Task) -> dict:
    try:
        index.setdefault(int(task.id), []).append(task.key)
    except ValueError:
        pass
    return index

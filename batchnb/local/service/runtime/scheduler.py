"""Puts active tasks on free node slots and runs them; applies what their outcome means.

One asyncio loop owns all state, so there is no locking: a pass is triggered by `wake()` (task
added, slot freed, node ready) and many wakes coalesce into one pass.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from itertools import cycle

from batchnb.local.service import node_layout
from batchnb.local.service.model import clock
from batchnb.local.service.model.entities import Job, Node, Task, job_pool_key
from batchnb.local.service.model.tasks import _terminated_failure, _wall_clock_failure, mark_requeued
from batchnb.local.service.runtime import multi_instance, node_dirs, node_processes, node_python, service_logs
from batchnb.local.service.runtime.executor import RunOutcome, TaskRun, run_task
from batchnb.local.service.runtime.node_processes import kill_task_group

log = logging.getLogger("batchnb.local.scheduler")
TICK_SECONDS = 1.0
AUTOSCALE_CAP_SECONDS = 10.0
# Scheduler-made changes (task started/finished, node state) are committed at most once per
# interval instead of once per pass: with thousands of tiny tasks one commit per completion
# costs more than the task. Nothing acknowledged is at risk: every request commits whatever is
# pending before it answers, so a client never sees a state that is not on disk yet.
FLUSH_INTERVAL_SECONDS = 0.05



def _runtime_failure(message: str) -> RunOutcome:
    """The outcome of a task the runtime itself failed to run: a server error, so it is retried elsewhere."""
    now = clock.now()
    return RunOutcome(exit_code=None, failure={"category": "servererror", "code": "Unknown", "message": message},
                      kind="preprocessing", start_time=now, end_time=now)

class Scheduler:
    def __init__(self, service):
        self.svc = service
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._tick_task: asyncio.Task | None = None
        self._prep_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._multi_nodes: dict[str, list[Node]] = {}  # multi-instance task key -> its non-primary nodes
        self._base_envs: dict[str, tuple[tuple, dict]] = {}  # node key -> (what it was built from, base env)
        self._python_bin = None if service.config.host_python else node_python.bare_python_bin(
            service.config.state_dir)

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")
        self._tick_task = asyncio.get_running_loop().create_task(self._ticker(), name="ticker")
        self.wake()

    async def stop(self) -> None:
        for t in (self._loop_task, self._tick_task):
            if t:
                t.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
            self._flush_now()

    @staticmethod
    async def kill_processes_under(root) -> None:
        """Kill every process started under a node directory (the node's VM is gone or reimaged)."""
        await asyncio.to_thread(node_processes.kill_processes_under, root)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self.schedule_pass()
                self._flush_soon()
            except Exception:  # a bug in one pass must not stop scheduling for good
                log.exception("scheduling pass failed")
            await asyncio.sleep(0)  # let completions batch up

    def _flush_soon(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_INTERVAL_SECONDS, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_handle = None
        try:
            self.svc.flush()
        except Exception:
            log.exception("committing the scheduler's changes failed")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.svc.autoscale_tick(AUTOSCALE_CAP_SECONDS)
                self.svc.job_tick()
                self.svc.schedule_tick()
                self.svc.retention_tick()
                self.svc.flush()
            except Exception:
                log.exception("tick failed")

    # ---- placement ------------------------------------------------------------------------------
    def schedule_pass(self) -> None:
        svc = self.svc
        by_pool: dict[str, list[Job]] = {}
        for job in svc.jobs.values():
            if job.blocked and job.x.pop("deps_dirty", False):
                svc.release_blocked(job)
            if job.doc["state"] == "active" and job.pending:
                by_pool.setdefault(job_pool_key(job), []).append(job)
        for pool_key, jobs in by_pool.items():
            try:
                self._schedule_pool(pool_key, jobs)
            except Exception:  # one broken pool must not stop scheduling on the others
                log.exception("scheduling on pool %s failed", pool_key)

    def _schedule_pool(self, pool_key: str, jobs: list[Job]) -> None:
        svc = self.svc
        pool = svc.pools.get(pool_key)
        if pool is None or pool.doc["state"] != "active":
            return
        slots = pool.doc.get("taskSlotsPerNode", 1)
        nodes = [n for n in pool.nodes.values()
                 if n.doc["state"] in ("idle", "running") and n.doc["schedulingState"] == "enabled"
                 and not n.x.get("leaving") and n.used_slots < slots]
        if not nodes:
            return
        pack = (pool.doc.get("taskSchedulingPolicy") or {}).get("nodeFillType", "spread").lower() == "pack"
        # spread: least used first; pack: most used first (that still has room)
        heap = [((-n.used_slots if pack else n.used_slots), n.seq, n) for n in nodes]
        heapq.heapify(heap)
        jobs.sort(key=lambda j: (-int(j.doc.get("priority", 0)), j.seq))
        for _, group in _priority_groups(jobs):
            self._fill(group, heap, slots, pack)
            if not heap:
                break

    def _fill(self, jobs: list[Job], heap: list, slots: int, pack: bool) -> None:
        active = [j for j in jobs if j.pending]
        stalled: set[str] = set()
        for job in cycle(active) if active else ():
            if not heap or len(stalled) == len(active):
                return
            if job.key in stalled:
                continue
            limit = job.doc.get("maxParallelTasks", -1)
            if not job.pending or (limit not in (-1, None) and job.running_count >= limit):
                stalled.add(job.key)
                continue
            task_key = next(iter(job.pending))
            task = job.tasks.get(task_key)
            if task is None or task.doc["state"] != "active":
                job.pending.pop(task_key, None)
                continue
            instances = multi_instance_count(task)
            if instances > 1:
                group = self._pick_nodes(heap, task, slots, instances)
                if group is None:
                    stalled.add(job.key)
                    continue
                job.pending.pop(task_key, None)
                self._start_multi(task, group)
                for node in group:
                    if node.used_slots < slots:
                        heapq.heappush(heap, ((-node.used_slots if pack else node.used_slots), node.seq, node))
                continue
            node = self._pick_node(heap, task, slots)
            if node is None:
                stalled.add(job.key)
                continue
            job.pending.pop(task_key, None)
            self._start(task, node)
            if node.used_slots < slots:
                heapq.heappush(heap, ((-node.used_slots if pack else node.used_slots), node.seq, node))

    def _pick_node(self, heap: list, task: Task, slots: int) -> Node | None:
        """Pop the best node that fits the task (spread/pack order is the heap's)."""
        aside = []
        chosen = None
        while heap:
            entry = heapq.heappop(heap)
            node = entry[2]
            prep = node.x.get("prep", {}).get(task.job.key) or {}
            if node.used_slots + task.slots <= slots and not prep.get("blocked"):
                chosen = node
                break
            aside.append(entry)
        for entry in aside:
            heapq.heappush(heap, entry)
        return chosen

    def _pick_nodes(self, heap: list, task: Task, slots: int, count: int) -> list[Node] | None:
        """``count`` distinct nodes with a free slot each (a multi-instance task), or None."""
        taken, aside = [], []
        while heap and len(taken) < count:
            entry = heapq.heappop(heap)
            node = entry[2]
            prep = node.x.get("prep", {}).get(task.job.key) or {}
            (taken if node.used_slots + 1 <= slots and not prep.get("blocked") else aside).append(entry)
        if len(taken) < count:
            aside += taken
            taken = []
        for entry in aside:
            heapq.heappush(heap, entry)
        return [entry[2] for entry in taken] or None

    def _start_multi(self, task: Task, nodes: list[Node]) -> None:
        """Start a multi-instance task on ``nodes`` (the first is the primary): one slot on each."""
        svc, job = self.svc, task.job
        for node in nodes:
            node.running[task.key] = task
            node.used_slots += 1
        self._multi_nodes[task.key] = nodes[1:]
        job.running_count += 1
        task.node = nodes[0]
        now = clock.iso(clock.now())

        def update(doc):
            info = doc["executionInfo"]
            info["startTime"] = now
            for prop in ("endTime", "exitCode", "result", "failureInfo"):
                info.pop(prop, None)
            doc["nodeInfo"] = _node_info(nodes[0], job, task)
        task.x["subtasks"] = [{"id": i, "nodeInfo": _node_info(node, job, task), "startTime": now,
                               "state": "running", "stateTransitionTime": now}
                              for i, node in enumerate(nodes[1:], 1)]
        svc.move_task(task, "running", update)
        for node in nodes:
            svc.refresh_node_state(node)
        task.run = svc.spawn(self._execute_multi(task, nodes), name=f"task-{task.key}")

    async def _execute_multi(self, task: Task, nodes: list[Node]) -> None:
        svc, job = self.svc, task.job
        me = asyncio.current_task()
        for node in nodes:  # the job preparation task runs on every node of the task first
            if job.doc.get("jobPreparationTask") and not await self._ensure_prep(job, node):
                if task.run is me:
                    self._release(task)
                    svc.move_task(task, "active", lambda d: d.pop("nodeInfo", None))
                    svc.enqueue(task)
                    svc.wake()
                return
        prep_id = (job.doc.get("jobPreparationTask") or {}).get("id", "jobpreparation")
        dirs, envs = [], []
        for node in nodes:
            root = svc.node_root(node)
            tdir = node_layout.task_dir(root, job.id, task.id)
            dirs.append(tdir)
            envs.append(node_dirs.task_env(
                self._base_env(node), task_dir=tdir, job_id=job.id, task_id=task.id,
                job_prep_dir=node_layout.task_dir(root, job.id, prep_id) if job.doc.get("jobPreparationTask") else None,
                user_env=(job.doc.get("commonEnvironmentSettings") or []) + (task.doc.get("environmentSettings") or [])))
        limit = clock.parse_duration(task.doc["constraints"].get("maxWallClockTime"))

        def on_subtask(i: int, outcome: RunOutcome) -> None:
            sub = task.x["subtasks"][i - 1]
            sub.update({"state": "completed", "stateTransitionTime": clock.iso(clock.now()),
                        "previousState": "running", "endTime": clock.iso(outcome.end_time),
                        "result": "failure" if outcome.failure else "success"})
            if outcome.exit_code is not None:
                sub["exitCode"] = outcome.exit_code
            if outcome.failure:
                sub["failureInfo"] = outcome.failure
        try:
            outcome = await multi_instance.run_instances(
                task.doc, nodes, dirs, multi_instance.instance_env(envs, nodes, dirs),
                wall_clock_s=limit.total_seconds() if limit else None,
                storage=svc.config.storage_connection_string, on_subtask=on_subtask)
        except asyncio.CancelledError:
            return
        except Exception as exc:
            log.exception("multi-instance task run failed")
            outcome = _runtime_failure(f"The local nodes failed to run the task: {exc}")
        if task.run is not me:
            return
        self._finish(task, nodes[0], outcome)

    # ---- running a task -------------------------------------------------------------------------
    def _start(self, task: Task, node: Node) -> None:
        svc, job = self.svc, task.job
        node.running[task.key] = task
        node.used_slots += task.slots
        job.running_count += 1
        task.node = node
        root = svc.node_root(node)
        tdir = node_layout.task_dir(root, job.id, task.id)
        needs_prep = bool(job.doc.get("jobPreparationTask")) and (
            (node.x.get("prep", {}).get(job.key) or {}).get("result") != "success")

        def update(doc):
            info = doc["executionInfo"]
            info["startTime"] = clock.iso(clock.now())
            for prop in ("endTime", "exitCode", "result", "failureInfo"):
                info.pop(prop, None)
            doc["nodeInfo"] = _node_info(node, job, task)
        svc.move_task(task, "preparing" if needs_prep else "running", update)
        svc.note_on_node(node, f"INFO task started: job {job.id} task {task.id}")
        svc.refresh_node_state(node)
        task.run = svc.spawn(self._execute(task, node, tdir, needs_prep), name=f"task-{task.key}")

    async def _execute(self, task: Task, node: Node, tdir, needs_prep: bool) -> None:
        svc, job = self.svc, task.job
        me = asyncio.current_task()
        if needs_prep:
            ok = await self._ensure_prep(job, node)
            if task.run is not me:
                return
            if not ok:  # the prep task failed for good on this node: back to the queue, elsewhere
                self._release(task)
                svc.move_task(task, "active", lambda d: d.pop("nodeInfo", None))
                svc.enqueue(task)
                svc.wake()
                return
            svc.move_task(task, "running")
        root = svc.node_root(node)
        prep_dir = node_layout.task_dir(root, job.id, job.doc["jobPreparationTask"].get("id", "jobpreparation")) \
            if job.doc.get("jobPreparationTask") else None
        env = node_dirs.task_env(self._base_env(node), task_dir=tdir, job_id=job.id, task_id=task.id,
                                 job_prep_dir=prep_dir,
                                 user_env=(job.doc.get("commonEnvironmentSettings") or [])
                                 + (task.doc.get("environmentSettings") or []))
        limit = clock.parse_duration(task.doc["constraints"].get("maxWallClockTime"))
        run = TaskRun(command_line=task.doc["commandLine"], task_dir=tdir, env=env,
                      resource_files=task.doc.get("resourceFiles") or [],
                      output_files=task.doc.get("outputFiles") or [],
                      max_wall_clock_seconds=limit.total_seconds() if limit else None,
                      auto_storage_connection_string=svc.config.storage_connection_string)
        try:
            if task.doc.get("containerSettings") is not None:
                outcome = _container_not_run(task, node)
            else:
                outcome = await run_task(run, on_process_started=lambda pid: self._note_pid(task, pid, tdir))
        except asyncio.CancelledError:
            return  # whoever cancelled has already moved the task on
        except Exception as exc:  # the runtime itself failed: a server error, the task is retried elsewhere
            log.exception("task run failed")
            outcome = _runtime_failure(f"The local node failed to run the task: {exc}")
        if task.run is not me:
            return
        self._finish(task, node, outcome)

    def _note_pid(self, task: Task, pid: int, tdir) -> None:
        # Persisted so that a restarted service can stop what a killed one left running.
        task.x["pid"] = pid
        task.x["wd"] = str(tdir / "wd")
        self.svc.save(task)
        self.svc.wake()  # the pass that follows commits it soon, batched with other starts

    @staticmethod
    def kill_orphan(task: Task) -> None:
        """After a crash of the service, the process group of a task that was running lives on;
        kill it before the task runs again."""
        pid, wd = task.x.pop("pid", None), task.x.pop("wd", None)
        if pid and wd:
            kill_task_group(pid, wd)

    def _finish(self, task: Task, node: Node, outcome: RunOutcome) -> None:
        svc = self.svc
        self._release(task)
        info = task.doc["executionInfo"]
        node.doc["totalTasksRun"] = node.doc.get("totalTasksRun", 0) + 1
        retries_left = _retries_left(task)
        if outcome.failure and outcome.kind == "exit" and retries_left:
            def update(doc):
                doc["executionInfo"]["retryCount"] = info.get("retryCount", 0) + 1
                doc["executionInfo"]["lastRetryTime"] = clock.iso(clock.now())
                doc["executionInfo"]["exitCode"] = outcome.exit_code
            svc.move_task(task, "active", update)
            svc.enqueue(task)
        else:
            if not outcome.failure:
                node.doc["totalTasksSucceeded"] = node.doc.get("totalTasksSucceeded", 0) + 1
            svc.complete_task(task, exit_code=outcome.exit_code, failure=outcome.failure, kind=outcome.kind,
                              end=clock.iso(outcome.end_time))
        self._record_on_node(node, task)
        svc.note_on_node(node, f"INFO task ended: job {task.job.id} task {task.id} exit code {outcome.exit_code}"
                               f"{' (failed)' if outcome.failure else ''}")
        svc.refresh_node_state(node)
        svc.wake()

    @staticmethod
    def _record_on_node(node: Node, task: Task) -> None:
        recent = node.doc.setdefault("recentTasks", [])
        recent.insert(0, {"taskUrl": task.doc["url"], "jobId": task.job.id, "taskId": task.id,
                          "taskState": task.doc["state"], "executionInfo": dict(task.doc["executionInfo"])})
        del recent[5:]

    def _release(self, task: Task) -> None:
        node = task.node
        for other in self._multi_nodes.pop(task.key, []):  # a multi-instance task's other nodes
            if other.running.pop(task.key, None) is not None:
                other.used_slots -= 1
                self.svc.refresh_node_state(other)
        task.run = None
        task.x.pop("pid", None)
        task.x.pop("wd", None)
        if node is None:
            return
        if node.running.pop(task.key, None) is not None:
            node.used_slots -= task.slots
            task.job.running_count -= 1
        task.node = None
        self.svc.refresh_node_state(node)

    def on_task_completed(self, task: Task, *, exit_code: int | None, failed: bool, kind: str) -> None:
        """Dependencies and job-level actions that follow from a completed task."""
        svc, job = self.svc, task.job
        options = exit_options(task.doc.get("exitConditions") or {}, exit_code, failed, kind)
        task.x["dep"] = options["dependencyAction"]
        job.x["deps_dirty"] = True
        if failed and job.doc.get("onTaskFailure") == "performexitoptionsjobaction":
            action = options["jobAction"]
            if action == "terminate":
                svc.end_job(job, "TaskFailed")
            elif action == "disable" and job.doc["state"] == "active":
                svc.disable_job(job.id, {"disableTasks": "requeue"})
        if task.x.get("manager") and (job.doc.get("jobManagerTask") or {}).get("killJobOnCompletion", True):
            svc.end_job(job, "JMComplete")
        svc.check_all_complete(job)
        svc.wake()

    # ---- stopping tasks -----------------------------------------------------------------------
    def stop_task(self, task: Task, how: str) -> None:
        """Stop a running task now: requeue it, complete it as terminated, or drop it (delete)."""
        svc = self.svc
        run = task.run
        node = task.node
        self._release(task)
        if run is not None:
            run.cancel()  # the executor kills the process tree
        if how == "requeue":
            svc.move_task(task, "active", mark_requeued)
            svc.enqueue(task)
        elif how in ("terminate", "timeout"):
            failure = _wall_clock_failure() if how == "timeout" else _terminated_failure()
            svc.complete_task(task, exit_code=None, failure=failure, kind=how)
            if node is not None:  # it ran there, so it counts among the node's tasks
                node.doc["totalTasksRun"] = node.doc.get("totalTasksRun", 0) + 1
                self._record_on_node(node, task)
                svc.save(node)
        svc.wake()

    async def watch_wall_clock(self, task: Task) -> None:
        """Apply a maxWallClockTime that was changed while the task runs (the executor knows only
        the limit the run started with)."""
        run = task.run
        while task.run is run and run is not None and task.doc["state"] in ("running", "preparing"):
            limit = clock.parse_duration(task.doc["constraints"].get("maxWallClockTime"))
            started = (task.doc.get("executionInfo") or {}).get("startTime")
            if limit is None or not started:
                return
            left = (clock.parse_iso(started) + limit - clock.now()).total_seconds()
            if left <= 0:
                self.stop_task(task, "timeout")
                return
            await asyncio.sleep(min(left, 1.0))

    def evict(self, node: Node, how: str) -> None:
        for task in list(node.running.values()):
            self.stop_task(task, how)

    def evict_job(self, job: Job, how: str) -> None:
        for task in [t for t in job.tasks.values() if t.state in ("running", "preparing")]:
            self.stop_task(task, how)

    # ---- start, prep and release tasks ---------------------------------------------------------
    def _base_env(self, node: Node) -> dict:
        """The node's base variables, built once per node (every task reads them; task_env copies them)."""
        svc = self.svc
        args = dict(root=svc.node_root(node), account_name=svc.config.account_name, account_url=svc.base_url,
                    pool_id=node.pool.doc["id"], node_id=node.id, is_dedicated=bool(node.doc.get("isDedicated")),
                    python_bin=self._python_bin)
        key = tuple(args.values())
        cached = self._base_envs.get(node.key)
        if cached is None or cached[0] != key:
            cached = self._base_envs[node.key] = (key, node_dirs.base_env(**args))
        return cached[1]

    async def _run_side_task(self, node: Node, spec: dict, tdir, *, job: Job | None, retries: int,
                             info: dict, limit_s: float | None = None) -> bool:
        """Run a start/prep/release task with retries, keeping `info` (its execution info) current."""
        attempt = 0
        while True:
            env = node_dirs.task_env(self._base_env(node), task_dir=tdir, job_id=job.id if job else None,
                                     task_id=spec.get("id") if job else None, job_prep_dir=None,
                                     user_env=((job.doc.get("commonEnvironmentSettings") or []) if job else [])
                                     + (spec.get("environmentSettings") or []))
            info.update({"state": "running", "startTime": clock.iso(clock.now()), "retryCount": attempt})
            for prop in ("endTime", "exitCode", "result", "failureInfo"):
                info.pop(prop, None)
            limit = clock.parse_duration((spec.get("constraints") or {}).get("maxWallClockTime")
                                         or spec.get("maxWallClockTime"))
            outcome = await run_task(TaskRun(command_line=spec["commandLine"], task_dir=tdir, env=env,
                                             resource_files=spec.get("resourceFiles") or [],
                                             max_wall_clock_seconds=limit_s or (limit.total_seconds() if limit else None),
                                             auto_storage_connection_string=self.svc.config.storage_connection_string))
            info.update({"state": "completed", "endTime": clock.iso(outcome.end_time),
                         "result": "failure" if outcome.failure else "success"})
            if outcome.exit_code is not None:
                info["exitCode"] = outcome.exit_code
            if outcome.failure:
                info["failureInfo"] = outcome.failure
                if attempt > 0:
                    info["lastRetryTime"] = clock.iso(clock.now())
            self.svc.save(node)
            if not outcome.failure:
                return True
            if outcome.kind != "exit" or not (retries == -1 or attempt < retries):
                return False
            attempt += 1

    async def upload_service_logs(self, node: Node, root, container_url: str, start, end) -> dict:
        started = node.doc.get("startTaskInfo", {}).get("startTime")
        files = service_logs.collect(root, start, end,
                                     start_task_started=clock.parse_iso(started) if started else None)
        directory = service_logs.virtual_directory(node.pool.doc["id"], node.id)
        # The files are read whole when uploaded, a moment after this answer (Azure too answers first).
        self.svc.spawn(asyncio.to_thread(service_logs.upload, container_url, directory, files),
                       name=f"service-logs-{node.id}")
        return {"virtualDirectoryName": directory, "numberOfFilesUploaded": len(files)}

    async def run_start_task(self, node: Node, spec: dict) -> bool:
        info: dict = {}
        node.doc["startTaskInfo"] = info
        tdir = node_layout.start_task_dir(self.svc.node_root(node))
        self.svc.note_on_node(node, "INFO start task started")
        try:
            return await self._run_side_task(node, spec, tdir, job=None, retries=int(spec.get("maxTaskRetryCount") or 0),
                                             info=info)
        finally:
            self.svc.note_on_node(node, f"INFO start task ended: exit code {info.get('exitCode')}")
            self.svc.save(node)
            self.svc.flush()

    async def _ensure_prep(self, job: Job, node: Node) -> bool:
        lock = self._prep_locks.setdefault((job.key, node.key), asyncio.Lock())
        async with lock:
            prep_state = node.x.setdefault("prep", {}).get(job.key) or {}
            if prep_state.get("result") == "success":
                return True
            if prep_state.get("blocked"):
                return False
            spec = job.doc["jobPreparationTask"]
            info: dict = {}
            node.x["prep"][job.key] = info
            tdir = node_layout.task_dir(self.svc.node_root(node), job.id, spec.get("id", "jobpreparation"))
            info["taskRootDirectory"] = f"{node_layout.job_dir(job.id)}/{spec.get('id', 'jobpreparation')}"
            info["taskRootDirectoryUrl"] = f"{node.doc['url']}/files/{info['taskRootDirectory']}"
            retries = int((spec.get("constraints") or {}).get("maxTaskRetryCount") or 0)
            if not spec.get("waitForSuccess", True):
                self.svc.spawn(self._run_side_task(node, spec, tdir, job=job, retries=retries, info=info))
                info["result"] = "success"  # tasks do not wait for it
                return True
            ok = await self._run_side_task(node, spec, tdir, job=job, retries=retries, info=info)
            if not ok:
                info["blocked"] = True
            self.svc.flush()
            return ok

    async def run_release_tasks(self, job: Job) -> None:
        spec = job.doc.get("jobReleaseTask")
        if not spec:
            return
        runs = []
        for pool in self.svc.pools.values():
            for node in pool.nodes.values():
                prep = node.x.get("prep", {}).get(job.key)
                if not prep or prep.get("state") != "completed":
                    continue
                info: dict = {}
                prep["release"] = info
                tdir = node_layout.task_dir(self.svc.node_root(node), job.id, spec.get("id", "jobrelease"))
                limit = clock.parse_duration(spec.get("maxWallClockTime") or "PT15M")
                runs.append(self._run_side_task(node, spec, tdir, job=job, retries=0, info=info,
                                                limit_s=limit.total_seconds() if limit else 900))
        if runs:
            await asyncio.gather(*runs, return_exceptions=True)  # failed release tasks do not block completion


def _node_info(node: Node, job: Job, task: Task) -> dict:
    return {"affinityId": node.doc["affinityId"], "nodeUrl": node.doc["url"], "poolId": node.pool.doc["id"],
            "nodeId": node.id, "taskRootDirectory": f"{node_layout.job_dir(job.id)}/{task.id}",
            "taskRootDirectoryUrl": f"{node.doc['url']}/files/{node_layout.job_dir(job.id)}/{task.id}"}


def multi_instance_count(task: Task) -> int:
    return int((task.doc.get("multiInstanceSettings") or {}).get("numberOfInstances") or 1)


def _container_not_run(task: Task, node: Node) -> RunOutcome:
    """A container task never runs on the host: on a pool without containerConfiguration it fails as on
    Azure, and on a container pool it fails saying the local service runs no containers (never pretends)."""
    now = clock.now()
    if not node.pool.doc["virtualMachineConfiguration"].get("containerConfiguration"):
        failure = {"category": "usererror", "code": "ContainerPoolNotSupported",
                   "message": "The task has containerSettings but its pool has no containerConfiguration.",
                   "details": []}
    else:
        failure = {"category": "usererror", "code": "ContainerNotEmulated",
                   "message": "The local Batch service does not run containers; run this task on an Azure pool "
                              "with a container configuration, or drop containerSettings to run the command on "
                              "the local node.", "details": []}
    return RunOutcome(exit_code=None, failure=failure, kind="preprocessing", start_time=now, end_time=now)


def _retries_left(task: Task) -> bool:
    limit = int(task.doc["constraints"].get("maxTaskRetryCount", 0))
    return limit == -1 or task.doc["executionInfo"].get("retryCount", 0) < limit


def _priority_groups(jobs: list[Job]):
    group: list[Job] = []
    current = None
    for job in jobs:
        p = int(job.doc.get("priority", 0))
        if group and p != current:
            yield current, group
            group = []
        current = p
        group.append(job)
    if group:
        yield current, group


def exit_options(conditions: dict, exit_code: int | None, failed: bool, kind: str) -> dict:
    """Choose the exitOptions that apply: exact exit code, then ranges, then the error kinds, then default."""
    chosen = None
    if exit_code is not None and kind in ("exit", "fileupload", "timeout"):
        for item in conditions.get("exitCodes") or []:
            if item.get("code") == exit_code:
                chosen = item.get("exitOptions") or {}
                break
        if chosen is None:
            for item in conditions.get("exitCodeRanges") or []:
                if item.get("start", 0) <= exit_code <= item.get("end", -1):
                    chosen = item.get("exitOptions") or {}
                    break
    if chosen is None and kind == "preprocessing":
        chosen = conditions.get("preProcessingError")
    if chosen is None and kind == "fileupload":
        chosen = conditions.get("fileUploadError")
    if chosen is None:
        chosen = conditions.get("default") or {}
    return {"jobAction": (chosen.get("jobAction") or ("terminate" if failed else "none")).lower(),
            "dependencyAction": (chosen.get("dependencyAction") or ("block" if failed else "satisfy")).lower()}

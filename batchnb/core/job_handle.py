"""``JobHandle``: add tasks to a job, watch it, read its tasks' output, retry what failed.

A handle is only a job id and a session: ``session.job("j1")`` after a kernel restart gives the
same view as the handle that created the job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.batch import models as batch_models

from batchnb.core.docstrings import expand_sections, fill_doc
from batchnb.core.handle_base import _Handle, state_text
from batchnb.core.redact import redact
from batchnb.core.specs.environment import Environment, pool_environment
from batchnb.core.specs.models import TaskSpec
from batchnb.core.specs.task_files import OutputFileSpec
from batchnb.core.tasks.bulk import BulkAddResult, add_tasks
from batchnb.core.transport import Deadline, as_rows, call
from batchnb.data.frames import TASK_SELECT_FIELDS, failed_tasks, tasks_frame, with_params
from batchnb.errors import ConflictError, NotFoundError, TaskFailedError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from batchnb.core.session import Session
    from batchnb.data.watch import FileTail

__all__ = ["JobHandle"]

STDOUT = "stdout.txt"
STDERR = "stderr.txt"
_DEFAULT_FAILURE_TAIL = 2048
# Azure answers 409 with these once a task's node has left the pool or its retention has passed.
TASK_FILES_GONE_CODES = frozenset({"TaskFilesUnavailable", "TaskFilesCleanedup"})


def stream_doc(summary: str) -> str:
    """The docstring of :meth:`JobHandle.stdout` / :meth:`JobHandle.stderr`."""
    return expand_sections(f"{summary}\n\nParameters\n----------\n%(task_tail_params)s\n\n%(text_returns)s",
                           missing="No such task, or it has not started on a node")


@fill_doc(kind="job", model="BatchJob")
class JobHandle(_Handle[batch_models.BatchJob]):
    """A job by id: tasks, counts, logs, waiting and retries.

    Get one from :meth:`Session.create_job` or :meth:`Session.job`. It holds no state but the
    last ``refresh()``; every method asks the service.

    %(handle_params)s
    """

    _kind = "job"

    def __init__(self, session: Session, job_id: str, info: batch_models.BatchJob | None = None) -> None:
        super().__init__(session, job_id, info)

    @property
    def _client(self) -> Any:
        return self.session.batch_client

    # ------------------------------------------------------------------------------- the job
    @property
    def pool_id(self) -> str | None:
        """The id of the pool that runs the job's tasks."""
        return self.info.pool_info.pool_id if self.info.pool_info else None

    @property
    def metadata(self) -> dict[str, str]:
        """The job's metadata as a dict (``JobSpec(metadata=...)``)."""
        return {m.name: m.value for m in (self.info.metadata or [])}

    @fill_doc(until="the job is completed")
    def terminate(self, *, reason: str | None = None, wait: bool = False, timeout: float = 300) -> None:
        """End the job: running tasks are stopped, no new task starts (see :meth:`Session.terminate_job`).

        Parameters
        ----------
        reason : str, optional
            The termination reason recorded on the job.
        %(wait_params)s
        """
        self.session.terminate_job(self.id, reason=reason, wait=wait, timeout=timeout)

    # ------------------------------------------------------------------------------- tasks
    def add_tasks(self, tasks: TaskSpec | Iterable[TaskSpec | batch_models.BatchTaskCreateOptions], *,
                  max_concurrency: int = 4, timeout: float = 300) -> BulkAddResult:
        """Add tasks in bulk: chunked under Batch's 100-task / 1 MB request limits, sent concurrently.

        Re-running with the same task ids adds nothing twice: tasks that already exist count as
        added.

        Parameters
        ----------
        tasks : TaskSpec or iterable of TaskSpec
            The tasks (a :class:`TaskList` from :func:`sweep` or :func:`per_file`, a list of
            :class:`TaskSpec`, or the SDK's ``BatchTaskCreateOptions``).
        max_concurrency : int
            Requests in flight at once.
        timeout : float
            Seconds to keep trying, retries included.

        Returns
        -------
        batchnb.core.tasks.bulk.BulkAddResult
            What was added and what already existed.

        Raises
        ------
        batchnb.errors.ValidationError
            A task needs more slots than the pool's nodes have (checked before sending).
        batchnb.errors.TaskSubmissionError
            Some tasks could not be added within ``timeout``; it lists which were and were not.
        """
        if isinstance(tasks, TaskSpec):
            tasks = [tasks]
        tasks = list(tasks)
        self._check_slots_fit(tasks)
        env = self._pool_python_env()
        if env is not None:
            # The pool's start task installed it: its python comes first for every TaskSpec.
            # _sibling: only the changed command line is validated again (a sweep's million tasks).
            tasks = [t._sibling(t.id, env.path_command(t.command_line), t.resource_files)
                     if isinstance(t, TaskSpec) else t for t in tasks]
        return add_tasks(self._client, self.id, tasks, max_concurrency=max_concurrency, timeout=timeout)

    def _pool_python_env(self) -> Environment | None:
        """The ``python_env`` of the job's pool (PoolSpec(python_env=)), looked up once per handle."""
        if not hasattr(self, "_python_env"):
            env = None
            if self.pool_id:
                try:
                    env = pool_environment(self.session.get_pool(self.pool_id))
                except NotFoundError:
                    env = None  # the pool may be created later (allow_missing_pool)
            self._python_env = env
        return self._python_env

    def _check_slots_fit(self, tasks: list[TaskSpec | batch_models.BatchTaskCreateOptions]) -> None:
        """A task that needs more slots than a node has is accepted by Batch and then never runs:
        refuse it before anything is sent. Costs two lookups, and only when a task asks for > 1 slot."""
        widest = max((int(getattr(t, "required_slots", None) or 1) for t in tasks), default=1)
        if widest <= 1 or not self.pool_id:
            return
        try:
            pool = self.session.get_pool(self.pool_id)
        except NotFoundError:
            return  # the pool may be created later (allow_missing_pool); Batch then decides
        slots = int(pool.task_slots_per_node or 1)
        if widest > slots:
            raise ValidationError("required_slots", f"is {widest}, but the nodes of pool {self.pool_id!r} have "
                                  f"{slots} task slot(s), so the task could never run",
                                  fix=f"use required_slots <= {slots}, or a pool with more task_slots_per_node")

    def task_counts(self) -> dict[str, int]:
        """The job's task counts, in one cheap call.

        Returns
        -------
        dict of str to int
            ``active``, ``running``, ``completed``, ``succeeded`` and ``failed``.
        """
        result = call(f"get the task counts of job {self.id!r}", self._client.get_job_task_counts, self.id)
        counts = result.task_counts
        return {k: int(getattr(counts, k) or 0) for k in ("active", "running", "completed", "succeeded", "failed")}

    def _list_task_rows(self, select: Sequence[str] | None = None, filter: str | None = None) -> list[dict[str, Any]]:
        """REST-shaped task dicts (camelCase), the one listing every task view builds on.

        ``select``: top-level properties to fetch (None: all); ``filter``: an OData filter such as
        ``"stateTransitionTime gt 2026-01-01T00:00:00Z"``.
        """
        return call(f"list the tasks of job {self.id!r}",
                    lambda: as_rows(self._client.list_tasks(self.id, select=list(select) if select else None,
                                                            filter=filter)))

    def tasks(self, *, filter: str | None = None) -> pd.DataFrame:
        """Every task of the job as a typed DataFrame.

        Without a filter the table comes from the job's watcher: the first call loads every task,
        later calls fetch only the tasks whose state changed since (cost follows the changes).

        Parameters
        ----------
        filter : str, optional
            An OData filter such as ``"state eq 'completed'"`` (then every matching task is
            fetched).

        Returns
        -------
        pandas.DataFrame
            One row per task, indexed by task id: state, exit code, result, retry/requeue counts,
            node, times, failure code and message (typed columns, see ``batchnb.data.frames``),
            then one column per sweep parameter (stored with each task, so a re-attached job
            has them too).
        """
        if filter is None:
            from batchnb.data.watch import watcher_for

            watcher = watcher_for(self._client, self.id)
            call(f"refresh the tasks of job {self.id!r}", watcher.refresh)
            return with_params(watcher.tasks.copy())
        return with_params(tasks_frame(self._list_task_rows(TASK_SELECT_FIELDS, filter)))

    def monitor(self, *, interval: float = 2.0):
        """A live view of the job: progress, figures, failed tasks with stderr, retry/terminate.

        Parameters
        ----------
        interval : float
            Seconds between refreshes.

        Returns
        -------
        JobMonitor
            The widget; the cell returns at once and the view keeps updating from the kernel's
            event loop.
        """
        from batchnb.views.widgets import monitor_job

        return monitor_job(self, interval=interval)

    def failures(self, *, tail: int = _DEFAULT_FAILURE_TAIL) -> pd.DataFrame:
        """The job's failed tasks, with why they failed.

        A task whose files are gone (its node left the pool, e.g. after an autoscale or spot
        scale-down, or its retention passed) shows ``[files gone with node X: <code>]`` as its
        stderr instead of failing the whole table.

        Parameters
        ----------
        tail : int
            Bytes of each task's stderr to fetch (the end of it).

        Returns
        -------
        pandas.DataFrame
            One row per failed task: ``exit_code``, ``failure_code``, ``failure_message``,
            ``node_id``, ``retry_count`` and ``stderr`` (None for a task that never ran; a task
            whose files are gone, because its node left the pool or its retention passed, shows
            ``[files gone with node X: <code>]``).
        """
        frame = self.tasks(filter="state eq 'completed'")
        failed = failed_tasks(frame)[["exit_code", "failure_code", "failure_message", "node_id", "retry_count"]].copy()
        nodes = [None if str(n) == "<NA>" else str(n) for n in failed["node_id"]]
        failed["stderr"] = self._read_many(list(failed.index), STDERR, tail, nodes=nodes)
        return failed

    def _read_many(self, task_ids: list[str], name: str, tail: int | None,
                   nodes: Sequence[str | None] | None = None) -> list[str | None]:
        node_of = dict(zip(task_ids, nodes or [None] * len(task_ids)))

        def read(task_id: str) -> str | None:
            try:
                return self.read_file(task_id, name, tail=tail)
            except NotFoundError:
                return None  # the task never started on a node, so it has no log
            except ConflictError as exc:
                if exc.code not in TASK_FILES_GONE_CODES:
                    raise
                return files_gone_note(node_of.get(task_id), exc.code)
        if len(task_ids) <= 1:
            return [read(t) for t in task_ids]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="batchnb-logs") as pool:
            return list(pool.map(read, task_ids))

    # ------------------------------------------------------------------------------- files
    @fill_doc(missing="No such task or file (yet), or its node is gone")
    def read_file(self, task_id: str, path: str, *, tail: int | None = None, encoding: str = "utf-8") -> str:
        """A file of the task's directory on its node, as text, with secrets masked.

        A task that prints its SAS URL or a key must not put it in the notebook;
        :meth:`read_bytes` gives the bytes untouched.

        Parameters
        ----------
        task_id : str
            The task's id.
        path : str
            Relative to the task directory (``stdout.txt``, ``wd/out/result.json``).
        tail : int, optional
            Only the last ``tail`` bytes, fetched by byte range.
        encoding : str
            The file's text encoding (undecodable bytes are replaced).

        %(text_returns)s
        """
        return redact(self.read_bytes(task_id, path, tail=tail).decode(encoding, errors="replace"))

    @fill_doc(missing="No such task or file (yet), or its node is gone")
    def read_bytes(self, task_id: str, path: str, *, tail: int | None = None) -> bytes:
        """A file of the task's directory on its node, as bytes.

        Parameters
        ----------
        task_id : str
            The task's id.
        path : str
            Relative to the task directory.
        tail : int, optional
            Only the last ``tail`` bytes, fetched by byte range.

        %(bytes_returns)s
        """
        action = f"read {path!r} of task {task_id!r} in job {self.id!r}"
        ocp_range = None
        if tail is not None:
            if tail <= 0:
                return b""
            try:
                size = call(action, self._client.get_task_file_properties, self.id, task_id, path).content_length
            except ConflictError as exc:
                if exc.code in TASK_FILES_GONE_CODES:
                    raise
                # A HEAD answer has no body, so no error code: a GET says why (files gone...).
                data = call(action, lambda: b"".join(self._client.download_task_file(self.id, task_id, path)))
                return data[-tail:]
            if not size:
                return b""
            ocp_range = f"bytes={max(0, size - tail)}-{size - 1}"
        return call(action, lambda: b"".join(
            self._client.download_task_file(self.id, task_id, path, ocp_range=ocp_range)))

    def stdout(self, task_id: str, *, tail: int | None = None) -> str:
        return self.read_file(task_id, STDOUT, tail=tail)

    def stderr(self, task_id: str, *, tail: int | None = None) -> str:
        return self.read_file(task_id, STDERR, tail=tail)

    # One docstring for both streams: they differ only in the file they read.
    stdout.__doc__ = stream_doc("What the task printed (``stdout.txt`` of its directory), secrets masked.")
    stderr.__doc__ = stream_doc("The task's stderr (``stderr.txt``): where a failed task usually says why.")

    # ------------------------------------------------------------------------------- waiting
    @fill_doc
    def wait(self, *, timeout: float | None = None, poll: float = 2.0,
             raise_on_failure: bool = False,
             on_counts: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
        """Block until no task is active or running.

        The counts are only a hint: Azure documents that Get Task Counts may lag behind the task
        list (right after ``add_tasks`` it can read 0 active, 0 running), so "done" is confirmed by
        one narrow list query for tasks not yet completed before ``wait`` returns.

        Parameters
        ----------
        %(poll_params)s
        raise_on_failure : bool
            Raise for the first failed task instead of returning.
        on_counts : callable, optional
            Called with the task counts after every check (e.g. to drive a progress bar).

        Returns
        -------
        dict of str to int
            The final task counts (see :meth:`task_counts`).

        Raises
        ------
        batchnb.errors.BatchTimeoutError
            Tasks were still active or running after ``timeout`` seconds (the job keeps
            running; call again to keep waiting).
        batchnb.errors.TaskFailedError
            ``raise_on_failure=True`` and a task failed: its failure code, exit code and
            stderr tail (found from the task list).
        """
        deadline = Deadline(timeout, poll=poll)
        while True:
            counts = self.task_counts()
            if counts["active"] == 0 and counts["running"] == 0:
                pending = self._unfinished_tasks()
                if not pending:
                    break
                counts = {**counts, **_pending_counts(pending)}  # the counts lag: the list is exact
            if on_counts is not None:
                on_counts(counts)
            if deadline.expired():
                raise deadline.timeout_error(
                    f"job {self.id!r} ({counts['active']} active, {counts['running']} running, "
                    f"{counts['completed']} completed)",
                    fix="call job.wait() again to keep waiting; the job keeps running")
            deadline.sleep()
        if on_counts is not None:
            on_counts(counts)
        if raise_on_failure:
            failed = self.failures()  # the list, not counts["failed"], which may still read 0
            if not failed.empty:
                raise self._first_failure(failed, max(counts["failed"], len(failed)))
        return counts

    def _all_tasks_done(self) -> bool:
        """True when no task is active or running, confirmed by the task list (see ``wait``)."""
        counts = self.task_counts()
        return counts["active"] == 0 and counts["running"] == 0 and not self._unfinished_tasks()

    def _unfinished_tasks(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` tasks (one page) that are not completed: ``id`` and ``state`` only, so
        the usual answer, none, costs one small request whatever the size of the job."""
        def first_page() -> list[dict[str, Any]]:
            pager = self._client.list_tasks(self.id, select=["id", "state"], filter="state ne 'completed'")
            return [t.as_dict() for t in islice(pager, limit)]
        return call(f"list the unfinished tasks of job {self.id!r}", first_page)

    def _first_failure(self, failed: pd.DataFrame, n_failed: int) -> TaskFailedError:
        task_id = failed.index[0]
        row = failed.iloc[0]
        exit_code = None if row["exit_code"] is None or str(row["exit_code"]) == "<NA>" else int(row["exit_code"])
        code = None if str(row["failure_code"]) == "<NA>" else str(row["failure_code"])
        return TaskFailedError(
            f"{n_failed} task(s) of job {self.id!r} failed; first: task {task_id!r} ({code}, exit code {exit_code})",
            job_id=self.id, task_id=str(task_id), exit_code=exit_code, failure_code=code,
            failure_message=None if str(row["failure_message"]) == "<NA>" else str(row["failure_message"]),
            stderr_tail=row["stderr"], fix="see job.failures() and job.stderr(task_id); job.retry_failed() reruns them")

    # ------------------------------------------------------------------------------- retries
    def retry_failed(self, *, max_concurrency: int = 8) -> list[str]:
        """Reactivate every failed task (they run again with their retry count reset).

        Parameters
        ----------
        max_concurrency : int
            Reactivation requests in flight at once.

        Returns
        -------
        list of str
            The ids reactivated.

        Raises
        ------
        batchnb.errors.ConflictError
            The job has completed: it cannot run tasks again.
        """
        rows = self._list_task_rows(["id", "executionInfo"], "state eq 'completed'")
        failed = [r["id"] for r in rows
                  if (r.get("executionInfo") or {}).get("result") == "failure"
                  or (r.get("executionInfo") or {}).get("failureInfo")]
        return self.reactivate_tasks(failed, max_concurrency=max_concurrency)

    def reactivate_tasks(self, task_ids: Iterable[str], *, max_concurrency: int = 8) -> list[str]:
        """Reactivate these tasks (Batch runs them again, retry count reset).

        The one reactivation path: ``retry_failed()``, ``%batch retry`` and the monitor's button
        all come here.

        Parameters
        ----------
        task_ids : iterable of str
            The tasks to run again.
        max_concurrency : int
            Requests in flight at once.

        Returns
        -------
        list of str
            The ids reactivated.

        Raises
        ------
        batchnb.errors.NotFoundError
            A task does not exist.
        batchnb.errors.ConflictError
            A task cannot be reactivated (e.g. it did not fail).
        """
        ids = [str(t) for t in task_ids]

        def reactivate(task_id: str) -> str:
            call(f"reactivate task {task_id!r} of job {self.id!r}", self._client.reactivate_task, self.id, task_id)
            return task_id

        if not ids:
            return []
        if len(ids) == 1:
            return [reactivate(ids[0])]
        with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(ids))),
                                thread_name_prefix="batchnb-retry") as pool:
            return list(pool.map(reactivate, ids))

    def get_task(self, task_id: str) -> batch_models.BatchTask:
        """One task as the SDK's model.

        Parameters
        ----------
        task_id : str
            The task's id.

        Returns
        -------
        azure.batch.models.BatchTask
            The task.

        Raises
        ------
        batchnb.errors.NotFoundError
            There is no such task.
        """
        return call(f"get task {task_id!r} of job {self.id!r}", self._client.get_task, self.id, task_id)

    def task_state(self, task_id: str) -> str | None:
        """A task's state, from one narrow GET.

        Parameters
        ----------
        task_id : str
            The task's id.

        Returns
        -------
        str or None
            ``active``, ``preparing``, ``running`` or ``completed``.
        """
        task = call(f"get task {task_id!r} of job {self.id!r}", self._client.get_task, self.id, task_id,
                    select=["id", "state"])
        return state_text(task.state)

    def file_tail(self, task_id: str, path: str = STDOUT, *, max_bytes: int = 16_384) -> FileTail:
        """A tail on a task file: each ``read()`` fetches only the bytes added since the last one
        (by byte range) and returns the last ``max_bytes``, masked.

        Parameters
        ----------
        task_id : str
            The task's id.
        path : str
            The file, relative to the task's directory (default ``stdout.txt``).
        max_bytes : int
            How much of the end to keep.

        Returns
        -------
        FileTail
            The reader (``batchnb.data.watch.FileTail``).
        """
        from batchnb.data.watch import FileTail

        return FileTail(self._client, self.id, task_id, path, max_bytes=max_bytes)

    # ------------------------------------------------------------------------------- outputs
    def output_files(self, task_id: str, pattern: str = "**/*", *, container: str = "outputs",
                     upload_condition: str = "taskcompletion",
                     include_logs: bool = True) -> list[OutputFileSpec]:
        """Output files for a task of this job, uploaded under ``<job>/<task>/`` in ``container``.

        Give them to ``TaskSpec(output_files=...)``; read them back with
        :meth:`download_outputs` or ``session.storage.read_frame``.

        Parameters
        ----------
        task_id : str
            The task the files are for.
        pattern : str
            Files to upload, relative to the task's working directory.
        container : str
            The blob container (created if needed).
        upload_condition : {"taskcompletion", "tasksuccess", "taskfailure"}
            When to upload.
        include_logs : bool
            Also upload stdout/stderr, under ``<job>/<task>/logs``.

        Returns
        -------
        list of OutputFileSpec
            The specs, each with a write-only SAS.
        """
        storage = self.session.storage
        base = f"{self.id}/{task_id}"
        specs = [storage.output_files(pattern, container=container, path=base, upload_condition=upload_condition)]
        if include_logs:
            specs.append(storage.output_files("../std*.txt", container=container, path=f"{base}/logs",
                                              upload_condition="taskcompletion"))
        return specs

    def download_outputs(self, dest: str | Path, *, container: str = "outputs", task_id: str | None = None,
                         pattern: str | None = None) -> list[Path]:
        """Download what this job's tasks uploaded with :meth:`output_files`.

        Parameters
        ----------
        dest : str or os.PathLike
            The local folder; files keep their folders below ``<job>/``.
        container : str
            The blob container the outputs went to.
        task_id : str, optional
            Only this task's outputs (default: every task's).
        pattern : str, optional
            Only blobs matching this glob.

        Returns
        -------
        list of pathlib.Path
            The local files.
        """
        prefix = f"{self.id}/{task_id}/" if task_id else f"{self.id}/"
        return self.session.storage.download(container, prefix=prefix, dest=dest, pattern=pattern)

    # ------------------------------------------------------------------------------- cost
    @fill_doc
    def cost(self, *, region: str | None = None, currency: str = "USD") -> pd.DataFrame:
        """What each task cost, with retries and requeues (their lost runs estimated).

        Works while the job runs (running tasks cost until now). Prices come from
        :func:`batchnb.vm_price`.

        Parameters
        ----------
        %(price_params)s

        Returns
        -------
        pandas.DataFrame
            One row per task: node, priority, VM size, wall time, its share of the node
            (requiredSlots / taskSlotsPerNode), core-hours and cost; totals in
            ``.attrs["summary"]``.
        """
        from batchnb.core.cost.job_cost import job_cost

        return job_cost(self.session, self.id, pool_id=self.pool_id, region=region,
                        prices={"currency": currency})

    def estimate(self):
        """Time and cost to finish, from the completed tasks' durations and the pool's slots.

        Returns
        -------
        Estimate
            The estimate, with a 95 % band.

        Raises
        ------
        batchnb.errors.ValidationError
            The job has no pool to estimate on.
        """
        from batchnb.core.cost.estimate import estimate_job

        if not self.pool_id:
            raise ValidationError("pool", f"job {self.id!r} has no pool to estimate on",
                                  fix="estimates need a job created on a named pool")
        return estimate_job(self.session, self.id, self.pool_id)

    # ------------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        if self._info is None:
            return f"JobHandle({self.id!r})"
        return f"JobHandle({self.id!r}, state={state_text(self._info.state)!r}, pool={self.pool_id!r})"


def _pending_counts(pending: list[dict[str, Any]]) -> dict[str, int]:
    """Active/running numbers from listed unfinished tasks (``preparing`` counts as running, as
    in Get Task Counts)."""
    active = sum(1 for t in pending if t.get("state") == "active")
    return {"active": active, "running": len(pending) - active}


def files_gone_note(node_id: str | None, code: str | None) -> str:
    """What a summary shows instead of a log whose files are gone (never an exception)."""
    where = f"with node {node_id}" if node_id else "(the task's node left the pool)"
    return f"[files gone {where}: {code}]"

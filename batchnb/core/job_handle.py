"""``JobHandle``: add tasks to a job, watch it, read its tasks' output, retry what failed.

A handle is only a job id and a session: ``session.job("j1")`` after a kernel restart gives the
same view as the handle that created the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.batch import models as batch_models

from batchnb.core.handle_base import _Handle, state_text
from batchnb.core.specs.models import TaskSpec
from batchnb.core.specs.task_files import OutputFileSpec
from batchnb.core.tasks.bulk import BulkAddResult, add_tasks
from batchnb.core.transport import Deadline, as_rows, call
from batchnb.data.frames import TASK_SELECT_FIELDS, failed_tasks, tasks_frame
from batchnb.errors import NotFoundError, TaskFailedError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from batchnb.core.session import Session
    from batchnb.data.watch import FileTail

__all__ = ["JobHandle"]

STDOUT = "stdout.txt"
STDERR = "stderr.txt"
_DEFAULT_FAILURE_TAIL = 2048


class JobHandle(_Handle[batch_models.BatchJob]):
    """A job by id: tasks, counts, logs, waiting and retries."""

    # Kept to keep ``job_id`` as the keyword name callers know.
    def __init__(self, session: Session, job_id: str, info: batch_models.BatchJob | None = None) -> None:
        super().__init__(session, job_id, info)

    @property
    def _client(self) -> Any:
        return self.session.batch_client

    # ------------------------------------------------------------------------------- the job
    def _fetch(self) -> batch_models.BatchJob:
        return self.session.get_job(self.id)

    @property
    def state(self) -> str | None:
        """``active``, ``terminating``, ``completed``... (refreshed on each access)."""
        return self._fresh_state("state")

    @property
    def pool_id(self) -> str | None:
        return self.info.pool_info.pool_id if self.info.pool_info else None

    @property
    def metadata(self) -> dict[str, str]:
        return {m.name: m.value for m in (self.info.metadata or [])}

    def terminate(self, *, reason: str | None = None, wait: bool = False, timeout: float = 300) -> None:
        """End the job: running tasks are stopped, no new task starts."""
        self.session.terminate_job(self.id, reason=reason, wait=wait, timeout=timeout)

    def delete(self, *, wait: bool = False, timeout: float = 300) -> None:
        self.session.delete_job(self.id, wait=wait, timeout=timeout)

    # ------------------------------------------------------------------------------- tasks
    def add_tasks(self, tasks: TaskSpec | Iterable[TaskSpec | batch_models.BatchTaskCreateOptions], *,
                  max_concurrency: int = 4, timeout: float = 300) -> BulkAddResult:
        """Add tasks in bulk (chunked, concurrent, idempotent; see :mod:`batchnb.core.tasks.bulk`).

        Re-running with the same task ids adds nothing twice. Raises TaskSubmissionError, listing
        what was and was not added, if some tasks could not be added within ``timeout`` seconds.
        """
        if isinstance(tasks, TaskSpec):
            tasks = [tasks]
        tasks = list(tasks)
        self._check_slots_fit(tasks)
        return add_tasks(self._client, self.id, tasks, max_concurrency=max_concurrency, timeout=timeout)

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
        """``{"active", "running", "completed", "succeeded", "failed"}`` in one cheap call."""
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
        """Every task as a typed DataFrame indexed by task id: state, exit code, result,
        retry/requeue counts, node, times, failure code and message (see batchnb.data.frames).

        Without a filter the table comes from the job's watcher: the first call loads every task,
        later calls fetch only the tasks whose state changed since (cost follows the changes)."""
        if filter is None:
            from batchnb.data.watch import watcher_for

            watcher = watcher_for(self._client, self.id)
            call(f"refresh the tasks of job {self.id!r}", watcher.refresh)
            return watcher.tasks.copy()
        return tasks_frame(self._list_task_rows(TASK_SELECT_FIELDS, filter))

    def monitor(self, *, interval: float = 2.0):
        """A live view of the job (progress, figures, failed tasks with stderr, retry/terminate);
        the cell returns at once and the view keeps updating from the kernel's event loop."""
        from batchnb.views.widgets import monitor_job

        return monitor_job(self, interval=interval)

    def failures(self, *, tail: int = _DEFAULT_FAILURE_TAIL) -> pd.DataFrame:
        """Failed tasks with their failure code, exit code and the end of their stderr."""
        frame = self.tasks(filter="state eq 'completed'")
        failed = failed_tasks(frame)[["exit_code", "failure_code", "failure_message", "node_id", "retry_count"]].copy()
        failed["stderr"] = self._read_many(list(failed.index), STDERR, tail)
        return failed

    def _read_many(self, task_ids: list[str], name: str, tail: int | None) -> list[str | None]:
        def read(task_id: str) -> str | None:
            try:
                return self.read_file(task_id, name, tail=tail)
            except NotFoundError:
                return None  # the task never started on a node, so it has no log
        if len(task_ids) <= 1:
            return [read(t) for t in task_ids]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="batchnb-logs") as pool:
            return list(pool.map(read, task_ids))

    # ------------------------------------------------------------------------------- files
    def read_file(self, task_id: str, path: str, *, tail: int | None = None, encoding: str = "utf-8") -> str:
        """A file of the task's directory as text (``tail``: only its last ``tail`` bytes)."""
        return self.read_bytes(task_id, path, tail=tail).decode(encoding, errors="replace")

    def read_bytes(self, task_id: str, path: str, *, tail: int | None = None) -> bytes:
        action = f"read {path!r} of task {task_id!r} in job {self.id!r}"
        ocp_range = None
        if tail is not None:
            if tail <= 0:
                return b""
            size = call(action, self._client.get_task_file_properties, self.id, task_id, path).content_length
            if not size:
                return b""
            ocp_range = f"bytes={max(0, size - tail)}-{size - 1}"
        return call(action, lambda: b"".join(
            self._client.download_task_file(self.id, task_id, path, ocp_range=ocp_range)))

    def stdout(self, task_id: str, *, tail: int | None = None) -> str:
        """The task's stdout (``tail``: only the last ``tail`` bytes, fetched by byte range)."""
        return self.read_file(task_id, STDOUT, tail=tail)

    def stderr(self, task_id: str, *, tail: int | None = None) -> str:
        """The task's stderr (``tail``: only the last ``tail`` bytes, fetched by byte range)."""
        return self.read_file(task_id, STDERR, tail=tail)

    # ------------------------------------------------------------------------------- waiting
    def wait(self, *, timeout: float | None = None, poll: float = 2.0,
             raise_on_failure: bool = False) -> dict[str, int]:
        """Block until no task is active or running; return the final task counts.

        Raises BatchTimeoutError after ``timeout`` seconds (the job keeps running; call again to
        keep waiting). With ``raise_on_failure=True``, raises TaskFailedError for the first failed
        task (its failure code, exit code and stderr tail).
        """
        deadline = Deadline(timeout, poll=poll)
        while True:
            counts = self.task_counts()
            if counts["active"] == 0 and counts["running"] == 0:
                break
            if deadline.expired():
                raise deadline.timeout_error(
                    f"job {self.id!r} ({counts['active']} active, {counts['running']} running, "
                    f"{counts['completed']} completed)",
                    fix="call job.wait() again to keep waiting; the job keeps running")
            deadline.sleep()
        if raise_on_failure and counts["failed"]:
            raise self._first_failure(counts["failed"])
        return counts

    def _first_failure(self, n_failed: int) -> TaskFailedError:
        failed = self.failures()
        if failed.empty:
            return TaskFailedError(f"{n_failed} task(s) of job {self.id!r} failed", job_id=self.id)
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

        Returns the ids reactivated. A job that has completed cannot run tasks again.
        """
        rows = self._list_task_rows(["id", "executionInfo"], "state eq 'completed'")
        failed = [r["id"] for r in rows
                  if (r.get("executionInfo") or {}).get("result") == "failure"
                  or (r.get("executionInfo") or {}).get("failureInfo")]
        return self.reactivate_tasks(failed, max_concurrency=max_concurrency)

    def reactivate_tasks(self, task_ids: Iterable[str], *, max_concurrency: int = 8) -> list[str]:
        """Reactivate these tasks (Batch runs them again, retry count reset); returns their ids.

        The one reactivation path: ``retry_failed()``, ``%batch retry`` and the monitor's button
        all come here. Raises NotFoundError / ConflictError (e.g. a task that did not fail).
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
        """The SDK's ``BatchTask`` (raises NotFoundError)."""
        return call(f"get task {task_id!r} of job {self.id!r}", self._client.get_task, self.id, task_id)

    def task_state(self, task_id: str) -> str | None:
        """``active``, ``preparing``, ``running`` or ``completed`` (one narrow GET)."""
        task = call(f"get task {task_id!r} of job {self.id!r}", self._client.get_task, self.id, task_id,
                    select=["id", "state"])
        return state_text(task.state)

    def file_tail(self, task_id: str, path: str = STDOUT, *, max_bytes: int = 16_384) -> FileTail:
        """A :class:`batchnb.data.watch.FileTail` on a task file: each ``read()`` fetches only the
        bytes added since the last one (by byte range) and returns the last ``max_bytes``."""
        from batchnb.data.watch import FileTail

        return FileTail(self._client, self.id, task_id, path, max_bytes=max_bytes)

    # ------------------------------------------------------------------------------- outputs
    def output_files(self, task_id: str, pattern: str = "**/*", *, container: str = "outputs",
                     upload_condition: str = "taskcompletion",
                     include_logs: bool = True) -> list[OutputFileSpec]:
        """Output files for a task of this job, uploaded under ``<job>/<task>/`` in ``container``.

        Give them to ``TaskSpec(output_files=...)``; ``include_logs`` also keeps stdout/stderr.
        Read them back with :meth:`download_outputs` or ``session.storage.read_frame``.
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
        """Download what this job's tasks uploaded with :meth:`output_files` (one task, or all)."""
        prefix = f"{self.id}/{task_id}/" if task_id else f"{self.id}/"
        return self.session.storage.download(container, prefix=prefix, dest=dest, pattern=pattern)

    # ------------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        if self._info is None:
            return f"JobHandle({self.id!r})"
        return f"JobHandle({self.id!r}, state={state_text(self._info.state)!r}, pool={self.pool_id!r})"

"""Bulk task submission: chunked, concurrent, idempotent and bounded in time.

Why not the SDK's ``BatchClient.create_tasks``: it requeues tasks on every server error with no
limit (thousands of requests a second when the service keeps failing), and gives no account of
what was added. Here:

* tasks go in chunks of at most 100 tasks and under 1 MB of JSON (Batch's limits for one
  ``addtaskcollection`` request), in input order, ``max_concurrency`` requests at a time;
* each chunk is one ``create_task_collection`` call **with the SDK pipeline's retries turned off**
  (``retry_total=0``), so that every retry is ours: bounded by ``timeout`` seconds, with
  exponential backoff and jitter, honouring the service's ``Retry-After``;
* retried: HTTP 429/500/502/503/504, connection errors, and per-task ``servererror`` results;
  ``RequestBodyTooLarge`` halves the chunk; other per-task client errors are final;
* a per-task ``TaskExists`` counts as already added, so re-running a cell with deterministic ids
  (``batchnb.sweep``) adds nothing twice. If the ids were sent earlier *in this same call* by a
  request whose answer was lost, ``TaskExists`` means our earlier request worked: counted as added;
* at the end, :class:`~batchnb.errors.TaskSubmissionError` lists exactly which tasks were and were
  not added (with the reason per task) if any could not be.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from azure.batch import models as batch_models
from azure.batch._utils.model_base import SdkJSONEncoder
from azure.core.exceptions import AzureError, HttpResponseError, ServiceRequestError, ServiceResponseError

from batchnb.core.specs.models import TaskSpec
from batchnb.core.specs.task_files import to_resource_file
from batchnb.core.transport import Backoff
from batchnb.core.validation import check_unique_ids
from batchnb.errors import TaskSubmissionError, ValidationError, from_azure_error, ids_preview

__all__ = ["MAX_CHUNK_BYTES", "MAX_CHUNK_TASKS", "BulkAddResult", "add_tasks", "chunk_tasks"]

MAX_CHUNK_TASKS = 100
# Batch rejects request bodies over 1 MB; leave room for the {"value": [...]} envelope.
MAX_CHUNK_BYTES = 1_000_000 - 4_096
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_BACKOFF_FIRST = 0.25
_BACKOFF_MAX = 15.0


@dataclass
class BulkAddResult:
    """What :meth:`batchnb.JobHandle.add_tasks` did. ``added`` + ``already_existed`` is every task given.

    Attributes
    ----------
    added : list of str
        Ids of the tasks this call added.
    already_existed : list of str
        Ids of the tasks that were there already (a re-run adds nothing twice).
    seconds : float
        How long it took.
    requests : int
        Requests sent.
    retries : int
        How many of them were retries.
    """

    added: list[str] = field(default_factory=list)
    already_existed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0

    @property
    def total(self) -> int:
        return len(self.added) + len(self.already_existed)

    def __repr__(self) -> str:
        return (f"BulkAddResult(added={len(self.added)}, already_existed={len(self.already_existed)}, "
                f"seconds={self.seconds:.2f}, requests={self.requests}, retries={self.retries})")


def _sdk_json(model: Any) -> dict[str, Any]:
    """The REST dict the SDK would send for ``model`` (the same encoder, readonly fields left out)."""
    return json.loads(json.dumps(model, cls=SdkJSONEncoder, exclude_readonly=True))


# TaskSpec fields that do not vary between the tasks of a sweep: tasks that agree on them share
# one converted body, and only id, commandLine and resourceFiles are filled in per task.
_SHARED_FIELDS = ("display_name", "output_files", "max_retries", "max_wall_clock", "retention", "depends_on",
                  "required_slots", "container_image", "app_packages")


_shared_values = attrgetter("environment", "exit_conditions", *_SHARED_FIELDS)


def _shape_key(task: TaskSpec) -> tuple | None:
    if task.exit_conditions is not None:
        return None  # a dict or SDK model: not hashable; converted in full (rare)
    key = (tuple(task.environment.items()), *(getattr(task, name) for name in _SHARED_FIELDS))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _shared_base(task: TaskSpec, shared: dict[Any, Any]) -> dict[str, Any] | None:
    """The converted options ``task`` shares with others, or None when they cannot be shared.

    Looked up first by the identity of the option objects (a sweep's tasks share them: one C
    call), then by their values (tasks built one by one); the entry keeps the objects alive, so
    an id cannot be reused by another object while ``shared`` lives."""
    values = _shared_values(task)
    by_identity = tuple(map(id, values))
    hit = shared.get(by_identity)
    if hit is not None:
        return hit[1]
    key = _shape_key(task)
    if key is None:
        return None
    base = shared.get(key)
    if base is None:
        base = _sdk_json(task.replace(id="x", command_line="x", resource_files=()).to_sdk())
        for name in ("id", "commandLine", "resourceFiles"):
            base.pop(name, None)
        shared[key] = base
    shared[by_identity] = (values, base)
    return base


def _as_body(task: Any, shared: dict[tuple, dict[str, Any]]) -> tuple[str, dict[str, Any], int]:
    """(id, REST body, bytes in a request). The body is the dict the SDK would serialise for the
    task, built once: converting every TaskSpec through the SDK's models (``to_sdk``, then the
    SDK's encoder for sizing and again for sending) cost ~60 us a task, more than the service
    took to add it; sharing the converted body of a sweep's common options costs ~5 us."""
    if isinstance(task, TaskSpec):
        base = _shared_base(task, shared)
        if base is None:
            body = _sdk_json(task.to_sdk())
        else:
            body = {"id": task.id, "commandLine": task.command_line, **base}
            if task.resource_files:
                body["resourceFiles"] = [_sdk_json(to_resource_file(r)) for r in task.resource_files]
    elif isinstance(task, batch_models.BatchTaskCreateOptions):
        body = _sdk_json(task)
    else:
        raise ValidationError("tasks", f"has an item of type {type(task).__name__}",
                              fix="give TaskSpec objects (batchnb.TaskSpec, sweep(), per_file())")
    # Measured as the SDK serialises it (its default ", " / ": " separators; ASCII, so characters
    # are bytes), plus the ", " that separates it from its neighbour. (A compact dump here
    # undercounted every task, so a chunk could pass 1 MB and cost a 413.)
    return body["id"], body, len(json.dumps(body)) + 2


def chunk_tasks(sized: Sequence[tuple[str, Any, int]], *, max_tasks: int = MAX_CHUNK_TASKS,
                max_bytes: int = MAX_CHUNK_BYTES) -> list[list[tuple[str, Any, int]]]:
    """Split (id, task, size) triples, in order, into chunks within both limits."""
    chunks: list[list[tuple[str, Any, int]]] = []
    current: list[tuple[str, Any, int]] = []
    current_bytes = 0
    for item in sized:
        if item[2] > max_bytes:
            raise ValidationError("tasks", f"task {item[0]!r} is {item[2]:,} bytes as JSON, over Batch's 1 MB "
                                  "request limit on its own",
                                  fix="move large inputs to resource files instead of the command line or environment")
        if current and (len(current) >= max_tasks or current_bytes + item[2] > max_bytes):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item[2]
    if current:
        chunks.append(current)
    return chunks


class _Run:
    """Shared, locked bookkeeping of one add_tasks call."""

    def __init__(self, client: Any, job_id: str, deadline: float) -> None:
        self.client = client
        self.job_id = job_id
        self.deadline = deadline
        self.lock = threading.Lock()
        self.added: set[str] = set()
        self.existed: set[str] = set()
        self.failed: dict[str, str] = {}
        self.uncertain: set[str] = set()  # sent by a request whose answer we never got
        self.requests = 0
        self.retries = 0
        self.abort: str | None = None  # a job-level error: no point sending more

    def send(self, chunk: list[tuple[str, Any, int]]) -> None:
        pending = list(chunk)
        attempt = 0
        while pending:
            if self.abort is not None:
                self._fail(pending, self.abort)
                return
            retry_after: float | None = None
            try:
                with self.lock:
                    self.requests += 1
                # The REST body as a dict: the SDK's encoder writes it as it is (no model to walk).
                result = self.client.create_task_collection(
                    self.job_id, {"value": [t for _, t, _ in pending]},
                    retry_total=0, connection_timeout=30, read_timeout=120)
            except HttpResponseError as exc:
                status = exc.status_code or 0
                error = from_azure_error(exc, action=f"add tasks to job {self.job_id!r}")
                if error.code == "RequestBodyTooLarge" and len(pending) > 1:
                    half = len(pending) // 2
                    self.send(pending[:half])
                    pending = pending[half:]
                    continue
                if status not in _RETRY_STATUSES:
                    # The job is missing, completed, or we are not allowed: true for every chunk.
                    self.abort = str(error)
                    self._fail(pending, self.abort)
                    return
                if status >= 500:
                    with self.lock:
                        self.uncertain.update(i for i, _, _ in pending)
                retry_after = getattr(error, "retry_after", None)
                reason = str(error)
            except (ServiceRequestError, ServiceResponseError) as exc:
                # Either kind may come after the body was sent: the outcome is unknown.
                with self.lock:
                    self.uncertain.update(i for i, _, _ in pending)
                reason = str(from_azure_error(exc, action=f"add tasks to job {self.job_id!r}"))
            except AzureError as exc:
                self._fail(pending, str(from_azure_error(exc, action=f"add tasks to job {self.job_id!r}")))
                return
            else:
                pending, reason = self._settle(pending, result.result_values or [])
                if not pending:
                    return
            attempt += 1
            if not self._backoff(attempt, retry_after):
                self._fail(pending, f"gave up at the deadline; last error: {reason}")
                return
            with self.lock:
                self.retries += 1

    def _settle(self, pending: list[tuple[str, Any, int]],
                results: list[batch_models.BatchTaskCreateResult]) -> tuple[list[tuple[str, Any, int]], str]:
        by_id = {r.task_id: r for r in results}
        retry: list[tuple[str, Any, int]] = []
        reason = ""
        with self.lock:
            for item in pending:
                task_id = item[0]
                r = by_id.get(task_id)
                raw = getattr(r, "status", None) if r is not None else "servererror"
                status = str(getattr(raw, "value", raw) or "").lower()
                code = getattr(getattr(r, "error", None), "code", None) if r is not None else "NoResult"
                message = getattr(getattr(r, "error", None), "message", None) if r is not None else None
                if status == "success":
                    self.added.add(task_id)
                elif code == "TaskExists":
                    (self.added if task_id in self.uncertain else self.existed).add(task_id)
                elif status == "servererror":
                    self.uncertain.add(task_id)
                    retry.append(item)
                    reason = f"{code}: {message}" if message else str(code)
                else:
                    self.failed[task_id] = f"{code}: {message}" if message else str(code)
        return retry, reason

    def _backoff(self, attempt: int, retry_after: float | None) -> bool:
        backoff = Backoff(base=_BACKOFF_FIRST, cap=_BACKOFF_MAX, jitter=True)
        backoff.attempt = attempt - 1  # each chunk counts its own attempts
        pause = backoff.next_delay(retry_after)
        if time.monotonic() + pause > self.deadline:
            return False
        time.sleep(pause)
        return True

    def _fail(self, pending: Iterable[tuple[str, Any, int]], reason: str) -> None:
        with self.lock:
            for task_id, _, _ in pending:
                self.failed[task_id] = reason


# Jobs this process is adding tasks to right now. Between two chunks a job can look finished (no
# task active or running); a monitor in the same kernel asks here before it stops watching.
_in_progress: dict[str, int] = {}
_in_progress_lock = threading.Lock()


@contextmanager
def _submitting(job_id: str):
    key = job_id.lower()
    with _in_progress_lock:
        _in_progress[key] = _in_progress.get(key, 0) + 1
    try:
        yield
    finally:
        with _in_progress_lock:
            _in_progress[key] -= 1
            if not _in_progress[key]:
                del _in_progress[key]


def submission_in_progress(job_id: str) -> bool:
    """True while this process is still adding tasks to ``job_id`` (see ``add_tasks``)."""
    return job_id.lower() in _in_progress


def add_tasks(client: Any, job_id: str, tasks: Iterable[TaskSpec | batch_models.BatchTaskCreateOptions], *,
              max_concurrency: int = 4, timeout: float = 300.0) -> BulkAddResult:
    """Add ``tasks`` to ``job_id`` (see the module docstring). ``client`` is a ``BatchClient``.

    Returns a :class:`BulkAddResult`; raises :class:`TaskSubmissionError` if any task could not be
    added by ``timeout`` seconds (``error.added`` / ``error.not_added`` / ``error.failures``).
    """
    started = time.monotonic()
    shared: dict[tuple, dict[str, Any]] = {}
    sized = [_as_body(t, shared) for t in tasks]
    check_unique_ids((i for i, _, _ in sized), field="tasks")
    run = _Run(client, job_id, started + timeout)
    chunks = chunk_tasks(sized)
    with _submitting(job_id):
        if len(chunks) == 1 or max_concurrency <= 1:
            for chunk in chunks:
                run.send(chunk)
        elif chunks:
            with ThreadPoolExecutor(max_workers=min(max_concurrency, len(chunks)),
                                    thread_name_prefix="batchnb-add") as pool:
                for future in [pool.submit(run.send, c) for c in chunks]:
                    future.result()
    order = [i for i, _, _ in sized]
    result = BulkAddResult(
        added=[i for i in order if i in run.added],
        already_existed=[i for i in order if i in run.existed],
        seconds=time.monotonic() - started,
        requests=run.requests,
        retries=run.retries,
    )
    if run.failed:
        not_added = [i for i in order if i in run.failed]
        done = result.added + result.already_existed
        first = run.failed[not_added[0]]
        raise TaskSubmissionError(
            f"{len(not_added)} of {len(order)} tasks were not added to job {job_id!r} "
            f"({ids_preview(not_added)}); first reason: {first}",
            added=done, not_added=not_added, failures={i: run.failed[i] for i in not_added},
            fix="fix the cause and run the same add_tasks again: tasks already added are skipped")
    return result

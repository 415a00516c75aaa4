"""What ``session.map()`` gives back: results in input order, and per-item errors with the remote
traceback."""

from __future__ import annotations

import html
import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchnb.errors import BatchnbError, NotFoundError, TaskFailedError, ValidationError

if TYPE_CHECKING:
    from batchnb.core.job_handle import JobHandle
    from batchnb.core.session import Session

__all__ = ["ItemError", "MapResult", "RemoteItemError"]

ERROR_MODES = ("raise", "collect")


class RemoteItemError(TaskFailedError):
    """A ``map()`` item raised on the node. ``item_index``, ``exception_type``, ``remote_traceback``
    (the node's formatted traceback, also attached as a note so notebooks show it), ``exception``
    (the original exception object, when it could be unpickled here)."""

    default_code = "batchnb.MapItemFailed"

    def __init__(self, message: str, *, item_index: int, exception_type: str, remote_traceback: str,
                 exception: BaseException | None = None, **kwargs: Any) -> None:
        self.item_index = item_index
        self.exception_type = exception_type
        self.remote_traceback = remote_traceback
        self.exception = exception
        super().__init__(message, **kwargs)
        if remote_traceback:
            self.add_note("Remote traceback (on the compute node):\n" + remote_traceback.rstrip())


@dataclass(frozen=True)
class ItemError:
    """One failed item: where it ran, what it raised, and the node's traceback."""

    index: int
    task_id: str
    exception_type: str
    message: str
    traceback: str
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def to_exception(self, job_id: str) -> RemoteItemError:
        return RemoteItemError(
            f"map item {self.index} raised {self.exception_type}: {self.message} (job {job_id!r}, task {self.task_id!r})",
            item_index=self.index, exception_type=self.exception_type, remote_traceback=self.traceback,
            exception=self.exception, job_id=job_id, task_id=self.task_id,
            fix="see error.remote_traceback; session.map(..., errors='collect') returns the other results")


_MISSING = object()


class MapResult:
    """The state and, once complete, the results of one ``map()`` job.

    ``results`` lists the values in input order (None where an item failed); ``errors`` lists
    :class:`ItemError` in input order. ``values()`` gives the results or raises the first error.
    """

    def __init__(self, session: Session, job_id: str, *, n_items: int, chunk_size: int, n_tasks: int,
                 container: str) -> None:
        self.session = session
        self.job_id = job_id
        self.n_items = n_items
        self.chunk_size = chunk_size
        self.n_tasks = n_tasks
        self.container = container
        self._values: list[Any] | None = None
        self._errors: list[ItemError] = []

    @property
    def job(self) -> JobHandle:
        return self.session.job(self.job_id)

    # ------------------------------------------------------------------------------- waiting
    def wait(self, *, timeout: float | None = None, poll: float = 1.0) -> MapResult:
        """Block until every task has finished, then fetch the results."""
        from batchnb.errors import BatchTimeoutError

        job = self.session.job(self.job_id)
        try:
            job.wait(timeout=timeout, poll=poll)
        except BatchTimeoutError as exc:
            raise BatchTimeoutError(
                f"{exc.message} (map job {self.job_id!r})",
                fix=f"the job keeps running: later, session.map_result({self.job_id!r}).wait() collects the results") from None
        return self._collect(job)

    def done(self) -> bool:
        counts = self.session.job(self.job_id).task_counts()
        return counts["active"] == 0 and counts["running"] == 0

    # ------------------------------------------------------------------------------- results
    def collect(self) -> MapResult:
        """Download and unpickle every chunk's result (the job should have finished)."""
        return self._collect()

    def _collect(self, job: JobHandle | None = None) -> MapResult:
        """``job``: the handle ``wait()`` already fetched, saving a second GET of the job."""
        storage = self.session.storage
        prefix = f"{self.job_id}/out/"
        present = set(storage.list_blobs(self.container, prefix))
        job = job or self.session.job(self.job_id)
        values: list[Any] = [_MISSING] * self.n_items
        errors: list[ItemError] = []

        def fetch(number: int) -> tuple[int, dict[str, Any] | None]:
            blob = f"{prefix}{number:05d}.pkl"
            if blob not in present:
                return number, None
            return number, _loads(storage.read_bytes(self.container, blob))

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="batchnb-map-get") as pool:
            fetched = list(pool.map(fetch, range(self.n_tasks)))
        for number, payload in fetched:
            task_id = task_id_for(number)
            start = number * self.chunk_size
            count = min(self.chunk_size, self.n_items - start)
            if payload is None:
                reason = _task_failure(job, task_id)
                errors.extend(ItemError(start + k, task_id, "TaskFailed", reason, "") for k in range(count))
                continue
            for k, entry in enumerate(payload["results"][:count]):
                if entry[0] == "ok":
                    values[start + k] = _loads(entry[1])
                else:
                    _, type_name, message, tb, exc_bytes = entry
                    exc = None
                    if exc_bytes is not None:
                        try:
                            exc = _loads(exc_bytes)
                        except Exception:  # noqa: BLE001 - a class we cannot import here: keep the text
                            exc = None
                    errors.append(ItemError(start + k, task_id, type_name, message, tb, exc))
        errors.sort(key=lambda e: e.index)
        self._values = [None if v is _MISSING else v for v in values]
        self._errors = errors
        return self

    def _ensure(self) -> None:
        if self._values is None:
            if not self.done():
                raise BatchnbError(f"map job {self.job_id!r} is still running", code="batchnb.NotReady",
                                   fix="call .wait() first")
            self.collect()

    @property
    def results(self) -> list[Any]:
        self._ensure()
        assert self._values is not None
        return self._values

    @property
    def errors(self) -> list[ItemError]:
        self._ensure()
        return self._errors

    @property
    def ok(self) -> bool:
        return not self.errors

    def values(self, *, errors: str = "raise") -> list[Any]:
        """The results in input order; with ``errors="raise"``, the first failed item raises."""
        if errors not in ERROR_MODES:
            raise ValidationError("errors", f"must be 'raise' or 'collect', got {errors!r}",
                                  fix="errors='raise' or errors='collect'")
        if errors == "raise" and self.errors:
            first = self.errors[0]
            exc = first.to_exception(self.job_id)
            if len(self.errors) > 1:
                exc.add_note(f"{len(self.errors) - 1} more item(s) failed; "
                             f"session.map_result({self.job_id!r}).errors lists them all")
            raise exc
        return self.results

    def __len__(self) -> int:
        return self.n_items

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results)

    def __repr__(self) -> str:
        state = "collected" if self._values is not None else "pending"
        n_errors = f", errors={len(self._errors)}" if self._values is not None else ""
        return (f"MapResult(job_id={self.job_id!r}, items={self.n_items}, tasks={self.n_tasks}, "
                f"{state}{n_errors})")

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"


def task_id_for(number: int) -> str:
    return f"chunk-{number:05d}"


def _loads(data: bytes) -> Any:
    # cloudpickle output is ordinary pickle data that needs cloudpickle importable to load.
    import cloudpickle  # noqa: F401

    return pickle.loads(data)


def _task_failure(job: JobHandle, task_id: str) -> str:
    """Why a chunk left no result: the task's failure info and the end of its stderr."""
    try:
        rows = job._list_task_rows(["id", "state", "executionInfo"], f"id eq '{task_id}'")
    except BatchnbError as exc:
        return f"the task left no result ({exc.message})"
    info = (rows[0].get("executionInfo") or {}) if rows else {}
    failure = info.get("failureInfo") or {}
    parts = [f"task {task_id!r} left no result"]
    if failure:
        parts.append(f"{failure.get('code')}: {failure.get('message')}")
    if info.get("exitCode") is not None:
        parts.append(f"exit code {info['exitCode']}")
    try:
        tail = job.stderr(task_id, tail=1000).strip()
    except (NotFoundError, BatchnbError):
        tail = ""
    if tail:
        lines = tail.splitlines()
        # An environment install that failed says which node and packages on a line of its own.
        headline = next((line for line in lines if line.startswith("batchnb:")), None)
        if headline and headline != lines[-1]:
            parts.append(headline[:600])
        parts.append("stderr: " + lines[-1][:300])
    return "; ".join(parts)

"""What ``session.map()`` gives back: results in input order, and per-item errors with the remote
traceback."""

from __future__ import annotations

import datetime as dt
import html
import pickle
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from batchnb.core.docstrings import fill_doc
from batchnb.core.redact import redact
from batchnb.core.remote.integrity import (
    CLOCK_SKEW,
    ChunkEvidence,
    ParsedResult,
    check_chunk,
    command_digests,
    parse_result,
)
from batchnb.core.transport import Backoff, Deadline, call
from batchnb.errors import (
    BatchnbError,
    ConflictError,
    MapResultTamperedError,
    NotFoundError,
    TaskFailedError,
    ValidationError,
)

if TYPE_CHECKING:
    from batchnb.core.job_handle import JobHandle
    from batchnb.core.session import Session

__all__ = ["ItemError", "MapResult", "RemoteItemError"]

ERROR_MODES = ("raise", "collect")
# Seconds before a wait's first check; the interval then grows slowly (x1.25) up to its ``poll``, so
# that checks are dense where small maps finish (8 within the first 0.2 s, 1 s apart after ~4 s). On
# Azure each check is a round trip of its own, which spaces them out anyway.
_FIRST_POLL = 0.01
_POLL_GROWTH = 1.25
# The progress bar's counts are one more request: read at most this often (seconds).
_PROGRESS_INTERVAL = 1.0


class RemoteItemError(TaskFailedError):
    """A ``map()`` item raised on the node.

    Attributes
    ----------
    item_index : int
        The item's position in the input.
    exception_type : str
        The name of what it raised.
    remote_traceback : str
        The node's formatted traceback (also attached as a note, so notebooks show it).
    exception : BaseException or None
        The original exception object, when it could be unpickled here.
    """

    default_code = "batchnb.MapItemFailed"

    def __init__(self, message: str, *, item_index: int, exception_type: str, remote_traceback: str,
                 exception: BaseException | None = None, **kwargs: Any) -> None:
        self.item_index = item_index
        self.exception_type = exception_type
        self.remote_traceback = redact(remote_traceback)  # shown in the notebook: masked like all output
        self.exception = exception
        super().__init__(message, **kwargs)
        if remote_traceback:
            self.add_note("Remote traceback (on the compute node):\n" + self.remote_traceback.rstrip())


@dataclass(frozen=True)
class ItemError:
    """One failed ``map()`` item: where it ran, what it raised, and the node's traceback.

    Attributes
    ----------
    index : int
        The item's position in the input.
    task_id : str
        The task that ran it.
    exception_type : str
        What it raised (``TaskFailed`` when the task left no result).
    message : str
        The exception's message.
    traceback : str
        The node's formatted traceback.
    exception : BaseException or None
        The original exception, when it could be unpickled here.
    """

    index: int
    task_id: str
    exception_type: str
    message: str
    traceback: str
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def to_exception(self, job_id: str) -> RemoteItemError:
        """This failure as an exception to raise.

        Parameters
        ----------
        job_id : str
            The map job's id, for the message.

        Returns
        -------
        RemoteItemError
            The exception.
        """
        return RemoteItemError(
            f"map item {self.index} raised {self.exception_type}: {self.message} (job {job_id!r}, task {self.task_id!r})",
            item_index=self.index, exception_type=self.exception_type, remote_traceback=self.traceback,
            exception=self.exception, job_id=job_id, task_id=self.task_id,
            fix="see error.remote_traceback; session.map(..., errors='collect') returns the other results")


_MISSING = object()


class MapResult:
    """The state and, once complete, the results of one ``map()`` job.

    ``results`` lists the values in input order (None where an item failed); ``errors`` lists
    :class:`~batchnb.core.remote.result.ItemError` in input order. ``values()`` gives the
    results or raises the first error. Made by :meth:`Session.map` and
    :meth:`Session.map_result`, not directly.

    Parameters
    ----------
    session : Session
        The session the job runs in.
    job_id : str
        The map job's id.
    n_items, chunk_size, n_tasks : int
        How the items were cut into tasks.
    container : str
        The blob container holding inputs and results.
    job : JobHandle, optional
        A handle on the job already at hand (saves fetching it again).

    Attributes
    ----------
    clock_skew : datetime.timedelta
        How much later than its task's end a result blob may carry as its write time.
    """

    clock_skew: dt.timedelta = CLOCK_SKEW

    def __init__(self, session: Session, job_id: str, *, n_items: int, chunk_size: int, n_tasks: int,
                 container: str, job: JobHandle | None = None) -> None:
        self.session = session
        self._job = job  # the handle submit_map already holds: saves a GET of the job when waiting
        self.job_id = job_id
        self.n_items = n_items
        self.chunk_size = chunk_size
        self.n_tasks = n_tasks
        self.container = container
        self._values: list[Any] | None = None
        self._errors: list[ItemError] = []
        self.reruns: list[str] = []  # job ids of rerun() calls, oldest first
        self.cache_hits = 0  # items a cached map() did not have to run

    @property
    def job(self) -> JobHandle:
        """A handle on the map job (its tasks, logs, monitor)."""
        return self.session.job(self.job_id)

    # ------------------------------------------------------------------------------- waiting
    @fill_doc
    def wait(self, *, timeout: float | None = None, poll: float = 1.0, progress: bool = False) -> MapResult:
        """Block until every task has finished, then fetch the results.

        Each check is one small request for the first task not yet completed (the task list is
        exact; Azure's task counts may lag behind it). The first check comes after 10 ms and the
        interval grows slowly to ``poll``: a one-item map on a warm local pool is done in tens of
        milliseconds, and on Azure the early checks are a handful of tiny requests.

        Parameters
        ----------
        %(poll_params)s
        progress : bool
            Show the tasks completed so far (a bar widget in a notebook, text elsewhere; its counts
            are read at most once a second, beside the checks).

        Returns
        -------
        MapResult
            This result, collected.

        Raises
        ------
        batchnb.errors.BatchTimeoutError
            Not finished within ``timeout`` seconds (the job keeps running).
        """
        from batchnb.core.progress import TaskProgress

        job = self._job or self.session.job(self.job_id)
        deadline = Deadline(timeout, poll=poll)
        pauses = Backoff(base=_FIRST_POLL, cap=max(_FIRST_POLL, poll), factor=_POLL_GROWTH)
        bar = TaskProgress(self.n_tasks, f"map {self.job_id}", enabled=progress)
        # A map done within the first second needs no counts: the bar goes straight to done.
        next_counts, counted = time.monotonic() + _PROGRESS_INTERVAL, False
        try:
            while self._first_unfinished():
                if deadline.expired():
                    raise deadline.timeout_error(
                        f"map job {self.job_id!r} (tasks are still active or running)",
                        fix=f"the job keeps running: later, session.map_result({self.job_id!r}).wait() collects "
                            "the results")
                if bar.enabled and time.monotonic() >= next_counts:
                    bar(job.task_counts())
                    next_counts, counted = time.monotonic() + _PROGRESS_INTERVAL, True
                pause, remaining = pauses.next_delay(), deadline.remaining()
                time.sleep(pause if remaining is None else min(pause, remaining))
            if bar.enabled:
                # Every task has completed (the list is exact, the counts may lag): the counts, when the
                # bar has shown them at all, add only the failures.
                counts = job.task_counts() if counted else {}
                bar({**counts, "completed": self.n_tasks, "running": 0})
        finally:
            bar.close()
        return self._collect(job)

    def _first_unfinished(self) -> list[str]:
        """The id of one task that is not completed yet, or nothing: a one-row answer whatever the job's size."""
        client = self.session.batch_client

        def first() -> list[str]:
            pager = client.list_tasks(self.job_id, select=["id"], filter="state ne 'completed'", max_results=1)
            return [str(task.id) for task in islice(pager, 1)]
        return call(f"list the unfinished tasks of map job {self.job_id!r}", first)

    def done(self) -> bool:
        """Whether every task has finished.

        Returns
        -------
        bool
            True when no task is active or running, confirmed by the task list (Azure's task
            counts may lag behind it).
        """
        return not self._first_unfinished()

    # ------------------------------------------------------------------------------- results
    def collect(self) -> MapResult:
        """Download and unpickle every chunk's result (the job should have finished).

        Returns
        -------
        MapResult
            This result, with ``results`` and ``errors`` filled in.
        """
        return self._collect()

    def _collect(self, job: JobHandle | None = None) -> MapResult:
        """``job``: the handle ``wait()`` already fetched, saving a second GET of the job.

        Every result is checked (see ``integrity``) before anything in it is unpickled; one that
        fails raises MapResultTamperedError and none of the job's results are loaded."""
        storage = self.session.storage
        prefix = f"{self.job_id}/out/"
        job = job or self._job or self.session.job(self.job_id)
        # The blob listing and the task list are independent reads: one round trip instead of two.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batchnb-map-list") as lister:
            listing = lister.submit(storage.list_blob_versions, self.container, prefix)
            rows = {row["id"]: row for row in job._list_task_rows(["id", "state", "executionInfo", "commandLine"])}
            present = listing.result()
        refused: dict[str, str] = {}
        expected: dict[int, tuple[str, tuple[str, str]]] = {}
        for number in range(self.n_tasks):
            task_id = task_id_for(number)
            blob = f"{prefix}{number:05d}.pkl"
            version = present.get(blob)
            evidence = _evidence(task_id, rows.get(task_id), version[0] if version else None)
            reason = check_chunk(evidence, skew=self.clock_skew)
            if reason:
                refused[task_id] = reason
            elif version is not None:
                digests = command_digests(evidence.command_line)
                assert digests is not None  # check_chunk refused it otherwise
                expected[number] = (version[1], digests)

        def fetch(number: int) -> tuple[int, ParsedResult | str]:
            etag, digests = expected[number]
            task_id = task_id_for(number)
            count = min(self.chunk_size, self.n_items - number * self.chunk_size)
            try:
                data = storage.read_bytes(self.container, f"{prefix}{number:05d}.pkl", etag=etag)
                return number, parse_result(data, job_id=self.job_id, task_id=task_id, digests=digests, count=count)
            except ValueError as exc:
                return number, f"the result file was refused: {exc}"
            except ConflictError:
                return number, "the result blob changed after it was checked"

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="batchnb-map-get") as pool:
            fetched = dict(pool.map(fetch, sorted(expected)))
        refused.update({task_id_for(n): r for n, r in fetched.items() if isinstance(r, str)})
        if refused:
            first_id = min(refused)
            raise MapResultTamperedError(
                f"map job {self.job_id!r}: {len(refused)} result(s) did not come from their own task and were "
                f"not loaded; {first_id}: {refused[first_id]}", chunks=refused,
                fix="nothing was unpickled; run the map again, and check who can read the Batch account's tasks "
                    "and write to the storage account (error.chunks lists every refused task)")

        values: list[Any] = [_MISSING] * self.n_items
        errors: list[ItemError] = []
        for number in range(self.n_tasks):
            task_id = task_id_for(number)
            start = number * self.chunk_size
            count = min(self.chunk_size, self.n_items - start)
            parsed = fetched.get(number)
            if not isinstance(parsed, ParsedResult):
                reason = _task_failure(job, task_id)
                errors.extend(ItemError(start + k, task_id, "TaskFailed", reason, "") for k in range(count))
                continue
            for k, (meta, data) in enumerate(parsed.entries[:count]):
                if meta.get("ok") is True and data is not None:
                    values[start + k] = _loads(data)
                    continue
                exc = None
                if data is not None:
                    try:
                        exc = _loads(data)
                    except Exception:  # noqa: BLE001 - a class we cannot import here: keep the text
                        exc = None
                errors.append(ItemError(start + k, task_id, str(meta.get("type") or "Exception"),
                                        redact(meta.get("message") or ""), redact(meta.get("traceback") or ""), exc))
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
        """The values in input order, None where an item failed (collected on first use)."""
        self._ensure()
        assert self._values is not None
        return self._values

    @property
    def errors(self) -> list[ItemError]:
        """The failed items in input order, with the node's traceback."""
        self._ensure()
        return self._errors

    @property
    def ok(self) -> bool:
        """Whether no item failed."""
        return not self.errors

    def values(self, *, errors: str = "raise") -> list[Any]:
        """The results in input order.

        Parameters
        ----------
        errors : {"raise", "collect"}
            ``"raise"``: the first failed item raises; ``"collect"``: None in its place.

        Returns
        -------
        list
            One value per item.

        Raises
        ------
        batchnb.core.remote.result.RemoteItemError
            ``errors="raise"`` and an item raised (a :class:`~batchnb.errors.TaskFailedError`
            with the item's index, exception type and the node's traceback).
        batchnb.errors.BatchnbError
            The job is still running (code ``batchnb.NotReady``): call :meth:`wait` first.
        """
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

    # ------------------------------------------------------------------------------- rerun
    def rerun(self, *, fn: Callable[[Any], Any] | None = None, pool: str | None = None, failed: bool = True,
              missing: bool = True, chunk_size: int | None = None, timeout: float | None = None) -> MapResult:
        """Run again exactly the items that raised and those whose task left no result.

        They are re-chunked so that one failed item does not rerun its chunk's neighbours, and
        their values are merged in. The rerun is an ordinary map job (``<job>-r<hex>``), listed
        in ``reruns``.

        Parameters
        ----------
        fn : callable, optional
            A replacement function (a fix); default: the original.
        pool : str, optional
            The pool to rerun on (default: the job's).
        failed : bool
            Rerun the items that raised.
        missing : bool
            Rerun the items whose task left no result.
        chunk_size : int, optional
            Items per task of the rerun.
        timeout : float, optional
            Seconds to wait for the rerun.

        Returns
        -------
        MapResult
            This result, complete where the reruns succeeded.
        """
        from batchnb.core.remote.mapper import sas_lifetime, submit_map

        self._ensure()
        chosen = sorted({e.index for e in self._errors
                         if (missing and e.exception_type == "TaskFailed") or (failed and e.exception_type != "TaskFailed")})
        if not chosen:
            return self
        storage = self.session.storage
        chunks: dict[int, list[Any]] = {}
        for number in sorted({index // self.chunk_size for index in chosen}):
            # Our own inputs: written by this kernel's storage key, read-only for every task.
            chunks[number] = _loads(storage.read_bytes(self.container, f"{self.job_id}/in/{number:05d}.pkl"))["items"]
        items = [chunks[index // self.chunk_size][index % self.chunk_size] for index in chosen]
        if fn is None:
            fn = _loads(storage.read_bytes(self.container, f"{self.job_id}/fn.pkl"))
        pool = pool or self.job.pool_id
        if not pool:
            raise ValidationError("pool", f"map job {self.job_id!r} has no pool to rerun on", fix="rerun(pool='...')")
        again = submit_map(self.session, fn, items, pool=pool, chunk_size=chunk_size,
                           job_id=f"{self.job_id[:50]}-r{secrets.token_hex(2)}", container=self.container,
                           max_retries=0, lifetime=sas_lifetime(timeout))
        again.wait(timeout=timeout)
        self.reruns.append(again.job_id)
        assert self._values is not None and again._values is not None
        rerun_errors = {e.index: e for e in again._errors}
        kept = [e for e in self._errors if e.index not in set(chosen)]
        for position, index in enumerate(chosen):
            if position in rerun_errors:
                e = rerun_errors[position]
                kept.append(ItemError(index, e.task_id, e.exception_type, e.message, e.traceback, e.exception))
            else:
                self._values[index] = again._values[position]
        self._errors = sorted(kept, key=lambda e: e.index)
        return self

    @classmethod
    def from_values(cls, session: Session, values: list[Any], errors: list[ItemError], *,
                    job_id: str | None, container: str) -> MapResult:
        """A complete result put together in the kernel (a cached map: some or no task ran).

        Parameters
        ----------
        session : Session
            The session.
        values : list
            One value per item (None where it failed).
        errors : list of ItemError
            The failed items.
        job_id : str or None
            The map job, if any task ran.
        container : str
            The blob container of the map.

        Returns
        -------
        MapResult
            A collected result.
        """
        done = cls(session, job_id or "", n_items=len(values), chunk_size=1, n_tasks=0, container=container)
        done._values, done._errors = values, sorted(errors, key=lambda e: e.index)
        return done

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


def _parse_time(text: Any) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _evidence(task_id: str, row: dict[str, Any] | None, blob_modified: dt.datetime | None) -> ChunkEvidence:
    row = row or {}
    info = row.get("executionInfo") or {}
    failure = info.get("failureInfo") or {}
    if blob_modified is not None and blob_modified.tzinfo is None:
        blob_modified = blob_modified.replace(tzinfo=dt.UTC)
    return ChunkEvidence(task_id=task_id, state=row.get("state"), exit_code=info.get("exitCode"),
                         failure_code=failure.get("code"), start_time=_parse_time(info.get("startTime")),
                         end_time=_parse_time(info.get("endTime")), command_line=str(row.get("commandLine") or ""),
                         blob_modified=blob_modified)


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

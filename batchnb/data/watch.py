"""Keep a job's task table and a pool's node table current, at a cost that follows what changed.

The data layer under the monitors (pandas only, no UI):

* :class:`JobWatcher`: the first :meth:`~JobWatcher.refresh` lists every task with a narrow
  ``$select``; later ones ask only for ``$filter=stateTransitionTime gt DateTime'<last seen>'`` and
  merge the rows by task id. Progress comes from ``get_job_task_counts`` (one call) into a
  :class:`~batchnb.data.frames.CountsHistory`.
* :class:`PoolWatcher`: nodes (narrow ``$select``) plus node utilization, read as the new bytes of
  the sampler's JSON-lines file through the node file API with byte ranges.
* :class:`FileTail`: the growing end of a task's stdout/stderr, by byte range.

Polling is synchronous (:meth:`refresh`, :meth:`wait` for scripts) or runs on the current asyncio
loop (:meth:`run`, :meth:`start`: the kernel's loop in a notebook), with the blocking SDK calls in
a worker thread so the kernel stays responsive. Throttling (429/503) is backed off and recorded
on the watcher (:attr:`throttled`) instead of raised, so a monitor can say "throttled, retrying
in 4 s". Every SDK call carries a ``raw_response_hook`` that counts requests and response bytes
(:class:`RefreshStats`): the proof that a refresh costs what changed, not what exists.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from batchnb._constants import METRICS_FILE_NAME
from batchnb.core.redact import redact
from batchnb.core.tasks.bulk import submission_in_progress
from batchnb.core.transport import Backoff, Deadline, list_rows, retry_after_of, status_of
from batchnb.data import frames
from batchnb.data.node_metrics import parse_metrics_lines

if TYPE_CHECKING:
    from azure.batch import BatchClient

__all__ = [
    "FileTail",
    "JobWatcher",
    "PoolWatcher",
    "RefreshStats",
    "Throttling",
    "pool_watcher_for",
    "watcher_for",
]

THROTTLE_STATUSES = (429, 503)
PAGE_SIZE = 1000  # Batch's maximum page for list operations: fewest requests for a full load
METRICS_PATH = f"shared/{METRICS_FILE_NAME}"


# ------------------------------------------------------------------------------ request metering


@dataclass
class RefreshStats:
    """What one refresh cost and found.

    ``requests`` and ``bytes`` count every HTTP response (retries included); ``rows`` is the number
    of task (or node) rows the service returned; ``changed_ids`` the ids whose row was merged.
    """

    requests: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    changed_ids: list[str] = field(default_factory=list)
    full: bool = False


class _Meter:
    """The per-call ``raw_response_hook``: counts responses and their body bytes.

    Also keeps the first response's ``Date`` header: the server's clock, used to make the
    incremental filter safe against changes that happen while a listing is being paged.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.first_date: pd.Timestamp | None = None

    def __call__(self, pipeline_response: Any) -> None:
        response = pipeline_response.http_response
        self.requests += 1
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit():
            self.bytes += int(length)
        else:
            try:
                self.bytes += len(response.body())
            except Exception:  # a streamed download not read yet: counted by its caller
                pass
        if self.first_date is None and (date := response.headers.get("Date")):
            try:
                self.first_date = pd.Timestamp(_dt.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT"), tz="UTC")
            except ValueError:
                pass

    def kwargs(self) -> dict[str, Any]:
        # retry_total=0: the SDK would otherwise retry 429/503 silently for up to minutes; the
        # watcher backs off itself so that it can show the throttling and stay stoppable.
        return {"raw_response_hook": self, "retry_total": 0}


# ------------------------------------------------------------------------------------- throttling


@dataclass
class Throttling:
    """The service asked us to slow down (429/503); the next attempt is due at ``until`` (monotonic)."""

    status: int
    attempt: int
    delay: float
    until: float

    @property
    def retry_in(self) -> float:
        return max(0.0, self.until - time.monotonic())

    def describe(self) -> str:
        return f"throttled (HTTP {self.status}), retrying in {math.ceil(self.retry_in)} s"


class _Throttled(Exception):
    def __init__(self, throttling: Throttling) -> None:
        super().__init__(throttling.describe())
        self.throttling = throttling


def _error_code(exc: BaseException) -> str | None:
    """The Batch error code of an SDK exception (azure-batch parses it into ``exc.error``)."""
    return getattr(getattr(exc, "error", None), "code", None)


# ------------------------------------------------------------------------------- shared polling


def _format_filter_time(ts: pd.Timestamp) -> str:
    # Batch keeps 100 ns ticks: seven fraction digits, so "gt" excludes the row we last saw.
    ticks = (ts.value // 100) % 10_000_000
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07d}Z"


class _Poller:
    """What the job and pool watchers share: one refresh at a time, backoff, the asyncio loop, wait()."""

    def __init__(self, *, backoff_cap: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._backoff = Backoff(cap=backoff_cap)
        self._stop_requested = False
        self._wakeup: asyncio.Event | None = None
        self._wakeup_loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self.throttled: Throttling | None = None
        self.throttle_count = 0
        self.last_error: BaseException | None = None
        self.gone = False  # the job no longer exists (deleted while watched)
        self.last_stats: RefreshStats | None = None
        self.refreshes = 0
        self.total_requests = 0
        self.total_bytes = 0
        self.updated_at: _dt.datetime | None = None

    # -- subclasses
    def _poll(self, meter: _Meter) -> RefreshStats:
        raise NotImplementedError

    @property
    def done(self) -> bool:
        return False

    # -- one refresh
    def _refresh_once(self) -> RefreshStats:
        """One attempt; raises ``_Throttled`` on 429/503 (after recording it)."""
        with self._lock:
            meter = _Meter()
            start = time.perf_counter()
            try:
                stats = self._poll(meter)
            except Exception as exc:
                self.total_requests += meter.requests
                self.total_bytes += meter.bytes
                status = status_of(exc)
                if status in THROTTLE_STATUSES:
                    delay = self._backoff.next_delay(retry_after_of(exc))
                    self.throttle_count += 1
                    self.throttled = Throttling(status, self._backoff.attempt, delay, time.monotonic() + delay)
                    raise _Throttled(self.throttled) from exc
                self.last_error = exc
                raise
            stats.requests, stats.bytes = meter.requests, meter.bytes
            stats.seconds = time.perf_counter() - start
            self.total_requests += meter.requests
            self.total_bytes += meter.bytes
            self._backoff.reset()
            self.throttled = None
            self.last_error = None
            self.last_stats = stats
            self.refreshes += 1
            self.updated_at = _dt.datetime.now(_dt.UTC)
            return stats

    def refresh(self, *, max_wait: float = 300.0) -> RefreshStats:
        """Poll once, now, in this thread. Throttling is waited out (up to ``max_wait`` seconds)."""
        deadline = Deadline(max_wait)
        while True:
            try:
                return self._refresh_once()
            except _Throttled as t:
                if not deadline.sleep_for(t.throttling.delay):
                    raise t.__cause__ from None  # type: ignore[misc]
            except Exception as exc:
                # A 500 or a dropped connection is as passing as throttling: a script's wait()
                # must not die on one, any more than the notebook monitor does.
                if not _transient(exc):
                    raise
                if not deadline.sleep_for(self._backoff.next_delay()):
                    raise

    # -- polling on the event loop
    async def run(self, interval: float = 2.0, on_update: Callable[[Any], Any] | None = None) -> None:
        """Refresh every ``interval`` seconds on the running loop until :attr:`done` or :meth:`stop`.

        ``on_update(watcher)`` is called on the loop after every refresh and every throttled or
        failed attempt (read :attr:`throttled` / :attr:`last_error`); errors other than throttling
        are retried with the same backoff, since a monitor that dies on one dropped connection
        is worse than one that says so and tries again.
        """
        self._stop_requested = False
        self._wakeup_loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        try:
            while not self._stop_requested:
                delay = interval
                try:
                    await asyncio.to_thread(self._refresh_once)
                except _Throttled as t:
                    delay = t.throttling.delay
                except Exception as exc:  # recorded in last_error by _refresh_once
                    self.last_error = exc
                    delay = self._backoff.next_delay(None)
                    if status_of(exc) == 404:  # the job was deleted: nothing left to watch
                        self.gone = True
                        self._stop_requested = True
                # After a 404 the view is told once more, so it can say the job or pool is gone.
                if on_update is not None and (self.gone or not self._stop_requested):
                    on_update(self)
                if self.done and self.last_error is None and self.throttled is None:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            self._wakeup = None
            self._wakeup_loop = None

    def start(self, interval: float = 2.0, on_update: Callable[[Any], Any] | None = None) -> asyncio.Task:
        """Schedule :meth:`run` on the current event loop (the kernel's) and return at once."""
        if self._task is not None and not self._task.done():
            return self._task
        try:
            loop = asyncio.get_running_loop()  # in a notebook cell: the kernel's loop
        except RuntimeError:
            raise RuntimeError("start() needs a running asyncio loop (a Jupyter kernel); "
                               "in a script use refresh() or wait()") from None
        self._task = loop.create_task(self.run(interval, on_update))
        return self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stop(self) -> None:
        """Stop :meth:`run` after the poll in flight (if any); safe from any thread."""
        self._stop_requested = True
        if self._wakeup is not None and self._wakeup_loop is not None:
            try:
                self._wakeup_loop.call_soon_threadsafe(self._wakeup.set)
            except RuntimeError:  # loop already closed
                pass

    def wait(self, timeout: float | None = None, *, interval: float = 2.0,
             on_update: Callable[[Any], Any] | None = None) -> Any:
        """Block until :attr:`done` (scripts). Returns the watcher.

        ``on_update(watcher)`` is called after every refresh (a view kept current from a busy cell).
        Ctrl-C (KeyboardInterrupt) stops waiting and returns the watcher as it is, so a notebook
        user gets control back without a traceback. Raises ``BatchTimeoutError`` (a ``TimeoutError``)
        after ``timeout`` s.
        """
        deadline = Deadline(timeout)
        try:
            while True:
                self.refresh()
                if on_update is not None:
                    on_update(self)
                if self.done:
                    return self
                if not deadline.sleep_for(interval):
                    raise deadline.timeout_error("the watched work to finish", fix="call wait() again, or raise timeout")
        except KeyboardInterrupt:
            self.stop()
            return self

    def status_text(self) -> str:
        """One line for a monitor's status area."""
        if self.throttled is not None:
            return self.throttled.describe()
        if self.gone:
            return "the job no longer exists; stopped watching"
        if self.last_error is not None:
            return f"refresh failed ({_short_error(self.last_error)}), retrying"
        if self.updated_at is None:
            return "loading..."
        return f"updated {self.updated_at:%H:%M:%S} UTC"


def _transient(exc: BaseException) -> bool:
    """A server error or a lost connection: worth another try."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    status = status_of(exc)
    return status is not None and (status >= 500 or status == 408)


def _short_error(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    text = code or type(exc).__name__
    return str(text)[:80]


# ------------------------------------------------------------------------------------------- jobs


class JobWatcher(_Poller):
    """A job's tasks as a typed DataFrame (:attr:`tasks`), its counts and their history.

    ``select`` is the ``$select`` for task rows (default: the columns :func:`batchnb.data.frames.tasks_frame`
    reads). The first refresh loads every task; later ones only the tasks whose state changed.
    """

    def __init__(self, client: BatchClient, job_id: str, *, select: str = frames.TASK_SELECT,
                 page_size: int = PAGE_SIZE, backoff_cap: float = 60.0) -> None:
        super().__init__(backoff_cap=backoff_cap)
        self.client = client
        self.job_id = job_id
        self.select = [s for s in select.split(",") if s]
        self.page_size = page_size
        self.tasks: pd.DataFrame = frames.empty_tasks_frame()
        self.history = frames.CountsHistory()
        self.counts: dict[str, int] = {c: 0 for c in frames.COUNT_COLUMNS}
        self.job_state: str | None = None
        self.pool_id: str | None = None
        self._since: pd.Timestamp | None = None  # stateTransitionTime watermark; None: full load next

    def __repr__(self) -> str:
        return f"JobWatcher(job_id={self.job_id!r}, tasks={len(self.tasks)}, state={self.job_state!r})"

    @property
    def total(self) -> int:
        c = self.counts
        return c["active"] + c["running"] + c["completed"]

    @property
    def done(self) -> bool:
        """The job completed, or it has tasks, none is active or running, and this process is not
        still adding tasks to it (between two chunks of a bulk add a job can look finished).

        The counts alone do not decide it: Azure's may lag behind the task list (tasks added a
        moment ago can be missing), so the task table, listed after them, must agree."""
        if self.job_state == "completed":
            return True
        c = self.counts
        return (self.total > 0 and c["active"] == 0 and c["running"] == 0
                and not self._unfinished_rows() and not submission_in_progress(self.job_id))

    def _unfinished_rows(self) -> bool:
        tasks = self.tasks
        return bool(len(tasks)) and bool(tasks["state"].isin(("active", "preparing", "running")).any())

    def reset(self) -> None:
        """Forget the table: the next refresh is a full load."""
        with self._lock:
            self.tasks = frames.empty_tasks_frame()
            self._since = None

    def _poll(self, meter: _Meter) -> RefreshStats:
        kw = meter.kwargs()
        # Counts and job state first: when they say "done", the task rows listed after them are
        # at least that fresh, so the final picture is complete.
        job = self.client.get_job(self.job_id, select=["id", "state", "poolInfo"], **kw)
        counts = self.client.get_job_task_counts(self.job_id, **kw)
        full = self._since is None
        flt = None if self._since is None else f"stateTransitionTime gt DateTime'{_format_filter_time(self._since)}'"
        before = meter.requests
        rows = list_rows(self.client, f"/jobs/{self.job_id}/tasks", select=self.select, filter=flt,
                         max_results=self.page_size, **kw)
        paged = meter.requests - before > 1
        update = frames.tasks_frame(rows)
        self.job_state = _lower(job.get("state"))
        self.pool_id = (job.get("poolInfo") or {}).get("poolId")
        tc = counts.get("taskCounts") or {}
        self.counts = {c: int(tc.get(c) or 0) for c in frames.COUNT_COLUMNS}
        self.history.append(counts)
        self.tasks = update if full else frames.merge_tasks(self.tasks, update)
        # One page is one consistent answer; only a paged listing can miss a change between pages.
        self._advance_watermark(update, meter.first_date if paged else None)
        return RefreshStats(rows=len(rows), changed_ids=list(update.index), full=full)

    def _advance_watermark(self, update: pd.DataFrame, server_now: pd.Timestamp | None) -> None:
        # A task that changed on an already-read page while later pages were being read carries a
        # time earlier than the newest row seen; capping the watermark at the server's clock when
        # the refresh began (Date header, whole seconds) re-reads up to that last second once
        # instead of missing the change for good.
        if update.empty:
            if self._since is None:
                self._since = pd.Timestamp(0, tz="UTC")
            return
        newest = update["state_time"].max()
        if pd.isna(newest):
            return
        candidate = min(newest, server_now) if server_now is not None else newest
        if self._since is None or candidate > self._since:
            self._since = candidate

    # -- convenience views
    def failed(self) -> pd.DataFrame:
        """Rows of tasks that completed with a failure (exit code != 0 or failureInfo)."""
        return frames.failed_tasks(self.tasks)


def _lower(value: Any) -> str | None:
    return None if value is None else str(value).lower()


# ------------------------------------------------------------------------------------------ pools

POOL_SELECT = ["id", "state", "allocationState", "vmSize", "taskSlotsPerNode", "currentDedicatedNodes",
               "currentLowPriorityNodes", "targetDedicatedNodes", "targetLowPriorityNodes", "enableAutoScale"]
_METRICS_NODE_STATES = frozenset({"idle", "running", "starttaskfailed", "waitingforstarttask"})


class PoolWatcher(_Poller):
    """A pool's nodes as a typed DataFrame (:attr:`nodes`) and, with ``metrics``, node utilization.

    Utilization comes from the sampler batchnb puts in the start task (``PoolSpec(metrics=True)``):
    each refresh reads only the bytes appended to ``shared/batchnb-metrics.jsonl`` since the last
    one, on at most ``metrics_nodes_per_refresh`` nodes (round robin), so 10,000 nodes do not
    turn one refresh into 20,000 requests.
    """

    def __init__(self, client: BatchClient, pool_id: str, *, select: str = frames.NODE_SELECT,
                 metrics: bool = True, metrics_path: str = METRICS_PATH, metrics_nodes_per_refresh: int = 64,
                 max_samples: int = 200_000, page_size: int = PAGE_SIZE, backoff_cap: float = 60.0) -> None:
        super().__init__(backoff_cap=backoff_cap)
        self.client = client
        self.pool_id = pool_id
        self.select = [s for s in select.split(",") if s]
        self.metrics = metrics
        self.metrics_path = metrics_path
        self.metrics_nodes_per_refresh = metrics_nodes_per_refresh
        self.max_samples = max_samples
        self.page_size = page_size
        self.nodes: pd.DataFrame = frames.nodes_frame([])
        self.pool: dict[str, Any] = {}
        self.utilization: pd.DataFrame = frames.utilization_frame([])
        self._offsets: dict[str, int] = {}
        self._carry: dict[str, bytes] = {}
        self._cursor = 0
        self._stop_on_delete = False

    def __repr__(self) -> str:
        return f"PoolWatcher(pool_id={self.pool_id!r}, nodes={len(self.nodes)})"

    @property
    def task_slots_per_node(self) -> int:
        return int(self.pool.get("taskSlotsPerNode") or 1)

    @property
    def done(self) -> bool:
        # A pool has no natural end; it is watched until the view closes or the pool is deleted.
        return self._stop_on_delete

    def _poll(self, meter: _Meter) -> RefreshStats:
        kw = meter.kwargs()
        try:
            pool = self.client.get_pool(self.pool_id, select=POOL_SELECT, **kw)
        except Exception as exc:
            if status_of(exc) == 404:
                self._stop_on_delete = True
            raise
        self.pool = dict(pool.items()) if hasattr(pool, "items") else {}
        rows = list(self.client.list_nodes(self.pool_id, select=self.select, max_results=self.page_size, **kw))
        self.nodes = frames.nodes_frame(rows)
        samples: list[dict] = []
        if self.metrics:
            samples = self._read_metrics(kw)
        if samples:
            new = frames.utilization_frame(samples)
            util = new if self.utilization.empty else pd.concat([self.utilization, new], ignore_index=True)
            if len(util) > self.max_samples:
                util = util.iloc[-self.max_samples:].reset_index(drop=True)
            self.utilization = util
        return RefreshStats(rows=len(rows), changed_ids=list(self.nodes.index), full=True)

    def _read_metrics(self, kw: Mapping[str, Any]) -> list[dict]:
        states = self.nodes["state"].astype("string").to_numpy(dtype=object, na_value="")
        ids = [i for i, s in zip(self.nodes.index, states, strict=True) if s in _METRICS_NODE_STATES]
        if not ids:
            return []
        count = min(len(ids), self.metrics_nodes_per_refresh)
        start = self._cursor % len(ids)
        chosen = [ids[(start + k) % len(ids)] for k in range(count)]
        self._cursor = start + count
        samples: list[dict] = []
        for node_id in chosen:
            samples.extend(self._read_node_metrics(str(node_id), kw))
        return samples

    def _read_node_metrics(self, node_id: str, kw: Mapping[str, Any]) -> list[dict]:
        try:
            props = self.client.get_node_file_properties(self.pool_id, node_id, self.metrics_path, **kw)
        except Exception as exc:
            if status_of(exc) == 404:  # sampler not started (yet), or metrics off on this pool
                return []
            raise
        size = int(props.content_length or 0)
        offset = self._offsets.get(node_id, 0)
        if size < offset:  # the sampler rotated its file: start over on the new one
            offset, self._carry[node_id] = 0, b""
        if size == offset:
            return []
        data = b"".join(self.client.download_node_file(self.pool_id, node_id, self.metrics_path,
                                                       ocp_range=f"bytes={offset}-{size - 1}", **kw))
        self._offsets[node_id] = offset + len(data)
        samples, self._carry[node_id] = parse_metrics_lines(data, carry=self._carry.get(node_id, b""))
        return samples


# ------------------------------------------------------------------------------------ file tails


class FileTail:
    """The growing end of a task file (``stdout.txt``, ``stderr.txt``), read by byte range.

    :meth:`read` fetches only the bytes added since the last call (at most ``max_bytes`` of them,
    the newest) and returns the current tail text, capped at ``max_bytes``.
    """

    def __init__(self, client: BatchClient, job_id: str, task_id: str, file_name: str = "stderr.txt", *,
                 max_bytes: int = 16_384) -> None:
        self.client = client
        self.job_id, self.task_id, self.file_name = job_id, task_id, file_name
        self.max_bytes = max_bytes
        self._offset = 0
        self._buffer = b""
        self.missing = False
        self.gone: str | None = None  # Azure's 409 code once the task's files are gone for good

    @property
    def text(self) -> str:
        # Masked: what a task prints (a SAS URL, a key) is shown in monitors and saved notebooks.
        return redact(self._buffer.decode("utf-8", errors="replace"))

    @property
    def data(self) -> bytes:
        """The tail as bytes (at most ``max_bytes``)."""
        return self._buffer

    @property
    def offset(self) -> int:
        """How far into the file the last :meth:`read` got (the file's size then)."""
        return self._offset

    def read(self) -> str:
        meter = _Meter()
        kw = meter.kwargs()
        try:
            props = self.client.get_task_file_properties(self.job_id, self.task_id, self.file_name, **kw)
        except Exception as exc:
            if status_of(exc) == 404:  # not started yet
                self.missing = True
                return self.text
            if status_of(exc) == 409:
                # The only 409s of the task file API: TaskFilesUnavailable (the node left the pool:
                # scale-down, spot) or TaskFilesCleanedup (retention passed); a HEAD answer has no
                # body to tell which. Keep what was read and say so, instead of failing every refresh.
                self.missing = True
                self.gone = _error_code(exc) or "TaskFilesUnavailable/TaskFilesCleanedup"
                return self.text
            raise
        self.missing = False
        size = int(props.content_length or 0)
        if size < self._offset:
            self._offset, self._buffer = 0, b""
        if size > self._offset:
            start = max(self._offset, size - self.max_bytes)
            data = b"".join(self.client.download_task_file(self.job_id, self.task_id, self.file_name,
                                                           ocp_range=f"bytes={start}-{size - 1}", **kw))
            self._buffer = (self._buffer + data)[-self.max_bytes:] if start == self._offset else data
            self._offset = start + len(data)
        return self.text


def read_task_file_tail(client: BatchClient, job_id: str, task_id: str, file_name: str = "stderr.txt", *,
                        max_bytes: int = 4096) -> str | None:
    """The last ``max_bytes`` of a task file as text, or None when the file does not exist
    (a ``[files gone ...]`` note when Azure has removed it with its node)."""
    tail = FileTail(client, job_id, task_id, file_name, max_bytes=max_bytes)
    text = tail.read()
    if tail.gone:
        return f"[files gone: {tail.gone}; the task's node left the pool or its retention passed]"
    return None if tail.missing else text


# ----------------------------------------------------------------------------------------- registry

# One watcher per (client, job): re-displaying a monitor, or job.tasks() after a monitor was shown,
# reuses the table already loaded. Keyed weakly by client so closing a session frees its watchers;
# after a kernel restart the registry is empty and the first refresh is a full load.
_JOB_WATCHERS: weakref.WeakKeyDictionary[Any, dict[str, JobWatcher]] = weakref.WeakKeyDictionary()
_POOL_WATCHERS: weakref.WeakKeyDictionary[Any, dict[str, PoolWatcher]] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def _cached(registry: weakref.WeakKeyDictionary, client: BatchClient, key: str, make: Callable[[], Any]) -> Any:
    with _REGISTRY_LOCK:
        per_client = registry.setdefault(client, {})
        watcher = per_client.get(key)
        if watcher is None:
            watcher = per_client[key] = make()
        return watcher


def watcher_for(client: BatchClient, job_id: str) -> JobWatcher:
    """The cached :class:`JobWatcher` for this client and job (created on first use)."""
    return _cached(_JOB_WATCHERS, client, job_id, lambda: JobWatcher(client, job_id))


def pool_watcher_for(client: BatchClient, pool_id: str) -> PoolWatcher:
    """The cached :class:`PoolWatcher` for this client and pool (created on first use)."""
    return _cached(_POOL_WATCHERS, client, pool_id, lambda: PoolWatcher(client, pool_id))

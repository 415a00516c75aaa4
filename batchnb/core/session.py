"""``Session``: one Batch account (plus its storage) and everything a notebook does with it.

    s = batchnb.connect("local")
    pool = s.create_pool(batchnb.PoolSpec("p1", vm_size="standard_d2s_v3", dedicated_nodes=2), wait=True)
    job = s.create_job("j1", pool="p1")
    job.add_tasks(batchnb.sweep("python -c 'print({x})'", x=range(10)))
    job.wait(timeout=600)

The same calls work against Azure and the local service; only ``connect`` differs. Every error
is a :class:`batchnb.errors.BatchnbError` (never a raw SDK exception), and no key, SAS or
connection string appears in a repr, a message or a log line.

Creating what already exists is not an error by default (``exist_ok=True``), so that re-running
a notebook cell is safe: the existing pool or job is returned if it is compatible (same VM size,
same pool), and ConflictError says what differs otherwise.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.batch import models as batch_models

from batchnb.core import sdk_logging
from batchnb.core.docstrings import fill_doc
from batchnb.core.handle_base import state_text
from batchnb.core.job_handle import JobHandle
from batchnb.core.pool_handle import PoolHandle
from batchnb.core.redact import redact, register_secret
from batchnb.core.settings import ConnectionSettings, account_from_endpoint, resolve_settings
from batchnb.core.specs.models import JobSpec, PoolSpec
from batchnb.core.transport import Backoff, Deadline, call
from batchnb.errors import ConflictError, NotFoundError, ServiceUnavailableError, SettingsError, ValidationError

sdk_logging.install()

if TYPE_CHECKING:
    import pandas as pd
    from azure.batch import BatchClient
    from azure.core.credentials import TokenCredential

    from batchnb.core.cost.estimate import Estimate
    from batchnb.core.remote.cache import MapCache
    from batchnb.core.remote.notebook_sweep import NotebookSweep
    from batchnb.core.remote.result import MapResult
    from batchnb.core.specs.environment import Environment
    from batchnb.core.storage import Storage
    from batchnb.local import LocalService

__all__ = ["Session", "connect"]

# Bounded SDK retries for ordinary calls (bulk add turns them off and does its own, see bulk.py):
# azure-core's default is 10 attempts with up to 120 s between them, minutes of silence in a cell.
_CLIENT_RETRY: dict[str, Any] = dict(retry_total=4, retry_backoff_factor=0.5, retry_backoff_max=20,
                     connection_timeout=30, read_timeout=120)
_DEFAULT_REQUEST_TIMEOUT = 60.0
# Blob storage's own default retry waits 15 s, then 18, 24, 42 s...: minutes of silence for each
# file when storage has gone away. The same number of tries, closer together.
_STORAGE_RETRY: dict[str, Any] = dict(retry_total=3, initial_backoff=1, increment_base=2, connection_timeout=30, read_timeout=120)


def _batch_retry(request_timeout: float) -> dict[str, Any]:
    """Retries and timeouts of the Batch client: an endpoint that accepts connections but never
    answers must fail a call in bounded time (``timeout`` caps all attempts of one call), not
    after five full read timeouts."""
    return dict(_CLIENT_RETRY, connection_timeout=min(30.0, request_timeout), read_timeout=request_timeout,
                timeout=max(10.0, 3 * request_timeout))
_DEFAULT_POOL_TIMEOUT = 900.0
_DEFAULT_JOB_TIMEOUT = 300.0


class Session:
    """A connection to one Batch account and, when configured, its storage account.

    Make one with :func:`batchnb.connect` rather than directly. ``batch_client`` is the
    azure-batch ``BatchClient`` for anything batchnb does not wrap. A session is a context
    manager: ``with batchnb.connect("local") as s: ...`` closes its clients at the end.

    Parameters
    ----------
    batch_client : azure.batch.BatchClient
        The SDK client every Batch call goes through.
    account : str
        The Batch account name.
    endpoint : str
        The Batch account URL.
    auth_mode : str
        ``"shared key"`` or ``"Entra ID"`` (shown in reprs).
    storage_factory : callable, optional
        Makes the :class:`Storage` on first use of :attr:`storage`.
    storage_account : str, optional
        The storage account name, for display.
    local_service : batchnb.local.LocalService, optional
        The embedded local service this session talks to, if any.
    profile : str, optional
        The profile the settings came from, for display.
    """

    def __init__(
        self,
        batch_client: BatchClient,
        *,
        account: str,
        endpoint: str,
        auth_mode: str,
        storage_factory: Callable[[], Storage] | None = None,
        storage_account: str | None = None,
        local_service: LocalService | None = None,
        profile: str | None = None,
    ) -> None:
        self.batch_client = batch_client
        self.closed = False  # set by close(); the magics then stop using this session
        self.account = account
        self.endpoint = endpoint.rstrip("/")
        self.auth_mode = auth_mode
        self.storage_account = storage_account
        self.local_service = local_service
        self.profile = profile
        self._storage_factory = storage_factory
        self._storage: Storage | None = None

    # ------------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return redact(f"Session(account={self.account!r}, endpoint={self.endpoint!r}, auth={self.auth_mode!r}, "
                      f"storage={self.storage_account!r}{', local' if self.local_service else ''})")

    def _repr_html_(self) -> str:
        rows = [("Batch account", self.account), ("Endpoint", self.endpoint), ("Authentication", self.auth_mode),
                ("Storage account", self.storage_account or "(none)")]
        if self.local_service is not None:
            rows.append(("Service", "embedded local Batch service"))
        if self.profile:
            rows.append(("Profile", self.profile))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(redact(v))}"
                       f"</code></td></tr>" for k, v in rows)
        return f"<div><b>batchnb session</b><table>{body}</table></div>"

    def close(self) -> None:
        """Close the Batch and storage clients (their connection pools).

        A closed session stops being the current one, so later ``%batch`` lines do not reach a
        closed client (they use the newest open session in the notebook, or say to connect)."""
        from batchnb.core.current import clear_current

        clear_current(self)
        self.closed = True
        self.batch_client.close()
        if self._storage is not None:
            self._storage.client.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, action: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call(action, fn, *args, endpoint=self.endpoint, **kwargs)

    def _create(self, action: str, fn: Callable[..., Any], *args: Any, retry_lost_answer: bool) -> None:
        """A create (POST) call. The SDK does not retry a POST whose answer was lost (the service
        may have done the work); with ``retry_lost_answer`` we do, and the caller treats the
        "already exists" that may follow as success, which is what exist_ok means anyway."""
        backoff = Backoff(base=0.5, cap=2.0)
        for attempt in range(3):
            try:
                self._call(action, fn, *args)
                return
            except ServiceUnavailableError as exc:
                if not retry_lost_answer or exc.code != "batchnb.Unreachable" or attempt == 2:
                    raise
                time.sleep(backoff.next_delay())

    # ------------------------------------------------------------------------------- storage
    @property
    def storage(self) -> Storage:
        """Blob storage for staging (see :class:`batchnb.core.storage.Storage`)."""
        if self._storage is None:
            if self._storage_factory is None:
                raise SettingsError(
                    "This session has no storage account",
                    fix="pass storage_connection_string=... or storage_account=... to batchnb.connect(), or set "
                        "AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_ACCOUNT")
            self._storage = self._storage_factory()
        return self._storage

    # ------------------------------------------------------------------------------- pools
    def create_pool(self, spec: PoolSpec, *, wait: bool = False, timeout: float = _DEFAULT_POOL_TIMEOUT,
                    exist_ok: bool = True) -> PoolHandle:
        """Create the pool described by ``spec``.

        Creating a pool that exists returns it when its VM size matches (re-running a cell is
        safe). ``spec.metrics=True`` adds the node utilization sampler to the start task; ``spec.python_env``
        adds the install of that environment (uv comes from the session's storage, see uv_staging).

        Parameters
        ----------
        spec : PoolSpec
            What to create.
        wait : bool
            Wait until the pool is steady and its nodes are ready (see
            :meth:`PoolHandle.wait_steady`).
        timeout : float
            Seconds to wait with ``wait=True``.
        exist_ok : bool
            False makes an existing pool a :class:`~batchnb.errors.ConflictError`.

        Returns
        -------
        PoolHandle
            A handle on the pool.

        Raises
        ------
        batchnb.errors.ValidationError
            ``spec`` is not a :class:`PoolSpec`.
        batchnb.errors.ConflictError
            The pool exists with another VM size (or at all, with ``exist_ok=False``).
        batchnb.errors.BatchTimeoutError
            ``wait=True`` and the pool was not ready within ``timeout`` seconds.
        batchnb.errors.BatchnbError
            The resize failed (quota, image...) or a node's start task failed.
        """
        if not isinstance(spec, PoolSpec):
            raise ValidationError("spec", f"must be a PoolSpec, got {type(spec).__name__}",
                                  fix="batchnb.PoolSpec('p1', vm_size='standard_d2s_v3', dedicated_nodes=1)")
        prefix: list[str] = []
        if spec.metrics:
            from batchnb.core.specs.sampler_start_task import start_task_command

            prefix.append(start_task_command())
        start_env: dict[str, str] = {}
        if spec.python_env is not None:
            from batchnb.core.remote.uv_staging import uv_variables

            start_env.update(uv_variables(self))
        try:
            self._create(f"create pool {spec.id!r}", self.batch_client.create_pool,
                         spec.to_sdk(start_task_prefix=prefix, start_task_environment=start_env),
                         retry_lost_answer=exist_ok)
        except ConflictError as exc:
            if exc.code != "PoolExists" or not exist_ok:
                raise
            existing = self.get_pool(spec.id)
            if (existing.vm_size or "").lower() != spec.vm_size.lower():
                raise ConflictError(
                    f"Pool {spec.id!r} already exists with vm_size {existing.vm_size!r}, not {spec.vm_size!r}",
                    code="PoolExists", fix="use another pool id, or delete the pool first") from None
        handle = PoolHandle(self, spec.id)
        if wait:
            handle.wait_steady(timeout=timeout)
        return handle

    @fill_doc(kind="pool", model="BatchPool")
    def get_pool(self, pool_id: str) -> batch_models.BatchPool:
        """The pool's properties as the service reports them now.

        Parameters
        ----------
        %(entity_id_param)s

        %(entity_model_returns)s
        """
        return self._call(f"get pool {pool_id!r}", self.batch_client.get_pool, pool_id)

    def pool(self, pool_id: str) -> PoolHandle:
        """A handle on an existing pool.

        Parameters
        ----------
        pool_id : str
            The pool's id.

        Returns
        -------
        PoolHandle
            A handle holding the pool's current properties.

        Raises
        ------
        batchnb.errors.NotFoundError
            There is no such pool.
        """
        return PoolHandle(self, pool_id, self.get_pool(pool_id))

    def list_pools(self) -> pd.DataFrame:
        """The account's pools.

        Returns
        -------
        pandas.DataFrame
            One row per pool, indexed by ``pool_id``: ``state``, ``allocation_state``,
            ``vm_size``, ``dedicated``/``target_dedicated``, ``spot``/``target_spot``,
            ``task_slots_per_node``, ``autoscale`` and ``created``.
        """
        import pandas as pd

        pools = self._call("list pools", lambda: list(self.batch_client.list_pools()))
        rows = [{
            "pool_id": p.id, "state": state_text(p.state), "allocation_state": state_text(p.allocation_state),
            "vm_size": p.vm_size, "dedicated": p.current_dedicated_nodes, "target_dedicated": p.target_dedicated_nodes,
            "spot": p.current_low_priority_nodes, "target_spot": p.target_low_priority_nodes,
            "task_slots_per_node": p.task_slots_per_node, "autoscale": bool(p.enable_auto_scale),
            "created": p.creation_time,
        } for p in pools]
        columns = ["pool_id", "state", "allocation_state", "vm_size", "dedicated", "target_dedicated", "spot",
                   "target_spot", "task_slots_per_node", "autoscale", "created"]
        return pd.DataFrame(rows, columns=columns).set_index("pool_id")

    @fill_doc(until="the pool is steady again with its nodes ready")
    def resize_pool(self, pool_id: str, *, dedicated_nodes: int | None = None, spot_nodes: int | None = None,
                    wait: bool = False, timeout: float = _DEFAULT_POOL_TIMEOUT) -> PoolHandle:
        """Set the pool's target node counts.

        Parameters
        ----------
        pool_id : str
            The pool's id.
        dedicated_nodes, spot_nodes : int, optional
            The new targets; None keeps a count as it is (give at least one).
        %(wait_params)s

        Returns
        -------
        PoolHandle
            A handle on the pool.

        Raises
        ------
        batchnb.errors.ValidationError
            Neither count was given, or a count is negative.
        batchnb.errors.ConflictError
            The pool is already resizing or being deleted.
        batchnb.errors.BatchTimeoutError
            ``wait=True`` and the pool was not steady within ``timeout`` seconds.
        """
        from batchnb.core.validation import check_int

        if dedicated_nodes is None and spot_nodes is None:
            raise ValidationError("dedicated_nodes", "nothing to resize", fix="give dedicated_nodes=... and/or spot_nodes=...")
        for name, value in (("dedicated_nodes", dedicated_nodes), ("spot_nodes", spot_nodes)):
            if value is not None:
                check_int(value, field=name, minimum=0)
        options = batch_models.BatchPoolResizeOptions(target_dedicated_nodes=dedicated_nodes,
                                                      target_low_priority_nodes=spot_nodes)
        # The SDK poller's own thread would poll every polling_interval seconds; we wait ourselves.
        self._call(f"resize pool {pool_id!r}", self.batch_client.begin_resize_pool, pool_id, options,
                   polling_interval=30)
        handle = PoolHandle(self, pool_id)
        if wait:
            handle.wait_steady(timeout=timeout)
        return handle

    @fill_doc(until="the pool is gone")
    def delete_pool(self, pool_id: str, *, wait: bool = False, timeout: float = _DEFAULT_POOL_TIMEOUT) -> None:
        """Delete a pool; its nodes go away and their running tasks are requeued.

        Deleting a pool that does not exist is not an error.

        Parameters
        ----------
        pool_id : str
            The pool's id.
        %(wait_params)s

        Raises
        ------
        batchnb.errors.BatchTimeoutError
            ``wait=True`` and the pool still existed after ``timeout`` seconds.
        """
        self._delete(f"pool {pool_id!r}", self.batch_client.begin_delete_pool, self.get_pool, pool_id,
                     wait=wait, timeout=timeout)

    def _delete(self, what: str, begin: Callable[..., Any], get: Callable[[str], Any], entity_id: str, *,
                wait: bool, timeout: float) -> None:
        try:
            self._call(f"delete {what}", begin, entity_id, polling_interval=30)
        except NotFoundError:
            return
        if wait:
            self._wait_until(f"{what} to be deleted", lambda: _is_missing(get, entity_id), timeout,
                             fix="it is still being deleted; check again later")

    @staticmethod
    def _wait_until(what: str, done: Callable[[], bool], timeout: float, *, fix: str) -> None:
        deadline = Deadline(timeout, poll=2.0)
        while not done():
            if deadline.expired():
                raise deadline.timeout_error(what, fix=fix)
            deadline.sleep()

    # ------------------------------------------------------------------------------- jobs
    def create_job(self, id_or_spec: str | JobSpec, *, pool: str | PoolSpec | PoolHandle | None = None,
                   exist_ok: bool = True, allow_missing_pool: bool = False, **options: Any) -> JobHandle:
        """Create a job on a pool.

        Batch accepts a job on a pool that does not exist (its tasks wait forever); batchnb
        refuses, naming the pool, unless ``allow_missing_pool=True`` (a pool created later).
        Creating a job that exists on the same pool returns it (re-running a cell is safe).

        Parameters
        ----------
        id_or_spec : str or JobSpec
            The job's id, or a whole :class:`JobSpec` (then give no ``pool`` or options).
        pool : str, PoolSpec or PoolHandle
            The pool that runs the job's tasks (required with an id).
        exist_ok : bool
            False makes an existing job a :class:`~batchnb.errors.ConflictError`.
        allow_missing_pool : bool
            Create the job even if the pool does not exist yet.
        **options
            Other :class:`JobSpec` fields (``max_task_retries``, ``priority``, ``environment``...).

        Returns
        -------
        JobHandle
            A handle on the job.

        Raises
        ------
        batchnb.errors.ValidationError
            A bad option, no pool, or a pool that does not exist.
        batchnb.errors.ConflictError
            The job exists on another pool (or at all, with ``exist_ok=False``).
        """
        if isinstance(pool, PoolHandle):
            pool = pool.id
        if isinstance(id_or_spec, JobSpec):
            spec = id_or_spec
            if pool is not None or options:
                    raise ValidationError("pool", "is given with a JobSpec", fix="put the pool and options in the JobSpec")
        else:
            if pool is None:
                    raise ValidationError("pool", "is required", fix=f"create_job({id_or_spec!r}, pool='my-pool')")
            spec = JobSpec(id_or_spec, pool=pool, **options)
        if not allow_missing_pool:
            self._check_pool_for_job(spec)
        try:
            self._create(f"create job {spec.id!r}", self.batch_client.create_job, spec.to_sdk(),
                         retry_lost_answer=exist_ok)
        except ConflictError as exc:
            if exc.code != "JobExists" or not exist_ok:
                raise
            existing = self.get_job(spec.id)
            existing_pool = existing.pool_info.pool_id if existing.pool_info else None
            if existing_pool is not None and existing_pool.lower() != spec.pool_id.lower():
                raise ConflictError(f"Job {spec.id!r} already exists on pool {existing_pool!r}, not {spec.pool_id!r}",
                                    code="JobExists", fix="use another job id, or session.job(id) to re-attach") from None
            return JobHandle(self, spec.id, existing)
        return JobHandle(self, spec.id)

    def _check_pool_for_job(self, spec: JobSpec) -> None:
        try:
            self.get_pool(spec.pool_id)
            return
        except NotFoundError:
            pass
        try:
            self.get_job(spec.id)
            return  # the job exists: creating it again is answered by the exist_ok rules
        except NotFoundError:
            pass
        raise ValidationError("pool", f"{spec.pool_id!r} does not exist, so job {spec.id!r} would never run a task",
                              fix="create the pool first (session.create_pool(...)), check the id in "
                                  "session.list_pools(), or pass allow_missing_pool=True if it comes later")

    @fill_doc(kind="job", model="BatchJob")
    def get_job(self, job_id: str) -> batch_models.BatchJob:
        """The job's properties as the service reports them now.

        Parameters
        ----------
        %(entity_id_param)s

        %(entity_model_returns)s
        """
        return self._call(f"get job {job_id!r}", self.batch_client.get_job, job_id)

    def job(self, job_id: str) -> JobHandle:
        """Re-attach to an existing job by id (after a kernel restart, for instance).

        Parameters
        ----------
        job_id : str
            The job's id.

        Returns
        -------
        JobHandle
            A handle holding the job's current properties.

        Raises
        ------
        batchnb.errors.NotFoundError
            There is no such job.
        """
        return JobHandle(self, job_id, self.get_job(job_id))

    def list_jobs(self, *, state: str | None = None) -> pd.DataFrame:
        """The account's jobs.

        Parameters
        ----------
        state : str, optional
            Only jobs in this state (``"active"``, ``"completed"``, ``"terminating"``...).

        Returns
        -------
        pandas.DataFrame
            One row per job, indexed by ``job_id``: ``state``, ``pool_id``, ``priority``,
            ``created`` and ``state_time``.
        """
        import pandas as pd

        flt = f"state eq '{state}'" if state else None
        jobs = self._call("list jobs", lambda: list(self.batch_client.list_jobs(filter=flt)))
        rows = [{"job_id": j.id, "state": state_text(j.state), "pool_id": j.pool_info.pool_id if j.pool_info else None,
                 "priority": j.priority, "created": j.creation_time, "state_time": j.state_transition_time}
                for j in jobs]
        columns = ["job_id", "state", "pool_id", "priority", "created", "state_time"]
        return pd.DataFrame(rows, columns=columns).set_index("job_id")

    @fill_doc(until="the job is completed")
    def terminate_job(self, job_id: str, *, reason: str | None = None, wait: bool = False,
                      timeout: float = _DEFAULT_JOB_TIMEOUT) -> None:
        """End a job: running tasks are stopped and no new task starts.

        Terminating a completed job is not an error.

        Parameters
        ----------
        job_id : str
            The job's id.
        reason : str, optional
            The termination reason recorded on the job (default ``"UserTerminate"``).
        %(wait_params)s

        Raises
        ------
        batchnb.errors.NotFoundError
            There is no such job.
        batchnb.errors.BatchTimeoutError
            ``wait=True`` and the job was not completed within ``timeout`` seconds.
        """
        from azure.batch.models._models import BatchJobTerminateOptions

        # Always a body: the SDK fails to serialise a terminate request without one.
        options = BatchJobTerminateOptions(termination_reason=reason or "UserTerminate")
        try:
            self._call(f"terminate job {job_id!r}", self.batch_client.begin_terminate_job, job_id, options,
                       polling_interval=30)
        except ConflictError as exc:
            if exc.code != "JobCompleted":
                raise
            return
        if wait:
            self._wait_until(f"job {job_id!r} to terminate",
                             lambda: state_text(self.get_job(job_id).state) == "completed", timeout,
                             fix="check again later")

    @fill_doc(until="the job is gone")
    def delete_job(self, job_id: str, *, wait: bool = False, timeout: float = _DEFAULT_JOB_TIMEOUT) -> None:
        """Delete a job and its tasks. Deleting a job that does not exist is not an error.

        Parameters
        ----------
        job_id : str
            The job's id.
        %(wait_params)s

        Raises
        ------
        batchnb.errors.BatchTimeoutError
            ``wait=True`` and the job still existed after ``timeout`` seconds.
        """
        self._delete(f"job {job_id!r}", self.batch_client.begin_delete_job, self.get_job, job_id,
                     wait=wait, timeout=timeout)

    # ------------------------------------------------------------------------------- map
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, pool: str | PoolHandle,
            chunk_size: int | None = None, errors: str = "raise", timeout: float | None = None,
            job_id: str | None = None, container: str = "batchnb-map", max_retries: int = 0,
            wait: bool = True, cache: bool = False,
            environment: Environment | str | None = "auto", progress: bool = True) -> list[Any] | MapResult:
        """Run ``fn`` over ``items`` on the pool's nodes; results come back in input order.

        The function and the items are pickled with cloudpickle (``chunk_size`` items per task),
        staged in Blob storage, and run by a small stdlib+cloudpickle runner on the nodes.
        After a kernel restart, ``session.map_result(job_id)`` finds the results again.

        Nodes need Python, cloudpickle and what ``fn`` uses. ``environment="auto"`` finds the
        distributions ``fn`` and the items need, pins them to the kernel's versions, and has the
        first task on each node install them (once per node; a later map with the same needs
        installs nothing); on a pool made with ``PoolSpec(python_env=...)`` it uses that environment
        and refuses, before submitting, one that lacks a needed package or differs in Python or
        cloudpickle version. ``environment=Environment(...)`` is explicit; ``None`` runs the
        node's own ``python3`` as it is.
        Each task can read only its own inputs and create only its own result, with SAS tokens
        that live ``timeout`` + 1 hour (24 hours without a timeout; give one for longer maps), and
        the job's wall clock ends with them. A result that was not written by its own task raises
        MapResultTamperedError and is never unpickled.
        ``cache=True`` looks every item up in ``session.cache`` first (content-addressed by the
        function's code and closure, the item, the Python/cloudpickle versions and an explicit
        environment's key) and runs only the misses: an unchanged rerun submits no task.

        Parameters
        ----------
        fn : callable
            A function of one item; it and its results must pickle with cloudpickle.
        items : iterable
            The inputs, one call each.
        pool : str or PoolHandle
            The pool that runs the tasks (it must exist).
        chunk_size : int, optional
            Items per task; by default about four tasks per task slot of the pool (at most
            100 tasks).
        errors : {"raise", "collect"}
            ``"raise"``: the first failing item raises. ``"collect"``: return a
            :class:`MapResult` with ``.results`` and ``.errors``.
        timeout : float, optional
            Seconds to wait for the job (None: no limit).
        job_id : str, optional
            The map job's id (default: ``map-<function name>-<UTC time>-<random>``).
        container : str
            The blob container for the pickled inputs and results.
        max_retries : int
            Retries of a failing item on its node, and of a crashed task through Batch.
        wait : bool
            False returns the :class:`MapResult` at once (call ``.wait()`` later).
        cache : bool
            Look every item up in ``session.cache`` first and run only the misses.
        environment : Environment, "auto" or None
            What the nodes install before running ``fn`` (see above); an explicit
            ``Environment``'s key is part of the cache key.
        progress : bool
            While waiting, show the tasks completed so far: a progress bar widget in a notebook,
            a text bar elsewhere (``tqdm.auto``). False shows nothing.

        Returns
        -------
        list or MapResult
            The results in input order; a :class:`MapResult` with ``errors="collect"`` or
            ``wait=False``.

        Raises
        ------
        batchnb.errors.ValidationError
            ``fn`` is not callable, ``items`` is empty, or something does not pickle.
        batchnb.errors.TaskFailedError
            ``errors="raise"`` and an item raised: its index, exception type and the node's
            traceback.
        batchnb.errors.BatchTimeoutError
            The job did not finish within ``timeout`` seconds (it keeps running).
        """
        from batchnb.core.remote.mapper import sas_lifetime, submit_map

        pool_id = pool.id if isinstance(pool, PoolHandle) else pool

        def submit(values: Iterable[Any]) -> MapResult:
            return submit_map(self, fn, values, pool=pool_id, chunk_size=chunk_size, job_id=job_id,
                              container=container, max_retries=max_retries, lifetime=sas_lifetime(timeout),
                              environment=environment)

        if cache:
            from batchnb.core.remote.cache import cached_map
            from batchnb.core.specs.environment import Environment

            if not wait:
                raise ValidationError("wait", "cache=True needs wait=True (results are cached when they arrive)",
                                      fix="drop wait=False, or drop cache=True")

            def submit_and_wait(values: list[Any]) -> MapResult:
                return submit(values).wait(timeout=timeout, progress=progress)

            result = cached_map(self, fn, list(items), submit=submit_and_wait, container=container,
                                environment=environment.key if isinstance(environment, Environment) else "")
            return result if errors == "collect" else result.values(errors=errors)
        result = submit(items)
        if not wait:
            return result
        result.wait(timeout=timeout, progress=progress)
        if errors == "collect":
            return result
        return result.values(errors=errors)

    def estimate(self, tasks: Iterable[Any], *, pool: str | PoolHandle, pilot: int = 5, timeout: float = 1800,
                 keep_pilot: bool = False, job_id: str | None = None) -> Estimate:
        """Before committing to a sweep: run a few of its tasks, then extrapolate its time and cost.

        Parameters
        ----------
        tasks : iterable of TaskSpec
            The whole sweep (e.g. ``batchnb.sweep(...)``).
        pool : str or PoolHandle
            The pool it will run on (it must exist).
        pilot : int
            How many tasks to run, spread over the sweep.
        timeout : float
            Seconds to wait for the pilot.
        keep_pilot : bool
            Keep the pilot job (it is deleted afterwards by default).
        job_id : str, optional
            The pilot job's id.

        Returns
        -------
        Estimate
            The whole sweep's time and cost on that pool, with a 95 % band.

        Raises
        ------
        batchnb.errors.ValidationError
            No tasks, a bad ``pilot`` count, or a pool that does not exist.
        """
        from batchnb.core.cost.estimate import estimate_sweep

        pool_id = pool.id if isinstance(pool, PoolHandle) else pool
        return estimate_sweep(self, tasks, pool=pool_id, pilot=pilot, timeout=timeout, keep_pilot=keep_pilot,
                              job_id=job_id)

    def run_notebook(self, path: str | Path, *, parameters: Any, pool: str | PoolHandle, job_id: str | None = None,
                     container: str = "batchnb-notebooks", max_retries: int = 0, wait: bool = True,
                     timeout: float | None = None,
                     environment: Environment | str | None = "auto") -> NotebookSweep:
        """Run the notebook at ``path`` once per parameter set, one task each, with papermill on the nodes.

        Each set is injected after the notebook's cell tagged ``parameters``. Values the notebook
        passes to ``batchnb.record(name, value)`` come back as columns of ``results()``. The
        nodes need papermill, ipykernel and what the notebook imports: ``environment="auto"`` pins
        them to the kernel's versions and installs them once per node (or uses, after checking it,
        the pool's ``python_env``); ``None`` uses the nodes as they are; an ``Environment`` is
        explicit (papermill and ipykernel are added). After a kernel restart,
        ``session.notebook_sweep(job_id)`` finds the sweep again.

        Parameters
        ----------
        path : str or pathlib.Path
            The ``.ipynb`` file; it needs a cell tagged ``parameters``.
        parameters : dict or list
            A grid (``{"alpha": [0.1, 0.5], "n": [10, 100]}``: every combination) or the
            parameter sets themselves; values must be JSON-able.
        pool : str or PoolHandle
            The pool that runs the tasks.
        job_id : str, optional
            The sweep's job id (default: made from the notebook's name).
        container : str
            The blob container for the notebook, parameters and results.
        max_retries : int
            Retries of a failed task.
        wait : bool
            Wait until every task has finished.
        timeout : float, optional
            Seconds to wait (None: no limit).
        environment : Environment, "auto" or None
            What the nodes install before running the notebook (see above).

        Returns
        -------
        NotebookSweep
            The sweep (its tasks finished, unless ``wait=False``).

        Raises
        ------
        batchnb.errors.ValidationError
            A bad notebook (not found, no ``parameters`` cell) or bad parameters.
        batchnb.errors.BatchTimeoutError
            ``wait=True`` and the tasks had not finished within ``timeout`` seconds.
        """
        from batchnb.core.remote.notebook_sweep import submit_notebook_sweep

        sweep = submit_notebook_sweep(self, path, parameters=parameters,
                                      pool=pool.id if isinstance(pool, PoolHandle) else pool, job_id=job_id,
                                      container=container, max_retries=max_retries, environment=environment)
        if wait:
            sweep.wait(timeout=timeout)
        return sweep

    def notebook_sweep(self, job_id: str) -> NotebookSweep:
        """Re-attach to a ``run_notebook()`` sweep by its job id (e.g. after a kernel restart).

        Parameters
        ----------
        job_id : str
            The sweep's job id (``NotebookSweep.job_id``).

        Returns
        -------
        NotebookSweep
            The sweep.

        Raises
        ------
        batchnb.errors.NotFoundError
            There is no such job.
        batchnb.errors.BatchnbError
            The job was not made by ``run_notebook()`` (code ``batchnb.NotANotebookSweep``).
        """
        from batchnb.core.remote.notebook_sweep import attach_notebook_sweep

        return attach_notebook_sweep(self, job_id)

    @property
    def cache(self) -> MapCache:
        """The map result cache in this account's Blob storage (``len()``, ``size_bytes()``, ``clear()``)."""
        from batchnb.core.remote.cache import MapCache

        return MapCache(self.storage)

    def map_result(self, job_id: str) -> MapResult:
        """Re-attach to a ``map()`` job by id (e.g. after a kernel restart).

        Parameters
        ----------
        job_id : str
            The map job's id (``MapResult.job_id``).

        Returns
        -------
        MapResult
            Its state, and its results once complete.

        Raises
        ------
        batchnb.errors.NotFoundError
            There is no such job.
        batchnb.errors.BatchnbError
            The job was not made by ``map()`` (code ``batchnb.NotAMap``).
        """
        from batchnb.core.remote.mapper import attach_map

        return attach_map(self, job_id)


def _is_missing(get: Callable[[str], Any], entity_id: str) -> bool:
    try:
        get(entity_id)
    except NotFoundError:
        return True
    return False


# ----------------------------------------------------------------------------------- connect


def connect(
    profile: str | None = None,
    *,
    account: str | None = None,
    endpoint: str | None = None,
    access_key: str | None = None,
    storage_connection_string: str | None = None,
    storage_account: str | None = None,
    storage_key: str | None = None,
    storage_endpoint: str | None = None,
    credential: TokenCredential | None = None,
    state_dir: str | None = None,
    request_timeout: float = _DEFAULT_REQUEST_TIMEOUT,
) -> Session:
    """Connect to a Batch account, or to the embedded local service with ``connect("local")``.

    Settings come from the keyword arguments, then the environment (``AZURE_BATCH_ACCOUNT``,
    ``AZURE_BATCH_ENDPOINT``, ``AZURE_BATCH_ACCESS_KEY``, ``AZURE_STORAGE_CONNECTION_STRING`` or
    ``AZURE_STORAGE_ACCOUNT`` + ``AZURE_STORAGE_KEY``), then the profile (``profile`` or
    ``$BATCHNB_PROFILE``, else ``[default]``) in ``~/.config/batchnb/profiles.toml``. Without a
    key, Entra ID is used (``credential``, or azure-identity's ``DefaultAzureCredential``).
    The new session becomes the one ``%batch`` magics act on.

    Parameters
    ----------
    profile : str, optional
        ``"local"`` for the embedded local service (started if it is not running), or the name
        of a profile.
    account : str, optional
        The Batch account's name (default: taken from ``endpoint``).
    endpoint : str, optional
        The Batch account's URL.
    access_key : str, optional
        The Batch account key (Shared Key); without it, Entra ID.
    storage_connection_string : str, optional
        The storage account for staging, as a connection string.
    storage_account : str, optional
        Or the storage account's name, with ``storage_key`` (Entra ID without it).
    storage_key : str, optional
        The storage account's key.
    storage_endpoint : str, optional
        The blob endpoint (default: ``https://<account>.blob.core.windows.net``).
    credential : azure.core.credentials.TokenCredential, optional
        The Entra ID credential to use instead of ``DefaultAzureCredential``.
    state_dir : str, optional
        The local service's state directory (``connect("local")`` only).
    request_timeout : float
        Seconds one Batch request may go unanswered; a call, retries included, gives up after
        about three times that.

    Returns
    -------
    Session
        The connected session.

    Raises
    ------
    batchnb.errors.ValidationError
        ``request_timeout`` is not a number of seconds >= 0.5.
    batchnb.errors.SettingsError
        A setting is missing or inconsistent (the message names it).
    """
    if isinstance(request_timeout, bool) or not isinstance(request_timeout, (int, float)) or request_timeout < 0.5:
        raise ValidationError("request_timeout", f"is {request_timeout!r}",
                              fix="give the seconds one request may take, e.g. request_timeout=60")
    settings = resolve_settings(
        profile, account=account, endpoint=endpoint, access_key=access_key,
        storage_connection_string=storage_connection_string, storage_account=storage_account,
        storage_key=storage_key, storage_endpoint=storage_endpoint, state_dir=state_dir)
    if settings.local:
        session = _connect_local(settings, request_timeout)
    else:
        session = _connect_azure(settings, credential, request_timeout)
    from batchnb.core.current import set_current

    set_current(session)  # the session later %batch magics act on
    return session


def _connect_local(settings: ConnectionSettings, request_timeout: float = _DEFAULT_REQUEST_TIMEOUT) -> Session:
    from batchnb import local

    service = local.start(state_dir=settings.state_dir, quiet=True)
    register_secret(service.account_key)
    register_secret(service.storage_connection_string)
    settings = ConnectionSettings(account=service.account_name, endpoint=service.batch_url,
                                  access_key=service.account_key,
                                  storage_connection_string=service.storage_connection_string,
                                  profile=settings.profile or "local")
    session = _connect_azure(settings, None, request_timeout)
    session.local_service = service
    return session


def _connect_azure(settings: ConnectionSettings, credential: TokenCredential | None,
                   request_timeout: float = _DEFAULT_REQUEST_TIMEOUT) -> Session:
    from azure.batch import BatchClient

    endpoint = settings.endpoint or ""
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    account = settings.account or account_from_endpoint(endpoint) or "(unknown)"
    token_credential = credential
    if settings.access_key:
        from azure.core.credentials import AzureNamedKeyCredential

        batch_credential: Any = AzureNamedKeyCredential(account, settings.access_key)
        auth_mode = "shared key"
    else:
        if token_credential is None:
            token_credential = _default_credential()
        batch_credential = token_credential
        auth_mode = "Entra ID"
    client = BatchClient(endpoint, batch_credential, **_batch_retry(request_timeout))
    storage_factory, storage_account = _storage_factory(settings, token_credential)
    return Session(client, account=account, endpoint=endpoint, auth_mode=auth_mode, storage_factory=storage_factory,
                   storage_account=storage_account, profile=settings.profile)


def _default_credential() -> TokenCredential:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:  # pragma: no cover - azure-identity is a dependency
        raise SettingsError("No Batch access key was given and azure-identity is not installed",
                            fix="set AZURE_BATCH_ACCESS_KEY, or pip install azure-identity") from None
    return DefaultAzureCredential()


def _storage_factory(settings: ConnectionSettings, token_credential: TokenCredential | None,
                     ) -> tuple[Callable[[], Storage] | None, str | None]:
    from batchnb.core.storage import Storage

    if settings.storage_connection_string:
        conn = settings.storage_connection_string
        parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
        name = parts.get("AccountName")

        def from_connection_string() -> Storage:
            from azure.storage.blob import BlobServiceClient

            client = BlobServiceClient.from_connection_string(conn, **_STORAGE_RETRY)
            key = getattr(client.credential, "account_key", None)
            return Storage(client, account_key=key, use_delegation_key=False)
        return from_connection_string, name
    if settings.storage_account:
        name = settings.storage_account
        url = settings.storage_endpoint or f"https://{name}.blob.core.windows.net"
        key = settings.storage_key

        def from_account() -> Storage:
            from azure.storage.blob import BlobServiceClient

            if key:
                client = BlobServiceClient(url, credential={"account_name": name, "account_key": key}, **_STORAGE_RETRY)
                return Storage(client, account_key=key)
            cred = token_credential if token_credential is not None else _default_credential()
            return Storage(BlobServiceClient(url, credential=cred, **_STORAGE_RETRY), use_delegation_key=True)
        return from_account, name
    return None, None

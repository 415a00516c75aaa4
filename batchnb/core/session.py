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
from typing import TYPE_CHECKING, Any

from azure.batch import models as batch_models

from batchnb.core import sdk_logging
from batchnb.core.handle_base import state_text
from batchnb.core.job_handle import JobHandle
from batchnb.core.pool_handle import PoolHandle
from batchnb.core.redact import redact, register_secret
from batchnb.core.settings import ConnectionSettings, SettingsError, account_from_endpoint, resolve_settings
from batchnb.core.specs.models import JobSpec, PoolSpec
from batchnb.core.transport import Deadline, call
from batchnb.errors import ConflictError, NotFoundError, ServiceUnavailableError, ValidationError

sdk_logging.install()

if TYPE_CHECKING:
    import pandas as pd
    from azure.batch import BatchClient
    from azure.core.credentials import TokenCredential

    from batchnb.core.remote.result import MapResult
    from batchnb.core.storage import Storage
    from batchnb.local import LocalService

__all__ = ["Session", "connect"]

# Bounded SDK retries for ordinary calls (bulk add turns them off and does its own, see bulk.py):
# azure-core's default is 10 attempts with up to 120 s between them, minutes of silence in a cell.
_CLIENT_RETRY = dict(retry_total=4, retry_backoff_factor=0.5, retry_backoff_max=20,
                     connection_timeout=30, read_timeout=120)
_DEFAULT_REQUEST_TIMEOUT = 60.0
# Blob storage's own default retry waits 15 s, then 18, 24, 42 s...: minutes of silence for each
# file when storage has gone away. The same number of tries, closer together.
_STORAGE_RETRY = dict(retry_total=3, initial_backoff=1, increment_base=2, connection_timeout=30, read_timeout=120)


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

    Make one with :func:`batchnb.connect`. ``batch_client`` is the azure-batch ``BatchClient``
    for anything batchnb does not wrap.
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
        for attempt in range(3):
            try:
                self._call(action, fn, *args)
                return
            except ServiceUnavailableError as exc:
                if not retry_lost_answer or exc.code != "batchnb.Unreachable" or attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))

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
        """Create the pool described by ``spec`` (``wait=True``: until steady with nodes ready).

        ``spec.metrics=True`` adds the node utilization sampler to the start task.
        """
        if not isinstance(spec, PoolSpec):
            raise ValidationError("spec", f"must be a PoolSpec, got {type(spec).__name__}",
                                  fix="batchnb.PoolSpec('p1', vm_size='standard_d2s_v3', dedicated_nodes=1)")
        prefix: list[str] = []
        if spec.metrics:
            from batchnb.core.specs.sampler_start_task import start_task_command

            prefix.append(start_task_command())
        try:
            self._create(f"create pool {spec.id!r}", self.batch_client.create_pool,
                         spec.to_sdk(start_task_prefix=prefix), retry_lost_answer=exist_ok)
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

    def get_pool(self, pool_id: str) -> batch_models.BatchPool:
        """The SDK's ``BatchPool`` (raises NotFoundError)."""
        return self._call(f"get pool {pool_id!r}", self.batch_client.get_pool, pool_id)

    def pool(self, pool_id: str) -> PoolHandle:
        """A handle on an existing pool (raises NotFoundError if there is none)."""
        return PoolHandle(self, pool_id, self.get_pool(pool_id))

    def list_pools(self) -> pd.DataFrame:
        """One row per pool: state, allocation state, VM size, node counts, slots."""
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

    def resize_pool(self, pool_id: str, *, dedicated_nodes: int | None = None, spot_nodes: int | None = None,
                    wait: bool = False, timeout: float = _DEFAULT_POOL_TIMEOUT) -> PoolHandle:
        """Set the pool's target node counts (None keeps a count as it is)."""
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

    def delete_pool(self, pool_id: str, *, wait: bool = False, timeout: float = _DEFAULT_POOL_TIMEOUT) -> None:
        """Delete a pool (``wait=True``: until it is gone). Deleting a missing pool is not an error."""
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
        """Create a job on ``pool`` (or from a :class:`JobSpec`); other keywords go to JobSpec.

        Batch accepts a job on a pool that does not exist (its tasks wait forever); batchnb
        refuses, naming the pool, unless ``allow_missing_pool=True`` (a pool created later).
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

    def get_job(self, job_id: str) -> batch_models.BatchJob:
        """The SDK's ``BatchJob`` (raises NotFoundError)."""
        return self._call(f"get job {job_id!r}", self.batch_client.get_job, job_id)

    def job(self, job_id: str) -> JobHandle:
        """Re-attach to an existing job by id (raises NotFoundError if there is none)."""
        return JobHandle(self, job_id, self.get_job(job_id))

    def list_jobs(self, *, state: str | None = None) -> pd.DataFrame:
        """One row per job (``state="active"`` etc. to filter): state, pool, priority, times."""
        import pandas as pd

        flt = f"state eq '{state}'" if state else None
        jobs = self._call("list jobs", lambda: list(self.batch_client.list_jobs(filter=flt)))
        rows = [{"job_id": j.id, "state": state_text(j.state), "pool_id": j.pool_info.pool_id if j.pool_info else None,
                 "priority": j.priority, "created": j.creation_time, "state_time": j.state_transition_time}
                for j in jobs]
        columns = ["job_id", "state", "pool_id", "priority", "created", "state_time"]
        return pd.DataFrame(rows, columns=columns).set_index("job_id")

    def terminate_job(self, job_id: str, *, reason: str | None = None, wait: bool = False,
                      timeout: float = _DEFAULT_JOB_TIMEOUT) -> None:
        """Terminate a job (``wait=True``: until it is completed). A completed job is left alone."""
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

    def delete_job(self, job_id: str, *, wait: bool = False, timeout: float = _DEFAULT_JOB_TIMEOUT) -> None:
        """Delete a job and its tasks (``wait=True``: until gone). Deleting a missing job is not an error."""
        self._delete(f"job {job_id!r}", self.batch_client.begin_delete_job, self.get_job, job_id,
                     wait=wait, timeout=timeout)

    # ------------------------------------------------------------------------------- map
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, pool: str | PoolHandle,
            chunk_size: int | None = None, errors: str = "raise", timeout: float | None = None,
            job_id: str | None = None, container: str = "batchnb-map", max_retries: int = 0,
            wait: bool = True) -> list[Any] | MapResult:
        """Run ``fn`` over ``items`` on the pool's nodes; results come back in input order.

        The function and the items are pickled with cloudpickle (``chunk_size`` items per task),
        staged in Blob storage, and run by a small stdlib+cloudpickle runner on the nodes.
        ``errors="raise"`` raises TaskFailedError for the first failing item (its index, exception
        type and remote traceback); ``errors="collect"`` returns a MapResult with ``.results``
        and ``.errors``. ``wait=False`` returns the MapResult at once (``.wait()`` later).
        After a kernel restart, ``session.map_result(job_id)`` finds the results again.
        On Azure, the pool needs Python and the same cloudpickle: see ``batchnb.map_start_task()``.
        """
        from batchnb.core.remote.mapper import submit_map

        result = submit_map(self, fn, items, pool=pool.id if isinstance(pool, PoolHandle) else pool,
                            chunk_size=chunk_size, job_id=job_id, container=container, max_retries=max_retries)
        if not wait:
            return result
        result.wait(timeout=timeout)
        if errors == "collect":
            return result
        return result.values(errors=errors)

    def map_result(self, job_id: str) -> MapResult:
        """Re-attach to a ``map()`` job by id (e.g. after a kernel restart)."""
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
    Raises SettingsError naming whatever is missing. ``request_timeout`` is how long one Batch
    request may go unanswered (a call, retries included, gives up after about three times that).
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

"""Submitting a ``map()``: pickle, stage in Blob storage, one task per chunk, bookkeeping in the
job's metadata so that ``map_result(job_id)`` can re-attach after a kernel restart.

Blob layout in the map container (default ``batchnb-map``), per job::

    <job>/runner.py        the node-side runner (stdlib + cloudpickle)
    <job>/fn.pkl           cloudpickle of the function
    <job>/in/00000.pkl     items of chunk 0 ...
    <job>/out/00000.pkl    results of chunk 0, uploaded by the task as an output file

Each task holds read-only SAS URLs for exactly its three inputs and a create-only SAS for exactly
its own result blob, all expiring with the job (``sas_lifetime``; the job's wall clock ends there
too). Its command line pins the inputs' SHA-256; ``integrity`` says why results can be trusted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import pickle
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Any

from batchnb.core.remote.integrity import runner_command, sha256_hex
from batchnb.core.remote.job_kind import META_KIND, metadata_of_kind
from batchnb.core.remote.map_environment import resolve_map_environment
from batchnb.core.remote.result import MapResult, task_id_for
from batchnb.core.remote.uv_staging import uv_variables
from batchnb.core.specs.environment import Environment, pool_environment
from batchnb.core.specs.models import JobSpec, TaskSpec
from batchnb.core.specs.task_files import ResourceFileSpec
from batchnb.core.tasks.bulk import add_tasks
from batchnb.core.validation import check_container_name, check_id, check_int
from batchnb.errors import ValidationError

if TYPE_CHECKING:
    from batchnb.core.job_handle import JobHandle
    from batchnb.core.session import Session

__all__ = ["attach_map", "submit_map"]

KIND = "map"
_META_KIND = META_KIND
_META_ITEMS = "batchnb.map.items"
_META_CHUNK = "batchnb.map.chunk_size"
_META_TASKS = "batchnb.map.tasks"
_META_CONTAINER = "batchnb.map.container"
_META_ENV = "batchnb.map.environment"
_TARGET_TASKS = 100
# How long a map's SAS tokens (and the job) live when the caller gives no timeout.
DEFAULT_LIFETIME = dt.timedelta(hours=24)
# Added to a caller's timeout: tasks still queued when the wait gives up may start a little later.
_LIFETIME_MARGIN = dt.timedelta(hours=1)


def sas_lifetime(timeout: float | None) -> dt.timedelta:
    """The lifetime of a map's SAS tokens and job: its timeout plus an hour, else 24 hours."""
    if timeout is None:
        return DEFAULT_LIFETIME
    return dt.timedelta(seconds=max(0.0, float(timeout))) + _LIFETIME_MARGIN


def _pool_info(session: Session, pool: str) -> Any:
    """The pool, refused if it runs Windows (the runner command and map_start_task assume python3
    and /bin/sh); None when it cannot be read (the job creation then reports a bad pool clearly)."""
    try:
        info = session.get_pool(pool)
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    agent = str(getattr(info.virtual_machine_configuration, "node_agent_sku_id", "") or "")
    if "windows" in agent.lower():
        raise ValidationError("pool", f"{pool!r} runs Windows ({agent}); map() runs its chunks with python3 on "
                              "Linux nodes", fix="use a pool with a Linux image such as 'ubuntu-24.04'")
    return info


def _target_tasks(info: Any) -> int:
    """How many tasks a map is cut into by default: about four per task slot of the pool.

    Each task costs a Python start and three small downloads (~0.1 s), so fewer, bigger chunks are
    much cheaper than many small ones (measured: 10,000 trivial items in 1.4 s/100 tasks vs
    0.1 s/8 tasks per 1,000 items); four waves per slot still balance uneven items and keep a retry
    small. Autoscale pools, pools still at zero nodes or unreadable ones get _TARGET_TASKS."""
    if info is None:
        return _TARGET_TASKS
    nodes = (info.target_dedicated_nodes or 0) + (info.target_low_priority_nodes or 0)
    if info.enable_auto_scale or nodes == 0:
        return _TARGET_TASKS
    return max(1, min(_TARGET_TASKS, 4 * nodes * (info.task_slots_per_node or 1)))


def _default_job_id(fn: Callable[..., Any]) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "", getattr(fn, "__name__", "fn")) or "fn"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"map-{name[:24]}-{stamp}-{secrets.token_hex(2)}"


def runner_source() -> bytes:
    return resources.files("batchnb.node").joinpath("map_runner.py").read_bytes()


def _dumps(obj: Any, what: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(obj, protocol=pickle.DEFAULT_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - anything unpicklable: say which part and why
        raise ValidationError(what, f"cannot be pickled: {type(exc).__name__}: {exc}",
                              fix="map over plain data, and let the function open files/clients itself") from None


def submit_map(session: Session, fn: Callable[[Any], Any], items: Iterable[Any], *, pool: str,
               chunk_size: int | None, job_id: str | None, container: str, max_retries: int,
               lifetime: dt.timedelta = DEFAULT_LIFETIME,
               environment: Environment | str | None = "auto") -> MapResult:
    if not callable(fn):
        raise ValidationError("fn", f"is not callable ({type(fn).__name__})", fix="pass a function of one argument")
    values = list(items)
    n_items = len(values)
    if n_items == 0:
        raise ValidationError("items", "is empty", fix="give at least one item")
    info = _pool_info(session, pool)
    chunk = chunk_size if chunk_size is not None else max(1, math.ceil(n_items / _target_tasks(info)))
    check_int(chunk, field="chunk_size", minimum=1)
    check_int(max_retries, field="max_retries", minimum=0)
    check_container_name(container)
    job_id = job_id or _default_job_id(fn)
    check_id(job_id, field="job_id")
    n_tasks = math.ceil(n_items / chunk)
    python = "%d.%d" % sys.version_info[:2]

    fn_bytes = _dumps(fn, "fn")
    runner = runner_source()
    blobs: dict[str, bytes] = {f"{job_id}/runner.py": runner, f"{job_id}/fn.pkl": fn_bytes}
    for number in range(n_tasks):
        start = number * chunk
        payload = {"start": start, "items": values[start:start + chunk], "python": python}
        blobs[f"{job_id}/in/{number:05d}.pkl"] = _dumps(payload, f"items[{start}:{start + chunk}]")

    env = resolve_map_environment(environment, fn=fn, pickles=blobs.values(), pool_id=pool, pool_info=info)
    variables: dict[str, str] = {}
    metadata = {_META_KIND: KIND, _META_ITEMS: str(n_items), _META_CHUNK: str(chunk), _META_TASKS: str(n_tasks),
                _META_CONTAINER: container}
    if env is not None:
        variables = {**env.variables(), **uv_variables(session)}
        metadata[_META_ENV] = env.key

    storage = session.storage
    storage.create_container(container)
    # The job first: a pool or job-id mistake fails before anything is uploaded.
    spec = JobSpec(job_id, pool=pool, max_task_retries=max_retries, max_wall_clock=lifetime,
                   environment=variables, metadata=metadata)
    # A pool read just now exists: create_job need not read it again to check.
    job = session.create_job(spec, exist_ok=False, allow_missing_pool=info is not None)

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="batchnb-map-put") as pool_:
        list(pool_.map(lambda kv: storage.upload_bytes(kv[1], container=container, blob=kv[0]), blobs.items()))

    def read_only(name: str, file_path: str) -> ResourceFileSpec:
        return ResourceFileSpec(http_url=storage.blob_sas(container, name, read=True, expiry=lifetime),
                                file_path=file_path)

    runner_file = read_only(f"{job_id}/runner.py", "runner.py")
    fn_file = read_only(f"{job_id}/fn.pkl", "fn.pkl")
    runner_sha, fn_sha = sha256_hex(runner), sha256_hex(fn_bytes)
    tasks = []
    for number in range(n_tasks):
        items_blob = f"{job_id}/in/{number:05d}.pkl"
        result_file = storage.output_blob("result.pkl", container=container, blob=f"{job_id}/out/{number:05d}.pkl",
                                          expiry=lifetime)
        command = runner_command(runner_sha=runner_sha, fn_sha=fn_sha, items_sha=sha256_hex(blobs[items_blob]),
                                 item_retries=max_retries)
        if env is not None:
            # Installs the environment unless the node has it, then runs the same command with the
            # environment's bin first on PATH (its python3); integrity.command_digests reads through it.
            command = env.command(command)
        tasks.append(TaskSpec(task_id_for(number), command,
                              resource_files=[runner_file, fn_file, read_only(items_blob, "items.pkl")],
                              output_files=[result_file]))
    _add_tasks(session, job, tasks, info)
    _terminate_when_done(session, job_id)
    return MapResult(session, job_id, n_items=n_items, chunk_size=chunk, n_tasks=n_tasks, container=container,
                     job=job)


def _add_tasks(session: Session, job: JobHandle, tasks: list[TaskSpec], info: Any) -> None:
    """``job.add_tasks(tasks)``, without reading the job and its pool again when the pool was just read.

    What job.add_tasks adds to a plain bulk add is the pool's ``python_env`` (its bin first on
    PATH) and a slot check that map tasks (one slot each) never need; the pool is in ``info``.
    """
    if info is None:
        job.add_tasks(tasks)
        return
    pool_env = pool_environment(info)
    if pool_env is not None:
        tasks = [dataclasses.replace(t, command_line=pool_env.path_command(t.command_line)) for t in tasks]
    add_tasks(session.batch_client, job.id, tasks)


def _terminate_when_done(session: Session, job_id: str) -> None:
    """Let the job complete itself once its last task ends (it no longer counts as active)."""
    from azure.batch import models as batch_models

    session._call(f"update job {job_id!r}", session.batch_client.update_job, job_id,
                  batch_models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))


def attach_map(session: Session, job_id: str) -> MapResult:
    meta = metadata_of_kind(session, job_id, KIND, made_by="session.map()", code="batchnb.NotAMap",
                            fix="use session.job(job_id) for ordinary jobs")
    return MapResult(session, job_id, n_items=int(meta[_META_ITEMS]), chunk_size=int(meta[_META_CHUNK]),
                     n_tasks=int(meta[_META_TASKS]), container=meta[_META_CONTAINER])

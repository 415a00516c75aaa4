"""Small helpers for driving the local Batch service through the real azure-batch SDK."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(publisher="canonical", offer="0001-com-ubuntu-server-jammy",
                                            sku="22_04-lts"),
    node_agent_sku_id="batch.node.ubuntu 22.04")
POLL = 0.1  # polling_interval for begin_* pollers (the SDK default is 5 s)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def pool_options(pool_id: str, *, dedicated: int = 1, low: int = 0, slots: int = 1, fill: str | None = None,
                 start_task: m.BatchStartTask | None = None, **extra) -> m.BatchPoolCreateOptions:
    return m.BatchPoolCreateOptions(
        id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE,
        target_dedicated_nodes=dedicated, target_low_priority_nodes=low, task_slots_per_node=slots,
        task_scheduling_policy=m.BatchTaskSchedulingPolicy(node_fill_type=fill) if fill else None,
        start_task=start_task, **extra)


def nodes_in(client: BatchClient, pool_id: str, states: tuple[str, ...] = ("idle", "running")) -> list:
    return [n for n in client.list_nodes(pool_id) if n.state in states]


def make_pool(client: BatchClient, pool_id: str | None = None, *, dedicated: int = 1, low: int = 0,
              wait_states: tuple[str, ...] = ("idle",), timeout: float = 20.0, **kwargs) -> str:
    """Create a pool and wait until all its nodes reach one of wait_states."""
    pool_id = pool_id or uid("pool")
    client.create_pool(pool_options(pool_id, dedicated=dedicated, low=low, **kwargs))
    total = dedicated + low
    if total:
        wait_for(lambda: len(nodes_in(client, pool_id, wait_states)) == total, timeout,
                 what=f"{total} nodes of {pool_id} in {wait_states}")
    return pool_id


def make_job(client: BatchClient, pool_id: str, job_id: str | None = None, **kwargs) -> str:
    job_id = job_id or uid("job")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), **kwargs))
    return job_id


def task(task_id: str, command_line: str, **kwargs) -> m.BatchTaskCreateOptions:
    return m.BatchTaskCreateOptions(id=task_id, command_line=command_line, **kwargs)


def py(code: str) -> str:
    """A command line running `python -c code` (no shell: the code is one quoted argument)."""
    return "python -c " + _quote(code)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def wait_task(client: BatchClient, job_id: str, task_id: str, state: str = "completed", timeout: float = 20.0):
    return wait_for(lambda: (t := client.get_task(job_id, task_id)).state == state and t, timeout,
                    what=f"task {task_id} {state}")


def scheduler_has_run(client: BatchClient, job_id: str, *, timeout: float = 60.0) -> None:
    """Prove that the scheduler made a pass after now: add a task that can run to ``job_id`` (a job
    on a pool with a free node) and wait until it has completed.

    A pass looks at every pool and job, so a task queued before the control and still active after
    it was held back on purpose. A sleep cannot tell that from a scheduler that has not run yet.
    """
    control = uid("control")
    client.create_task(job_id, task(control, "true"))
    assert wait_task(client, job_id, control, timeout=timeout).execution_info.exit_code == 0


def wait_tasks_completed(client: BatchClient, job_id: str, count: int, timeout: float = 30.0):
    return wait_for(lambda: client.get_job_task_counts(job_id).task_counts.completed >= count, timeout,
                    what=f"{count} tasks of {job_id} completed")


def wait_job_state(client: BatchClient, job_id: str, state: str, timeout: float = 20.0):
    return wait_for(lambda: (j := client.get_job(job_id)).state == state and j, timeout,
                    what=f"job {job_id} {state}")


def stdout(client: BatchClient, job_id: str, task_id: str, name: str = "stdout.txt") -> str:
    return b"".join(client.download_task_file(job_id, task_id, name)).decode()


def error_code(exc: HttpResponseError) -> str | None:
    return exc.error.code if exc.error is not None else None


def raw(client: BatchClient, method: str, path: str, *, api_version: str | None = "2025-06-01", **kwargs):
    """A signed request outside the SDK's operations; returns the response, error or not."""
    from azure.core.rest import HttpRequest

    if api_version:
        path += ("&" if "?" in path else "?") + f"api-version={api_version}"
    try:
        return client.send_request(HttpRequest(method, path, **kwargs))
    except HttpResponseError as exc:
        return exc.response

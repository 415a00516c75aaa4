"""Shared plumbing of the benchmark scripts: a throwaway local service, an SDK client, pools, stats.

Each benchmark starts its own service in a temporary state directory so that figures never
depend on what an earlier run left behind, and stops it (Azurite included) when done.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential

from batchnb import local
from batchnb.local import LocalService
from batchnb.local.faults_client import signed_request

_IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(publisher="canonical", offer="0001-com-ubuntu-server-jammy",
                                            sku="22_04-lts"),
    node_agent_sku_id="batch.node.ubuntu 22.04")


def default_state_parent() -> Path:
    """Where benchmark services keep their state: beside the user's own local service state.

    That is the disk the service really writes node directories to. (A shared /tmp that other
    programs fill and empty all the time can make each new file cost milliseconds on ext4.)
    """
    return local.default_state_dir().parent


@contextmanager
def local_service(state_parent: Path | None = None) -> Iterator[LocalService]:
    parent = Path(state_parent) if state_parent else default_state_parent()
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=parent) as tmp:
        state_dir = Path(tmp) / "state"
        service = local.start(state_dir=state_dir, node_boot_seconds=0.2, quiet=True)
        try:
            yield service
        finally:
            local.stop(state_dir=state_dir)


@contextmanager
def env_or_throwaway_service() -> Iterator[LocalService]:
    """The service in $BATCHNB_LOCAL_STATE_DIR, else a throwaway one.

    A service that was already running there is left running (it is the user's); one this
    benchmark had to start there is stopped again, so a benchmark never leaves a process behind.
    """
    state_dir = os.environ.get("BATCHNB_LOCAL_STATE_DIR")
    if state_dir:
        was_running = local.status(state_dir=state_dir) is not None
        service = local.start(state_dir=state_dir, quiet=True)
        try:
            yield service
        finally:
            if not was_running:
                local.stop(state_dir=state_dir)
        return
    with local_service() as svc:
        yield svc


def client_for(service: LocalService) -> BatchClient:
    return BatchClient(service.batch_url, AzureNamedKeyCredential(service.account_name, service.account_key))


def add_check_option(parser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a task or result was wrong or a target was missed (CI smoke runs); "
                             "without it the script only warns")


def finish(args, *, failures: list[str], missed: list[str], targets_apply: bool = True) -> int:
    """Print what went wrong and return the exit code: 1 with --check when anything did.

    ``failures`` are wrong results (failed tasks, missing outputs): always a failure with --check.
    ``missed`` are performance targets not met; they count only where ``targets_apply`` (a target
    set for the full size says little about a --quick run's ratio, which fixed costs dominate).
    """
    for problem in failures:
        print(f"WARNING: {problem}", file=sys.stderr)
    for problem in missed:
        print(f"WARNING: missed target: {problem}" + ("" if targets_apply else " (not checked at this size)"),
              file=sys.stderr)
    bad = failures + (missed if targets_apply else [])
    if args.check and bad:
        print(f"check failed: {'; '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def add_state_parent_option(parser) -> None:
    parser.add_argument("--state-parent", type=Path, default=None,
                        help="directory for the throwaway service state (default: beside the local service's "
                             f"own state, {default_state_parent()})")


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def make_pool(client: BatchClient, pool_id: str, *, nodes: int, slots: int) -> None:
    """Create a pool and wait until all its nodes are idle (not timed by any benchmark)."""
    client.create_pool(m.BatchPoolCreateOptions(
        id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=_IMAGE,
        target_dedicated_nodes=nodes, task_slots_per_node=slots))
    if nodes:
        wait_for(lambda: sum(n.state == "idle" for n in client.list_nodes(pool_id)) == nodes, 60,
                 what=f"{nodes} idle nodes")


def make_job(client: BatchClient, job_id: str, pool_id: str) -> None:
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))


def trivial_tasks(count: int, command_line: str = "true") -> list[m.BatchTaskCreateOptions]:
    return [m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line=command_line) for i in range(count)]


def server_stats(service: LocalService) -> dict:
    """The server's admin statistics (memory, entity counts), over a Shared Key signed request."""
    response = signed_request(service, "GET", "/_local/stats")
    response.raise_for_status()
    return response.json()


def mib(nbytes: int | None) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 2**20:.0f} MiB"


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(title)
    print("-" * (width + 24))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")

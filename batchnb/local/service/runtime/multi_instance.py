"""Multi-instance tasks on emulated nodes (Batch's MPI-style tasks).

``numberOfInstances`` nodes are taken at once, one slot each. Every instance downloads
``commonResourceFiles`` into its task directory and runs ``coordinationCommandLine``; when all of them
have exited successfully the primary (instance 0) runs ``commandLine``. Background processes the
coordination commands started (an MPI daemon, a worker) live until the task ends, as on Azure, and
are killed then. Each instance sees AZ_BATCH_HOST_LIST, AZ_BATCH_NODE_LIST, AZ_BATCH_MASTER_NODE,
AZ_BATCH_TASK_SHARED_DIR and AZ_BATCH_IS_CURRENT_NODE_MASTER.

Local nodes share this machine, so each node gets its own loopback address (127.0.a.b, from its
10.0.a.b ipAddress; all of 127/8 is loopback on Linux): instances can listen on the same port
without colliding, and talk over TCP as nodes of an Azure pool do. The master port is a free port
chosen when the task starts.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

from batchnb.local.service.model import clock
from batchnb.local.service.runtime.executor import RunOutcome, TaskRun, run_task
from batchnb.local.service.runtime.node_processes import kill_marked
from batchnb.local.service.runtime.resource_files import download_resource_files

MARK = "BATCHNB_MULTI_INSTANCE_RUN"


def loopback_ip(node) -> str:
    """The node's address for its instances: 10.0.a.b -> 127.0.a.b."""
    parts = str(node.doc.get("ipAddress") or "10.0.0.4").split(".")
    return "127.0.{}.{}".format(*parts[2:4]) if len(parts) == 4 else "127.0.0.1"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def instance_env(base_envs: list[dict[str, str]], nodes: list, task_dirs: list[Path]) -> list[dict[str, str]]:
    ips = [loopback_ip(n) for n in nodes]
    port = _free_port(ips[0])
    marker = uuid.uuid4().hex
    shared = {"AZ_BATCH_HOST_LIST": ",".join(ips), "AZ_BATCH_NODE_LIST": ";".join(ips),
              "AZ_BATCH_MASTER_NODE": f"{ips[0]}:{port}",
              "CCP_NODES": " ".join([str(len(ips))] + [f"{ip} 1" for ip in ips]), MARK: marker}
    return [{**env, **shared, "AZ_BATCH_TASK_SHARED_DIR": str(tdir),
             "AZ_BATCH_IS_CURRENT_NODE_MASTER": "true" if i == 0 else "false"}
            for i, (env, tdir) in enumerate(zip(base_envs, task_dirs))]


async def run_instances(task_doc: dict, nodes: list, task_dirs: list[Path], envs: list[dict[str, str]], *,
                        wall_clock_s: float | None, storage: str, on_subtask) -> RunOutcome:
    """Coordination on every instance, then the primary's command; ``on_subtask(i, outcome)`` reports
    each subtask's coordination result (instances 1..n-1)."""
    settings = task_doc["multiInstanceSettings"]
    common = settings.get("commonResourceFiles") or []
    start = clock.now()
    try:
        for tdir in task_dirs:
            (tdir / "wd").mkdir(parents=True, exist_ok=True)
            if common:
                failure = await asyncio.to_thread(download_resource_files, tdir, common, storage)
                if failure is not None:
                    return RunOutcome(None, failure, "preprocessing", start, clock.now())
        coordination = [run_task(TaskRun(command_line=settings["coordinationCommandLine"], task_dir=tdir, env=env,
                                         auto_storage_connection_string=storage))
                        for tdir, env in zip(task_dirs, envs)]
        outcomes = await asyncio.gather(*coordination)
        for i, outcome in enumerate(outcomes[1:], 1):
            on_subtask(i, outcome)
        failed = next((o for o in outcomes if o.failure), None)
        if failed is not None:
            return failed
        return await run_task(TaskRun(command_line=task_doc["commandLine"], task_dir=task_dirs[0], env=envs[0],
                                      resource_files=task_doc.get("resourceFiles") or [],
                                      output_files=task_doc.get("outputFiles") or [],
                                      max_wall_clock_seconds=wall_clock_s, auto_storage_connection_string=storage))
    finally:
        # What the coordination commands left in the background ends with the task.
        await asyncio.shield(asyncio.to_thread(kill_marked, MARK, envs[0][MARK]))

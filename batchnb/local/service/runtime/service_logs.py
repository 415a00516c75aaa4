"""Upload Batch Service Logs: the files of a node's agent that have a line in a time window, sent
to a blob container (a SAS URL with write permission) under ``<pool>/<node>/<guid>/``.

Azure uploads "any log file containing a log message in the time range", whole; so here: the node
agent's log (one timestamped line per state change and task start/end, see node_layout) when one
of its lines falls in the window, and the start task's stdout.txt/stderr.txt when the start task
wrote them during the window (from its start to the files' last change). The answer counts them
at once; the upload runs afterwards, as on Azure, and a failure is logged, never raised.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

from batchnb.local.service.model.clock import parse_iso
from batchnb.local.service.node_layout import agent_log_path, start_task_dir
from batchnb.local.service.runtime.storage_errors import retry_kwargs

log = logging.getLogger("batchnb.local")


def _line_in_window(path: Path, start: datetime, end: datetime) -> bool:
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                when = parse_iso(line.split(" ", 1)[0])
            except ValueError:
                continue
            if start <= when <= end:
                return True
    return False


def _written_in_window(path: Path, started: datetime | None, start: datetime, end: datetime) -> bool:
    last = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    first = started or last
    return first <= end and last >= start


def collect(root: Path, start: datetime, end: datetime, *, start_task_started: datetime | None) -> list[tuple[str, Path]]:
    """(blob name under the virtual directory, file) of each log file with a line in the window."""
    found: list[tuple[str, Path]] = []
    agent = agent_log_path(root)
    if agent.is_file() and _line_in_window(agent, start, end):
        found.append(("agent.log", agent))
    for name in ("stdout.txt", "stderr.txt"):
        path = start_task_dir(root) / name
        if path.is_file() and _written_in_window(path, start_task_started, start, end):
            found.append((f"startup/{name}", path))
    return found


def virtual_directory(pool_id: str, node_id: str) -> str:
    """Built from the pool id, the node id and a unique identifier, as Azure builds it."""
    return f"{pool_id}/{node_id}/{uuid.uuid4()}"


def upload(container_url: str, directory: str, files: list[tuple[str, Path]]) -> int:
    """Upload the files as blobs ``<directory>/<name>``; returns how many made it."""
    from azure.core.exceptions import AzureError
    from azure.storage.blob import ContainerClient

    uploaded = 0
    try:
        container = ContainerClient.from_container_url(container_url, **retry_kwargs())
    except ValueError:
        log.warning("upload of service logs to %s failed: not a container URL", directory)
        return 0
    with container:
        for name, path in files:
            try:
                with open(path, "rb") as data:
                    container.upload_blob(f"{directory}/{name}", data, overwrite=True)
                uploaded += 1
            except (AzureError, OSError) as exc:
                # Never the URL: it carries the SAS signature.
                log.warning("upload of service log %s/%s failed: %s", directory, name, type(exc).__name__)
    return uploaded

"""Where things are on an emulated compute node: the directory layout of a real Linux Batch node (spec §4.1).

Shared by the model (which cleans task directories and answers file listings) and the runtime
(which runs processes there), so that neither imports the other.
"""

from __future__ import annotations

import os
from pathlib import Path

NODE_SUBDIRS = ("applications", "fsmounts", "shared", "startup", "volatile", "workitems")

# The real service names the one job "slot" of a (non-schedule) job `job-1`.
JOB_INSTANCE_DIR = "job-1"


def create_node_layout(root: Path) -> None:
    """Create the top-level directories that the node file API lists (spec §4.1)."""
    for name in NODE_SUBDIRS:
        (root / name).mkdir(parents=True, exist_ok=True)


def job_dir(job_id: str) -> str:
    """A job's directory relative to the node root: ``workitems/<job>/job-1``, and for a job a schedule
    made (id ``<schedule>:job-<n>``) ``workitems/<schedule>/job-<n>``, as the real service lays them out."""
    schedule, sep, run = job_id.partition(":")
    return f"workitems/{schedule}/{run}" if sep else f"workitems/{job_id}/{JOB_INSTANCE_DIR}"


def task_dir(root: Path, job_id: str, task_id: str) -> Path:
    """`AZ_BATCH_TASK_DIR` of a job task (also of job prep/release tasks)."""
    return root / job_dir(job_id) / task_id


def start_task_dir(root: Path) -> Path:
    """The start task's task directory; its working directory is `startup/wd`."""
    return root / "startup"


def agent_log_path(root: Path) -> Path:
    """The node agent's log: beside the node's directory tree, not in it, because on Azure the
    agent's logs are not node files (Upload Batch Service Logs is the way to get them)."""
    return root.parent / f"{root.name}.agent.log"


def append_agent_log(root: Path, message: str, *, when: str) -> None:
    """One line of the node agent's log, ``<ISO time> <message>``; the time lets Upload Batch
    Service Logs pick the files that have a line in the requested window."""
    path = agent_log_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Private like the service's own logs (task names and ids are the user's business).
    with open(path, "a", encoding="utf-8", opener=lambda p, flags: os.open(p, flags, 0o600)) as log:
        log.write(f"{when} {message}\n")

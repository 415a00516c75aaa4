"""Everything that runs on an emulated node dies with it.

On Azure, removing or reimaging a node destroys the VM, so daemons a start task left behind (the
utilization sampler, a user's own servers) go with it. Emulated nodes share this machine, so we
find those processes by the AZ_BATCH_NODE_ROOT_DIR in their environment (Linux /proc; elsewhere
this is a no-op) and kill them when a node leaves, is reimaged, or the service shuts down.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_MARK = b"AZ_BATCH_NODE_ROOT_DIR="


def processes_under(root: Path) -> list[int]:
    """Pids (other than ours) whose AZ_BATCH_NODE_ROOT_DIR is `root` or below it."""
    if not os.path.isdir("/proc"):
        return []
    wants = {os.fsencode(str(root)), os.fsencode(str(root.resolve()))}
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:  # gone, or not ours to read
            continue
        for item in env.split(b"\0"):
            if item.startswith(_MARK):
                value = item[len(_MARK):]
                if any(value == w or value.startswith(w + b"/") for w in wants):
                    found.append(int(entry.name))
                break
    return found


def kill_processes_under(root: Path) -> int:
    """SIGKILL every process that ran on the node rooted at `root` (and its process group)."""
    pids = processes_under(root)
    for pid in pids:
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
                break
            except (ProcessLookupError, PermissionError):
                continue
    return len(pids)


def kill_task_group(pid: int, wd: str) -> None:
    """SIGKILL the process group a task started (its leader is `pid`), if `pid` is still that task:
    pids are reused, so it must still lead its group and work in the task's directory `wd`."""
    try:
        if os.readlink(f"/proc/{pid}/cwd") != wd or os.getpgid(pid) != pid:
            return
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def kill_marked(name: str, value: str) -> int:
    """SIGKILL every process whose environment holds ``name=value`` (a run's own marker): what a
    multi-instance task's coordination commands left running in the background when the task ends."""
    if not os.path.isdir("/proc"):
        return 0
    want = os.fsencode(f"{name}={value}")
    me, killed = os.getpid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if want in env:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed

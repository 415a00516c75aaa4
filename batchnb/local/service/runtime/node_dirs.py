"""Directory layout and environment of an emulated compute node (spec §4.1, §4.2).

A node is a directory tree laid out like a real Linux Batch node; a task sees only the
`AZ_BATCH_*` variables the real agent sets, its own user variables and a minimal inherited
environment, so a command line that works here works on a real node and vice versa.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Variables worth inheriting from the service's own environment: enough for programs to
# find themselves, their home and a locale, but nothing that belongs to the service
# (credentials, connection strings, the service's own configuration).
_INHERITED_POSIX = ("PATH", "HOME", "LANG", "TMPDIR")
_INHERITED_WINDOWS = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT", "PATHEXT", "COMSPEC", "TEMP", "TMP")

# Reported to tasks as the reserved ephemeral disk space; the emulator reserves none.
_RESERVED_DISK_BYTES = "0"


def base_env(
    *,
    root: Path,
    account_name: str,
    account_url: str,
    pool_id: str,
    node_id: str,
    is_dedicated: bool,
) -> dict[str, str]:
    """The `AZ_BATCH_*` variables that every task on the node gets, start task included."""
    root = Path(root)
    return {
        "AZ_BATCH_ACCOUNT_NAME": account_name,
        "AZ_BATCH_ACCOUNT_URL": account_url,
        "AZ_BATCH_POOL_ID": pool_id,
        "AZ_BATCH_NODE_ID": node_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if is_dedicated else "false",
        "AZ_BATCH_NODE_ROOT_DIR": str(root),
        "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
        "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup"),
        "AZ_BATCH_NODE_MOUNTS_DIR": str(root / "fsmounts"),
        "AZ_BATCH_TASK_RESERVED_EPHEMERAL_DISK_SPACE_BYTES": _RESERVED_DISK_BYTES,
    }


def _inherited_env() -> dict[str, str]:
    names = _INHERITED_WINDOWS if os.name == "nt" else _INHERITED_POSIX
    env = {name: os.environ[name] for name in names if name in os.environ}
    # `python` on a task's command line must be the interpreter running the service (the
    # one with batchnb and its dependencies), as on a node whose start task set it up.
    python_dir = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath)
    env["PATH"] = python_dir + os.pathsep + path if path else python_dir
    return env


def task_env(
    base: dict[str, str],
    *,
    task_dir: Path,
    job_id: str | None,
    task_id: str | None,
    job_prep_dir: Path | None,
    user_env: list[dict],
) -> dict[str, str]:
    """The full environment of one task process.

    `job_id`/`task_id` are None for the start task (which gets neither variable);
    `job_prep_dir` is the prep task's directory for tasks of a job that has one.
    `user_env` holds REST EnvironmentSetting dicts, the job's common settings first: a
    later entry overrides an earlier one of the same name, as a task's settings override
    the job's.
    """
    env = _inherited_env()
    env.update(base)
    task_dir = Path(task_dir)
    env["AZ_BATCH_TASK_DIR"] = str(task_dir)
    env["AZ_BATCH_TASK_WORKING_DIR"] = str(task_dir / "wd")
    if os.name != "nt":
        env["AZ_BATCH_CERTIFICATES_DIR"] = str(task_dir / "certs")
    if job_id is not None:
        env["AZ_BATCH_JOB_ID"] = job_id
    if task_id is not None:
        env["AZ_BATCH_TASK_ID"] = task_id
    if job_prep_dir is not None:
        env["AZ_BATCH_JOB_PREP_DIR"] = str(job_prep_dir)
        env["AZ_BATCH_JOB_PREP_WORKING_DIR"] = str(Path(job_prep_dir) / "wd")
    for setting in user_env:
        name = setting.get("name")
        if name:
            value = setting.get("value")
            env[name] = "" if value is None else str(value)
    return env

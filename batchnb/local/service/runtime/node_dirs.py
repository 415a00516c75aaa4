"""Directory layout and environment of an emulated compute node (spec §4.1, §4.2).

A node is a directory tree laid out like a real Linux Batch node; a task sees only the
`AZ_BATCH_*` variables the real agent sets, its own user variables and a minimal inherited
environment, so a command line that works here works on a real node and vice versa.
"""

from __future__ import annotations

import os
from pathlib import Path

from batchnb._constants import EMULATED_NODE_ENV
from batchnb.local.service.runtime.node_python import host_python_bin, kernel_path_entries

# Variables worth inheriting from the service's own environment: enough for programs to
# find themselves, their home and a locale, but nothing that belongs to the service
# (credentials, connection strings, the service's own configuration).
# The machine's network setup (trusted CAs, proxies) is inherited too: a node on this network would
# be configured with it, and installers (uv, pip) on the node need it to reach a package index.
_NETWORK = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
            "https_proxy", "http_proxy", "no_proxy")
_INHERITED_POSIX = ("PATH", "HOME", "LANG", "TMPDIR", *_NETWORK)
_INHERITED_WINDOWS = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT", "PATHEXT", "COMSPEC", "TEMP", "TMP", *_NETWORK)

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
    python_bin: Path | None = None,
) -> dict[str, str]:
    """The variables that every task on the node gets, start task included: `AZ_BATCH_*` and PATH.

    `python_bin` is the directory whose `python3` tasks run first (the service's bare venv, see
    node_python.py); None gives them the service's own interpreter and its packages (the opt-out).
    """
    root = Path(root)
    return {
        "PATH": _node_path(python_bin),
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
        # Nodes share this machine: the utilization sampler then measures this node's processes only.
        EMULATED_NODE_ENV: "1",
    }


def _node_path(python_bin: Path | None) -> str:
    entries = [e for e in os.environ.get("PATH", os.defpath).split(os.pathsep) if e]
    if python_bin is None:
        first = str(host_python_bin())
    else:
        # Nothing of the service's virtualenv: its python, pip and console scripts stay off the node.
        drop = kernel_path_entries()
        entries = [e for e in entries if os.path.normpath(e) not in drop]
        first = str(python_bin)
    return os.pathsep.join([first, *entries])


def _inherited_env() -> dict[str, str]:
    names = _INHERITED_WINDOWS if os.name == "nt" else _INHERITED_POSIX
    return {name: os.environ[name] for name in names if name in os.environ}


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

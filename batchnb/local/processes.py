"""OS-level helpers for the local service's background processes: locks, free ports, detached
spawning, liveness checks and stopping by PID.

The service outlives the kernel (or CLI) that started it, so everything here works from PIDs and
files in the state directory rather than from in-memory handles.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# Children this Python process spawned: kept so they can be reaped (a zombie still answers kill(pid, 0)).
_spawned: dict[int, subprocess.Popen[bytes]] = {}


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 300.0) -> Iterator[None]:
    """Exclusive inter-process lock on `path` (advisory; released when the holder dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for lock {path}")
            time.sleep(0.1)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    # SO_REUSEADDR, as servers use, so a port in TIME_WAIT after a restart still counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if sys.platform != "win32":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def spawn_detached(
    argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Start a background process in its own session (a kernel restart or Ctrl-C doesn't reach it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":  # pragma: no cover
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True
    # Logs are private from their first byte (they may show request paths and task names).
    with open(log_path, "ab", opener=lambda path, flags: os.open(path, flags, 0o600)) as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            close_fds=True,
            **kwargs,
        )
    _spawned[proc.pid] = proc
    return proc.pid


def pid_alive(pid: int | None) -> bool:
    """True if `pid` is a live (non-zombie) process."""
    if not pid or pid <= 0:
        return False
    child = _spawned.get(pid)
    if child is not None and child.poll() is not None:
        _spawned.pop(pid, None)
        return False
    if sys.platform == "win32":  # pragma: no cover
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie whose parent hasn't reaped it (e.g. the CLI that started it has exited) is dead.
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover
    out = subprocess.run(
        ["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True, text=True, check=False
    ).stdout
    return str(pid) in out


def process_cmdline(pid: int) -> str:
    """The command line of `pid`, or "" if unknown; used to avoid signalling a recycled PID."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    if sys.platform == "win32":  # pragma: no cover
        return ""
    try:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return out.stdout.strip()


def pid_runs(pid: int | None, marker: str) -> bool:
    """True if `pid` is alive and its command line contains `marker` (so it is still our process)."""
    if not pid_alive(pid):
        return False
    assert pid is not None
    cmdline = process_cmdline(pid)
    return not cmdline or marker in cmdline


def stop_pid(pid: int | None, *, marker: str, timeout: float = 10.0, kill: bool = False) -> bool:
    """SIGTERM (or SIGKILL with kill=True) `pid`, wait until it is gone, SIGKILL after `timeout`.

    Returns True if a process was signalled. Does nothing if the PID now belongs to another program.
    """
    if not pid_runs(pid, marker):
        return False
    assert pid is not None
    _signal(pid, kill=kill)
    if not wait_gone(pid, timeout):
        _signal(pid, kill=True)
        wait_gone(pid, 5.0)
    return True


def _signal(pid: int, *, kill: bool) -> None:
    if sys.platform == "win32":  # pragma: no cover
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(pid)], capture_output=True, check=False)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def http_status(url: str, *, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET to `url` (any status counts as an answer), or None if nothing answers."""
    req = urllib.request.Request(url, method="GET")
    # Loopback only: never go through a proxy configured in the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json_private(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically write `data` as JSON to `path`, readable by the owner only (it may hold a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o600)  # in case umask or a pre-existing tmp file got in the way
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

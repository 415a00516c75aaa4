"""Run one task (job task, start task or prep task) as a local process on an emulated node.

The steps and their failure codes follow the real node agent (spec §3.5, §4.3, §4.4, §7):
resource files are downloaded into `wd`, the command line runs WITHOUT a shell with
stdout/stderr going to the task directory, the wall clock limit kills the whole process
tree, and output files are uploaded afterwards according to their upload condition.

Decisions where the sources are silent (documented here so the scheduler can rely on them):
- A process killed by signal N reports exit code 128 + N (137 for SIGKILL, 143 for
  SIGTERM), as a shell would; Batch's exitCode is an integer and never negative.
- `maxWallClockTime` counts from the start of the run (downloads included). On expiry the
  tree gets SIGTERM, then SIGKILL after a 2 s grace; failure `TaskEnded` (usererror),
  kind "timeout". Output files are then uploaded as for a failed task.
- When both the exit code and the upload fail, the upload failure is reported (kind
  "fileupload", exit code kept) because it is the only place the user learns of it; the
  scheduler still matches `exitCodes` first, as the spec orders. A timeout outranks both.
- A resource `filePath` that is absolute or has a `..` segment fails with
  `ResourceFileCreateFailed` (usererror); so does a container blob whose name would escape.
- Resource files get mode `fileMode` (octal string), default 0770 as on Linux nodes, so a
  downloaded script is executable.
- An unparsable command line (unbalanced quotes) is `CommandLaunchFailed`; a program that
  does not exist or is not executable is `CommandProgramNotFound` (both "preprocessing").
- A bare program name is looked up on the task env's PATH, then in `wd` (as Windows nodes
  do); a name with a separator is taken relative to `wd`.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

# --- failureInfo -------------------------------------------------------------------------

FAILURE_EXIT_MESSAGE = "The task process exited with an unexpected exit code"
WALL_CLOCK_MESSAGE = "The task exceeded its maximum wall clock time"
KILL_GRACE_SECONDS = 2.0
DEFAULT_FILE_MODE = 0o770


def _failure(code: str, message: str, details: list[dict] | None = None, category: str = "usererror") -> dict:
    return {"category": category, "code": code, "message": message, "details": details or []}


class _StepFailed(Exception):
    """A pre-processing or upload step failed with this failureInfo."""

    def __init__(self, failure: dict) -> None:
        super().__init__(failure["code"])
        self.failure = failure


def public_url(url: str) -> str:
    """The URL without its query (the SAS) or credentials: safe for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# --- public interface --------------------------------------------------------------------


@dataclass
class TaskRun:
    command_line: str
    task_dir: Path
    env: dict[str, str]
    resource_files: list[dict] = field(default_factory=list)
    output_files: list[dict] = field(default_factory=list)
    max_wall_clock_seconds: float | None = None
    auto_storage_connection_string: str = ""

    def __repr__(self) -> str:
        # The env and the file URLs may carry secrets (SAS tokens, user variables).
        return f"TaskRun(command_line={self.command_line!r}, task_dir={str(self.task_dir)!r})"


@dataclass
class RunOutcome:
    exit_code: int | None
    failure: dict | None
    kind: str  # "exit" | "preprocessing" | "fileupload" | "timeout"
    start_time: datetime
    end_time: datetime


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def run_task(
    run: TaskRun, *, on_process_started: Callable[[int], None] | None = None
) -> RunOutcome:
    """Run the task to completion and report how it ended.

    Cancelling the coroutine kills the process tree (SIGTERM, SIGKILL after 2 s) and
    re-raises; the scheduler does that to terminate, requeue or remove a node.
    """
    start = _now()
    loop = asyncio.get_running_loop()
    deadline = None if run.max_wall_clock_seconds is None else loop.time() + run.max_wall_clock_seconds
    task_dir = Path(run.task_dir)
    wd = task_dir / "wd"
    dirs_made = False
    if run.resource_files:
        failure = _make_dirs_or_failure(task_dir, wd)
        if failure is None:
            failure = await asyncio.to_thread(
                _download_resource_files, wd, run.resource_files, run.auto_storage_connection_string
            )
        if failure is not None:
            return RunOutcome(None, failure, "preprocessing", start, _now())
        dirs_made = True

    proc, failure = await _spawn(run.command_line, task_dir, wd, run.env, make_dirs=not dirs_made)
    if proc is None:
        return RunOutcome(None, failure, "preprocessing", start, _now())
    if on_process_started is not None:
        on_process_started(proc.pid)

    timed_out = False
    try:
        if deadline is None:
            returncode = await proc.wait()
        else:
            try:
                async with asyncio.timeout_at(deadline):
                    returncode = await proc.wait()
            except TimeoutError:
                timed_out = True
                returncode = await _terminate_tree(proc)
    except asyncio.CancelledError:
        killer = asyncio.ensure_future(_terminate_tree(proc))
        try:
            await asyncio.shield(killer)
        except asyncio.CancelledError:
            pass  # the killer task goes on by itself
        raise

    exit_code = _exit_code(returncode)
    if timed_out:
        failure, kind = _failure("TaskEnded", WALL_CLOCK_MESSAGE), "timeout"
    elif exit_code != 0:
        failure = _failure(
            "FailureExitCode", FAILURE_EXIT_MESSAGE, [{"name": "Message", "value": FAILURE_EXIT_MESSAGE}]
        )
        kind = "exit"
    else:
        failure, kind = None, "exit"

    if run.output_files:
        succeeded = exit_code == 0 and not timed_out
        upload_failure = await asyncio.to_thread(_upload_output_files, run, task_dir, wd, succeeded)
        if upload_failure is not None and not timed_out:
            failure, kind = upload_failure, "fileupload"
    return RunOutcome(exit_code, failure, kind, start, _now())


# --- the process ------------------------------------------------------------------------


def _make_dirs(task_dir: Path, wd: Path) -> None:
    # Two mkdir calls in the common case (the job's directory exists, the task's does not);
    # the fast path matters when thousands of tiny tasks run.
    try:
        os.mkdir(task_dir)
        os.mkdir(wd)
    except OSError:
        wd.mkdir(parents=True, exist_ok=True)


def _make_dirs_or_failure(task_dir: Path, wd: Path) -> dict | None:
    try:
        _make_dirs(task_dir, wd)
    except OSError:
        return _failure("ResourceDirectoryCreateFailed", "The task working directory could not be created",
                        category="servererror")
    return None


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _resolve_program(argv0: str, wd: Path, env: dict[str, str]) -> str | None:
    def runnable(path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    has_separator = os.sep in argv0 or (os.altsep is not None and os.altsep in argv0)
    if has_separator:
        candidate = argv0 if os.path.isabs(argv0) else os.path.join(wd, argv0)
        return candidate if runnable(candidate) else None
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if found:
        return found if os.path.isabs(found) else os.path.join(wd, found)
    candidate = os.path.join(wd, argv0)
    return candidate if runnable(candidate) else None


def _not_found(argv0: str) -> dict:
    return _failure(
        "CommandProgramNotFound",
        "The specified command program is not found",
        [{"name": "Message", "value": f"The program '{argv0}' was not found or is not executable"}],
    )


def _log_failure(exc: OSError) -> dict:
    return _failure("CommandLaunchFailed", "The task's stdout/stderr files could not be created",
                    [{"name": "Message", "value": exc.strerror or type(exc).__name__}], category="servererror")


class _Process(Protocol):
    pid: int

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


class _PidfdProcess:
    """A child whose exit is awaited through a pidfd on the event loop.

    Python 3.11's default child watcher starts one thread per child; with thousands of
    short tasks that thread costs as much as the task itself. A pidfd needs no thread and
    belongs to the running loop only, so it is safe whatever other loops exist.
    """

    def __init__(self, popen: subprocess.Popen, loop: asyncio.AbstractEventLoop) -> None:
        self._popen = popen
        self._loop = loop
        self.pid = popen.pid
        self._exited: asyncio.Future[int] = loop.create_future()
        self._pidfd = os.pidfd_open(popen.pid)
        loop.add_reader(self._pidfd, self._on_readable)

    def _on_readable(self) -> None:
        returncode = self._popen.poll()
        if returncode is None:
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        if not self._exited.done():
            self._exited.set_result(returncode)

    async def wait(self) -> int:
        # Shielded: a cancelled or timed-out waiter must not lose the exit status.
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        if self._popen.returncode is None:
            self._popen.kill()


def _pidfd_supported() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


_USE_PIDFD = _pidfd_supported()


_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _open_logs(task_dir: Path) -> tuple[int, int]:
    """stdout.txt and stderr.txt of the task, created (or truncated) before the program starts.

    The logs exist from here on, even when the program cannot start, as on a real node.
    """
    out_fd = os.open(os.path.join(task_dir, "stdout.txt"), _LOG_FLAGS, 0o664)
    try:
        err_fd = os.open(os.path.join(task_dir, "stderr.txt"), _LOG_FLAGS, 0o664)
    except BaseException:
        os.close(out_fd)
        raise
    return out_fd, err_fd


def _program_argv(command_line: str, wd: Path, env: dict[str, str]) -> tuple[list[str] | None, dict | None]:
    """The argv to exec (program resolved as the node agent does), or the failure to report."""
    try:
        argv = shlex.split(command_line, posix=True)
    except ValueError as exc:
        return None, _failure(
            "CommandLaunchFailed",
            "The command line could not be parsed",
            [{"name": "Message", "value": str(exc)}],
        )
    if not argv:
        return None, _not_found("")
    program = _resolve_program(argv[0], wd, env)
    if program is None:
        return None, _not_found(argv[0])
    return [program, *argv[1:]], None


def _start_failure(argv0: str, exc: OSError) -> dict:
    if isinstance(exc, (FileNotFoundError, PermissionError, NotADirectoryError)):
        return _not_found(argv0)
    return _failure(
        "CommandLaunchFailed",
        "The command program could not be started",
        [{"name": "Message", "value": exc.strerror or type(exc).__name__}],
    )


_devnull_lock = threading.Lock()
_devnull: int | None = None


def _devnull_fd() -> int:
    """One read-only /dev/null shared by every task's stdin (Popen would open one per child)."""
    global _devnull
    with _devnull_lock:
        if _devnull is None:
            _devnull = os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return _devnull


def _popen_options(wd: Path, env: dict[str, str], out_fd: int, err_fd: int) -> dict:
    # Its own session and process group: cancellation and the wall clock limit kill the
    # whole tree, and a terminal's signals never reach it. (CPython still uses vfork with
    # these options; it needs no preexec_fn, user, group or extra_groups.)
    return dict(cwd=wd, env=env, stdin=_devnull_fd() if os.name != "nt" else subprocess.DEVNULL,
                stdout=out_fd, stderr=err_fd, start_new_session=True)


def _launch(command_line: str, task_dir: Path, wd: Path, env: dict[str, str],
            make_dirs: bool) -> tuple[subprocess.Popen | None, dict | None]:
    """Directories, logs, program lookup and the child itself: all blocking, run in a worker thread.

    With thousands of tiny tasks this is most of the per-task cost (mkdir/open on a slow disk, and
    vfork, which holds the calling thread until the child has exec'd); in a thread it overlaps
    with the event loop's own work (CPython drops the GIL around vfork and these syscalls).
    """
    if make_dirs:
        failure = _make_dirs_or_failure(task_dir, wd)
        if failure is not None:
            return None, failure
    try:
        out_fd, err_fd = _open_logs(task_dir)
    except OSError as exc:
        return None, _log_failure(exc)
    try:
        argv, failure = _program_argv(command_line, wd, env)
        if argv is None:
            return None, failure
        try:
            return subprocess.Popen(argv, **_popen_options(wd, env, out_fd, err_fd)), None
        except OSError as exc:
            return None, _start_failure(shlex.split(command_line)[0], exc)
    finally:
        os.close(out_fd)
        os.close(err_fd)


# A few threads are enough to keep 8+ slots busy; more would only contend for the GIL.
_LAUNCH_THREADS = 4
_launcher: ThreadPoolExecutor | None = None
_orphans: set[asyncio.Task] = set()


def _launch_pool() -> ThreadPoolExecutor:
    global _launcher
    if _launcher is None:
        _launcher = ThreadPoolExecutor(max_workers=_LAUNCH_THREADS, thread_name_prefix="task-launch")
    return _launcher


def _kill_orphan(launched: asyncio.Future) -> None:
    """The task was cancelled while its launch was in flight: kill whatever the launch started."""
    if launched.cancelled() or launched.exception() is not None:
        return
    popen = launched.result()[0]
    if popen is None:
        return
    killer = asyncio.ensure_future(_terminate_tree(_PidfdProcess(popen, asyncio.get_running_loop())))
    _orphans.add(killer)
    killer.add_done_callback(_orphans.discard)


async def _spawn(
    command_line: str, task_dir: Path, wd: Path, env: dict[str, str], *, make_dirs: bool
) -> tuple[_Process | None, dict | None]:
    loop = asyncio.get_running_loop()
    if not _USE_PIDFD:
        return await _spawn_on_loop(command_line, task_dir, wd, env, make_dirs=make_dirs)
    launched = loop.run_in_executor(_launch_pool(), _launch, command_line, task_dir, wd, env, make_dirs)
    try:
        popen, failure = await asyncio.shield(launched)
    except asyncio.CancelledError:
        launched.add_done_callback(_kill_orphan)
        raise
    if popen is None:
        return None, failure
    try:
        return _PidfdProcess(popen, loop), None
    except BaseException:
        popen.kill()
        popen.wait()
        raise


async def _spawn_on_loop(
    command_line: str, task_dir: Path, wd: Path, env: dict[str, str], *, make_dirs: bool
) -> tuple[_Process | None, dict | None]:
    """Without pidfds (not Linux): asyncio's own child watching, everything on the loop."""
    if make_dirs:
        failure = _make_dirs_or_failure(task_dir, wd)
        if failure is not None:
            return None, failure
    try:
        out_fd, err_fd = _open_logs(task_dir)
    except OSError as exc:
        return None, _log_failure(exc)
    try:
        argv, failure = _program_argv(command_line, wd, env)
        if argv is None:
            return None, failure
        try:
            return await asyncio.create_subprocess_exec(*argv, **_popen_options(wd, env, out_fd, err_fd)), None
        except OSError as exc:
            return None, _start_failure(shlex.split(command_line)[0], exc)
    finally:
        os.close(out_fd)
        os.close(err_fd)


def _signal_tree(proc: _Process, sig: int) -> None:
    try:
        if os.name == "nt":
            proc.kill()
        else:
            os.killpg(proc.pid, sig)  # pgid == pid thanks to start_new_session
    except (ProcessLookupError, PermissionError):
        pass


async def _terminate_tree(proc: _Process) -> int:
    """SIGTERM the process group, SIGKILL what is left after the grace period."""
    _signal_tree(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
    except TimeoutError:
        pass
    # Also reaches children that outlived a leader which obeyed SIGTERM.
    _signal_tree(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
    return await proc.wait()


# --- blob storage helpers (run in a worker thread) ---------------------------------------


def _retry_kwargs() -> dict:
    from azure.storage.blob import ExponentialRetry

    # The storage default waits 15 s before the first retry: far too long for a local node.
    return {"retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3,
                                             random_jitter_range=1)}


def _status_of(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None) or getattr(exc, "code", None)


def _is_timeout(exc: Exception) -> bool:
    from azure.core.exceptions import ServiceRequestTimeoutError, ServiceResponseTimeoutError

    return isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError, TimeoutError))


def _looks_like_blob_url(url: str) -> bool:
    """Blob storage (Azure or Azurite) rather than a plain web server.

    Azure blob hosts contain `.blob.`; Azurite is path-style with the well-known account
    as the first segment; any URL carrying a SAS is storage.
    """
    from batchnb._constants import AZURITE_ACCOUNT_NAME

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    first_segment = parts.path.lstrip("/").split("/", 1)[0]
    return ".blob." in host or first_segment == AZURITE_ACCOUNT_NAME or "sig=" in parts.query


def _error_text(exc: Exception) -> str:
    # Service error code and status only: exception strings can carry request URLs.
    code = getattr(exc, "error_code", None)
    status = _status_of(exc)
    text = type(exc).__name__
    if status:
        text += f" (HTTP {status})"
    if code:
        text += f" {code}"
    return text


# --- resource files ---------------------------------------------------------------------


def _target(wd: Path, relative: str | None) -> Path:
    """Where a resource goes under `wd`; refuses paths that would escape it."""
    if not relative:
        return wd
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", relative):
        raise _StepFailed(_failure(
            "ResourceFileCreateFailed",
            "The resource file path must be relative to the task working directory",
            [{"name": "FilePath", "value": relative}],
        ))
    return wd.joinpath(*pure.parts)


def _file_mode(resource: dict) -> int:
    text = resource.get("fileMode")
    if not text:
        return DEFAULT_FILE_MODE
    try:
        return int(str(text), 8)
    except ValueError:
        raise _StepFailed(_failure(
            "ResourceFileCreateFailed", "The resource file mode is not an octal number",
            [{"name": "FileMode", "value": str(text)}],
        )) from None


def _download_resource_files(wd: Path, resources: list[dict], connection_string: str) -> dict | None:
    try:
        for resource in resources:
            if resource.get("httpUrl"):
                _download_http_resource(wd, resource)
            elif resource.get("storageContainerUrl") or resource.get("autoStorageContainerName"):
                _download_container_resource(wd, resource, connection_string)
            else:
                raise _StepFailed(_failure("ResourceFileCreateFailed", "The resource file has no source"))
    except _StepFailed as failed:
        return failed.failure
    except Exception as exc:  # noqa: BLE001 - a task failure, never a crashed scheduler
        return _failure("BlobDownloadMiscError", "The resource files could not be downloaded",
                        [{"name": "Message", "value": _error_text(exc)}], category="servererror")
    return None


def _blob_failure(exc: Exception, source: str, dest: Path) -> dict:
    details = [{"name": "BlobSource", "value": public_url(source)}, {"name": "FilePath", "value": str(dest)}]
    status = _status_of(exc)
    if status == 404:
        return _failure("BlobNotFound", "The specified blob does not exist", details)
    if status == 403:
        return _failure("BlobAccessDenied", "Access to the specified blob was denied", details)
    if _is_timeout(exc):
        return _failure("BlobDownloadTimedOut", "The download of the blob timed out", details)
    details.append({"name": "Message", "value": _error_text(exc)})
    return _failure("BlobDownloadMiscError", "The blob could not be downloaded", details)


def _prepare_parent(dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _StepFailed(_failure(
            "ResourceDirectoryCreateFailed", "The directory for a resource file could not be created",
            [{"name": "FilePath", "value": str(dest.parent)}, {"name": "Message", "value": exc.strerror or ""}],
        )) from None


def _write_stream(dest: Path, mode: int, write: Callable) -> None:
    try:
        # A retry finds the previous attempt's file, perhaps read-only or a symlink the
        # task made: replace it rather than write through it.
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        handle = open(dest, "wb")
    except OSError as exc:
        raise _StepFailed(_failure(
            "ResourceFileCreateFailed", "The resource file could not be created",
            [{"name": "FilePath", "value": str(dest)}, {"name": "Message", "value": exc.strerror or ""}],
        )) from None
    with handle:
        try:
            write(handle)
        except OSError as exc:
            if not hasattr(exc, "status_code"):
                raise _StepFailed(_failure(
                    "ResourceFileWriteFailed", "The resource file could not be written",
                    [{"name": "FilePath", "value": str(dest)}, {"name": "Message", "value": exc.strerror or ""}],
                )) from None
            raise
    if os.name != "nt":
        os.chmod(dest, mode)


def _download_http_resource(wd: Path, resource: dict) -> None:
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobClient

    url = resource["httpUrl"]
    mode = _file_mode(resource)
    relative = resource.get("filePath") or unquote(PurePosixPath(urlsplit(url).path).name)
    dest = _target(wd, relative)
    _prepare_parent(dest)
    if _looks_like_blob_url(url):
        try:
            downloader = BlobClient.from_blob_url(url, **_retry_kwargs()).download_blob()
            _write_stream(dest, mode, downloader.readinto)
        except (AzureError, ValueError) as exc:
            raise _StepFailed(_blob_failure(exc, url, dest)) from None
        return
    # A plain web server (not Blob storage): no x-ms-* protocol, just GET.
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            _write_stream(dest, mode, lambda handle: shutil.copyfileobj(response, handle))
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise _StepFailed(_blob_failure(exc, url, dest)) from None


def _container_client(resource: dict, connection_string: str):
    from azure.storage.blob import ContainerClient

    if resource.get("storageContainerUrl"):
        return ContainerClient.from_container_url(resource["storageContainerUrl"], **_retry_kwargs())
    if not connection_string:
        raise _StepFailed(_failure(
            "ResourceContainerNotFound",
            "No auto-storage account is linked, so the auto-storage container cannot be reached",
            [{"name": "ContainerName", "value": resource["autoStorageContainerName"]}],
        ))
    return ContainerClient.from_connection_string(
        connection_string, resource["autoStorageContainerName"], **_retry_kwargs()
    )


def _download_container_resource(wd: Path, resource: dict, connection_string: str) -> None:
    from azure.core.exceptions import AzureError

    mode = _file_mode(resource)
    base = resource.get("filePath") or ""
    source = resource.get("storageContainerUrl") or resource.get("autoStorageContainerName", "")
    details = [{"name": "ContainerUrl", "value": public_url(source)}]
    try:
        container = _container_client(resource, connection_string)
        names = [blob.name for blob in container.list_blobs(name_starts_with=resource.get("blobPrefix") or None)]
    except AzureError as exc:
        status = _status_of(exc)
        if status == 404:
            raise _StepFailed(_failure("ResourceContainerNotFound", "The specified container does not exist",
                                       details)) from None
        if status == 403:
            raise _StepFailed(_failure("ResourceContainerAccessDenied",
                                       "Access to the specified container was denied", details)) from None
        if _is_timeout(exc):
            raise _StepFailed(_failure("ResourceContainerListTimedOut", "Listing the container timed out",
                                       details)) from None
        details.append({"name": "Message", "value": _error_text(exc)})
        raise _StepFailed(_failure("ResourceContainerListMiscError", "The container could not be listed",
                                   details)) from None
    except ValueError:
        raise _StepFailed(_failure("ResourceContainerListMiscError", "The container URL is not valid",
                                   details)) from None

    for name in names:
        # The blob's full name is kept under filePath, as the real agent does.
        dest = _target(wd, f"{base.rstrip('/')}/{name}" if base else name)
        if name.endswith("/"):  # a directory marker of a hierarchical namespace
            _prepare_parent(dest / "x")
            continue
        _prepare_parent(dest)
        blob = container.get_blob_client(name)
        try:
            downloader = blob.download_blob()
            _write_stream(dest, mode, downloader.readinto)
        except AzureError as exc:
            raise _StepFailed(_blob_failure(exc, blob.url, dest)) from None


# --- output files -----------------------------------------------------------------------

_ENV_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_GLOB_MAGIC = re.compile(r"[*?\[]")
_CONTENT_SETTINGS = {
    "content-type": "content_type",
    "x-ms-blob-content-type": "content_type",
    "content-encoding": "content_encoding",
    "x-ms-blob-content-encoding": "content_encoding",
    "content-language": "content_language",
    "x-ms-blob-content-language": "content_language",
    "content-disposition": "content_disposition",
    "x-ms-blob-content-disposition": "content_disposition",
    "cache-control": "cache_control",
    "x-ms-blob-cache-control": "cache_control",
}


def _expand_env(pattern: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _ENV_REFERENCE.sub(replace, pattern)


def _should_upload(output_file: dict, succeeded: bool) -> bool:
    condition = str((output_file.get("uploadOptions") or {}).get("uploadCondition") or "taskcompletion").lower()
    if condition == "tasksuccess":
        return succeeded
    if condition == "taskfailure":
        return not succeeded
    return True


def _match_files(full_pattern: str) -> tuple[bool, list[tuple[Path, str]]]:
    """(has_wildcard, [(file, name relative to the pattern's fixed base)])."""
    parts = Path(full_pattern).parts
    split = next((i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part)), None)
    if split is None:
        path = Path(full_pattern)
        return False, ([(path, path.name)] if path.is_file() else [])
    base = Path(*parts[:split])
    # glob skips names starting with '.' unless the pattern segment itself starts with '.'.
    rels = glob.glob(str(Path(*parts[split:])), root_dir=base, recursive=True)
    matches = [(base / rel, Path(rel).as_posix()) for rel in sorted(rels) if (base / rel).is_file()]
    return True, matches


def _upload_settings(headers: list[dict]) -> tuple[object | None, dict[str, str] | None]:
    from azure.storage.blob import ContentSettings

    settings: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for header in headers or []:
        name = str(header.get("name") or "").lower()
        value = "" if header.get("value") is None else str(header["value"])
        if name in _CONTENT_SETTINGS:
            settings[_CONTENT_SETTINGS[name]] = value
        elif name.startswith("x-ms-meta-"):
            metadata[name[len("x-ms-meta-"):]] = value
    return (ContentSettings(**settings) if settings else None), (metadata or None)


def _upload_failure(exc: Exception, pattern: str, path: Path, container_url: str) -> dict:
    details = [
        {"name": "FilePattern", "value": pattern},
        {"name": "FilePath", "value": str(path)},
        {"name": "ContainerUrl", "value": public_url(container_url)},
    ]
    status = _status_of(exc)
    if status == 404:
        return _failure("FileUploadContainerNotFound", "The output file container does not exist", details)
    if status == 403:
        return _failure("FileUploadAccessDenied", "Access to the output file container was denied", details)
    if status == 409:
        return _failure("FileUploadConflict", "The output blob could not be written (conflict)", details)
    if _is_timeout(exc):
        return _failure("FileUploadTimedOut", "The upload of an output file timed out", details)
    details.append({"name": "Message", "value": _error_text(exc)})
    return _failure("FileUploadMiscError", "An output file could not be uploaded", details)


class _UploadLog:
    """fileuploadout.txt (progress) and fileuploaderr.txt (one JSON line per error)."""

    def __init__(self, task_dir: Path) -> None:
        self._out = open(task_dir / "fileuploadout.txt", "a", encoding="utf-8")
        self._err = open(task_dir / "fileuploaderr.txt", "a", encoding="utf-8")

    def info(self, message: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        self._out.write(f"{stamp} {message}\n")

    def error(self, code: str, user_error: bool, pattern: str, path: Path, destination: str) -> None:
        record = {"code": code, "user_error": user_error, "pattern": pattern, "file": str(path),
                  "destination": public_url(destination)}
        self._err.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._out.close()
        self._err.close()


def _upload_output_files(run: TaskRun, task_dir: Path, wd: Path, succeeded: bool) -> dict | None:
    selected = [of for of in run.output_files if _should_upload(of, succeeded)]
    if not selected:
        return None
    log = _UploadLog(task_dir)
    first_failure: dict | None = None
    try:
        for output_file in selected:
            try:
                failure = _upload_one(output_file, run.env, wd, log)
            except Exception as exc:  # noqa: BLE001 - a task failure, never a crashed scheduler
                failure = _failure("FileUploadMiscError", "An output file could not be uploaded",
                                   [{"name": "Message", "value": _error_text(exc)}], category="servererror")
                log.info(f"Upload of pattern {output_file.get('filePattern')} failed: {_error_text(exc)}")
            first_failure = first_failure or failure
        log.info(f"Upload finished: {'failed' if first_failure else 'succeeded'}")
    finally:
        log.close()
    return first_failure


def _upload_one(output_file: dict, env: dict[str, str], wd: Path, log: _UploadLog) -> dict | None:
    from azure.core.exceptions import AzureError
    from azure.storage.blob import ContainerClient

    pattern = output_file.get("filePattern") or ""
    container_spec = (output_file.get("destination") or {}).get("container") or {}
    container_url = container_spec.get("containerUrl") or ""
    prefix = (container_spec.get("path") or "").strip("/")
    expanded = _expand_env(pattern, env)
    full = os.path.normpath(expanded if os.path.isabs(expanded) else os.path.join(wd, expanded))
    has_wildcard, matches = _match_files(full)
    log.info(f"Resolved mapping - base_path: {wd}, full_pattern: {full}, original_pattern: {pattern}, "
             f"destination: {public_url(container_url)}/{prefix}")
    if not matches:
        log.info(f"No files matched pattern {full}")
        return None
    content_settings, metadata = _upload_settings(container_spec.get("uploadHeaders") or [])
    try:
        container = ContainerClient.from_container_url(container_url, **_retry_kwargs())
    except ValueError as exc:
        log.error("FileUploadMiscError", True, pattern, matches[0][0], container_url)
        return _upload_failure(exc, pattern, matches[0][0], container_url)
    for path, relative in matches:
        if has_wildcard:
            blob_name = f"{prefix}/{relative}" if prefix else relative
        else:
            blob_name = prefix or relative
        log.info(f"Uploading {path} to {public_url(container_url)}/{blob_name}")
        try:
            with open(path, "rb") as data:
                container.upload_blob(blob_name, data, overwrite=True, content_settings=content_settings,
                                      metadata=metadata)
        except (AzureError, OSError) as exc:
            failure = _upload_failure(exc, pattern, path, container_url)
            log.error(failure["code"], failure["category"] == "usererror", pattern, path, container_url)
            return failure
    return None

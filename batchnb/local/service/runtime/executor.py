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
- An unparsable command line (unbalanced quotes) is `CommandLaunchFailed`; a program that
  does not exist or is not executable is `CommandProgramNotFound` (both "preprocessing").
- A bare program name is looked up on the task env's PATH, then in `wd` (as Windows nodes
  do); a name with a separator is taken relative to `wd`.

Resource file downloads are in resource_files.py, output file uploads in output_files.py.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

# Aliased: `failure` is the natural name of the local variables holding one.
from batchnb.local.service.runtime.failure_info import failure as _failure
from batchnb.local.service.runtime.failure_info import public_url
from batchnb.local.service.runtime.output_files import upload_output_files
from batchnb.local.service.runtime.resource_files import DEFAULT_FILE_MODE, download_resource_files

__all__ = ["FAILURE_EXIT_MESSAGE", "WALL_CLOCK_MESSAGE", "KILL_GRACE_SECONDS", "DEFAULT_FILE_MODE",
           "TaskRun", "RunOutcome", "run_task", "public_url"]

FAILURE_EXIT_MESSAGE = "The task process exited with an unexpected exit code"
WALL_CLOCK_MESSAGE = "The task exceeded its maximum wall clock time"
KILL_GRACE_SECONDS = 2.0


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
                download_resource_files, wd, run.resource_files, run.auto_storage_connection_string
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
        upload_failure = await asyncio.to_thread(
            upload_output_files, run.output_files, run.env, task_dir, wd, succeeded
        )
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


# Where a bare program name was found on a PATH, for a short while: thousands of tiny tasks run the
# same program, and a walk of PATH (a stat per entry) costs more than the task's own exec. Only
# absolute finds are kept, each is checked to be executable again on use, and an entry lives
# _WHICH_TTL seconds, so a program installed earlier on PATH is seen within that time.
_WHICH_TTL = 1.0
_which_cache: dict[tuple[str, str], tuple[float, str]] = {}


def _which(argv0: str, path: str) -> str | None:
    key = (argv0, path)
    now = time.monotonic()
    hit = _which_cache.get(key)
    if hit is not None and now - hit[0] < _WHICH_TTL and os.access(hit[1], os.X_OK):
        return hit[1]
    found = shutil.which(argv0, path=path)
    if found and os.path.isabs(found):
        if len(_which_cache) > 1024:  # many distinct PATHs (user variables): start over
            _which_cache.clear()
        _which_cache[key] = (now, found)
    return found


def _resolve_program(argv0: str, wd: Path, env: dict[str, str]) -> str | None:
    def runnable(path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    has_separator = os.sep in argv0 or (os.altsep is not None and os.altsep in argv0)
    if has_separator:
        candidate = argv0 if os.path.isabs(argv0) else os.path.join(wd, argv0)
        return candidate if runnable(candidate) else None
    found = _which(argv0, env.get("PATH", os.defpath))
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


@contextmanager
def _prepared_launch(command_line: str, task_dir: Path, wd: Path, env: dict[str, str],
                     make_dirs: bool) -> Iterator[tuple[list[str] | None, tuple[int, int], dict | None]]:
    """Directories, logs and program lookup before a start: ``(argv, (stdout fd, stderr fd), None)``
    or ``(None, ..., failure)``. The log fds close on exit; the child holds its own copies by then.
    """
    if make_dirs:
        failure = _make_dirs_or_failure(task_dir, wd)
        if failure is not None:
            yield None, (-1, -1), failure
            return
    try:
        out_fd, err_fd = _open_logs(task_dir)
    except OSError as exc:
        yield None, (-1, -1), _log_failure(exc)
        return
    try:
        argv, failure = _program_argv(command_line, wd, env)
        yield argv, (out_fd, err_fd), failure
    finally:
        os.close(out_fd)
        os.close(err_fd)


def _launch(command_line: str, task_dir: Path, wd: Path, env: dict[str, str],
            make_dirs: bool) -> tuple[subprocess.Popen | None, dict | None]:
    """Directories, logs, program lookup and the child itself: all blocking, run in a worker thread.

    With thousands of tiny tasks this is most of the per-task cost (mkdir/open on a slow disk, and
    vfork, which holds the calling thread until the child has exec'd); in a thread it overlaps
    with the event loop's own work (CPython drops the GIL around vfork and these syscalls).
    """
    with _prepared_launch(command_line, task_dir, wd, env, make_dirs) as (argv, logs, failure):
        if argv is None:
            return None, failure
        try:
            return subprocess.Popen(argv, **_popen_options(wd, env, *logs)), None
        except OSError as exc:
            return None, _start_failure(shlex.split(command_line)[0], exc)


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
    with _prepared_launch(command_line, task_dir, wd, env, make_dirs) as (argv, logs, failure):
        if argv is None:
            return None, failure
        try:
            return await asyncio.create_subprocess_exec(*argv, **_popen_options(wd, env, *logs)), None
        except OSError as exc:
            return None, _start_failure(shlex.split(command_line)[0], exc)


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

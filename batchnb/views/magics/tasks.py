"""``%%batch tasks`` (add tasks from a template), ``%batch tasks`` (the table), ``monitor``,
``logs`` and ``retry``: running work and looking at it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from batchnb.core.redact import redact
from batchnb.core.tasks.planning import DEFAULT_OUTPUT_PATTERN, MERGE_INPUTS_DIR
from batchnb.views.magics import Context, command
from batchnb.views.magics.args import (
    parse_sweep,
    positive_int,
    timeout_option,
)

if TYPE_CHECKING:
    from batchnb.core.job_handle import JobHandle
    from batchnb.core.session import Session
    from batchnb.core.tasks.sweeps import TaskList


# ----------------------------------------------------------------------------------- %%batch tasks


def template_from_cell(cell: str) -> str:
    """The one command line in a cell body: blank and ``#`` lines dropped, ``\\`` continuations joined.

    Batch runs one command line per task, without a shell, so several commands are an error
    (wrap them in ``/bin/sh -c '...'`` on purpose if that is what is wanted).
    """
    joined = cell.replace("\\\r\n", " ").replace("\\\n", " ")
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        raise UsageError("%%batch tasks: the cell body is empty; write the task's command line in it, "
                         "e.g. python3 run.py --x {x}")
    if len(lines) > 1:
        raise UsageError(f"%%batch tasks: the cell body has {len(lines)} command lines; a task runs one "
                         "(join lines with a trailing \\, or run a script)")
    return lines[0]


def _plan(session: Session, job_id: str, template: str, args: Any) -> TaskList:
    """The cell's options handed to the core planner (:func:`batchnb.core.tasks.planning.plan_tasks`)."""
    from batchnb.core.tasks.planning import plan_tasks

    params = parse_sweep([item for group in args.sweep for item in group]) if args.sweep else None
    return plan_tasks(session, job_id, template, sweep=params, zip=args.zip, per_file_blobs=args.per_file,
                      inputs=args.inputs, outputs=args.outputs, output_pattern=args.output_pattern,
                      merge=args.merge, merge_id=args.merge_id, retries=args.retries, chunk=args.chunk,
                      id_prefix=args.id_prefix)


def _add_tasks(ctx: Context, args: Any) -> Any:
    from batchnb.errors import NotFoundError

    template = template_from_cell(ctx.cell or "")
    session = ctx.session()
    tasks = _plan(session, args.job_id, template, args)  # every check before anything is created
    try:
        job = session.job(args.job_id)
    except NotFoundError:
        if not args.pool:
            raise UsageError(f"%%batch tasks: job {args.job_id!r} does not exist; create it with "
                             f"`%batch job create {args.job_id} --pool POOL`, or add `--pool POOL` to this line"
                             ) from None
        job = session.create_job(args.job_id, pool=args.pool)
        ctx.say(f"Job {args.job_id!r} created on pool {args.pool!r}.")
    result = job.add_tasks(tasks)
    ctx.say(f"Job {args.job_id!r}: {len(result.added)} task(s) added, {len(result.already_existed)} already there "
            f"({len(tasks)} in all).")
    if args.wait:
        counts = job.wait(timeout=args.timeout)
        ctx.say(f"Job {args.job_id!r}: {counts['succeeded']} succeeded, {counts['failed']} failed.")
    return tasks


# ----------------------------------------------------------------------------------- %batch tasks


_TASK_STATES = ("active", "preparing", "running", "completed", "succeeded", "failed")


def tasks_table(job: JobHandle, state: str | None, *, every_column: bool = False) -> Any:
    frame = job.tasks()
    if state == "failed":
        from batchnb.data.frames import failed_tasks

        frame = failed_tasks(frame)
    elif state == "succeeded":
        frame = frame[(frame["result"] == "success").fillna(False)]
    elif state is not None:
        frame = frame[(frame["state"] == state).fillna(False)]
    return frame if every_column else readable_tasks(frame)


def readable_tasks(frame: Any) -> Any:
    """What ``%batch tasks`` shows: the sweep's parameters, then state, exit code, retries, seconds, node
    and start to the second (``job.tasks()`` has every column, with nanosecond times)."""
    from batchnb.data.frames import TASK_COLUMNS

    params = [c for c in frame.columns if c not in TASK_COLUMNS]
    out = frame[params].copy()
    out["state"] = frame["state"]
    out["exit_code"] = frame["exit_code"]
    out["retries"] = frame["retry_count"]
    out["seconds"] = frame["duration"].dt.total_seconds().round(1)
    out["node"] = frame["node_id"]
    out["started (UTC)"] = frame["start_time"].dt.tz_convert(None).dt.floor("s")
    return out


@command("tasks", cell=True)
@argument("job_id", metavar="JOB")
@argument("--state", choices=_TASK_STATES, default=None, help="line magic: only tasks in this state")
@argument("--all", dest="every_column", action="store_true",
          help="line magic: every column of job.tasks() (default: parameters, state, exit code, retries, "
               "seconds, node, start)")
@argument("--pool", default=None, metavar="POOL",
          help="cell magic: create JOB on POOL first if it does not exist (as %%batch job create JOB --pool POOL)")
@argument("--sweep", nargs="+", action="append", metavar="NAME=VALUES",
          help="cell magic: one task per combination; VALUES is START:STOP[:STEP] (inclusive) or a,b,c")
@argument("--zip", action="store_true", help="pair the --sweep lists instead of taking every combination")
@argument("--per-file", metavar="CONTAINER[/PREFIX]", default=None,
          help="one task per blob; the template gets {name} {stem} {path} {url} {blob}")
@argument("--inputs", metavar="CONTAINER[/PREFIX]", default=None,
          help="blobs every task downloads to its working directory (your scripts, shared data)")
@argument("--outputs", metavar="CONTAINER[/PREFIX]", default=None,
          help="upload each task's --output-pattern files to CONTAINER/PREFIX/<task id>/ (PREFIX: the job id)")
@argument("--output-pattern", default=DEFAULT_OUTPUT_PATTERN, metavar="GLOB",
          help="files to upload with --outputs, relative to the task's working dir (default: %(default)s)")
@argument("--merge", default=None, metavar="CMD",
          help=f"a task that runs CMD after all others succeeded (with --outputs: their outputs in {MERGE_INPUTS_DIR}/)")
@argument("--merge-id", default="merge", metavar="ID", help="the merge task's id (default: %(default)s)")
@argument("--retries", type=int, default=None, metavar="N", help="retry a failed task N times (-1: unlimited)")
@argument("--chunk", type=positive_int, default=None, metavar="N", help="pack N items into one task")
@argument("--id-prefix", default="task", metavar="PREFIX", help="task ids start with this (default: %(default)s)")
@argument("--wait", action="store_true", help="cell magic: wait until the job's tasks are done")
@timeout_option
def tasks(ctx: Context, args: Any) -> Any:
    """%%batch: add tasks to JOB, the cell body is the command template; %batch: the tasks as a DataFrame."""
    if ctx.cell is not None:
        return _add_tasks(ctx, args)
    cell_only = [name for name in ("sweep", "per_file", "merge", "inputs", "outputs", "chunk", "retries", "pool")
                 if getattr(args, name)]
    if cell_only or args.zip or args.wait:
        opt = "--" + (cell_only[0] if cell_only else ("zip" if args.zip else "wait")).replace("_", "-")
        raise UsageError(f"%batch tasks: {opt} adds tasks; use the cell magic %%batch tasks with the command "
                         "line in the cell body")
    return tasks_table(ctx.session().job(args.job_id), args.state, every_column=args.every_column)


# ----------------------------------------------------------------------------------- monitor


@command("monitor")
@argument("job_id", nargs="?", default=None, metavar="JOB")
@argument("--pool", default=None, metavar="POOL", help="monitor a pool's nodes instead of a job")
def monitor(ctx: Context, args: Any) -> Any:
    """A live view of a job (progress, figures, failures) or of a pool (--pool)."""
    if (args.job_id is None) == (args.pool is None):
        raise UsageError("%batch monitor: give a JOB, or --pool POOL")
    session = ctx.session()
    if args.pool is not None:
        return session.pool(args.pool).monitor()
    return session.job(args.job_id).monitor()


# ----------------------------------------------------------------------------------- logs


@command("logs")
@argument("job_id", metavar="JOB")
@argument("task_id", metavar="TASK")
@argument("--stderr", action="store_true", help="stderr instead of stdout")
@argument("--tail", type=positive_int, default=None, metavar="BYTES", help="only the last BYTES bytes")
@argument("--follow", action="store_true", help="keep showing new output until the task ends")
def logs(ctx: Context, args: Any) -> Any:
    """A task's stdout (or stderr)."""
    job = ctx.session().job(args.job_id)
    name = "stderr.txt" if args.stderr else "stdout.txt"
    if args.follow:
        followed = _follow(ctx, job, args.task_id, name, args.tail)
        # The blocking follow has printed everything already: show it once, not again as Out[].
        return None if isinstance(followed, str) and args.out is None else followed
    from batchnb.errors import NotFoundError

    state = job.task_state(args.task_id)  # a missing task: "task does not exist", not a file 404
    try:
        text = job.read_file(args.task_id, name, tail=args.tail)
    except NotFoundError:
        raise UsageError(f"%batch logs: task {args.task_id!r} has no {name} (state: {state}); it has not run on "
                         f"a node yet, or its node is gone. Add --follow to wait for it") from None
    if args.out is not None:
        return text
    print(text, end="" if text.endswith("\n") else "\n")
    return None


def _follow(ctx: Context, job: JobHandle, task_id: str, name: str, tail: int | None) -> Any:
    job.task_state(task_id)  # a missing task is a one-line NotFoundError now, not a widget stuck waiting
    if ctx.shell is not None and getattr(ctx.shell, "kernel", None) is not None:
        from batchnb.views.widgets import LogTail

        # In a kernel the widget polls on the event loop and the cell returns at once.
        return LogTail(job, task_id, name, **({"max_bytes": tail} if tail else {}))
    return _follow_blocking(job, task_id, name, tail)


def _follow_blocking(job: JobHandle, task_id: str, name: str, tail: int | None, poll: float = 1.0) -> str:
    """Terminal IPython has no widgets: print new bytes as they come until the task completes.

    Reads through the job's :class:`~batchnb.data.watch.FileTail`: each poll fetches only the
    bytes added since the last one (byte ranges), not the whole file again."""
    reader = job.file_tail(task_id, name, max_bytes=tail or 1 << 20)
    chunks: list[str] = []
    shown = 0
    while True:
        done = job.task_state(task_id) == "completed"
        before = reader.offset
        reader.read()
        new = reader.offset - before
        if new > 0:
            # The tail holds the newest max_bytes; the new text is its end.
            data = reader.data[-new:] if shown else reader.data
            text = redact(data.decode("utf-8", errors="replace"))  # task output can carry its own SAS
            print(text, end="", flush=True)
            chunks.append(text)
            shown += 1
        if done:
            return "".join(chunks)
        time.sleep(poll)


# ----------------------------------------------------------------------------------- retry


@command("retry")
@argument("job_id", metavar="JOB")
@argument("task_ids", nargs="*", metavar="TASK", help="retry these tasks (default: every failed task)")
@argument("--failed", action="store_true", help="retry every failed task (the default)")
def retry(ctx: Context, args: Any) -> Any:
    """Run failed tasks again (Batch reactivates them with their retry count reset)."""
    job = ctx.session().job(args.job_id)
    if args.task_ids and args.failed:
        raise UsageError("%batch retry: give task ids or --failed, not both")
    retried = job.reactivate_tasks(args.task_ids) if args.task_ids else job.retry_failed()
    shown = ", ".join(retried[:5]) + (f" and {len(retried) - 5} more" if len(retried) > 5 else "")
    ctx.say(f"Job {job.id!r}: {len(retried)} task(s) reactivated" + (f": {shown}." if retried else
                                                                       " (no failed task)."))
    return retried

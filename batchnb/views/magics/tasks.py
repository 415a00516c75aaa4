"""``%%batch tasks`` (add tasks from a template), ``%batch tasks`` (the table), ``monitor``,
``logs`` and ``retry``: running work and looking at it."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from batchnb.core.redact import redact
from batchnb.views.magics import Context, command
from batchnb.views.magics.args import (
    container_and_prefix,
    help_option,
    out_option,
    parse_sweep,
    positive_int,
    timeout_option,
)

if TYPE_CHECKING:
    from batchnb.core.job_handle import JobHandle
    from batchnb.core.session import Session
    from batchnb.core.tasks.sweeps import TaskList

DEFAULT_OUTPUT_PATTERN = "out/**/*"
MERGE_INPUTS_DIR = "results"

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


def _single_task(template: str, id_prefix: str, options: dict[str, Any]) -> TaskList:
    from batchnb.core.specs.models import TaskSpec
    from batchnb.core.tasks.sweeps import TaskList

    # Deterministic id from the command line: re-running the cell adds nothing twice.
    digest = hashlib.sha256(template.encode("utf-8")).hexdigest()[:8]
    return TaskList([TaskSpec(f"{id_prefix}-{digest}", template, **options)])


def _with_outputs(tasks: TaskList, session: Session, container: str, prefix: str, pattern: str) -> TaskList:
    """Each task uploads ``pattern`` to ``container/prefix/<task id>/`` (one SAS for all)."""
    from batchnb.core.tasks.sweeps import TaskList

    base = session.storage.output_files(pattern, container=container, path=prefix)
    logs = session.storage.output_files("../std*.txt", container=container, path=prefix)
    rebuilt = []
    for task in tasks:
        outs = (dataclasses.replace(base, path=f"{prefix}/{task.id}"),
                dataclasses.replace(logs, path=f"{prefix}/{task.id}/logs"))
        rebuilt.append(dataclasses.replace(task, output_files=(*task.output_files, *outs)))
    return TaskList(rebuilt, params=tasks.params)


def build_tasks(session: Session, job_id: str, template: str, args: Any) -> TaskList:
    """Every task the cell asks for, built and validated before anything is sent."""
    from batchnb.core.storage import LONG_EXPIRY
    from batchnb.core.tasks.sweeps import per_file, sweep

    options: dict[str, Any] = {}
    if args.retries is not None:
        options["max_retries"] = args.retries
    inputs: list[Any] = []
    if args.inputs:
        container, prefix = container_and_prefix(args.inputs, option="--inputs")
        inputs = session.storage.input_files(container, prefix)
        if not inputs:
            raise UsageError(f"%%batch tasks: --inputs {args.inputs}: no blobs there (upload them first)")
        options["resource_files"] = inputs
    chunk = args.chunk or 1
    if args.sweep and args.per_file:
        raise UsageError("%%batch tasks: give --sweep or --per-file, not both")
    if args.zip and not args.sweep:
        raise UsageError("%%batch tasks: --zip only applies to --sweep")
    if args.sweep:
        params = parse_sweep([item for group in args.sweep for item in group])
        tasks = sweep(template, mode="zip" if args.zip else "product", id_prefix=args.id_prefix,
                      chunk_size=chunk, params=params, task_options=options)
    elif args.per_file:
        container, prefix = container_and_prefix(args.per_file, option="--per-file")
        blobs = session.storage.list_blobs(container, prefix)
        if not blobs:
            raise UsageError(f"%%batch tasks: --per-file {args.per_file}: no blobs there (upload them first)")
        # Read only (the tasks get one blob URL each), for 7 days: tasks may wait in the queue for days.
        url = session.storage.container_sas(container, read=True, default_expiry=LONG_EXPIRY)
        tasks = per_file(template, blobs, container_url=url, id_prefix=args.id_prefix, chunk_size=chunk,
                         task_options=options)
    else:
        if chunk != 1:
            raise UsageError("%%batch tasks: --chunk needs --sweep or --per-file")
        tasks = _single_task(template, args.id_prefix, options)

    out_container = out_prefix = None
    if args.outputs:
        out_container, out_prefix = container_and_prefix(args.outputs, option="--outputs")
        out_prefix = out_prefix or job_id
    if args.merge:
        merge_options: dict[str, Any] = {}
        if args.retries is not None:
            merge_options["max_retries"] = args.retries
        merge_files = list(inputs)
        if out_container is not None:
            # The merge task starts after every other task succeeded: their outputs exist by then.
            merge_files.append(session.storage.input_container(out_container, f"{out_prefix}/",
                                                               file_path=MERGE_INPUTS_DIR))
        if merge_files:
            merge_options["resource_files"] = merge_files
        tasks = tasks.with_merge(args.merge, id=args.merge_id, **merge_options)
    if out_container is not None:
        tasks = _with_outputs(tasks, session, out_container, out_prefix, args.output_pattern)
    return tasks


def _add_tasks(ctx: Context, args: Any) -> Any:
    template = template_from_cell(ctx.cell or "")
    session = ctx.session()
    job = session.job(args.job_id)
    tasks = build_tasks(session, args.job_id, template, args)
    result = job.add_tasks(tasks)
    ctx.say(f"Job {args.job_id!r}: {len(result.added)} task(s) added, {len(result.already_existed)} already there "
            f"({len(tasks)} in all).")
    if args.wait:
        counts = job.wait(timeout=args.timeout)
        ctx.say(f"Job {args.job_id!r}: {counts['succeeded']} succeeded, {counts['failed']} failed.")
    return tasks


# ----------------------------------------------------------------------------------- %batch tasks


_TASK_STATES = ("active", "preparing", "running", "completed", "succeeded", "failed")


def tasks_table(job: JobHandle, state: str | None) -> Any:
    frame = job.tasks()
    if state is None:
        return frame
    if state == "failed":
        from batchnb.data.frames import failed_tasks

        return failed_tasks(frame)
    if state == "succeeded":
        return frame[(frame["result"] == "success").fillna(False)]
    return frame[(frame["state"] == state).fillna(False)]


@command("tasks", cell=True)
@magic_arguments(name="batch tasks")
@help_option
@out_option
@argument("job_id", metavar="JOB")
@argument("--state", choices=_TASK_STATES, default=None, help="line magic: only tasks in this state")
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
    cell_only = [name for name in ("sweep", "per_file", "merge", "inputs", "outputs", "chunk", "retries")
                 if getattr(args, name)]
    if cell_only or args.zip or args.wait:
        opt = "--" + (cell_only[0] if cell_only else ("zip" if args.zip else "wait")).replace("_", "-")
        raise UsageError(f"%batch tasks: {opt} adds tasks; use the cell magic %%batch tasks with the command "
                         "line in the cell body")
    return tasks_table(ctx.session().job(args.job_id), args.state)


# ----------------------------------------------------------------------------------- monitor


@command("monitor")
@magic_arguments(name="batch monitor")
@help_option
@out_option
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
@magic_arguments(name="batch logs")
@help_option
@out_option
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
    text = job.read_file(args.task_id, name, tail=args.tail)
    if args.out is not None:
        return text
    print(text, end="" if text.endswith("\n") else "\n")
    return None


def _follow(ctx: Context, job: JobHandle, task_id: str, name: str, tail: int | None) -> Any:
    if ctx.shell is not None and getattr(ctx.shell, "kernel", None) is not None:
        from batchnb.views.widgets import LogTail

        # In a kernel the widget polls on the event loop and the cell returns at once.
        return LogTail(job.session.batch_client, job.id, task_id, name, **({"max_bytes": tail} if tail else {}))
    return _follow_blocking(job, task_id, name, tail)


def _follow_blocking(job: JobHandle, task_id: str, name: str, tail: int | None, poll: float = 1.0) -> str:
    """Terminal IPython has no widgets: print new bytes as they come until the task completes."""
    from batchnb.errors import NotFoundError

    seen = 0
    chunks: list[str] = []
    while True:
        frame = job.tasks(filter=f"id eq '{task_id}'")
        done = not frame.empty and frame["state"].iloc[0] == "completed"
        try:
            data = job.read_bytes(task_id, name)
        except NotFoundError:
            data = b""
        if tail and seen == 0 and len(data) > tail:
            seen = len(data) - tail
        if len(data) > seen:
            text = redact(data[seen:].decode("utf-8", errors="replace"))
            print(text, end="", flush=True)
            chunks.append(text)
            seen = len(data)
        if done or frame.empty:
            return "".join(chunks)
        time.sleep(poll)


# ----------------------------------------------------------------------------------- retry


@command("retry")
@magic_arguments(name="batch retry")
@help_option
@out_option
@argument("job_id", metavar="JOB")
@argument("task_ids", nargs="*", metavar="TASK", help="retry these tasks (default: every failed task)")
@argument("--failed", action="store_true", help="retry every failed task (the default)")
def retry(ctx: Context, args: Any) -> Any:
    """Run failed tasks again (Batch reactivates them with their retry count reset)."""
    job = ctx.session().job(args.job_id)
    if args.task_ids and args.failed:
        raise UsageError("%batch retry: give task ids or --failed, not both")
    if args.task_ids:
        from batchnb.core.transport import call

        for task_id in args.task_ids:
            call(f"reactivate task {task_id!r} of job {job.id!r}", job.session.batch_client.reactivate_task,
                 job.id, task_id)
        retried = list(args.task_ids)
    else:
        retried = job.retry_failed()
    shown = ", ".join(retried[:5]) + (f" and {len(retried) - 5} more" if len(retried) > 5 else "")
    ctx.say(f"Job {job.id!r}: {len(retried)} task(s) reactivated" + (f": {shown}." if retried else
                                                                       " (no failed task)."))
    return retried

"""``%batch upload`` and ``%batch download``: steps 1 and 6, data in and results out."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from batchnb.views.magics import Context, command
from batchnb.views.magics.args import container_and_prefix


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


@command("upload")
@argument("path", metavar="PATH", help="a file, a folder (recursively) or a glob such as 'data/*.csv'")
@argument("destination", metavar="CONTAINER[/PREFIX]")
@argument("--overwrite", action="store_true", help="upload even the files whose blob has the same size and MD5")
def upload(ctx: Context, args: Any) -> Any:
    """Upload files to Blob storage (in parallel; files already there are skipped)."""
    container, prefix = container_and_prefix(args.destination, option="CONTAINER[/PREFIX]")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    result = ctx.session().storage.upload(args.path, container=container, prefix=prefix, overwrite=args.overwrite)
    size = sum(item.size for item in result.uploaded)
    ctx.say(f"Uploaded {len(result.uploaded)} file(s) ({_size(size)}) to {container}/{prefix}"
            f"{f'; {len(result.skipped)} already there' if result.skipped else ''}.")
    return result


@command("download")
@argument("source", metavar="JOB|CONTAINER/PREFIX",
          help="a job id (its tasks' outputs, see --container) or CONTAINER/PREFIX (CONTAINER/ for all of it)")
@argument("dest", metavar="DEST", help="local folder")
@argument("--container", default="outputs", help="where a job's outputs are (default: %(default)s)")
@argument("--task", default=None, metavar="TASK", help="only this task's outputs (with a job id)")
@argument("--pattern", default=None, metavar="GLOB", help="only blobs matching GLOB (below the prefix)")
def download(ctx: Context, args: Any) -> Any:
    """Download a job's outputs, or the blobs under a container prefix, to a folder."""
    session = ctx.session()
    if "/" in args.source:
        if args.task:
            raise UsageError("%batch download: --task applies to a job id, not to CONTAINER/PREFIX")
        container, prefix = container_and_prefix(args.source, option="JOB|CONTAINER/PREFIX")
        paths = session.storage.download(container, prefix=prefix, dest=args.dest, pattern=args.pattern)
        where = f"{container}/{prefix}"
    else:
        job = session.job(args.source)  # NotFoundError names the job when it does not exist
        paths = job.download_outputs(args.dest, container=args.container, task_id=args.task, pattern=args.pattern)
        where = f"job {job.id!r} ({args.container}/{job.id}/)"
    ctx.say(f"Downloaded {len(paths)} file(s) from {where} to {args.dest}.")
    return paths

"""``%batch connect``, ``pool ...``/``pools`` and ``job ...``/``jobs``: accounts, pools and jobs."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from batchnb.core.specs.images import DEFAULT_IMAGE
from batchnb.views.magics import Context, command
from batchnb.views.magics.args import (
    non_negative_int,
    positive_int,
    timeout_kwargs,
    wait_options,
)

# ----------------------------------------------------------------------------------- connect


@command("connect")
@argument("target", nargs="?", default=None, metavar="local|PROFILE",
          help="'local' for the embedded local service, or a profile name; "
               "omit to read AZURE_BATCH_* / AZURE_STORAGE_* from the environment")
@argument("--profile", default=None, metavar="NAME", help="a profile of ~/.config/batchnb/profiles.toml")
@argument("--account-url", default=None, metavar="URL", help="the Batch account URL (Entra ID unless a key is set)")
@argument("--account", default=None, metavar="NAME", help="the Batch account name")
@argument("--storage-account", default=None, metavar="NAME", help="the storage account for staging")
@argument("--state-dir", default=None, metavar="DIR", help="state directory of the local service")
def connect(ctx: Context, args: Any) -> Any:
    """Connect to a Batch account (keys only from the environment or a profile, never typed here)."""
    from batchnb.core.current import set_current
    from batchnb.core.session import connect as connect_session

    if args.target and args.profile and args.target != args.profile:
        raise UsageError("%batch connect: give the target or --profile, not both")
    session = connect_session(args.target or args.profile, endpoint=args.account_url, account=args.account,
                              storage_account=args.storage_account, state_dir=args.state_dir)
    set_current(session)
    where = "the local Batch service" if session.local_service is not None else session.endpoint
    ctx.say(f"Connected to {where} (account {session.account!r}, {session.auth_mode}).")
    return session


# ----------------------------------------------------------------------------------- pools


@command("pool", "create")
@argument("pool_id", metavar="ID")
@argument("--vm-size", default="standard_d2s_v3", help="VM size (default: %(default)s)")
@argument("--nodes", type=non_negative_int, default=None, help="dedicated nodes")
@argument("--spot", type=non_negative_int, default=0, help="spot (low-priority) nodes")
@argument("--slots", type=positive_int, default=1, help="task slots per node (default: 1)")
@argument("--image", default=DEFAULT_IMAGE, help="image preset (default: %(default)s)")
@argument("--autoscale", default=None, metavar="PRESET", help="autoscale preset (queue, queue-spot, queue-mixed)")
@argument("--max-nodes", type=positive_int, default=None, help="most nodes an autoscale preset may use")
@argument("--start-task", default=None, metavar="CMD", help="command every node runs when it joins")
@argument("--metrics", action="store_true", help="sample node CPU/memory/disk for pool.monitor()")
@argument("--env", default=None, metavar="ENV",
          help="Python packages for the nodes: 'kernel' (every package of this kernel, pinned), "
               "a requirements.txt path, or 'pkg==ver,pkg2'")
@wait_options
def pool_create(ctx: Context, args: Any) -> Any:
    """Create a pool and (by default) wait until its nodes are ready."""
    from batchnb.core.specs.models import PoolSpec

    if args.autoscale is None and args.nodes is None and not args.spot:
        raise UsageError("%batch pool create: give --nodes N (and/or --spot N), or --autoscale PRESET --max-nodes N")
    spec = PoolSpec(args.pool_id, vm_size=args.vm_size, image=args.image, dedicated_nodes=args.nodes or 0,
                    spot_nodes=args.spot, task_slots_per_node=args.slots, autoscale=args.autoscale,
                    autoscale_max_nodes=args.max_nodes, start_task=args.start_task, metrics=args.metrics,
                    python_env=_environment(args.env))
    wait = args.wait is not False
    pool = ctx.session().create_pool(spec, wait=wait, **timeout_kwargs(args))
    size = (f"autoscale {spec.autoscale!r} up to {spec.autoscale_max_nodes} nodes" if spec.autoscale
            else f"{spec.dedicated_nodes} dedicated + {spec.spot_nodes} spot nodes")
    state = "ready" if wait else "created (not waiting for its nodes)"
    ctx.say(f"Pool {spec.id!r} {state}: {size} x {spec.task_slots_per_node} slots, {spec.vm_size}.")
    return pool


def _environment(text: str | None) -> Any:
    """``--env``: 'kernel', a requirements file, or comma-separated requirements; the kernel's Python."""
    from pathlib import Path

    from batchnb.core.specs.environment import Environment, kernel_python

    if text is None:
        return None
    if text.strip() == "kernel":
        return Environment.from_kernel()
    if text.endswith(".txt") or Path(text).is_file():
        return Environment.from_requirements(text, python=kernel_python()).with_packages(_cloudpickle())
    return Environment([p for p in text.split(",") if p.strip()], python=kernel_python()).with_packages(_cloudpickle())


def _cloudpickle() -> str:
    # Every pool environment batchnb makes carries the kernel's cloudpickle, so map() runs there.
    import cloudpickle

    return f"cloudpickle=={cloudpickle.__version__}"


@command("pool", "list")
def pool_list(ctx: Context, args: Any) -> Any:
    """The account's pools as a DataFrame."""
    return ctx.session().list_pools()


@command("pools")
def pools(ctx: Context, args: Any) -> Any:
    """The account's pools as a DataFrame (same as `pool list`)."""
    return ctx.session().list_pools()


@command("pool", "show")
@argument("pool_id", metavar="ID")
def pool_show(ctx: Context, args: Any) -> Any:
    """A pool's state and its nodes (the result is the pool handle; its nodes are shown)."""
    pool = ctx.session().pool(args.pool_id)
    ctx.say(repr(pool))
    nodes = pool.nodes()
    if args.out is None:
        return nodes
    return pool


@command("pool", "resize")
@argument("pool_id", metavar="ID")
@argument("--nodes", type=non_negative_int, default=None, help="target dedicated nodes")
@argument("--spot", type=non_negative_int, default=None, help="target spot nodes")
@wait_options
def pool_resize(ctx: Context, args: Any) -> Any:
    """Change a pool's target node counts."""
    if args.nodes is None and args.spot is None:
        raise UsageError("%batch pool resize: give --nodes N and/or --spot N")
    pool = ctx.session().resize_pool(args.pool_id, dedicated_nodes=args.nodes, spot_nodes=args.spot,
                                     wait=bool(args.wait), **timeout_kwargs(args))
    targets = ", ".join(f"{n} {what}" for n, what in ((args.nodes, "dedicated"), (args.spot, "spot")) if n is not None)
    ctx.say(f"Pool {args.pool_id!r} {'resized' if args.wait else 'resizing'} to {targets}.")
    return pool


@command("pool", "delete")
@argument("pool_id", metavar="ID")
@wait_options
def pool_delete(ctx: Context, args: Any) -> None:
    """Delete a pool (its nodes go away). Deleting a pool that does not exist is not an error (-o binds None)."""
    ctx.session().delete_pool(args.pool_id, wait=bool(args.wait), **timeout_kwargs(args))
    ctx.say(f"Pool {args.pool_id!r} {'deleted' if args.wait else 'is being deleted'}.")


# ----------------------------------------------------------------------------------- jobs


@command("job", "create")
@argument("job_id", metavar="ID")
@argument("--pool", required=True, metavar="POOL", help="the pool that runs the job's tasks")
@argument("--retries", type=int, default=0, help="default retries of its tasks (-1: unlimited)")
@argument("--priority", type=int, default=0, help="-1000 .. 1000 (default 0)")
@argument("--max-parallel", type=int, default=-1, help="most tasks running at once (-1: no cap)")
def job_create(ctx: Context, args: Any) -> Any:
    """Create a job on a pool (re-running the cell re-uses the job)."""
    job = ctx.session().create_job(args.job_id, pool=args.pool, max_task_retries=args.retries,
                                   priority=args.priority, max_parallel_tasks=args.max_parallel)
    ctx.say(f"Job {args.job_id!r} on pool {args.pool!r}.")
    return job


def _jobs(ctx: Context, args: Any) -> Any:
    return ctx.session().list_jobs(state=args.state)


_STATE_HELP = "only jobs in this state (active, completed, terminating, ...)"


@command("job", "list")
@argument("--state", default=None, help=_STATE_HELP)
def job_list(ctx: Context, args: Any) -> Any:
    """The account's jobs as a DataFrame."""
    return _jobs(ctx, args)


@command("jobs")
@argument("--state", default=None, help=_STATE_HELP)
def jobs(ctx: Context, args: Any) -> Any:
    """The account's jobs as a DataFrame (same as `job list`)."""
    return _jobs(ctx, args)


@command("job", "show")
@argument("job_id", metavar="ID")
def job_show(ctx: Context, args: Any) -> Any:
    """A job's state and task counts (the result is the job handle)."""
    job = ctx.session().job(args.job_id)
    counts = job.task_counts()
    ctx.say(f"Job {job.id!r} on pool {job.pool_id!r}: {job.state}; "
            + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return job


@command("job", "terminate")
@argument("job_id", metavar="ID")
@argument("--reason", default=None, help="termination reason shown on the job")
@wait_options
def job_terminate(ctx: Context, args: Any) -> Any:
    """End a job: running tasks stop, no new task starts (the result is the job handle)."""
    session = ctx.session()
    session.terminate_job(args.job_id, reason=args.reason, wait=bool(args.wait), **timeout_kwargs(args))
    ctx.say(f"Job {args.job_id!r} {'terminated' if args.wait else 'is terminating'}.")
    return session.job(args.job_id)


@command("job", "delete")
@argument("job_id", metavar="ID")
@wait_options
def job_delete(ctx: Context, args: Any) -> None:
    """Delete a job and its tasks. Deleting a job that does not exist is not an error (-o binds None)."""
    ctx.session().delete_job(args.job_id, wait=bool(args.wait), **timeout_kwargs(args))
    ctx.say(f"Job {args.job_id!r} {'deleted' if args.wait else 'is being deleted'}.")

"""``%batch notebook PATH --sweep ...``: a notebook run once per parameter set (``session.run_notebook``)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from batchnb.views.magics import Context, command
from batchnb.views.magics.args import parse_sweep, timeout_option


@command("notebook")
@argument("path", metavar="PATH", help="the notebook to run (it needs a cell tagged 'parameters')")
@argument("--sweep", nargs="+", action="append", metavar="NAME=VALUES", required=True,
          help="one run per combination; VALUES is START:STOP[:STEP] (inclusive) or a,b,c")
@argument("--pool", required=True, metavar="POOL", help="the pool whose nodes run the notebook")
@argument("--job", default=None, metavar="JOB", help="the sweep's job id (default: nb-<name>-<time>)")
@argument("--retries", type=int, default=0, metavar="N", help="retry a failed run N times")
@argument("--wait", action="store_true", help="wait for every run, then show results()")
@timeout_option
def notebook(ctx: Context, args: Any) -> Any:
    """Run PATH once per parameter set on POOL; shows the job's monitor (or, with --wait, results()).
    The NotebookSweep is the result (-o NAME keeps it: NAME.results(), NAME.rerun())."""
    from IPython.display import display

    params = parse_sweep([item for group in args.sweep for item in group])
    if not params:
        raise UsageError("%batch notebook: --sweep needs NAME=VALUES, e.g. --sweep alpha=0.1,0.5 n=1:3")
    sweep = ctx.session().run_notebook(args.path, parameters=params, pool=args.pool, job_id=args.job,
                                       max_retries=args.retries, wait=False)
    ctx.say(f"Notebook {args.path!r}: {len(sweep)} runs in job {sweep.job_id!r} on pool {args.pool!r}.")
    if args.wait:
        sweep.wait(timeout=args.timeout)
        display(sweep.results())
    else:
        display(sweep.monitor())
    return sweep

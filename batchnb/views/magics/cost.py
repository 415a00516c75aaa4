"""``%batch cost JOB`` / ``%batch cost --pool P``: what a job's tasks or a pool's nodes cost."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from batchnb.views.magics import Context, command


def summary_line(summary: dict[str, Any], *, pool: bool) -> str:
    """The totals of a cost table in one line (the same numbers as the table's ``attrs``)."""
    currency = summary.get("currency") or ""
    approx = " (approximate prices)" if summary.get("approximate") else ""
    if pool:
        text = (f"{summary['node_hours']:.3f} node-h ({summary['idle_node_hours']:.3f} idle), "
                f"{summary['core_hours']:.3f} core-h: {summary['cost']:.4f} {currency}, of which idle "
                f"{summary['idle_cost']:.4f}{approx}")
        return text + (f". {summary['hint']}" if summary.get("hint") else "")
    text = (f"{summary['tasks']} task(s), {summary['core_hours']:.4f} core-h: {summary['cost']:.4f} {currency}"
            f"{approx}")
    if summary.get("retries") or summary.get("requeues"):
        text += (f"; earlier attempts (retries: {summary['retries']}, requeues: {summary['requeues']}) add about "
                 f"{summary['earlier_cost_est']:.4f} {currency} (estimated)")
    return text


@command("cost")
@argument("job_id", nargs="?", default=None, metavar="JOB", help="the job whose tasks to cost")
@argument("--pool", default=None, metavar="POOL", help="cost a pool's nodes instead: busy and idle node-hours")
@argument("--region", default=None, help="price in this region (default: the account's; eastus locally)")
@argument("--currency", default="USD", help="currency (other than USD needs batchnb.set_price_overrides)")
def cost(ctx: Context, args: Any) -> Any:
    """Per-task cost of a job, or node-hours (busy, idle) and cost of a pool, as a DataFrame."""
    if (args.job_id is None) == (args.pool is None):
        raise UsageError("%batch cost: give a JOB, or --pool POOL")
    session = ctx.session()
    if args.pool is not None:
        frame = session.pool(args.pool).cost(region=args.region, currency=args.currency)
        ctx.say(f"Pool {args.pool!r}: " + summary_line(frame.attrs["summary"], pool=True))
    else:
        frame = session.job(args.job_id).cost(region=args.region, currency=args.currency)
        ctx.say(f"Job {args.job_id!r}: " + summary_line(frame.attrs["summary"], pool=False))
    return frame

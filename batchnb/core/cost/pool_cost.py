"""``pool.cost()``: node-hours by priority, busy against idle, and what they cost.

Azure bills a node from its allocation until it leaves the pool, busy or not. Two sources:

* ``/poolusagemetrics`` is Azure's own count of core-hours per pool and aggregation interval:
  authoritative, but published only once an interval is over (on Azure, hours later), and with no
  split by priority or by busy/idle;
* the nodes themselves (``allocationTime``, ``isDedicated``) and the tasks that ran on them (their
  start and end times) cover the recent window and give the split.

Node time of the nodes still in the pool comes from the nodes; busy time is the union of the task
runs on each node, idle time the rest. Nodes that already left the pool are seen only in the usage
metrics (their core-hours beyond what the present nodes account for) and in the tasks they ran:
they form a ``departed`` row, priced as dedicated (an upper bound: their priority is gone with them).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from batchnb.core.cost.job_cost import region_of
from batchnb.core.cost.prices import Price, vm_price
from batchnb.core.cost.vcpus import vm_vcpus
from batchnb.core.transport import as_rows, call
from batchnb.errors import BatchnbError, ValidationError

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["busy_seconds", "pool_cost"]

ROWS = ["dedicated", "spot", "departed"]
# On Azure, usage metrics can only be asked for from 2.5 hours back (the service refuses later starts).
_AZURE_METRICS_LAG = timedelta(hours=2.5)
# Idle above this share of node time is worth a word about autoscaling.
IDLE_HINT_SHARE = 0.25


def _parse(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    stamp = pd.Timestamp(str(value))
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def busy_seconds(intervals: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> float:
    """Seconds of [lo, hi] covered by at least one interval (concurrent tasks count once)."""
    total = 0.0
    cur_start: datetime | None = None
    cur_end: datetime | None = None
    for s, e in sorted((max(s, lo), min(e, hi)) for s, e in intervals):
        if e <= s:
            continue
        if cur_end is None or s > cur_end:
            if cur_end is not None and cur_start is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = s, e
        elif e > cur_end:
            cur_end = e
    if cur_end is not None and cur_start is not None:
        total += (cur_end - cur_start).total_seconds()
    return total


def _task_runs(session: Session, pool_id: str, now: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """Task runs on this pool's nodes, by node id, from every job that ran on the pool."""
    client = session.batch_client
    jobs = call("list the jobs", lambda: as_rows(client.list_jobs(select=["id", "poolInfo", "executionInfo"])))
    mine = [j["id"] for j in jobs
            if str((j.get("poolInfo") or {}).get("poolId") or "").lower() == pool_id.lower()
            or str((j.get("executionInfo") or {}).get("poolId") or "").lower() == pool_id.lower()]
    runs: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for job_id in mine:
        rows = call(f"list the tasks of job {job_id!r}",
                    lambda job_id=job_id: as_rows(client.list_tasks(
                        job_id, select=["id", "state", "nodeInfo", "executionInfo"])))
        for row in rows:
            node = row.get("nodeInfo") or {}
            ex = row.get("executionInfo") or {}
            if str(node.get("poolId") or "").lower() != pool_id.lower() or not node.get("nodeId"):
                continue
            start = _parse(ex.get("startTime"))
            if start is None:
                continue
            end = _parse(ex.get("endTime")) or now
            runs[node["nodeId"]].append((start, end))
    return runs


def _on_loopback(session: Session) -> bool:
    host = session.endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return session.local_service is not None or host in ("127.0.0.1", "localhost", "[::1]")


def _usage_metrics(session: Session, pool_id: str, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """The published intervals that end after ``since``. Azure refuses a ``startTime`` less than
    2.5 hours back; then the default (the last published interval) is all there can be."""
    client = session.batch_client
    recent = now - since < _AZURE_METRICS_LAG and not _on_loopback(session)
    options: dict[str, Any] = {} if recent else {"start_time": since}
    try:
        rows = call(f"list the usage metrics of pool {pool_id!r}",
                    lambda: as_rows(client.list_pool_usage_metrics(filter=f"poolId eq '{pool_id}'", **options)))
    except BatchnbError:
        return []  # no metrics is what "not published yet" looks like; the nodes still count
    return [r for r in rows if (_parse(r.get("endTime")) or since) > since]


def pool_cost(session: Session, pool_id: str, *, since: datetime | None = None, region: str | None = None,
              prices: dict[str, Any] | None = None) -> pd.DataFrame:
    """Node-hours, busy and idle, core-hours and cost of ``pool_id`` since ``since`` (default: the
    pool's creation), one row per priority (``dedicated``, ``spot``, ``departed``).

    ``.attrs["summary"]`` holds the totals, the usage metrics used and a hint when idle nodes
    cost more than a quarter of the bill."""
    if since is not None and (not isinstance(since, datetime)):
        raise ValidationError("since", f"is {since!r}", fix="give a datetime, e.g. datetime.now(timezone.utc) - "
                                                            "timedelta(hours=1)")
    now = datetime.now(timezone.utc)
    pool = session.get_pool(pool_id)
    created = _parse(pool.creation_time) or now
    start = created if since is None else max(_parse(since) or created, created)
    vm_size = str(pool.vm_size)
    vcpus = float(vm_vcpus(vm_size) or 1)
    client = session.batch_client
    nodes = call(f"list the nodes of pool {pool_id!r}", lambda: as_rows(client.list_nodes(
        pool_id, select=["id", "isDedicated", "allocationTime", "state"])))
    runs = _task_runs(session, pool_id, now)

    agg: dict[str, dict[str, float]] = {r: defaultdict(float) for r in ROWS}
    live_ids = set()
    for node in nodes:
        live_ids.add(node["id"])
        row = "dedicated" if node.get("isDedicated", True) else "spot"
        alive_from = max(_parse(node.get("allocationTime")) or start, start)
        seconds = max(0.0, (now - alive_from).total_seconds())
        busy = busy_seconds(runs.get(node["id"], []), alive_from, now)
        agg[row]["nodes"] += 1
        agg[row]["node_hours"] += seconds / 3600.0
        agg[row]["busy_node_hours"] += busy / 3600.0

    # What the usage metrics saw beyond the present nodes: nodes that have left the pool.
    metrics = _usage_metrics(session, pool_id, start, now)
    metric_core_hours = sum(float(m.get("totalCoreHours") or 0.0) for m in metrics)
    first = min((_parse(m.get("startTime")) for m in metrics), default=None, key=lambda d: d or now)
    until = max((_parse(m.get("endTime")) for m in metrics), default=None, key=lambda d: d or start)
    present_in_window = 0.0
    if first is not None and until is not None:
        for node in nodes:
            alive_from = max(_parse(node.get("allocationTime")) or first, first)
            present_in_window += max(0.0, (until - alive_from).total_seconds()) / 3600.0 * vcpus
    departed_busy = sum(busy_seconds(r, start, now) for node_id, r in runs.items() if node_id not in live_ids)
    departed_hours = max(max(0.0, metric_core_hours - present_in_window) / vcpus, departed_busy / 3600.0)
    if departed_hours > 1e-9:
        agg["departed"]["nodes"] = float(len([n for n in runs if n not in live_ids]))
        agg["departed"]["node_hours"] = departed_hours
        agg["departed"]["busy_node_hours"] = min(departed_busy / 3600.0, departed_hours)

    where = region or region_of(session)
    options = dict(prices or {})
    used: list[Price] = []
    records = []
    for row in ROWS:
        a = agg[row]
        if row == "departed" and not a:
            continue
        price = vm_price(vm_size, region=where, spot=row == "spot", **options)
        used.append(price)
        idle = max(0.0, a["node_hours"] - a["busy_node_hours"])
        records.append({"priority": row, "nodes": int(a["nodes"]), "node_hours": a["node_hours"],
                        "busy_node_hours": a["busy_node_hours"], "idle_node_hours": idle,
                        "core_hours": a["node_hours"] * vcpus, "idle_core_hours": idle * vcpus,
                        "price_per_hour": price.per_hour, "cost": a["node_hours"] * price.per_hour,
                        "idle_cost": idle * price.per_hour})
    frame = pd.DataFrame.from_records(records).set_index("priority")
    frame.attrs["summary"] = _summary(frame, used, pool, start, now, metric_core_hours, until)
    frame.attrs["prices"] = [str(p) for p in used]
    return frame


def _summary(frame: pd.DataFrame, prices: list[Price], pool: Any, start: datetime, now: datetime,
             metric_core_hours: float, until: datetime | None) -> dict[str, Any]:
    node_hours = float(frame["node_hours"].sum())
    idle_hours = float(frame["idle_node_hours"].sum())
    idle_cost = float(frame["idle_cost"].sum())
    currency = prices[0].currency if prices else None
    summary: dict[str, Any] = {
        "pool_id": pool.id, "vm_size": pool.vm_size, "since": start, "until": now,
        "node_hours": node_hours, "busy_node_hours": float(frame["busy_node_hours"].sum()),
        "idle_node_hours": idle_hours, "core_hours": float(frame["core_hours"].sum()),
        "cost": float(frame["cost"].sum()), "idle_cost": idle_cost, "currency": currency,
        "usage_metrics_core_hours": metric_core_hours, "usage_metrics_until": until,
        "approximate": any(p.approximate for p in prices), "price_sources": sorted({p.source for p in prices}),
        "hint": None,
    }
    if node_hours > 0 and idle_hours / node_hours > IDLE_HINT_SHARE:
        share = idle_hours / node_hours
        if getattr(pool, "enable_auto_scale", False):
            summary["hint"] = (f"{share:.0%} of node time was idle ({idle_cost:.4f} {currency}) although the pool "
                               "autoscales: a shorter autoscale_interval or autoscale_min_nodes=0 would release nodes sooner")
        else:
            summary["hint"] = (f"{share:.0%} of node time was idle ({idle_cost:.4f} {currency}): an autoscale "
                               "preset (PoolSpec(autoscale='queue', autoscale_max_nodes=N)) releases idle nodes")
    return summary

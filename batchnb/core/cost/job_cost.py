"""``job.cost()``: what each task of a job cost, from the service's own task and node records.

A task pays for its share of the node it ran on: ``requiredSlots / taskSlotsPerNode`` of the
node's price, for its wall time (start to end; until now while it runs). Core-hours are the same
share of the node's vCPUs. Batch keeps only the last attempt's times, so an earlier attempt (a
retry after a failure, a requeue after preemption or a node's removal, which loses the partial
run) is shown as an *estimate*: a retry as long as the last attempt, a requeue half of it. The
pool's own accounting (``pool.cost()``) measures that time on the nodes instead.

Everything here runs on REST-shaped dicts (what ``list_tasks`` returns), in one pass plus
vectorized pandas, so a 100,000-task job costs one paged listing and well under a second of
arithmetic (see benchmarks/job_cost.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from batchnb.core.cost.prices import Price, vm_price
from batchnb.core.cost.vcpus import vm_vcpus
from batchnb.core.transport import as_rows, call
from batchnb.errors import NotFoundError

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["COST_TASK_SELECT", "PoolFacts", "cost_table", "job_cost", "job_cost_frame", "pool_facts", "region_of"]

COST_TASK_SELECT = ("id", "state", "executionInfo", "nodeInfo", "requiredSlots")
PRIORITIES = ["dedicated", "spot", "unknown"]
TASK_STATES = ["active", "preparing", "running", "completed"]
# Earlier attempts are not in the record: a retry reran the whole task, a requeue lost part of a run.
RETRY_FRACTION = 1.0
REQUEUE_FRACTION = 0.5


@dataclass(frozen=True)
class PoolFacts:
    """What pricing needs to know about one pool (``vm_size`` None: the pool is gone)."""

    pool_id: str
    vm_size: str | None
    slots_per_node: int
    dedicated_nodes: frozenset[str]
    spot_nodes: frozenset[str]

    def priority_of(self, node_id: str | None) -> str:
        if node_id in self.dedicated_nodes:
            return "dedicated"
        if node_id in self.spot_nodes:
            return "spot"
        return "unknown"


def region_of(session: Session) -> str | None:
    """The account's region from its endpoint (``acct.westeurope.batch.azure.com``); None locally."""
    if getattr(session, "local_service", None) is not None:
        return None
    host = session.endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[2] == "batch" else None


def pool_facts(session: Session, pool_id: str) -> PoolFacts:
    """The pool's size, slots and which of its nodes are spot (two requests)."""
    client = session.batch_client
    try:
        pool = session.get_pool(pool_id)
    except NotFoundError:
        return PoolFacts(pool_id, None, 1, frozenset(), frozenset())
    nodes = call(f"list the nodes of pool {pool_id!r}",
                 lambda: list(client.list_nodes(pool_id, select=["id", "isDedicated"])))
    dedicated = frozenset(n.id for n in nodes if n.is_dedicated)
    spot = frozenset(n.id for n in nodes if n.is_dedicated is False)
    return PoolFacts(pool_id, pool.vm_size, int(pool.task_slots_per_node or 1), dedicated, spot)


def _utc(values: list[Any]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601", errors="coerce")


def job_cost_frame(rows: Iterable[Mapping[str, Any]], pools: Mapping[str, PoolFacts],
                   price_of: Any, *, default_pool: str | None = None, now: datetime | None = None) -> pd.DataFrame:
    """The per-task cost table from REST task dicts (pure: no requests).

    ``pools``: facts by lower-cased pool id; ``price_of(vm_size, spot) -> Price``."""
    ids: list[str] = []
    states: list[Any] = []
    starts: list[Any] = []
    ends: list[Any] = []
    node_ids: list[Any] = []
    pool_ids: list[Any] = []
    slots: list[int] = []
    retries: list[int] = []
    requeues: list[int] = []
    empty: dict[str, Any] = {}
    for row in rows:
        ex = row.get("executionInfo") or empty
        node = row.get("nodeInfo") or empty
        ids.append(row["id"])
        states.append(str(row.get("state") or "").lower() or None)
        starts.append(ex.get("startTime"))
        ends.append(ex.get("endTime"))
        node_ids.append(node.get("nodeId"))
        pool = node.get("poolId") or default_pool
        pool_ids.append(pool)
        slots.append(int(row.get("requiredSlots") or 1))
        retries.append(int(ex.get("retryCount") or 0))
        requeues.append(int(ex.get("requeueCount") or 0))
    return cost_table(pd.Index(ids, dtype="string", name="task_id"), pd.Series(states, dtype=object),
                      _utc(starts), _utc(ends), pd.Series(node_ids, dtype=object), pd.Series(pool_ids, dtype=object),
                      np.array(slots, dtype=float), np.array(retries, dtype=float), np.array(requeues, dtype=float),
                      pools, price_of, now=now)


def cost_table(index: pd.Index, state: pd.Series, start: pd.Series, end: pd.Series, node_ids: pd.Series,
               pool_ids: pd.Series, slots: np.ndarray, retries: np.ndarray, requeues: np.ndarray,
               pools: Mapping[str, PoolFacts], price_of: Any, *, now: datetime | None = None) -> pd.DataFrame:
    """The per-task cost table from columns (what :func:`job_cost_frame` reads from rows, or a
    monitor has in its typed task table). Positional: every column in the order of ``index``;
    ``state`` lower-case strings, ``start``/``end`` UTC datetimes (NaT: not yet), ``pool_ids`` as
    Batch spells them (None: unknown)."""
    now_ts = pd.Timestamp(now or datetime.now(timezone.utc))
    state, start, end = (s.reset_index(drop=True) for s in (state, start, end))
    # A running task has no end yet: it costs until now. One that never started costs nothing.
    running_end = end.isna() & start.notna() & state.isin(["running", "preparing"])
    end = end.where(~running_end, now_ts)
    wall = (end - start).where(start.notna() & end.notna(), pd.Timedelta(0))
    wall = wall.where(wall > pd.Timedelta(0), pd.Timedelta(0))  # clock skew never makes a negative run
    hours = wall.dt.total_seconds().to_numpy() / 3600.0

    # Per distinct (pool, node): priority, size, slots, vCPUs and price, looked up once each; the
    # rows then take them by code (numpy), so 100,000 tasks on 100 nodes cost 100 lookups.
    pool_keys = pd.Series(pool_ids.to_numpy(dtype=object), dtype="string").str.lower().fillna("")
    combos = pool_keys + "\x00" + pd.Series(node_ids.to_numpy(dtype=object), dtype="string").fillna("")
    codes, uniques = pd.factorize(combos.astype(object))
    price_cache: dict[tuple[Any, str], Price | None] = {}

    def lookup(size: Any, prio: str) -> Price | None:
        key = (size, prio)
        if key not in price_cache:
            # Unknown priority is priced as dedicated: an upper bound, never an underestimate.
            price_cache[key] = price_of(size, prio == "spot") if size else None
        return price_cache[key]

    u_prio, u_size, u_slots, u_vcpus, u_rate = [], [], [], [], []
    for combo in uniques:
        pool_key, _, node_id = str(combo).partition("\x00")
        facts = pools.get(pool_key) if pool_key else None
        prio = facts.priority_of(node_id or None) if facts else "unknown"
        size = facts.vm_size if facts else None
        price = lookup(size, prio)
        u_prio.append(prio)
        u_size.append(size)
        u_slots.append(facts.slots_per_node if facts else 1)
        u_vcpus.append(float(vm_vcpus(size) or np.nan) if size else np.nan)
        u_rate.append(price.per_hour if price is not None else np.nan)
    priority_codes = np.asarray([PRIORITIES.index(x) for x in u_prio], dtype=np.int8)[codes]
    vm_sizes = np.asarray(u_size, dtype=object)[codes]
    per_node_slots = np.asarray(u_slots, dtype=float)[codes]
    vcpus = np.asarray(u_vcpus, dtype=float)[codes]
    rates = np.asarray(u_rate, dtype=float)[codes]
    share = np.minimum(slots / per_node_slots, 1.0)
    earlier = retries * RETRY_FRACTION + requeues * REQUEUE_FRACTION
    frame = pd.DataFrame({
        "state": pd.Categorical(state.to_numpy(dtype=object), categories=TASK_STATES),
        "pool_id": pd.array(pool_ids.to_numpy(dtype=object), dtype="string"),
        "node_id": pd.array(node_ids.to_numpy(dtype=object), dtype="string"),
        "priority": pd.Categorical.from_codes(priority_codes.astype(np.int64), categories=pd.Index(PRIORITIES)),
        "vm_size": pd.array(vm_sizes, dtype="string"),
        "start_time": start.array,
        "end_time": end.array,
        "wall_time": wall.array,
        "slots": pd.array(slots.astype(np.int64), dtype="Int64"),
        "slot_share": share,
        "vcpus": vcpus,
        "core_hours": hours * share * vcpus,
        "retry_count": pd.array(retries.astype(np.int64), dtype="Int64"),
        "requeue_count": pd.array(requeues.astype(np.int64), dtype="Int64"),
        "earlier_core_hours_est": hours * earlier * share * vcpus,
        "price_per_hour": rates,
        "cost": hours * share * rates,
        "earlier_cost_est": hours * earlier * share * rates,
    }, index=index)
    if not frame.index.is_unique:
        frame = frame[~frame.index.duplicated(keep="last")]
    used = [p for p in price_cache.values() if p is not None]
    frame.attrs["summary"] = _summary(frame, used)
    frame.attrs["prices"] = [str(p) for p in used]
    return frame


def _summary(frame: pd.DataFrame, prices: list[Price]) -> dict[str, Any]:
    currencies = sorted({p.currency for p in prices})
    cost = float(np.nansum(frame["cost"].to_numpy()))
    earlier = float(np.nansum(frame["earlier_cost_est"].to_numpy()))
    return {
        "tasks": int(len(frame)),
        "ran": int(frame["start_time"].notna().sum()),
        "running": int((frame["state"] == "running").sum()),
        "wall_hours": float(frame["wall_time"].dt.total_seconds().sum() / 3600.0),
        "core_hours": float(np.nansum(frame["core_hours"].to_numpy())),
        "earlier_core_hours_est": float(np.nansum(frame["earlier_core_hours_est"].to_numpy())),
        "cost": cost,
        "earlier_cost_est": earlier,
        "total_cost": cost + earlier,
        "retries": int(frame["retry_count"].sum()),
        "requeues": int(frame["requeue_count"].sum()),
        "unpriced_tasks": int((frame["price_per_hour"].isna() & frame["start_time"].notna()).sum()),
        "currency": currencies[0] if len(currencies) == 1 else "/".join(currencies) or None,
        "approximate": any(p.approximate for p in prices),
        "price_sources": sorted({p.source for p in prices}),
    }


def job_cost(session: Session, job_id: str, *, pool_id: str | None = None, region: str | None = None,
             prices: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per task of ``job_id``: node, priority, VM size, wall time, slot share, core-hours
    and cost; ``.attrs["summary"]`` holds the totals. ``prices``: extra keyword arguments for
    :func:`batchnb.vm_price` (e.g. ``{"currency": "EUR"}``)."""
    client = session.batch_client
    rows = call(f"list the tasks of job {job_id!r}",
                lambda: as_rows(client.list_tasks(job_id, select=list(COST_TASK_SELECT))))
    pool_ids = {str(r.get("nodeInfo", {}).get("poolId")).lower(): r["nodeInfo"]["poolId"]
                for r in rows if (r.get("nodeInfo") or {}).get("poolId")}
    if pool_id:
        pool_ids.setdefault(pool_id.lower(), pool_id)
    facts = {key: pool_facts(session, real) for key, real in pool_ids.items()}
    where = region or region_of(session)
    options = dict(prices or {})

    def price_of(vm_size: str, spot: bool) -> Price:
        return vm_price(vm_size, region=where, spot=spot, **options)

    return job_cost_frame(rows, facts, price_of, default_pool=pool_id)

"""Cost so far and the estimate to finish for a job a monitor is already watching.

The monitor's watcher holds the job's task table (refreshed incrementally); this prices that table
with :func:`job_cost_frame` and extrapolates with the same model as ``job.estimate()``, so the
numbers equal ``job.cost()`` and ``job.estimate()`` without listing the tasks again. What it asks
the service for is the pool's facts (size, slots, which nodes are spot, their states): one
``get_pool`` and one ``list_nodes``, again only when a task ran on a node it has not seen or
``facts_ttl`` seconds have passed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from batchnb.core.cost.estimate import Estimate, _estimate_from_frame
from batchnb.core.cost.job_cost import PoolFacts, job_cost_frame, region_of
from batchnb.core.cost.prices import Price, vm_price
from batchnb.core.transport import as_rows, call
from batchnb.errors import NotFoundError

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["JobCostSnapshot", "LiveJobCost", "rows_from_task_frame"]


@dataclass(frozen=True)
class JobCostSnapshot:
    """``summary``: the totals of ``job.cost()`` (``.attrs["summary"]``); ``estimate``: as
    ``job.estimate()`` (None when the job has no pool)."""

    summary: dict[str, Any]
    estimate: Estimate | None


def _value(v: Any) -> Any:
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else v


def rows_from_task_frame(tasks: pd.DataFrame, pool_id: str | None) -> Iterator[dict[str, Any]]:
    """The typed task frame (``batchnb.data.frames``) back as the REST-shaped rows that
    :func:`job_cost_frame` reads: id, state, execution times, retries, node, required slots."""
    n = len(tasks)
    slots = tasks["required_slots"] if "required_slots" in tasks.columns else pd.Series([1] * n)
    columns = (tasks.index, tasks["state"], tasks["start_time"], tasks["end_time"], tasks["retry_count"],
               tasks["requeue_count"], tasks["node_id"], slots)
    for task_id, state, start, end, retries, requeues, node, required in zip(*columns, strict=True):
        node = _value(node)
        yield {"id": str(task_id), "state": _value(state),
               "executionInfo": {"startTime": _value(start), "endTime": _value(end),
                                 "retryCount": _value(retries), "requeueCount": _value(requeues)},
               "nodeInfo": {"nodeId": node, "poolId": pool_id} if node else None,
               "requiredSlots": _value(required)}


class LiveJobCost:
    """Prices a watched job's task table; see the module docstring for what it requests."""

    def __init__(self, session: Session, job_id: str, *, region: str | None = None, currency: str = "USD",
                 facts_ttl: float = 60.0) -> None:
        self.session = session
        self.job_id = job_id
        self.region = region or region_of(session)
        self.currency = currency
        self.facts_ttl = facts_ttl
        self._pool_id: str | None = None
        self._facts: PoolFacts | None = None
        self._nodes: list[dict[str, Any]] = []
        self._facts_at = -math.inf
        self.requests = 0  # to the service, for pool facts (never a task listing)

    def _refresh_facts(self, pool_id: str) -> None:
        client = self.session.batch_client
        self._pool_id, self._facts_at = pool_id, time.monotonic()
        try:
            pool = self.session.get_pool(pool_id)
            self.requests += 1
        except NotFoundError:
            self._facts, self._nodes = PoolFacts(pool_id, None, 1, frozenset(), frozenset()), []
            return
        nodes = call(f"list the nodes of pool {pool_id!r}", lambda: as_rows(
            client.list_nodes(pool_id, select=["id", "isDedicated", "state"])))
        self.requests += 1
        self._facts = PoolFacts(pool_id, pool.vm_size, int(pool.task_slots_per_node or 1),
                                frozenset(n["id"] for n in nodes if n.get("isDedicated")),
                                frozenset(n["id"] for n in nodes if n.get("isDedicated") is False))
        # Nodes that will not run tasks do not shorten the wait (as job.estimate()).
        self._nodes = [n for n in nodes
                       if str(n.get("state")).lower() not in ("starttaskfailed", "unusable", "leavingpool")]

    def _facts_for(self, pool_id: str, tasks: pd.DataFrame) -> PoolFacts:
        stale = (self._facts is None or pool_id != self._pool_id
                 or time.monotonic() - self._facts_at > self.facts_ttl)
        if not stale and self._facts is not None and self._facts.vm_size is not None and len(tasks):
            known = self._facts.dedicated_nodes | self._facts.spot_nodes
            stale = bool((~tasks["node_id"].dropna().isin(known)).any())
        if stale:
            self._refresh_facts(pool_id)
        assert self._facts is not None
        return self._facts

    def compute(self, tasks: pd.DataFrame, pool_id: str | None) -> JobCostSnapshot:
        """Price ``tasks`` (the watcher's frame) of the job on ``pool_id``."""
        currency = self.currency

        def price_of(vm_size: str, spot: bool) -> Price:
            return vm_price(vm_size, region=self.region, spot=spot, currency=currency)

        if not pool_id:
            frame = job_cost_frame(rows_from_task_frame(tasks, None), {}, price_of)
            return JobCostSnapshot(frame.attrs["summary"], None)
        facts = self._facts_for(pool_id, tasks)
        pools: Mapping[str, PoolFacts] = {pool_id.lower(): facts}
        frame = job_cost_frame(rows_from_task_frame(tasks, pool_id), pools, price_of, default_pool=pool_id)
        estimate = _estimate_from_frame(self.session, frame, facts, pool_id, self.region, nodes=self._nodes)
        return JobCostSnapshot(frame.attrs["summary"], estimate)

"""Cost so far and the estimate to finish for a job a monitor is already watching.

The monitor's watcher holds the job's task table (refreshed incrementally); this prices that table
column-wise with :func:`cost_table` (what ``job.cost()`` runs on listed rows) and extrapolates with the same model as ``job.estimate()``, so the
numbers equal ``job.cost()`` and ``job.estimate()`` without listing the tasks again. What it asks
the service for is the pool's facts (size, slots, which nodes are spot, their states): one
``get_pool`` and one ``list_nodes``, again only when a task ran on a node it has not seen or
``facts_ttl`` seconds have passed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from batchnb.core.cost.estimate import Estimate, _estimate_from_frame
from batchnb.core.cost.job_cost import PoolFacts, cost_table, region_of
from batchnb.core.cost.prices import Price, vm_price
from batchnb.core.transport import as_rows, call
from batchnb.errors import NotFoundError

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["JobCostSnapshot", "LiveJobCost", "cost_from_task_frame"]


@dataclass(frozen=True)
class JobCostSnapshot:
    """``summary``: the totals of ``job.cost()`` (``.attrs["summary"]``); ``estimate``: as
    ``job.estimate()`` (None when the job has no pool)."""

    summary: dict[str, Any]
    estimate: Estimate | None


def cost_from_task_frame(tasks: pd.DataFrame, pool_id: str | None, pools: Mapping[str, PoolFacts],
                         price_of: Any) -> pd.DataFrame:
    """``job.cost()``'s table from the typed task frame (``batchnb.data.frames``), column-wise:
    the frame holds every task with the same fields ``job.cost()`` lists."""
    n = len(tasks)
    node = tasks["node_id"].astype(object).reset_index(drop=True)
    pools_col = pd.Series([pool_id] * n, dtype=object)  # the job's pool, as job.cost() assumes

    def counts(name: str, default: int) -> np.ndarray:
        if name not in tasks.columns:
            return np.full(n, float(default))
        values = tasks[name].astype("Float64").fillna(float(default)).to_numpy(dtype=float)
        return np.where(values > 0, values, float(default)) if name == "required_slots" else values

    return cost_table(pd.Index(tasks.index.astype(str), dtype="string", name="task_id"),
                      tasks["state"].astype(object), tasks["start_time"], tasks["end_time"], node, pools_col,
                      counts("required_slots", 1), counts("retry_count", 0), counts("requeue_count", 0),
                      pools, price_of)


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
            frame = cost_from_task_frame(tasks, None, {}, price_of)
            return JobCostSnapshot(frame.attrs["summary"], None)
        facts = self._facts_for(pool_id, tasks)
        pools: Mapping[str, PoolFacts] = {pool_id.lower(): facts}
        frame = cost_from_task_frame(tasks, pool_id, pools, price_of)
        estimate = _estimate_from_frame(self.session, frame, facts, pool_id, self.region, nodes=self._nodes)
        return JobCostSnapshot(frame.attrs["summary"], estimate)

"""Estimates before the bill: ``job.estimate()`` (time and money to finish a job) and
``session.estimate(tasks, pool=..., pilot=N)`` (run N tasks first, extrapolate the whole sweep).

The model is deliberately simple and stated: tasks take the mean duration of the ones measured;
the pool's slots work in parallel, so the remaining work (task-seconds times slots per task)
divided by the slots is the time left, and never less than one task; the pool's nodes are billed
for all of that time, busy or not (that is what finishing costs). The spread is a 95 % band on
the total work: the sum of N durations varies as sqrt(N) times their spread, and the mean itself
is known only to within its standard error from the n tasks measured.
"""

from __future__ import annotations

import html
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from batchnb.core.cost.job_cost import COST_TASK_SELECT, PoolFacts, job_cost_frame, pool_facts, region_of
from batchnb.core.cost.prices import vm_price
from batchnb.core.transport import as_rows, call
from batchnb.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from batchnb.core.session import Session
    from batchnb.core.specs.models import TaskSpec

__all__ = ["Estimate", "estimate_job", "estimate_sweep"]

_Z95 = 1.96


@dataclass(frozen=True)
class Estimate:
    """Time and money to run ``remaining`` tasks on a pool, from ``samples`` measured durations.

    Made by :meth:`Session.estimate` and :meth:`JobHandle.estimate`; ``str()`` says it in one line.

    Parameters
    ----------
    tasks : int
        Tasks in the sweep or job.
    remaining : int
        Tasks left to run.
    samples : int
        Measured task durations the estimate rests on.
    mean_task_seconds : float
        Their mean.
    sd_task_seconds : float
        Their standard deviation.
    nodes : int
        The pool's usable nodes.
    slots : int
        Their task slots in all.
    eta : datetime.timedelta or None
        Time to finish (None when it cannot be estimated: ``basis`` says why).
    eta_low : datetime.timedelta or None
        Low end of the 95 % band.
    eta_high : datetime.timedelta or None
        High end of the 95 % band.
    node_hours : float
        Node-hours until then.
    cost : float
        Their cost.
    cost_low : float
        Low end of the 95 % band.
    cost_high : float
        High end of the 95 % band.
    currency : str or None
        The prices' currency.
    approximate : bool
        Some price was approximate (see :class:`Price`).
    basis : str
        What the estimate rests on, in words.
    pilot_job_id : str, optional
        The pilot job (:meth:`Session.estimate`).
    pilot_cost : float, optional
        What the pilot cost.
    """

    tasks: int
    remaining: int
    samples: int
    mean_task_seconds: float
    sd_task_seconds: float
    nodes: int
    slots: int
    eta: timedelta | None
    eta_low: timedelta | None
    eta_high: timedelta | None
    node_hours: float
    cost: float
    cost_low: float
    cost_high: float
    currency: str | None
    approximate: bool
    basis: str
    pilot_job_id: str | None = None
    pilot_cost: float | None = None

    @property
    def finish_at(self) -> datetime | None:
        """When it should finish (UTC), if it can be estimated."""
        return None if self.eta is None else datetime.now(timezone.utc) + self.eta

    def __str__(self) -> str:
        if self.eta is None:
            return f"Estimate: {self.remaining} task(s) left, but {self.basis}"
        approx = " (approximate prices)" if self.approximate else ""
        return (f"Estimate: {self.remaining} of {self.tasks} task(s) left, about {_span(self.eta)} "
                f"({_span(self.eta_low)}-{_span(self.eta_high)}) on {self.nodes} node(s) x "
                f"{self.slots // max(self.nodes, 1)} slot(s); {self.cost:.4f} {self.currency} "
                f"({self.cost_low:.4f}-{self.cost_high:.4f}){approx}; {self.basis}")

    def _repr_html_(self) -> str:
        return f"<div><b>batchnb estimate</b>: {html.escape(str(self).removeprefix('Estimate: '))}</div>"


def _span(value: timedelta | None) -> str:
    if value is None:
        return "?"
    seconds = value.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _live_nodes(session: Session, pool_id: str) -> list[dict[str, Any]]:
    client = session.batch_client
    nodes = call(f"list the nodes of pool {pool_id!r}",
                 lambda: as_rows(client.list_nodes(pool_id, select=["id", "isDedicated", "state"])))
    # Nodes that will not run tasks do not shorten the wait (but a running pool bills them all).
    return [n for n in nodes if str(n.get("state")).lower() not in ("starttaskfailed", "unusable", "leavingpool")]


def _extrapolate(*, durations: np.ndarray, remaining_work_s: float, remaining: int, tasks: int,
                 slots_per_task: float, nodes: list[dict[str, Any]], facts: PoolFacts, session: Session,
                 region: str | None, basis: str, floor_s: float, **extra: Any) -> Estimate:
    n = len(durations)
    mean = float(durations.mean()) if n else 0.0
    sd = float(durations.std(ddof=1)) if n > 1 else 0.0
    slots = len(nodes) * facts.slots_per_node
    if not n or not slots or facts.vm_size is None:
        why = ("no task has finished yet: wait for a few" if not n else
               "the pool has no usable nodes" if not slots else "the pool no longer exists")
        return Estimate(tasks, remaining, n, mean, sd, len(nodes), slots, None, None, None, 0.0, 0.0, 0.0, 0.0,
                        None, False, why, **extra)
    # 95 % band on the remaining work: N task durations vary (sqrt(N) sd) and the mean is uncertain.
    spread = _Z95 * math.sqrt(remaining * sd * sd + (remaining * sd / math.sqrt(n)) ** 2) * slots_per_task

    def eta_of(work: float) -> timedelta:
        return timedelta(seconds=max(work * slots_per_task / slots if remaining else 0.0, floor_s, 0.0))

    eta = eta_of(remaining_work_s)
    low = timedelta(seconds=max(eta.total_seconds() - spread / slots, floor_s, 0.0))
    high = timedelta(seconds=eta.total_seconds() + spread / slots)
    rate = 0.0
    prices = []
    for node in nodes:
        price = vm_price(facts.vm_size, region=region, spot=node.get("isDedicated") is False)
        prices.append(price)
        rate += price.per_hour
    hours = eta.total_seconds() / 3600.0
    return Estimate(tasks, remaining, n, mean, sd, len(nodes), slots, eta, low, high, hours * len(nodes),
                    hours * rate, low.total_seconds() / 3600.0 * rate, high.total_seconds() / 3600.0 * rate,
                    prices[0].currency, any(p.approximate for p in prices), basis, **extra)


def estimate_job(session: Session, job_id: str, pool_id: str) -> Estimate:
    """ETA and cost to finish ``job_id`` on ``pool_id``, from its completed tasks' durations."""
    client = session.batch_client
    rows = call(f"list the tasks of job {job_id!r}",
                lambda: as_rows(client.list_tasks(job_id, select=list(COST_TASK_SELECT))))
    facts = pool_facts(session, pool_id)
    frame = job_cost_frame(rows, {pool_id.lower(): facts}, lambda size, spot: None, default_pool=pool_id)
    return _estimate_from_frame(session, frame, facts, pool_id, region_of(session))


def _estimate_from_frame(session: Session, frame: pd.DataFrame, facts: PoolFacts, pool_id: str,
                         region: str | None, *, nodes: list[dict[str, Any]] | None = None,
                         **extra: Any) -> Estimate:
    """``nodes``: the pool's usable nodes when the caller has them (a live monitor), else listed."""
    done = frame[(frame["state"] == "completed") & frame["start_time"].notna()]
    durations = done["wall_time"].dt.total_seconds().to_numpy(dtype=float)
    mean = float(durations.mean()) if len(durations) else 0.0
    running = frame[frame["state"].isin(["running", "preparing"])]
    waiting = frame[frame["state"] == "active"]
    elapsed = running["wall_time"].dt.total_seconds().to_numpy(dtype=float)
    left_running = np.clip(mean - elapsed, 0.0, None)
    remaining = int(len(running) + len(waiting))
    work = float(len(waiting) * mean + left_running.sum())
    todo = frame[frame["state"] != "completed"]
    slots_per_task = float(todo["slots"].astype(float).mean()) if len(todo) else 1.0
    # Nothing finishes before the longest running task does, nor a queued task before one duration.
    floor = max(float(left_running.max()) if len(left_running) else 0.0, mean if len(waiting) else 0.0)
    basis = f"from {len(durations)} finished task(s), mean {mean:.1f} s"
    return _extrapolate(durations=durations, remaining_work_s=work, remaining=remaining, tasks=len(frame),
                        slots_per_task=slots_per_task,
                        nodes=nodes if nodes is not None else _live_nodes(session, pool_id), facts=facts,
                        session=session, region=region, basis=basis, floor_s=floor, **extra)


def estimate_sweep(session: Session, tasks: Iterable[TaskSpec], *, pool: str, pilot: int = 5,
                   timeout: float = 1800, keep_pilot: bool = False, job_id: str | None = None) -> Estimate:
    """Run ``pilot`` of ``tasks`` (spread over the sweep) as a job of their own on ``pool``, wait
    for them, and extrapolate the time and cost of the whole sweep on that pool.

    The pilot job is deleted afterwards unless ``keep_pilot``; ``Estimate.pilot_cost`` is what it cost."""
    from batchnb.core.specs.models import TaskSpec

    specs = list(tasks)
    if not specs or not all(isinstance(t, TaskSpec) for t in specs):
        raise ValidationError("tasks", "must be a non-empty list of TaskSpec (e.g. batchnb.sweep(...))",
                              fix="pass the tasks you mean to run, e.g. session.estimate(batchnb.sweep(...), pool=...)")
    if isinstance(pilot, bool) or not isinstance(pilot, int) or not 1 <= pilot <= len(specs):
        raise ValidationError("pilot", f"is {pilot!r}", fix=f"run between 1 and {len(specs)} pilot task(s), e.g. pilot=5")
    if not isinstance(pool, str) or not pool:
        raise ValidationError("pool", f"is {pool!r}", fix="name the pool the sweep will run on")
    facts = pool_facts(session, pool)
    if facts.vm_size is None:
        raise ValidationError("pool", f"pool {pool!r} does not exist", fix="create it first (session.create_pool)")
    picks = sorted({int(round(i)) for i in np.linspace(0, len(specs) - 1, pilot)})
    pilot_id = job_id or f"pilot-{uuid.uuid4().hex[:8]}"
    job = session.create_job(pilot_id, pool=pool)
    try:
        job.add_tasks([specs[i] for i in picks])
        job.wait(timeout=timeout)
        cost = job.cost()
        done = cost[cost["state"] == "completed"]
        durations = done["wall_time"].dt.total_seconds().to_numpy(dtype=float)
        slots_per_task = float(np.mean([t.required_slots for t in specs]))
        mean = float(durations.mean()) if len(durations) else 0.0
        nodes = _live_nodes(session, pool)
        return _extrapolate(durations=durations, remaining_work_s=len(specs) * mean, remaining=len(specs),
                            tasks=len(specs), slots_per_task=slots_per_task, nodes=nodes, facts=facts,
                            session=session, region=region_of(session), floor_s=mean,
                            basis=f"from a pilot of {len(durations)} task(s) (job {pilot_id!r}), mean {mean:.1f} s",
                            pilot_job_id=pilot_id, pilot_cost=float(cost.attrs["summary"]["total_cost"]))
    finally:
        if not keep_pilot:
            session.delete_job(pilot_id)

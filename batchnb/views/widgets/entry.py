"""What ``JobHandle.monitor()`` and ``PoolHandle.monitor()`` return (handles import this lazily,
so that core never imports ipywidgets)."""

from __future__ import annotations

from typing import Any

from batchnb.data.watch import pool_watcher_for, watcher_for
from batchnb.views.widgets.job_monitor import JobMonitor
from batchnb.views.widgets.pool_monitor import PoolMonitor


def monitor_job(job: Any, *, interval: float = 2.0) -> JobMonitor:
    """A :class:`JobMonitor` for a job handle, sharing the handle's cached watcher.

    The watcher is per client and job, so showing the monitor twice (or after ``job.tasks()``)
    reuses what was loaded; after a kernel restart the first refresh loads the full picture.
    """
    return JobMonitor(watcher_for(job.session.batch_client, job.id), job=job, interval=interval)


def monitor_pool(pool: Any, *, interval: float = 5.0, metrics: bool = True) -> PoolMonitor:
    """A :class:`PoolMonitor` for a pool handle (``metrics``: read the sampler's utilization lines)."""
    watcher = pool_watcher_for(pool.session.batch_client, pool.id)
    watcher.metrics = metrics
    return PoolMonitor(watcher, pool=pool, interval=interval)

"""Notebook views for batchnb (ipywidgets 8 + plotly FigureWidget).

``job.monitor()`` and ``pool.monitor()`` return these; :class:`PoolForm` creates a pool from a
form. Each view polls on the kernel's asyncio loop (the cell returns at once), updates its figures
in place, stops polling when closed, and carries a text/html fallback in its mimebundle.
Importing this package needs ipywidgets and plotly; ``import batchnb`` does not.
"""

from __future__ import annotations

from ._figure_state import FullStateFigureWidget, sync_figure_state
from .entry import monitor_job, monitor_pool
from .job_monitor import JobMonitor
from .log_tail import LogTail
from .pool_form import PoolForm
from .pool_monitor import PoolMonitor

__all__ = ["FullStateFigureWidget", "JobMonitor", "LogTail", "PoolForm", "PoolMonitor", "monitor_job", "monitor_pool", "sync_figure_state"]

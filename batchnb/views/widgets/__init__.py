"""Notebook views for batchnb (ipywidgets 8 + plotly FigureWidget).

``job.monitor()`` and ``pool.monitor()`` return these; :class:`PoolForm` creates a pool from a
form. Each view polls on the kernel's asyncio loop (the cell returns at once), updates its figures
in place, stops polling when closed, and carries a text/html fallback in its mimebundle.
Importing this package needs ipywidgets and plotly; ``import batchnb`` does not.
"""

from __future__ import annotations

from batchnb.views.widgets._figure_state import FullStateFigureWidget, sync_figure_state
from batchnb.views.widgets.entry import monitor_job, monitor_pool
from batchnb.views.widgets.job_monitor import JobMonitor
from batchnb.views.widgets.log_tail import LogTail
from batchnb.views.widgets.pool_form import PoolForm
from batchnb.views.widgets.pool_monitor import PoolMonitor

__all__ = ["FullStateFigureWidget", "JobMonitor", "LogTail", "PoolForm", "PoolMonitor", "monitor_job", "monitor_pool", "sync_figure_state"]

"""Monitors users can trust, in a kernel-less process against the real local service:

- library log records and warnings raised while a view polls go to the view, not to stderr;
- no NaN reaches plotly (a heatmap with an empty tile);
- a job deleted while watched shows as deleted, its actions disabled; a completed job's
  Terminate is disabled;
- displayed, a finished job's monitor swaps itself for a static summary and plotly-mimetype figures
  (what a notebook reopened without its kernel shows); a closed pool monitor does the same.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import time
import warnings

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import batchnb
from batchnb.data import frames
from batchnb.data.watch import JobWatcher, PoolWatcher
from batchnb.views import plots
from batchnb.views.widgets import JobMonitor, PoolMonitor
from batchnb.views.widgets._live_figure import LiveFigure
from batchnb.views.widgets._quiet import quiet
from batchnb.views.widgets._static import PLOTLY_MIME
from tests.local.service.helpers import uid

pytestmark = pytest.mark.timeout(180)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def session(local_service):
    s = batchnb.connect("local", state_dir=str(local_service.state_dir))
    yield s
    s.close()


@pytest.fixture(scope="module")
def pool(session):
    handle = session.create_pool(batchnb.PoolSpec(uid("trust"), vm_size="standard_d2s_v3", dedicated_nodes=3,
                                                  task_slots_per_node=2), wait=True, timeout=120)
    yield handle
    handle.delete()


def _run_until(predicate, *, timeout: float, start) -> None:
    """Run the event loop (as the kernel does between cells) until ``predicate()`` or ``timeout``."""

    async def main() -> None:
        start()
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    asyncio.run(main())


# ------------------------------------------------------------------------------------------ noise


def test_records_and_warnings_inside_quiet_go_to_the_sink_from_tasks_and_threads(caplog) -> None:
    got: list[str] = []

    async def main() -> None:
        def in_thread() -> None:
            logging.getLogger("azure.core.test").warning("deserialization trouble\nTraceback ...")
            warnings.warn("Out of range float values are not JSON compliant", UserWarning, stacklevel=1)

        async def poll() -> None:
            await asyncio.to_thread(in_thread)

        with quiet(got.append):
            task = asyncio.get_running_loop().create_task(poll())
        await task
        logging.getLogger("azure.core.test").warning("outside any view")

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert got == ["warning (azure.core.test): deserialization trouble",
                   "UserWarning: Out of range float values are not JSON compliant"]
    # Outside a view, logging reaches the configured handlers as before; the view's records do not.
    assert "outside any view" in caplog.text and "deserialization trouble" not in caplog.text


def test_pool_monitor_reading_missing_metrics_prints_nothing(session, pool) -> None:
    # metrics=True on a pool without the sampler: every read is a 404 to a HEAD request, which
    # made the SDK log a deserialization traceback twice per poll into the cell.
    assert pool.has_metrics is False
    view = PoolMonitor(PoolWatcher(session.batch_client, pool.id, metrics=True), pool=pool, interval=0.2,
                       autostart=False)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        _run_until(lambda: view.watcher.refreshes >= 3, timeout=60, start=view.start)
    view.close()
    assert view.watcher.refreshes >= 3
    assert err.getvalue() == "" and out.getvalue() == ""


def test_heatmap_with_an_empty_tile_sends_no_nan(pool, session) -> None:
    watcher = PoolWatcher(session.batch_client, pool.id, metrics=False)
    watcher.refresh()
    assert len(watcher.nodes) == 3  # a 2x2 grid: one empty tile
    fig = plots.node_heatmap_figure(watcher.nodes, task_slots_per_node=2)
    z = np.asarray(fig.data[0].z, dtype=object).ravel()
    assert z[-1] is None and not any(isinstance(v, float) and np.isnan(v) for v in z)
    live = LiveFigure("t")
    util = frames.utilization_frame([{"node_id": "n1", "time": "2026-01-01T00:00:00Z", "cpu_percent": None,
                                      "mem_percent": 10.0}])
    live.show(plots.utilization_figure(util))
    for trace in live.widget.data:
        for prop in ("x", "y", "z"):
            value = trace[prop] if prop in trace else None
            if value is not None:
                arr = np.asarray(value, dtype=object).ravel()
                assert not any(isinstance(v, float) and np.isnan(v) for v in arr), (trace.name, prop)
    live.close()


# ------------------------------------------------------------------------------------------ state


def test_job_deleted_while_watched_shows_deleted_and_disables_actions(session, pool) -> None:
    job = session.create_job(uid("gone"), pool=pool)
    job.add_tasks([batchnb.TaskSpec("sleeper", 'python -c "import time; time.sleep(60)"')])
    view = JobMonitor(JobWatcher(session.batch_client, job.id), job=job, interval=0.3, autostart=False)
    assert not view.terminate_button.disabled

    def start() -> None:
        view.start()
        asyncio.get_running_loop().call_later(1.0, lambda: job.delete())

    _run_until(lambda: view.watcher.gone, timeout=60, start=start)
    assert view.state_text() == "deleted"
    assert "job deleted (seen" in view.status.value and "deleted" in view.state_badge.value
    assert view.terminate_button.disabled and view.retry_button.disabled
    assert "deleted" in view.summary_text()
    view.close()


def test_completed_job_cannot_be_terminated_from_the_view(session, pool) -> None:
    job = session.create_job(uid("ended"), pool=pool)
    job.add_tasks([batchnb.TaskSpec("t", 'python -c "pass"')])
    job.terminate(wait=True, timeout=60)
    watcher = JobWatcher(session.batch_client, job.id)
    watcher.refresh()
    view = JobMonitor(watcher, job=job)
    assert view.state_text() == "completed" and view.terminate_button.disabled
    view.close()
    job.delete()


# ----------------------------------------------------------------------------------- persistence


def _values(array: object) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed array ``{"dtype": "i8", "bdata": base64}``."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)



def test_finished_job_monitor_swaps_to_static_summary_and_figures(session, pool) -> None:
    job = session.create_job(uid("static"), pool=pool)
    job.add_tasks([batchnb.TaskSpec(f"ok{i}", 'python -c "pass"') for i in range(3)]
                  + [batchnb.TaskSpec("bad", "python -c \"import sys; sys.stderr.write('boom 42'); sys.exit(3)\"")])
    shell = InteractiveShell.instance()
    with capture_output() as cap:
        view = job.monitor(interval=0.3)
        shell.display_formatter.format(view)  # what showing it as a cell's value does
        view.wait(timeout=60)
    shown = [o for o in cap.outputs if not o.update]
    updates = [o for o in cap.outputs if o.update]
    assert len(shown) == 3 and WIDGET_VIEW in shown[0].data
    ids = [o.transient["display_id"] for o in shown]
    final = {o.transient["display_id"]: o.data for o in updates}
    assert set(final) == set(ids)
    summary, progress, timeline = (final[i] for i in ids)
    assert WIDGET_VIEW not in summary and "(done)" in summary["text/html"]
    assert "boom 42" in summary["text/html"] and "<script" not in summary["text/html"]
    assert list(_values(progress[PLOTLY_MIME]["data"][0]["y"]))[-1] == 3  # succeeded, as plotly.js gets it
    assert "width" not in progress[PLOTLY_MIME]["layout"] and progress[PLOTLY_MIME]["layout"]["autosize"]
    assert timeline[PLOTLY_MIME]["data"]
    view.close()
    job.delete()


def test_closed_pool_monitor_leaves_static_summary(session, pool) -> None:
    shell = InteractiveShell.instance()
    watcher = PoolWatcher(session.batch_client, pool.id, metrics=False)
    watcher.refresh()
    with capture_output() as cap:
        view = PoolMonitor(watcher, pool=pool, autostart=False)
        shell.display_formatter.format(view)
        view.close()
    updates = [o.data for o in cap.outputs if o.update]
    assert len(updates) == 2 and "3 nodes" in updates[0]["text/html"]
    assert updates[1][PLOTLY_MIME]["data"][0]["type"] == "heatmap"


def test_pool_deleted_while_watched_shows_deleted_and_disables_resize(session) -> None:
    pool = session.create_pool(batchnb.PoolSpec(uid("pgone"), vm_size="standard_d2s_v3", dedicated_nodes=1),
                               wait=True, timeout=120)
    view = PoolMonitor(PoolWatcher(session.batch_client, pool.id, metrics=False), pool=pool, interval=0.3,
                       autostart=False)

    def start() -> None:
        view.start()
        asyncio.get_running_loop().call_later(1.0, lambda: pool.delete())

    _run_until(lambda: view.watcher.gone, timeout=90, start=start)
    assert view.state_text() == "deleted" and "pool deleted (seen" in view.status.value
    assert view.resize_button.disabled and view.dedicated.disabled
    view.close()

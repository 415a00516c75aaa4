"""The monitor widgets, built and updated in a kernel-less process against the real local service.

ipywidgets work without a frontend (state changes just have nobody to send to), and without a
running asyncio loop the views do their background work inline, so everything here is synchronous.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from plotly.utils import PlotlyJSONEncoder

import batchnb
from batchnb.data.watch import JobWatcher, PoolWatcher, watcher_for
from batchnb.views.widgets import JobMonitor, LogTail, PoolForm, PoolMonitor, sync_figure_state
from tests.local.service.helpers import make_job, make_pool, py, uid, wait_for

pytestmark = pytest.mark.timeout(120)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def as_json(value: object) -> str:
    return json.dumps(value, cls=PlotlyJSONEncoder, sort_keys=True)


def test_sync_figure_state_makes_late_views_see_current_data() -> None:
    fig = go.FigureWidget(go.Bar(x=["a", "b"], y=[1, 2]))
    with fig.batch_update():
        fig.data[0].y = [5, 7]
        fig.layout.title = "now"
    # What a reloaded page would be built from is still the first picture...
    assert list(fig._widget_data[0]["y"]) == [1, 2]
    assert sync_figure_state(fig) is True
    # ...until synced.
    assert list(fig._widget_data[0]["y"]) == [5, 7]
    assert fig._widget_layout["title"]["text"] == "now"
    assert fig._widget_data is not fig._data  # a copy: later in-place edits must not leak in unsynced
    assert sync_figure_state(go.Figure()) is False


@pytest.fixture
def finished_job(batch_client: BatchClient):
    pool_id = make_pool(batch_client, uid("wmon"), dedicated=1, slots=4)
    job_id = make_job(batch_client, pool_id)
    tasks = [m.BatchTaskCreateOptions(id=f"ok{i}", command_line=py("pass")) for i in range(6)]
    tasks.append(m.BatchTaskCreateOptions(id="bad", command_line=py(
        "import sys; sys.stderr.write('Traceback: ValueError: boom'); sys.exit(3)")))
    batch_client.create_tasks(job_id, tasks)
    yield pool_id, job_id
    batch_client.begin_delete_job(job_id, polling_interval=0.1).result()
    batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


@pytest.fixture
def session(local_service):
    s = batchnb.connect("local", state_dir=str(local_service.state_dir))
    yield s
    s.close()


def test_job_monitor_shows_progress_figures_failures_and_fallbacks(batch_client, finished_job, session) -> None:
    _, job_id = finished_job
    watcher = JobWatcher(batch_client, job_id).wait(timeout=60, interval=0.3)
    view = JobMonitor(watcher, job=session.job(job_id))
    try:
        assert view.progress.value == view.progress.max == 7
        assert view.progress.description == "100 %" and view.progress.bar_style == "warning"
        assert "6 succeeded" in view.counts.value and "1 failed" in view.counts.value
        # Done: every tab was drawn once, so a reload shows all of them from synced state.
        for key in ("progress", "timeline", "durations", "failures"):
            fig = view._figures[key].widget
            assert isinstance(fig, go.FigureWidget), key
            assert as_json(fig._widget_data) == as_json(fig._data), key
        assert [v for _, v in view.failed_select.options] == ["bad"]
        view.failed_select.value = "bad"
        assert "ValueError: boom" in view.failed_detail.value and "exit code 3" in view.failed_detail.value

        bundle = view._repr_mimebundle_()
        assert WIDGET_VIEW in bundle
        assert "6 succeeded" in bundle["text/plain"] and "1 failed" in bundle["text/plain"]
        html_ = bundle["text/html"]
        assert ">7<" in html_ and ">6<" in html_ and ">1<" in html_ and "bad" in html_ and "<script" not in html_

        first_end = batch_client.get_task(job_id, "bad").execution_info.end_time
        view.retry_button.click()
        assert "1 task(s) reactivated" in view.message.value
        # Reactivated on the service: it runs again (and fails again), ending after its first run.
        wait_for(lambda: (t := batch_client.get_task(job_id, "bad")).state == "completed"
                 and t.execution_info.end_time > first_end, 60, what="the retried task to run again")
        watcher.refresh()
        assert watcher.tasks.loc["bad", "end_time"] > first_end
    finally:
        view.close()
    assert not watcher.running


def test_monitor_updates_figures_in_place(batch_client, finished_job) -> None:
    _, job_id = finished_job
    watcher = JobWatcher(batch_client, job_id)
    watcher.refresh()
    view = JobMonitor(watcher)
    first = view._figures["progress"].widget
    watcher.wait(timeout=60, interval=0.3)
    view.update()
    assert view._figures["progress"].widget is first  # same widget, new data: no re-creation
    assert len(first.data[0].x) == len(watcher.history)
    view.close()


def test_pool_monitor_and_resize(batch_client: BatchClient, session) -> None:
    pool_id = make_pool(batch_client, uid("pmon"), dedicated=1, slots=2)
    try:
        watcher = PoolWatcher(batch_client, pool_id, metrics=False)
        watcher.refresh()
        view = PoolMonitor(watcher, pool=session.pool(pool_id))
        assert view.heatmap.widget is not None and view.heatmap.widget.data[0].type == "heatmap"
        assert view.dedicated.value == 1
        bundle = view._repr_mimebundle_()
        assert "1 nodes" in bundle["text/plain"] and "idle" in bundle["text/html"]
        view.dedicated.value = 2
        view.resize_button.click()
        assert "resize requested" in view.message.value
        wait_for(lambda: len(list(batch_client.list_nodes(pool_id))) == 2, timeout=20)
        watcher.refresh()
        view.update()
        assert len(watcher.nodes) == 2
        view.close()
    finally:
        batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_log_tail_shows_the_end_of_stdout(batch_client, finished_job, session) -> None:
    _, job_id = finished_job
    watcher_for(batch_client, job_id).wait(timeout=60, interval=0.3)
    tail = LogTail(session.job(job_id), "bad", "stderr.txt")
    assert tail.poll() is False  # completed: nothing more will come
    assert "ValueError: boom" in tail.view.value
    assert "ValueError: boom" in tail._repr_mimebundle_()["text/html"]
    tail.close()


def test_pool_form_validates_as_you_type_and_creates_the_pool(local_service) -> None:
    session = batchnb.connect("local", state_dir=str(local_service.state_dir))
    pool_id = uid("form")
    form = PoolForm(session, pool_id=pool_id)
    try:
        assert form.spec is not None and not form.create_button.disabled
        form.fields["task_slots_per_node"].value = 0
        assert form.create_button.disabled
        assert "task_slots_per_node" in form.errors["task_slots_per_node"].value
        assert all(not v.value for k, v in form.errors.items() if k != "task_slots_per_node")
        form.fields["task_slots_per_node"].value = 2
        form.fields["autoscale"].value = "queue"
        assert "autoscale_max_nodes" in form.errors["autoscale_max_nodes"].value
        form.fields["autoscale"].value = "fixed size"
        form.fields["id"].value = "bad id!"
        assert form.errors["id"].value and form.create_button.disabled
        form.fields["id"].value = pool_id
        form.fields["metrics"].value = False
        assert form.spec is not None and form.spec.task_slots_per_node == 2

        form.create()
        assert form.pool_handle is not None and form.pool_handle.id == pool_id
        assert isinstance(form.children[0], PoolMonitor)
        assert session.get_pool(pool_id).task_slots_per_node == 2
    finally:
        form.close()
        session.batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()
        session.close()


def test_update_at_100k_tasks_draws_only_the_visible_tab_and_throttles_slow_figures(batch_client) -> None:
    """One refresh's view update at 100k tasks (synthetic frame, no HTTP) does only the work it must."""
    from batchnb.data.watch import RefreshStats
    from tests.data.monitoring_data import synthetic_tasks

    watcher = JobWatcher(batch_client, "synthetic")
    watcher.tasks = synthetic_tasks(100_000)
    c = watcher.tasks["state"].value_counts()
    watcher.counts = {"active": int(c["active"]), "running": int(c["running"]), "completed": int(c["completed"]),
                      "succeeded": int(c["completed"]), "failed": 0}
    watcher.history.append({"taskCounts": watcher.counts})
    watcher.last_stats = RefreshStats(rows=1000, changed_ids=list(watcher.tasks.index[:1000]))
    watcher.updated_at = watcher.history.frame.index[-1].to_pydatetime()
    view = JobMonitor(watcher)  # first draw: progress tab only
    view.update()
    assert view._figures["timeline"].widget is None  # a hidden tab costs nothing
    view.tabs.selected_index = 1  # the timeline: the most expensive figure, drawn when shown
    figure = view._figures["timeline"]
    first, drawn_at = figure.widget, figure.updated_at
    assert first is not None and figure.last_seconds > 0
    figure.last_seconds = 3600.0  # as if it had cost an hour: the next update must not redraw it
    view.update()  # right after: the slow figure waits (10x its build time) instead of hogging the kernel
    assert figure.updated_at == drawn_at
    figure.updated_at -= 10 * 3600.0 + 1  # pretend that ten of those hours have passed
    view.update()
    assert figure.updated_at > drawn_at  # redrawn now
    assert figure.widget is first  # updated in place
    view.close()
    # How long these steps take at 100k tasks is measured by benchmarks/bench_monitor.py (kernel side).

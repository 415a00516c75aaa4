"""The job monitor's task browser against the real local service: a sweep's parameters stored
with its tasks (a watcher made afresh, as in a new kernel, shows them), filters, any task's
stdout/stderr on selection, and retries marked in the table and on the timeline."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.data.watch import JobWatcher
from batchnb.views.widgets import JobMonitor
from batchnb.views.widgets.job_monitor import TASKS_TAB
from tests.local.service.helpers import uid

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def session(local_service):
    s = batchnb.connect("local", state_dir=str(local_service.state_dir))
    yield s
    s.close()


@pytest.fixture(scope="module")
def sweep_job(session):
    pool = session.create_pool(batchnb.PoolSpec(uid("tbrowse"), vm_size="standard_d2s_v3", dedicated_nodes=1,
                                                task_slots_per_node=4), wait=True, timeout=120)
    job = session.create_job(uid("tbrowse"), pool=pool)
    # x=3 fails on every run: with one retry it runs twice. Each task prints to both streams.
    tasks = batchnb.sweep("python3 -c \"import sys; print('out', {x}); sys.stderr.write('err {x} {name}'); "
                          "sys.exit(1 if {x} == 3 else 0)\"", x=[1, 2, 3], name="a b",
                          task_options={"max_retries": 1})
    job.add_tasks(tasks)
    job.wait(timeout=120)
    yield job, tasks
    job.delete()
    pool.delete()


def test_a_reattached_job_shows_each_tasks_sweep_parameters(session, sweep_job) -> None:
    job, tasks = sweep_job
    # A new watcher knows nothing the kernel that submitted the sweep knew: parameters come from the tasks.
    watcher = JobWatcher(session.job(job.id)._client, job.id).wait(timeout=60, interval=0.3)
    view = JobMonitor(watcher, autostart=False)
    try:
        table = view.task_browser.table()
        by_x = {row.x: task_id for task_id, row in table.iterrows()}
        assert by_x == {str(p["x"]): p["task_id"] for p in tasks.params}
        assert set(table["name"]) == {"a b"}
        view.tabs.selected_index = TASKS_TAB  # drawn when shown
        labels = [label for label, _ in view.task_browser.select.options]
        assert len(labels) == 3 and all("a\u00a0b" in label for label in labels)
        assert "x" in view.task_browser.header.value and "retries" in view.task_browser.header.value
    finally:
        view.close()
    frame = job.tasks()
    assert sorted(frame["x"].tolist()) == [1, 2, 3] and set(frame["name"]) == {"a b"}  # typed back: ints


def test_filters_and_any_task_shows_its_stdout_and_stderr(session, sweep_job) -> None:
    job, tasks = sweep_job
    watcher = JobWatcher(session.job(job.id)._client, job.id).wait(timeout=60, interval=0.3)
    view = JobMonitor(watcher, autostart=False)
    browser = view.task_browser
    try:
        browser.search.value = "x=2"
        assert [v for _, v in browser.select.options] == [p["task_id"] for p in tasks.params if p["x"] == 2]
        assert "1 of 3 tasks" in browser.shown.value
        browser.select.value = browser.select.options[0][1]  # a task that succeeded, not a failed one
        assert "out 2" in browser.detail.value and "err 2 a b" in browser.detail.value
        assert "exit code 0" in browser.detail.value

        browser.search.value = ""
        browser.state_filter.value = "retried"
        retried = [p["task_id"] for p in tasks.params if p["x"] == 3]
        assert [v for _, v in browser.select.options] == retried
        assert "↻1" in browser.select.options[0][0]
        browser.select.value = retried[0]
        assert "retried 1×" in browser.detail.value and "err 3 a b" in browser.detail.value
        browser.state_filter.value = "succeeded"
        assert len(browser.select.options) == 2
    finally:
        view.close()


def test_retried_tasks_are_ringed_on_the_timeline(session, sweep_job) -> None:
    job, tasks = sweep_job
    watcher = JobWatcher(session.job(job.id)._client, job.id).wait(timeout=60, interval=0.3)
    view = JobMonitor(watcher, autostart=False)
    try:
        fig = view._build("timeline")
        ring = next(t for t in fig.data if t.uid == "timeline-retried")
        retried = next(p["task_id"] for p in tasks.params if p["x"] == 3)
        assert len(ring.x) == 1 and ring.text[0].startswith(retried) and "retried 1×" in ring.text[0]
    finally:
        view.close()


def test_the_static_summary_names_the_failed_tasks_parameters(session, sweep_job) -> None:
    job, tasks = sweep_job
    watcher = JobWatcher(session.job(job.id)._client, job.id).wait(timeout=60, interval=0.3)
    view = JobMonitor(watcher, autostart=False)
    try:
        summary = view.summary_html()
        assert "<th style='text-align:left;padding:0 8px'>parameters</th>" in summary
        assert "x=3, name=&quot;a b&quot;" in summary  # the failing input, readable without a kernel
    finally:
        view.close()

"""The monitors' cost lines against the real local service: the figures shown are job.cost(),
job.estimate() and pool.cost() (issue 14, item 6), and the static fallbacks carry them.

No kernel loop here, so the views price inline; the job line prices the watcher's own table.
"""

from __future__ import annotations

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

import batchnb
from batchnb.data.watch import JobWatcher, PoolWatcher
from batchnb.views.widgets import JobMonitor, PoolMonitor
from tests.local.service.helpers import make_job, make_pool, py, uid, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def session(local_service):
    s = batchnb.connect("local", state_dir=str(local_service.state_dir))
    yield s
    s.close()


@pytest.fixture
def pool_id(batch_client: BatchClient):
    pool_id = make_pool(batch_client, uid("cost"), dedicated=1, slots=2)
    yield pool_id
    batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def _money(value: float) -> str:
    return f"{value:.4f} USD"


def test_job_monitor_shows_job_cost_totals(batch_client, session, pool_id) -> None:
    job_id = make_job(batch_client, pool_id)
    try:
        tasks = [m.BatchTaskCreateOptions(id=f"t{i}", command_line=py("import time; time.sleep(0.5)"))
                 for i in range(4)]
        # A two-slot task pays for the whole node: the monitor must know its slots too.
        tasks.append(m.BatchTaskCreateOptions(id="wide", command_line=py("import time; time.sleep(0.5)"),
                                              required_slots=2))
        batch_client.create_tasks(job_id, tasks)
        watcher = JobWatcher(batch_client, job_id).wait(timeout=90, interval=0.3)
        view = JobMonitor(watcher, job=session.job(job_id), autostart=False)
        try:
            shown = view.cost_line.snapshot.summary
            truth = session.job(job_id).cost().attrs["summary"]
            for key in ("total_cost", "cost", "core_hours", "wall_hours"):
                assert shown[key] == pytest.approx(truth[key], rel=1e-9), key
            assert shown["total_cost"] > 0 and shown["ran"] == truth["ran"] == 5
            text = view.cost_line.text()
            assert f"cost so far {_money(truth['total_cost'])}" in text
            assert f"{truth['core_hours']:.4f} core-h" in text
            assert "cost so far" in view.cost_line.value
            # The fallbacks (text/plain, text/html, the static summary) carry the same line.
            bundle = view._repr_mimebundle_()
            assert text in bundle["text/plain"] and _money(truth["total_cost"]) in bundle["text/html"]
            assert _money(truth["total_cost"]) in view.static_bundles()[0]["text/html"]
            # More refreshes reuse the pool facts: no task listing and no new request of its own.
            requests = view.cost_line.tracker.requests
            for _ in range(3):
                watcher.refresh()
                view.update()
            assert requests == view.cost_line.tracker.requests == 2
        finally:
            view.close()
    finally:
        batch_client.begin_delete_job(job_id, polling_interval=0.1).result()


def test_job_monitor_estimate_to_finish_is_job_estimate(batch_client, session) -> None:
    # One slot: two quick tasks finish, a long one runs past their mean, two wait behind it. The
    # estimate (remaining work = 2 x mean) then stays put while the long task runs.
    pool_id = make_pool(batch_client, uid("est"), dedicated=1, slots=1)
    job_id = make_job(batch_client, pool_id)
    try:
        quick = py("import time; time.sleep(0.3)")
        batch_client.create_tasks(job_id, [
            m.BatchTaskCreateOptions(id="a", command_line=quick), m.BatchTaskCreateOptions(id="b", command_line=quick)])
        wait_for(lambda: batch_client.get_job_task_counts(job_id).task_counts.completed == 2, 60, what="2 tasks")
        batch_client.create_tasks(job_id, [m.BatchTaskCreateOptions(id="long", command_line=py(
            "import time; time.sleep(120)"))])
        wait_for(lambda: batch_client.get_task(job_id, "long").state == m.BatchTaskState.RUNNING, 60, what="long runs")
        batch_client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=i, command_line=quick) for i in ("c", "d")])
        watcher = JobWatcher(batch_client, job_id)

        def sees_all_five() -> bool:
            watcher.refresh()
            return watcher.total == 5

        wait_for(sees_all_five, 30, what="5 tasks seen")
        view = JobMonitor(watcher, job=session.job(job_id), autostart=False)
        try:
            watcher.refresh()
            view.cost_line._last = -float("inf")  # due now (the line refreshes every 10 s)
            # The running task's elapsed time moves both numbers between any two readings: the
            # monitor's must lie between job.estimate() taken just before and just after it.
            before = session.job(job_id).estimate()
            view.update()
            shown = view.cost_line.snapshot.estimate
            after = session.job(job_id).estimate()
            assert shown.remaining == before.remaining == after.remaining == 3
            assert shown.eta is not None and before.eta is not None and after.eta is not None

            def between(value: float, a: float, b: float) -> bool:
                slack = 1e-6 * max(abs(a), abs(b))
                return min(a, b) - slack <= value <= max(a, b) + slack

            assert between(shown.cost, before.cost, after.cost), (before.cost, shown.cost, after.cost)
            assert between(shown.eta.total_seconds(), before.eta.total_seconds(), after.eta.total_seconds())
            assert f"to finish ~{_money(shown.cost)}" in view.cost_line.text()
        finally:
            view.close()
    finally:
        batch_client.begin_delete_job(job_id, polling_interval=0.1).result()
        batch_client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_pool_monitor_shows_idle_node_hours_and_autoscale_hint(batch_client, session, pool_id) -> None:
    watcher = PoolWatcher(batch_client, pool_id, metrics=False)
    watcher.refresh()
    view = PoolMonitor(watcher, pool=session.pool(pool_id), autostart=False)
    try:
        shown = view.cost_line.summary
        assert shown is not None
        truth = session.pool(pool_id).cost().attrs["summary"]
        # The pool's node keeps billing between the two calls: the later one is larger, by no
        # more than the time elapsed since (one node).
        elapsed_h = (truth["until"] - shown["until"]).total_seconds() / 3600.0
        for key in ("node_hours", "idle_node_hours"):
            assert shown[key] <= truth[key] <= shown[key] + elapsed_h + 1e-9, key
        assert shown["idle_node_hours"] == pytest.approx(shown["node_hours"])  # no task ever ran
        assert shown["idle_cost"] > 0
        assert "autoscale" in shown["hint"]
        assert f"idle {shown['idle_node_hours']:.4f} node-h costing {_money(shown['idle_cost'])}" in view.cost_line.text()
        assert "batchnb-autoscale-hint" in view.cost_line.value
        assert _money(shown["idle_cost"]) in view.summary_html() and "autoscale" in view.summary_text()
        # Once a minute at most: pool.cost() lists every task of every job on the pool.
        view.update()
        assert view.cost_line.summary["until"] == shown["until"]
    finally:
        view.close()


def test_monitors_without_a_handle_hide_the_cost_line(batch_client, pool_id) -> None:
    watcher = PoolWatcher(batch_client, pool_id, metrics=False)
    watcher.refresh()
    view = PoolMonitor(watcher, autostart=False)
    try:
        assert view.cost_line.layout.display == "none" and view.cost_line.text() == ""
    finally:
        view.close()


def test_a_finished_jobs_summary_has_its_cost_even_while_an_earlier_pricing_still_runs(
        batch_client, session, pool_id) -> None:
    # A short job can finish while the line's first pricing still runs in the background: the final
    # pricing must not wait for it, or the static summary that replaces the view has no cost.
    job_id = make_job(batch_client, pool_id)
    try:
        batch_client.create_tasks(job_id, [m.BatchTaskCreateOptions(id="t", command_line=py("pass"))])
        watcher = JobWatcher(batch_client, job_id).wait(timeout=90, interval=0.3)
        view = JobMonitor(watcher, job=session.job(job_id), autostart=False)
        try:
            line = view.cost_line
            line.snapshot, line._final_shown, line._busy = None, False, True  # a pricing in flight
            line.update(final=True)
            truth = session.job(job_id).cost().attrs["summary"]
            assert line.snapshot is not None
            assert line.snapshot.summary["total_cost"] == pytest.approx(truth["total_cost"], rel=1e-9)
            assert _money(truth["total_cost"]) in view.static_bundles()[0]["text/html"]
        finally:
            view.close()
    finally:
        batch_client.begin_delete_job(job_id, polling_interval=0.1).result()

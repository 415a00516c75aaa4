"""Faults: throttling, 500s, dropped connections, a killed service, a restarted kernel, preempted
spot nodes and a storage outage. Each ends with exactly the expected tasks, all run once (counted
from the tasks' own marker files), and nothing hung. The full-size versions run in
benchmarks/reliability_summary.py."""

from __future__ import annotations

import re

import pytest

import batchnb
from batchnb.errors import BatchnbError

from . import scenarios

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]


def test_throttling_500s_and_drops_lose_and_duplicate_nothing(rel_service) -> None:
    row = scenarios.faults_during_submit_and_monitor(rel_service, 1000)
    assert row.details["listed"] == 1000 and row.details["succeeded"] == 1000, row
    assert row.seen == 1000 and row.duplicates == 0 and row.lost == 0, row
    injected = row.details["injected"]
    assert injected["throttle"] > 0 and injected["error500"] + injected["drop"] > 0, row
    assert row.details["retries"] > 0, row  # the bulk add met faults and rode them out


def test_monitor_shows_throttling_and_keeps_going(rel_service, rel_session) -> None:
    """Every request throttled for a while: the monitor's status line says so, and once the
    service recovers the same poller catches up, without having raised."""
    import asyncio
    import threading
    import time

    from batchnb import local
    from batchnb.data.watch import JobWatcher

    rel_session.create_pool(batchnb.PoolSpec("rel-faults-pool", vm_size="standard_d2s_v3", dedicated_nodes=2,
                                             task_slots_per_node=8), wait=True, timeout=60)
    job = rel_session.create_job("rel-throttled-monitor", pool="rel-faults-pool")
    try:
        job.add_tasks([batchnb.TaskSpec(f"t{i}", "true") for i in range(20)])
        watcher = JobWatcher(rel_session.batch_client, job.id, backoff_cap=1.0)
        statuses: list[str] = []
        local.inject_faults(rel_service, throttle=1.0, retry_after=0.2)
        thread = threading.Thread(target=lambda: asyncio.run(watcher.run(
            interval=0.1, on_update=lambda w: statuses.append(w.status_text()))))
        try:
            thread.start()
            deadline = time.monotonic() + 10
            while not any(s.startswith("throttled (HTTP") for s in statuses) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            local.inject_faults(rel_service)
        thread.join(timeout=30)
        assert not thread.is_alive() and watcher.done and watcher.counts["succeeded"] == 20
        shown = next(s for s in statuses if s.startswith("throttled"))
        assert re.match(r"throttled \(HTTP (429|503)\), retrying in \d+ s", shown), shown
        assert watcher.throttle_count > 0 and watcher.last_error is None
    finally:
        rel_session.delete_job(job.id)


def test_lost_answers_on_task_add_count_as_added_once(rel_service) -> None:
    row = scenarios.lost_answers_during_bulk_add(rel_service, 2000)
    assert row.seen == 2000 and row.duplicates == 0 and row.lost == 0, row
    # A TaskExists met by a retry of our own lost request is "added", not "already existed".
    assert row.details["added"] == 2000 and row.details["existed"] == 0, row


def test_service_sigkill_mid_job_loses_no_acknowledged_task(rel_service) -> None:
    row = scenarios.service_killed_mid_job(rel_service, 200)
    assert row.details["acknowledged"] == 200 and row.details["listed"] == 200, row
    assert row.details["succeeded"] == 200 and row.seen == 200 and row.lost == 0 and row.duplicates == 0, row
    assert row.details["settled_at_kill"] > 0 and row.details["retries_during_restart"] >= 1, row  # it checked something


def test_kernel_restart_reattaches_to_the_same_tasks_and_map_results(rel_service) -> None:
    row = scenarios.kernel_restarted_mid_job(rel_service, 30, n_items=40)
    assert row.details["same_table"], row
    assert row.details["counts"]["succeeded"] == 30 and row.details["n_values"] == 40, row
    assert row.lost == 0 and row.duplicates == 0, row


def test_preempted_spot_tasks_are_requeued_and_complete(rel_service) -> None:
    row = scenarios.spot_nodes_preempted(rel_service, 6)
    assert row.details["succeeded"] == 6 and row.seen == 6 and row.lost == 0, row
    assert row.details["requeued_tasks"] > 0 and row.details["max_requeue"] >= 1, row


def test_failed_start_task_is_a_clear_error_not_a_hang(rel_session) -> None:
    spec = batchnb.PoolSpec("rel-bad-start", vm_size="standard_d2s_v3", dedicated_nodes=1,
                            start_task="/bin/sh -c 'echo cannot install >&2; exit 3'")
    try:
        with pytest.raises(BatchnbError) as caught:
            rel_session.create_pool(spec, wait=True, timeout=60)
        text = str(caught.value)
        assert caught.value.code == "StartTaskFailed"
        assert "starttaskfailed" in text and "exit code 3" in text and "start_task_output" in text, text
        nodes = rel_session.pool("rel-bad-start").nodes()
        assert list(nodes["state"].astype(str)) == ["starttaskfailed"]
        assert "cannot install" in rel_session.pool("rel-bad-start").start_task_output(nodes.index[0])
    finally:
        rel_session.delete_pool("rel-bad-start")


def test_storage_outage_mid_upload_reports_and_resends_only_the_missing(rel_service) -> None:
    row = scenarios.azurite_stopped_mid_upload(rel_service, 200)
    d = row.details
    assert d["first_failed"] > 0 and d["first_uploaded"] > 0, row
    # A file whose answer was lost may be reported failed yet be stored: the re-run skips it (same MD5).
    assert d["resent_beyond_failed"] == 0 and d["resent"] == d["missing_after_restart"], row
    assert row.seen == 200 and row.lost == 0, row

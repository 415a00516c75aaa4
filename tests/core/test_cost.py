"""job.cost(), pool.cost(), job.estimate() and session.estimate() through the real SDK on the local
service, with known workloads: tasks of known duration on pools of known size.

Prices are the shipped snapshot (offline), so the figures are fixed: Standard_D2s_v3 is 2 vCPUs at
0.096 USD/h dedicated."""

from __future__ import annotations

import time

import pytest

import batchnb
from batchnb.core.cost import prices
from batchnb.errors import ValidationError

D2S_V3 = 0.096
VCPUS = 2


@pytest.fixture(autouse=True)
def snapshot_prices(monkeypatch, tmp_path):
    monkeypatch.setenv(prices.OFFLINE_ENV, "1")
    monkeypatch.setenv(prices.CACHE_ENV, str(tmp_path / "cache"))
    prices._reset_for_tests()
    yield
    prices._reset_for_tests()


def test_job_cost_attributes_core_hours_by_slot_share_within_5_percent(session, pool, unique) -> None:
    """core-pool: 2 dedicated nodes x 4 slots. 6 one-slot tasks and 2 two-slot tasks of 2 s each."""
    job = session.create_job(f"cost-{unique}", pool=pool.id)
    tasks = [batchnb.TaskSpec(f"one-{i}", "sleep 2") for i in range(6)]
    tasks += [batchnb.TaskSpec(f"two-{i}", "sleep 2", required_slots=2) for i in range(2)]
    job.add_tasks(tasks)
    job.wait(timeout=120)
    frame = job.cost()
    assert set(frame.index) == {t.id for t in tasks}
    assert set(frame["priority"]) == {"dedicated"} and set(frame["vm_size"]) == {"standard_d2s_v3"}
    assert frame.loc["one-0", "slot_share"] == 0.25 and frame.loc["two-0", "slot_share"] == 0.5
    truth = (6 * 0.25 + 2 * 0.5) * 2 / 3600 * VCPUS  # task-seconds x share x vCPUs
    summary = frame.attrs["summary"]
    assert summary["core_hours"] == pytest.approx(truth, rel=0.05)
    assert summary["cost"] == pytest.approx(truth / VCPUS * D2S_V3, rel=0.05)
    assert summary["currency"] == "USD" and summary["approximate"] and summary["price_sources"] == ["snapshot"]
    assert summary["tasks"] == 8 and summary["ran"] == 8 and summary["earlier_cost_est"] == 0
    assert (frame["wall_time"].dt.total_seconds() >= 2).all()


def test_job_cost_counts_retries_and_prices_running_tasks_until_now(session, pool, unique) -> None:
    job = session.create_job(f"cost-retry-{unique}", pool=pool.id)
    job.add_tasks([batchnb.TaskSpec("flaky", "sh -c 'sleep 1; exit 3'", max_retries=2),
                   batchnb.TaskSpec("long", "sleep 4")])
    deadline = time.monotonic() + 60
    while job.tasks().loc["long", "state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    running = job.cost()
    assert running.loc["long", "state"] == "running"
    assert running.loc["long", "wall_time"].total_seconds() >= 1.0 and running.loc["long", "cost"] > 0
    assert running.attrs["summary"]["running"] >= 1
    job.wait(timeout=120)
    done = job.cost()
    flaky = done.loc["flaky"]
    assert flaky["retry_count"] == 2
    # Two earlier attempts, each as long as the last (Batch keeps only the last attempt's times).
    assert flaky["earlier_core_hours_est"] == pytest.approx(2 * flaky["core_hours"])
    summary = done.attrs["summary"]
    assert summary["retries"] == 2
    assert summary["total_cost"] == pytest.approx(summary["cost"] + summary["earlier_cost_est"])


def test_job_cost_in_another_currency_needs_an_override(session, pool, unique) -> None:
    job = session.create_job(f"cost-eur-{unique}", pool=pool.id)
    job.add_tasks([batchnb.TaskSpec("t", "true")])
    job.wait(timeout=60)
    with pytest.raises(ValidationError, match="set_price_overrides"):
        job.cost(currency="EUR")
    batchnb.set_price_overrides({"currency": "EUR", "Standard_D2s_v3": 0.5})
    frame = job.cost(currency="EUR")
    assert frame.attrs["summary"]["currency"] == "EUR" and frame.loc["t", "price_per_hour"] == 0.5


def test_pool_cost_splits_busy_and_idle_node_time(session, unique) -> None:
    pool = session.create_pool(batchnb.PoolSpec(f"cost-pool-{unique}", vm_size="standard_d2s_v3",
                                                dedicated_nodes=1, task_slots_per_node=2), wait=True, timeout=120)
    try:
        job = session.create_job(f"cost-pool-job-{unique}", pool=pool.id)
        # Two concurrent 2 s tasks on the one node: 2 s busy, not 4.
        job.add_tasks([batchnb.TaskSpec("a", "sleep 2"), batchnb.TaskSpec("b", "sleep 2")])
        job.wait(timeout=120)
        time.sleep(1.0)
        frame = pool.cost()
        node = pool.nodes()
        assert list(frame.index) == ["dedicated", "spot"]
        row = frame.loc["dedicated"]
        assert row["nodes"] == 1 and frame.loc["spot", "node_hours"] == 0
        assert row["busy_node_hours"] * 3600 == pytest.approx(2.0, rel=0.05)
        assert row["idle_node_hours"] == pytest.approx(row["node_hours"] - row["busy_node_hours"])
        alive = (frame.attrs["summary"]["until"] - node["allocation_time"].iloc[0].to_pydatetime()).total_seconds()
        assert row["node_hours"] * 3600 == pytest.approx(alive, rel=0.05)
        assert row["core_hours"] == pytest.approx(row["node_hours"] * VCPUS)
        assert row["cost"] == pytest.approx(row["node_hours"] * D2S_V3)
        assert row["idle_cost"] == pytest.approx(row["idle_node_hours"] * D2S_V3)
        summary = frame.attrs["summary"]
        if summary["idle_node_hours"] / summary["node_hours"] > 0.25:
            assert "autoscale" in summary["hint"]
    finally:
        pool.delete()


def test_estimates_from_a_pilot_and_from_a_running_job(session, pool, unique) -> None:
    """core-pool has 8 slots. A pilot of 4 tasks of 2.5 s predicts 16 tasks in about 5 s."""
    sweep = [batchnb.TaskSpec(f"s{i:02d}", "sleep 2.5") for i in range(16)]
    est = session.estimate(sweep, pool=pool, pilot=4, timeout=120)
    assert est.samples == 4 and est.tasks == 16 and est.nodes == 2 and est.slots == 8
    assert est.mean_task_seconds == pytest.approx(2.5, rel=0.1)
    assert est.eta.total_seconds() == pytest.approx(16 * est.mean_task_seconds / 8, rel=0.01)
    assert est.eta_low <= est.eta <= est.eta_high
    assert est.cost == pytest.approx(est.eta.total_seconds() / 3600 * 2 * D2S_V3, rel=0.01)
    assert est.pilot_cost > 0 and est.currency == "USD"
    assert "pilot of 4" in str(est)
    assert est.pilot_job_id not in set(session.list_jobs(state="active").index)  # deleted after the pilot
    # Run the whole sweep and compare.
    job = session.create_job(f"sweep-{unique}", pool=pool.id)
    job.add_tasks(sweep)
    job.wait(timeout=120)
    frame = job.cost()
    makespan = (frame["end_time"].max() - frame["start_time"].min()).total_seconds()
    assert makespan == pytest.approx(est.eta.total_seconds(), rel=0.4)
    final = job.estimate()
    assert final.remaining == 0 and final.eta.total_seconds() == 0 and final.samples == 16


def test_estimate_rejects_bad_input_before_creating_anything(session, pool) -> None:
    before = set(session.list_jobs().index)
    with pytest.raises(ValidationError, match="pilot"):
        session.estimate([batchnb.TaskSpec("a", "true")], pool=pool, pilot=3)
    with pytest.raises(ValidationError, match="tasks"):
        session.estimate([], pool=pool)
    with pytest.raises(ValidationError, match="pool"):
        session.estimate([batchnb.TaskSpec("a", "true")], pool="no-such-pool", pilot=1)
    # New jobs only: a job another test deleted just before may vanish meanwhile (deletes finish
    # in the background), which is not something this test created.
    assert set(session.list_jobs().index) - before == set()

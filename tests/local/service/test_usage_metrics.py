"""GET /poolusagemetrics: core-hours per pool and aggregation interval, from the nodes' own time,
through the real azure-batch SDK. A service of its own, with one-second intervals, so completed
intervals exist within the test (the shared service uses the one-minute default)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .bare_server import BareServer
from .helpers import POLL, make_pool, wait_for

CORES = 2  # standard_d2s_v3, what make_pool creates


def _parse(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@pytest.fixture
def server(tmp_path):
    (tmp_path / "state").mkdir()
    bare = BareServer(tmp_path / "state", flags=["--usage-interval-seconds", "1"]).start()
    try:
        yield bare
    finally:
        bare.stop()


def _node_core_hours(nodes, lo: datetime, hi: datetime) -> float:
    return sum(max(0.0, (hi - max(_parse(n.allocation_time), lo)).total_seconds()) for n in nodes) / 3600 * CORES


def test_usage_metrics_add_up_to_the_nodes_time(server) -> None:
    with server.client() as client:
        before = datetime.now(timezone.utc) - timedelta(seconds=2)
        pool_id = make_pool(client, "metered", dedicated=2)
        other = make_pool(client, "other", dedicated=1)
        time.sleep(3.2)
        metrics = list(client.list_pool_usage_metrics(start_time=before, filter=f"poolId eq '{pool_id}'"))
        assert metrics and {x.pool_id for x in metrics} == {pool_id}
        assert {x.vm_size for x in metrics} == {"standard_d2s_v3"}
        starts = [_parse(x.start_time) for x in metrics]
        assert starts == sorted(starts)
        assert all(_parse(x.end_time) - _parse(x.start_time) == timedelta(seconds=1) for x in metrics)
        until = max(_parse(x.end_time) for x in metrics)
        assert until <= datetime.now(timezone.utc)  # only completed intervals are published
        truth = _node_core_hours(list(client.list_nodes(pool_id)), before, until)
        assert sum(x.total_core_hours for x in metrics) == pytest.approx(truth, rel=0.05)
        # No time range: the last completed interval only, for every pool.
        last = list(client.list_pool_usage_metrics())
        assert {x.pool_id for x in last} == {pool_id, other}
        assert len({x.start_time for x in last}) == 1
        # One interval of 2 nodes x 2 cores is 4 core-seconds.
        mine = next(x for x in last if x.pool_id == pool_id)
        assert mine.total_core_hours == pytest.approx(2 * CORES / 3600, rel=0.02)


def test_departed_nodes_stay_in_the_metrics_across_a_restart(server) -> None:
    with server.client() as client:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        pool_id = make_pool(client, "shrinking", dedicated=2)
        time.sleep(1.5)
        client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=0),
                                 polling_interval=POLL).result()
        wait_for(lambda: list(client.list_nodes(pool_id)) == [], what="nodes gone")
        gone_at = datetime.now(timezone.utc)
        time.sleep(1.2)
        total = sum(x.total_core_hours for x in client.list_pool_usage_metrics(start_time=before))
        assert total > 2 * 1.5 * CORES / 3600 * 0.9
    server.stop()
    server.start()
    with server.client() as client:
        again = list(client.list_pool_usage_metrics(start_time=before, end_time=gone_at + timedelta(seconds=2)))
        assert sum(x.total_core_hours for x in again) == pytest.approx(total, rel=1e-6)
        client.begin_delete_pool(pool_id, polling_interval=POLL).result()
        wait_for(lambda: pool_id not in {p.id for p in client.list_pools()}, what="pool deleted")
        kept = list(client.list_pool_usage_metrics(start_time=before, end_time=gone_at + timedelta(seconds=2)))
        assert sum(x.total_core_hours for x in kept) == pytest.approx(total, rel=1e-6)


def test_a_bad_filter_is_a_400(server) -> None:
    with server.client() as client:
        with pytest.raises(HttpResponseError) as err:
            list(client.list_pool_usage_metrics(filter="bogus eq 'x'"))
        assert err.value.status_code == 400


def test_pool_cost_counts_departed_nodes_from_the_usage_metrics(server, monkeypatch, tmp_path) -> None:
    """pool.cost() on a pool that shrank: the present node from its own times, the departed one
    from /poolusagemetrics (what the metrics saw beyond the present node)."""
    import batchnb
    from batchnb.core.cost import prices

    from .bare_server import ACCOUNT, KEY

    monkeypatch.setenv(prices.OFFLINE_ENV, "1")
    monkeypatch.setenv(prices.CACHE_ENV, str(tmp_path / "cache"))
    prices._reset_for_tests()
    session = batchnb.connect(account=ACCOUNT, endpoint=server.url, access_key=KEY)
    try:
        pool = session.create_pool(batchnb.PoolSpec("shrinks", vm_size="standard_d2s_v3", dedicated_nodes=2),
                                   wait=True, timeout=60)
        time.sleep(2.0)
        pool.resize(dedicated_nodes=1, wait=True, timeout=60)
        gone_at = datetime.now(timezone.utc)
        wait_for(lambda: len(pool.nodes()) == 1, what="one node left")
        time.sleep(2.2)  # let the metrics publish the intervals around the removal
        frame = pool.cost()
        summary = frame.attrs["summary"]
        assert list(frame.index) == ["dedicated", "spot", "departed"]
        assert frame.loc["dedicated", "nodes"] == 1
        created = _parse(pool.info.creation_time)
        departed_s = frame.loc["departed", "node_hours"] * 3600
        # The departed node lived from about the pool's creation until it was removed.
        assert departed_s == pytest.approx((gone_at - created).total_seconds(), rel=0.25)
        assert frame.loc["departed", "cost"] == pytest.approx(frame.loc["departed", "node_hours"] * 0.096)
        assert summary["usage_metrics_core_hours"] > 0 and summary["usage_metrics_until"] is not None
    finally:
        session.close()
        prices._reset_for_tests()

"""Account quotas as Azure has them, through the azure-batch SDK: cores cap what create, resize and
autoscale bring (resizeErrors AccountCoreQuotaReached, never a runaway), pools and active jobs are
refused with Azure's 409 codes, and each quota is set when the service starts."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm
from azure.core.exceptions import HttpResponseError

from .bare_server import BareServer
from .helpers import POLL, error_code, make_job, pool_options, uid, wait_for

pytestmark = pytest.mark.timeout(120)

# standard_d2s_v3 nodes have 2 cores: 6 dedicated cores hold 3 nodes, 4 spot cores hold 2.
FLAGS = ["--dedicated-cores-quota", "6", "--low-priority-cores-quota", "4", "--pools-quota", "4",
         "--active-jobs-quota", "2"]


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory):
    server = BareServer(tmp_path_factory.mktemp("quotas"), flags=FLAGS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(quota_server):
    with quota_server.client() as c:
        yield c


def _steady(client, pool_id):
    return wait_for(lambda: (p := client.get_pool(pool_id)).allocation_state == "steady" and p, 30,
                    what=f"{pool_id} steady")


def _delete_all_pools(client):
    for pool in client.list_pools():
        client.begin_delete_pool(pool.id, polling_interval=POLL).result()


def test_resize_and_autoscale_stop_at_the_core_quota_with_azures_resize_error(client):
    _delete_all_pools(client)
    first = uid("q-first")
    client.create_pool(pool_options(first, dedicated=2))  # 4 of 6 cores
    second = uid("q-second")
    client.create_pool(pool_options(second, dedicated=3))  # only 1 more node fits
    pool = _steady(client, second)
    assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (3, 1)
    (error,) = pool.resize_errors
    assert error.code == "AccountCoreQuotaReached" and "6 cores" in error.message
    assert {v.name: v.value for v in error.error_values}["AllocatedNodes"] == "1"

    # The runaway formula of the issue: a pool asks for a billion nodes and gets what the quota holds.
    runaway = uid("q-auto")
    client.create_pool(m.BatchPoolCreateOptions(
        id=runaway, vm_size="standard_d2s_v3", virtual_machine_configuration=pool_options(runaway).virtual_machine_configuration,
        enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes=1000000000; $TargetLowPriorityNodes=1e12;"))
    pool = _steady(client, runaway)
    assert pool.current_dedicated_nodes == 0 and pool.current_low_priority_nodes == 2
    assert sorted(e.code for e in pool.resize_errors) == ["AccountCoreQuotaReached",
                                                           "AccountLowPriorityCoreQuotaReached"]
    assert len(list(client.list_pools())) == 3  # and the service still answers at once

    # Giving cores back lets a later resize use them, and a successful resize clears the errors.
    client.begin_delete_pool(first, polling_interval=POLL).result()
    client.begin_resize_pool(second, m.BatchPoolResizeOptions(target_dedicated_nodes=3),
                             polling_interval=POLL).result()
    pool = _steady(client, second)
    assert pool.current_dedicated_nodes == 3 and not pool.resize_errors


def test_pool_and_active_job_quotas_answer_azures_409(client):
    _delete_all_pools(client)
    pools = [uid("q-pool") for _ in range(4)]
    for pool_id in pools:
        client.create_pool(pool_options(pool_id, dedicated=0))
    with pytest.raises(HttpResponseError) as refused:
        client.create_pool(pool_options(uid("q-pool"), dedicated=0))
    assert refused.value.status_code == 409 and error_code(refused.value) == "PoolQuotaReached"

    jobs = [make_job(client, pools[0]) for _ in range(2)]
    with pytest.raises(HttpResponseError) as refused:
        make_job(client, pools[0])
    assert refused.value.status_code == 409 and error_code(refused.value) == "ActiveJobAndScheduleQuotaReached"
    # Completed jobs do not count, as on Azure.
    client.begin_terminate_job(jobs[0], mm.BatchJobTerminateOptions(termination_reason="done"),
                              polling_interval=POLL).result()
    wait_for(lambda: client.get_job(jobs[0]).state == "completed", 20, what="job completed")
    make_job(client, pools[0])
    for job in client.list_jobs():
        client.begin_delete_job(job.id, polling_interval=POLL).result()
    _delete_all_pools(client)

"""The local service applies Azure's size/image/slot rules (batchnb._azure_facts) to raw requests.

A client that skips batchnb's own checks (the raw SDK here) meets what it would meet on Azure:
the pool is created, no node ever allocates, and a resize error says why; too many task slots for
the size's vCPUs are refused at creation.
"""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import IMAGE, POLL, pool_options, uid, wait_for

GEN2_IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu-24_04-lts", sku="server"),
    node_agent_sku_id="batch.node.ubuntu 24.04")


def _steady(client, pool_id):
    return wait_for(lambda: (p := client.get_pool(pool_id)).allocation_state == "steady" and p, timeout=20,
                    what=f"pool {pool_id} steady")


def test_a_gen2_only_size_with_a_gen1_image_gets_no_node_and_a_resize_error(client):
    pool_id = uid("gen-mismatch")
    options = pool_options(pool_id, dedicated=2)
    options.vm_size = "Standard_D2s_v6"  # Gen2 only; IMAGE is Ubuntu 22.04 22_04-lts, Gen1
    client.create_pool(options)
    try:
        pool = _steady(client, pool_id)
        assert pool.current_dedicated_nodes == 0 and pool.target_dedicated_nodes == 2
        assert [e.code for e in pool.resize_errors] == ["AllocationFailed"]
        assert "Hypervisor Generation '1'" in pool.resize_errors[0].message
        assert list(client.list_nodes(pool_id)) == []
    finally:
        client.begin_delete_pool(pool_id, polling_interval=POLL)


def test_an_arm64_size_with_an_x64_image_gets_no_node(client):
    pool_id = uid("arch-mismatch")
    options = pool_options(pool_id, dedicated=1)
    options.vm_size = "Standard_D2ps_v5"
    options.virtual_machine_configuration = GEN2_IMAGE
    client.create_pool(options)
    try:
        pool = _steady(client, pool_id)
        assert pool.current_dedicated_nodes == 0 and "arm64" in pool.resize_errors[0].message
    finally:
        client.begin_delete_pool(pool_id, polling_interval=POLL)


def test_a_matching_pair_allocates_nodes(client):
    pool_id = uid("gen-match")
    options = pool_options(pool_id, dedicated=1)
    options.vm_size = "Standard_D2s_v6"
    options.virtual_machine_configuration = GEN2_IMAGE
    client.create_pool(options)
    try:
        pool = _steady(client, pool_id)
        assert pool.current_dedicated_nodes == 1 and not pool.resize_errors
    finally:
        client.begin_delete_pool(pool_id, polling_interval=POLL)


def test_more_task_slots_than_four_per_vcpu_are_refused_at_creation(client):
    with pytest.raises(HttpResponseError) as info:
        client.create_pool(pool_options(uid("slots"), dedicated=0, slots=9))  # standard_d2s_v3: 2 vCPUs
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidPropertyValue"
    assert IMAGE is not None

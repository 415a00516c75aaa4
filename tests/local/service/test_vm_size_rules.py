"""VM size and image rules Azure applies: the task slot cap min(4 x vCPUs, 256) at creation, and sizes
that cannot boot the image (Gen1/Gen2, Arm64/x64): the pool is created and its resize ends in an
AllocationFailed resize error with the reason, as on Azure, instead of nodes that Azure never gives."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import POLL, error_code, uid, wait_for

pytestmark = pytest.mark.timeout(60)

JAMMY = m.VirtualMachineConfiguration(  # Gen1
    image_reference=m.BatchVmImageReference(publisher="canonical", offer="0001-com-ubuntu-server-jammy",
                                            sku="22_04-lts"), node_agent_sku_id="batch.node.ubuntu 22.04")
NOBLE = m.VirtualMachineConfiguration(  # Gen2
    image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu-24_04-lts", sku="server"),
    node_agent_sku_id="batch.node.ubuntu 24.04")


def create(client, vm_size: str, vmc, *, slots: int = 1, nodes: int = 1) -> str:
    pool_id = uid("vm")
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size=vm_size, virtual_machine_configuration=vmc,
                                                target_dedicated_nodes=nodes, task_slots_per_node=slots))
    return pool_id


@pytest.mark.parametrize(("vm_size", "cap"), [("standard_d2s_v3", 8), ("Standard_E8-4s_v3", 16),
                                              ("standard_hb120rs_v3", 256)])
def test_task_slots_are_capped_at_four_per_vcpu_and_256(client, vm_size, cap) -> None:
    with pytest.raises(HttpResponseError) as info:
        create(client, vm_size, JAMMY, slots=cap + 1, nodes=0)
    assert info.value.status_code == 400 and error_code(info.value) == "InvalidPropertyValue"
    values = {v["key"]: v["value"] for v in info.value.response.json()["values"]}
    assert values["PropertyName"] == "taskSlotsPerNode" and str(cap) in values["Reason"]
    client.begin_delete_pool(create(client, vm_size, JAMMY, slots=cap, nodes=0), polling_interval=POLL).result()


@pytest.mark.parametrize(("vm_size", "vmc", "words"), [
    ("standard_d2s_v6", JAMMY, "only Generation 2"),
    ("standard_a2_v2", NOBLE, "only Generation 1"),
    ("standard_d2ps_v5", NOBLE, "Arm64"),
])
def test_a_size_that_cannot_boot_the_image_ends_its_resize_in_allocation_failed(client, vm_size, vmc,
                                                                                  words) -> None:
    pool_id = create(client, vm_size, vmc)
    pool = wait_for(lambda: (p := client.get_pool(pool_id)).allocation_state == "steady" and p, what="steady")
    assert pool.current_dedicated_nodes == 0 and not list(client.list_nodes(pool_id))
    error = pool.resize_errors[0]
    assert error.code == "AllocationFailed" and words in error.error_values[0].value
    client.begin_delete_pool(pool_id, polling_interval=POLL).result()


def test_a_compatible_pair_gets_its_nodes(client) -> None:
    pool_id = create(client, "standard_d2s_v6", NOBLE)
    wait_for(lambda: client.get_pool(pool_id).current_dedicated_nodes == 1, what="a node")
    assert not client.get_pool(pool_id).resize_errors
    client.begin_delete_pool(pool_id, polling_interval=POLL).result()

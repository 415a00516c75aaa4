"""Never pretend: images the service does not list, Windows images and container tasks on a pool
without a container configuration are refused (or fail) as on Azure, instead of running on the host."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import error_code, make_job, task, uid, wait_task

pytestmark = pytest.mark.timeout(120)

HPC = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(publisher="microsoft-dsvm", offer="ubuntu-hpc", sku="2204"),
    node_agent_sku_id="batch.node.ubuntu 22.04",
    container_configuration=m.BatchContainerConfiguration(type="dockerCompatible",
                                                          container_image_names=["python:3.12-slim"]))


def pool_options(pool_id: str, *, virtual_machine_configuration, dedicated: int = 1) -> m.BatchPoolCreateOptions:
    return m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=dedicated,
                                    virtual_machine_configuration=virtual_machine_configuration)


def test_supported_images_are_linux_only_and_every_listed_image_makes_a_pool(client) -> None:
    images = list(client.list_supported_images())
    assert images and all(i.os_type == "linux" for i in images)
    for image in images:
        pool_id = uid("img")
        vmc = m.VirtualMachineConfiguration(image_reference=image.image_reference,
                                            node_agent_sku_id=image.node_agent_sku_id)
        client.create_pool(pool_options(pool_id, dedicated=0, virtual_machine_configuration=vmc))
        client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_windows_image_is_refused_saying_the_local_service_runs_linux_nodes(client) -> None:
    vmc = m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher="microsoftwindowsserver", offer="windowsserver",
                                                sku="2022-datacenter"),
        node_agent_sku_id="batch.node.windows amd64")
    pool_id = uid("win")
    with pytest.raises(HttpResponseError) as info:
        client.create_pool(pool_options(pool_id, virtual_machine_configuration=vmc))
    assert info.value.status_code == 400 and error_code(info.value) == "InvalidPropertyValue"
    assert "Linux nodes only" in str(info.value)
    with pytest.raises(HttpResponseError):
        client.get_pool(pool_id)  # nothing was created


@pytest.mark.parametrize(("publisher", "offer", "sku", "agent", "words"), [
    ("canonical", "ubuntuserver", "16.04-lts", "batch.node.ubuntu 22.04", "not supported"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", "batch.node.ubuntu 24.04", "needs the node agent"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", "batch.node.centos 7", "node agent SKU"),
])
def test_images_the_service_does_not_list_are_refused_at_creation(client, publisher, offer, sku, agent,
                                                                   words) -> None:
    vmc = m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher=publisher, offer=offer, sku=sku), node_agent_sku_id=agent)
    with pytest.raises(HttpResponseError) as info:
        client.create_pool(pool_options(uid("img"), virtual_machine_configuration=vmc))
    assert info.value.status_code == 400 and error_code(info.value) == "InvalidPropertyValue"
    assert words in str(info.value)


def test_container_configuration_needs_an_image_that_supports_containers(client) -> None:
    vmc = m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu-24_04-lts", sku="server"),
        node_agent_sku_id="batch.node.ubuntu 24.04",
        container_configuration=m.BatchContainerConfiguration(type="dockerCompatible"))
    with pytest.raises(HttpResponseError) as info:
        client.create_pool(pool_options(uid("c"), virtual_machine_configuration=vmc))
    assert "does not support containers" in str(info.value)


def test_container_task_on_a_pool_without_container_configuration_is_refused(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    settings = m.BatchTaskContainerSettings(image_name="python:3.12-slim")
    with pytest.raises(HttpResponseError) as info:
        client.create_task(job_id, task("c1", "python -c pass", container_settings=settings))
    assert info.value.status_code == 400 and "has no containerConfiguration" in str(info.value)
    with pytest.raises(m.CreateTasksError) as bulk:  # the task collection refuses it the same way
        client.create_tasks(job_id, [task("c2", "python -c pass", container_settings=settings)])
    assert "InvalidPropertyValue" in str(bulk.value)
    assert not list(client.list_tasks(job_id))  # nothing ran on the host


def test_container_task_on_a_container_pool_fails_instead_of_running_on_the_host(client) -> None:
    pool_id = uid("cpool")
    client.create_pool(pool_options(pool_id, dedicated=1, virtual_machine_configuration=HPC))
    job_id = make_job(client, pool_id)
    settings = m.BatchTaskContainerSettings(image_name="python:3.12-slim")
    client.create_task(job_id, task("c1", "python -c \"open('ran','w')\"", container_settings=settings))
    client.create_task(job_id, task("host", "python -c pass"))  # no containerSettings: runs on the node
    failed = wait_task(client, job_id, "c1", timeout=30)
    assert failed.execution_info.result == "failure" and failed.execution_info.exit_code is None
    assert failed.execution_info.failure_info.code == "ContainerNotEmulated"
    assert "does not run containers" in failed.execution_info.failure_info.message
    assert wait_task(client, job_id, "host").execution_info.exit_code == 0
    client.begin_delete_job(job_id, polling_interval=0.1).result()
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()

"""Azure's rules between VM sizes and images, refused by PoolSpec before any request.

On Azure a pool whose size cannot boot its image is accepted and then never gets a node; these
pairs must fail in the cell that builds the spec, with one line naming the field and the fix.
"""

from __future__ import annotations

import pytest

from batchnb import PoolSpec
from batchnb.core.specs.images import DEFAULT_IMAGE, IMAGE_PRESETS, ImageReference, compatible_presets
from batchnb.core.specs.vm_sizes import KNOWN_VM_SIZES, vm_size_facts
from batchnb.errors import ValidationError


def _refusal(**kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        PoolSpec("p", **kwargs)
    assert "\n" not in str(info.value).strip()
    return info.value


def test_the_default_image_is_gen2_ubuntu_24_04():
    assert DEFAULT_IMAGE == "ubuntu-24.04"
    assert PoolSpec("p", vm_size="Standard_D2s_v6").image_reference.generation == 2


@pytest.mark.parametrize("size", ["Standard_D4s_v6", "Standard_D4ds_v6", "Standard_D4as_v6"])
def test_gen2_only_sizes_refuse_the_gen1_ubuntu_22_04_image(size):
    error = _refusal(vm_size=size, image="ubuntu-22.04")
    assert error.field == "image" and "Gen1" in str(error) and "Gen2" in str(error)
    assert "image='ubuntu-22.04-gen2'" in str(error)
    assert PoolSpec("p", vm_size=size, image="ubuntu-22.04-gen2").vm_size == size


def test_gen1_only_sizes_refuse_the_gen2_default_and_name_its_gen1_twin():
    error = _refusal(vm_size="Standard_A2_v2")
    assert error.field == "image" and "image='ubuntu-24.04-gen1'" in str(error)
    assert PoolSpec("p", vm_size="Standard_A2_v2", image="ubuntu-24.04-gen1").image == "ubuntu-24.04-gen1"


def test_arm64_sizes_refuse_x64_images():
    error = _refusal(vm_size="Standard_D4ps_v5")
    assert error.field == "image" and "arm64" in str(error) and "x64" in str(error)
    arm = ImageReference(publisher="canonical", offer="ubuntu-24_04-lts", sku="server-arm64",
                         node_agent_sku_id="batch.node.ubuntu 24.04")
    assert arm.architecture == "arm64" and arm.generation == 2
    assert PoolSpec("p", vm_size="Standard_D4ps_v5", image=arm).vm_size == "Standard_D4ps_v5"


def test_custom_images_without_facts_are_not_second_guessed():
    custom = ImageReference(virtual_machine_image_id="/subscriptions/s/images/i",
                            node_agent_sku_id="batch.node.ubuntu 24.04")
    assert PoolSpec("p", vm_size="Standard_A2_v2", image=custom).vm_size == "Standard_A2_v2"
    gen2 = ImageReference(virtual_machine_image_id="/subscriptions/s/images/i",
                          node_agent_sku_id="batch.node.ubuntu 24.04", generation=2, architecture="x64")
    assert _refusal(vm_size="Standard_A2_v2", image=gen2).field == "image"


@pytest.mark.parametrize("size", ["Standard_NC24rs_v3", "Standard_NC6s_v3", "Standard_HC44rs", "Standard_NV12s_v3"])
def test_retired_sizes_are_refused_even_when_unknown_sizes_are_allowed(size):
    assert size not in KNOWN_VM_SIZES
    error = _refusal(vm_size=size, allow_unknown_vm_size=True)
    assert error.field == "vm_size" and "retired" in str(error)


def test_task_slots_are_capped_at_four_per_vcpu():
    error = _refusal(vm_size="Standard_D2s_v3", task_slots_per_node=9)
    assert error.field == "task_slots_per_node" and "at most 8" in str(error)
    assert PoolSpec("p", vm_size="Standard_D2s_v3", task_slots_per_node=8).task_slots_per_node == 8
    assert PoolSpec("p", vm_size="Standard_D96s_v5", task_slots_per_node=256).task_slots_per_node == 256
    assert vm_size_facts("standard_d15_v2").vcpus == 20


def test_every_known_size_has_a_preset_it_boots_unless_it_is_arm64():
    for name in KNOWN_VM_SIZES:
        facts = vm_size_facts(name)
        assert facts is not None
        assert compatible_presets(facts) or facts.arch == "arm64", name
        for preset in compatible_presets(facts):
            PoolSpec("p", vm_size=name, image=preset)
    assert set(IMAGE_PRESETS) >= {"ubuntu-24.04", "ubuntu-24.04-gen1", "ubuntu-22.04", "ubuntu-22.04-gen2"}


def test_the_ubuntu_22_04_node_agent_carries_its_announced_end_of_support():
    assert IMAGE_PRESETS["ubuntu-22.04"].end_of_support == "2027-06-30"
    assert IMAGE_PRESETS["ubuntu-22.04-gen2"].end_of_support == "2027-06-30"
    assert IMAGE_PRESETS["ubuntu-24.04"].end_of_support is None

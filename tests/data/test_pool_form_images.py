"""PoolForm offers only the images the chosen VM size can boot (hypervisor generation, CPU
architecture), so the form cannot build a pool Azure would never give a node."""

from __future__ import annotations

from batchnb.views.widgets import PoolForm


def test_the_image_choices_follow_the_vm_size():
    form = PoolForm(None)
    image = form.fields["image"]
    assert image.value == "ubuntu-24.04" and form.spec is not None

    form.fields["vm_size"].value = "Standard_D4s_v6"  # Gen2 only
    assert "ubuntu-22.04" not in image.options and "ubuntu-22.04-gen2" in image.options
    assert form.spec is not None and form.spec.image_reference.generation == 2

    form.fields["vm_size"].value = "Standard_A2_v2"  # Gen1 only: the Gen2 default is swapped out
    assert "ubuntu-24.04" not in image.options and image.value in image.options
    assert form.spec is not None and form.spec.image_reference.generation == 1

    form.fields["vm_size"].value = "Standard_D4ps_v5"  # Arm64: no preset fits, the form says why
    assert form.spec is None and "arm64" in form.errors["image"].value
    form.close()

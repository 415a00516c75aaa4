"""PoolForm's VM size: every option says its vCPUs, memory and (snapshot) price, and a search
narrows the 356 sizes; the chosen size still builds the spec. No service needed: the form only
validates until "Create pool"."""

from __future__ import annotations

from batchnb.core.cost.snapshot import snapshot_price
from batchnb.views.widgets import PoolForm


def _sizes(form: PoolForm) -> list[str]:
    return [value for _, value in form.fields["vm_size"].options]


def test_each_size_shows_vcpus_memory_and_price() -> None:
    form = PoolForm(None)
    labels = dict((v, k) for k, v in form.fields["vm_size"].options)
    assert len(labels) > 300
    assert labels["Standard_D2s_v3"] == f"Standard_D2s_v3 · 2 vCPU · 8 GiB · ~${snapshot_price('Standard_D2s_v3'):.3f}/h"
    assert "24 vCPU · 220 GiB" in labels["Standard_NC24ads_A100_v4"]
    assert "arm64" in labels["Standard_D4ps_v5"]


def test_search_narrows_the_sizes_and_keeps_a_matching_choice() -> None:
    form = PoolForm(None, vm_size="standard_d4s_v5")
    search = form.vm_size_search
    search.value = "d4s v5"
    assert _sizes(form) == ["Standard_D4s_v5"] and form.fields["vm_size"].value == "Standard_D4s_v5"
    search.value = "16 vcpu"  # a whole term: not 2 vCPU with 16 GiB
    sizes = _sizes(form)
    assert sizes and all("· 16 vCPU ·" in label for label, _ in form.fields["vm_size"].options)
    assert form.fields["vm_size"].value in sizes
    search.value = "a100"
    assert form.fields["vm_size"].value == "Standard_NC24ads_A100_v4"  # the first match, the old one gone
    assert form.spec is not None and form.spec.vm_size == "Standard_NC24ads_A100_v4"
    search.value = "no-such-size"
    assert "no known size matches" in form.errors["vm_size"].value
    assert form.fields["vm_size"].value == "Standard_NC24ads_A100_v4"  # the list and choice unchanged
    search.value = ""
    assert len(_sizes(form)) > 300 and form.errors["vm_size"].value == ""

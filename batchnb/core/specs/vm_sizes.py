"""Azure VM sizes batchnb knows, so that a typo in ``vm_size`` fails before a pool is requested.

The sizes, with their vCPUs, hypervisor generations and CPU architecture, come from the dated and
sourced table in ``batchnb.core.specs.azure_facts`` (the local service enforces the same rules
rules). It covers the general-purpose, compute, memory, storage, GPU and HPC families people use
with Batch, without retired sizes. It is not exhaustive: ``PoolSpec(..., allow_unknown_vm_size=True)``
passes any ``Standard_*`` name through unchecked (new sizes appear faster than this list is updated).
Names are compared case-insensitively, as Azure does, and returned in Azure's own spelling.
"""

from __future__ import annotations

import re

from batchnb.core.specs.azure_facts import (
    RETIRED_VM_SIZES,
    VM_SIZES,
    VmSizeFacts,
    max_task_slots,
    vm_memory_gib,
    vm_size_facts,
)
from batchnb.core.validation import did_you_mean
from batchnb.errors import ValidationError

__all__ = ["KNOWN_VM_SIZES", "VmSizeFacts", "check_vm_size", "max_task_slots", "vm_memory_gib", "vm_size_facts"]

KNOWN_VM_SIZES: tuple[str, ...] = tuple(facts.name for facts in VM_SIZES.values())

_BY_LOWER = {size.lower(): size for size in KNOWN_VM_SIZES}
_LOOKS_LIKE_SIZE = re.compile(r"^(standard|basic)_[a-z0-9_\-]+\Z", re.I)


def check_vm_size(value: object, *, allow_unknown: bool = False, field: str = "vm_size") -> str:
    """Azure's spelling of ``value`` (``"standard_d2s_v3"`` -> ``"Standard_D2s_v3"``).

    Unknown sizes are refused with the closest known ones, unless ``allow_unknown`` is set, in
    which case any ``Standard_*``-shaped name is passed through as written.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"must be an Azure VM size name, got {value!r}",
                              fix="use e.g. 'standard_d2s_v3' (2 vCPU, 8 GiB)")
    name = value.strip()
    retired = RETIRED_VM_SIZES.get(name.lower())
    if retired:
        raise ValidationError(field, f"{name!r} was retired by Azure on {retired}",
                              fix="pick a current size, e.g. 'Standard_NC24ads_A100_v4' for GPUs or "
                                  "'Standard_D4s_v5' for CPUs")
    known = _BY_LOWER.get(name.lower())
    if known:
        return known
    if allow_unknown:
        if not _LOOKS_LIKE_SIZE.match(name):
            raise ValidationError(field, f"{name!r} does not look like an Azure VM size",
                                  fix="Azure sizes look like 'Standard_D2s_v3'")
        return name
    candidate = name if name.lower().startswith(("standard_", "basic_")) else f"Standard_{name}"
    hint = did_you_mean(candidate, KNOWN_VM_SIZES, joiner=", ")
    raise ValidationError(
        field, f"{name!r} is not a VM size batchnb knows",
        fix=f"{hint}pass allow_unknown_vm_size=True to use a size that is missing from batchnb's list")

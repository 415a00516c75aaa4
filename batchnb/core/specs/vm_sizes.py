"""Azure VM sizes batchnb knows, so that a typo in ``vm_size`` fails before a pool is requested.

The list covers the general-purpose, compute, memory, storage, GPU and HPC families people use with
Batch. It is not exhaustive: ``PoolSpec(..., allow_unknown_vm_size=True)`` passes any
``Standard_*`` name through unchecked (new sizes appear faster than this list is updated).
Names are compared case-insensitively, as Azure does, and returned in Azure's own spelling.
"""

from __future__ import annotations

import re

from batchnb.core.validation import did_you_mean
from batchnb.errors import ValidationError

__all__ = ["KNOWN_VM_SIZES", "check_vm_size"]


def _family(template: str, sizes: str) -> list[str]:
    return [template.format(n) for n in sizes.split()]


_CPU = "2 4 8 16 32 48 64"
_CPU96 = "2 4 8 16 32 48 64 96"

KNOWN_VM_SIZES: tuple[str, ...] = tuple(
    ["Standard_A1_v2", "Standard_A2_v2", "Standard_A4_v2", "Standard_A8_v2",
     "Standard_A2m_v2", "Standard_A4m_v2", "Standard_A8m_v2"]
    + _family("Standard_B{}", "1s 1ms 2s 2ms 4ms 8ms 12ms 16ms 20ms")
    + _family("Standard_B{}_v2", "2ts 2ls 2s 4ls 4s 8ls 8s 16ls 16s 32ls 32s")
    + _family("Standard_D{}_v2", "1 2 3 4 5 11 12 13 14 15")
    + _family("Standard_DS{}_v2", "1 2 3 4 5 11 12 13 14 15")
    + _family("Standard_D{}_v3", _CPU) + _family("Standard_D{}s_v3", _CPU)
    + _family("Standard_D{}_v4", _CPU) + _family("Standard_D{}s_v4", _CPU)
    + _family("Standard_D{}d_v4", _CPU) + _family("Standard_D{}ds_v4", _CPU)
    + _family("Standard_D{}a_v4", _CPU96) + _family("Standard_D{}as_v4", _CPU96)
    + _family("Standard_D{}_v5", _CPU96) + _family("Standard_D{}s_v5", _CPU96)
    + _family("Standard_D{}d_v5", _CPU96) + _family("Standard_D{}ds_v5", _CPU96)
    + _family("Standard_D{}as_v5", _CPU96) + _family("Standard_D{}ads_v5", _CPU96)
    + _family("Standard_D{}ps_v5", _CPU) + _family("Standard_D{}pds_v5", _CPU)
    + _family("Standard_D{}s_v6", _CPU96) + _family("Standard_D{}ds_v6", _CPU96)
    + _family("Standard_D{}as_v6", _CPU96) + _family("Standard_D{}ads_v6", _CPU96)
    + _family("Standard_E{}_v3", "2 4 8 16 20 32 48 64") + _family("Standard_E{}s_v3", "2 4 8 16 20 32 48 64")
    + _family("Standard_E{}_v4", "2 4 8 16 20 32 48 64") + _family("Standard_E{}s_v4", "2 4 8 16 20 32 48 64")
    + _family("Standard_E{}d_v4", "2 4 8 16 20 32 48 64") + _family("Standard_E{}ds_v4", "2 4 8 16 20 32 48 64")
    + _family("Standard_E{}_v5", "2 4 8 16 20 32 48 64 96") + _family("Standard_E{}s_v5", "2 4 8 16 20 32 48 64 96")
    + _family("Standard_E{}d_v5", "2 4 8 16 20 32 48 64 96")
    + _family("Standard_E{}ds_v5", "2 4 8 16 20 32 48 64 96")
    + _family("Standard_E{}as_v5", "2 4 8 16 20 32 48 64 96")
    + _family("Standard_E{}ads_v5", "2 4 8 16 20 32 48 64 96")
    + _family("Standard_F{}", "1 2 4 8 16") + _family("Standard_F{}s", "1 2 4 8 16")
    + _family("Standard_F{}s_v2", "2 4 8 16 32 48 64 72")
    + _family("Standard_L{}s_v3", "8 16 32 48 64 80") + _family("Standard_L{}as_v3", "8 16 32 48 64 80")
    + ["Standard_NC6s_v3", "Standard_NC12s_v3", "Standard_NC24s_v3", "Standard_NC24rs_v3",
       "Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3", "Standard_NC16as_T4_v3", "Standard_NC64as_T4_v3",
       "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4",
       "Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5",
       "Standard_ND40rs_v2", "Standard_ND96asr_v4", "Standard_ND96amsr_A100_v4", "Standard_ND96isr_H100_v5",
       "Standard_NV12s_v3", "Standard_NV24s_v3", "Standard_NV48s_v3",
       "Standard_NV6ads_A10_v5", "Standard_NV12ads_A10_v5", "Standard_NV18ads_A10_v5",
       "Standard_NV36ads_A10_v5", "Standard_NV72ads_A10_v5",
       "Standard_HB120rs_v2", "Standard_HB120rs_v3", "Standard_HB176rs_v4", "Standard_HC44rs",
       "Standard_HX176rs", "Standard_M32ls", "Standard_M64s", "Standard_M128s"]
)

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

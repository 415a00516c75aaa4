"""The price snapshot shipped with batchnb: hourly list prices of the VM sizes it knows, for offline
use and tests.

What it is, plainly: pay-as-you-go **Linux** prices in **eastus**, in USD, compiled by hand on
``SNAPSHOT_DATE`` from Azure's published list prices (the Retail Prices API's ``retailPrice`` for
``type eq 'Consumption'`` meters; the machine that compiled it had no access to the API, so each
family's per-vCPU rate was written down from the published figures, e.g. Standard_D2s_v3 at
$0.096/h). Within a family Azure prices scale with vCPUs, so one rate per family covers every size
of it; sizes whose price does not scale are listed one by one. Every snapshot price is marked
``approximate``: list prices move, and other regions differ by up to ~30 %.

Spot prices change with demand, hour by hour and region by region. The snapshot carries no
observed spot price: it assumes ``SPOT_FRACTION`` of the pay-as-you-go price (Azure advertises
spot discounts of up to 90 %; 80 % is typical for general-purpose sizes in eastus) and says so.

``batchnb.vm_price`` prefers, in order: user overrides, a fresh on-disk cache of the live API,
the live API itself, and only then this snapshot.
"""

from __future__ import annotations

import re
from datetime import date

from batchnb.core.cost.vcpus import vm_vcpus
from batchnb.core.specs.vm_sizes import KNOWN_VM_SIZES

__all__ = ["SNAPSHOT_CURRENCY", "SNAPSHOT_DATE", "SNAPSHOT_REGION", "SNAPSHOT_SOURCE", "SPOT_FRACTION",
           "snapshot_price"]

SNAPSHOT_DATE = date(2026, 12, 7)
SNAPSHOT_REGION = "eastus"
SNAPSHOT_CURRENCY = "USD"
SNAPSHOT_SOURCE = ("batchnb snapshot: Azure pay-as-you-go Linux list prices, eastus, USD, compiled "
                   f"{SNAPSHOT_DATE.isoformat()} (approximate)")
SPOT_FRACTION = 0.2

# USD per vCPU-hour by family (the size's number replaced by "{}").
_PER_VCPU: dict[str, float] = {
    "A{}_v2": 0.0455, "A{}m_v2": 0.0598,
    "D{}_v3": 0.048, "D{}s_v3": 0.048, "D{}_v4": 0.048, "D{}s_v4": 0.048,
    "D{}d_v4": 0.0565, "D{}ds_v4": 0.0565, "D{}a_v4": 0.048, "D{}as_v4": 0.048,
    "D{}_v5": 0.048, "D{}s_v5": 0.048, "D{}d_v5": 0.0565, "D{}ds_v5": 0.0565,
    "D{}as_v5": 0.043, "D{}ads_v5": 0.0515, "D{}ps_v5": 0.0385, "D{}pds_v5": 0.0465,
    "D{}s_v6": 0.0505, "D{}ds_v6": 0.0595, "D{}as_v6": 0.0435, "D{}ads_v6": 0.0525,
    "E{}_v3": 0.063, "E{}s_v3": 0.063, "E{}_v4": 0.063, "E{}s_v4": 0.063,
    "E{}d_v4": 0.072, "E{}ds_v4": 0.072, "E{}_v5": 0.063, "E{}s_v5": 0.063,
    "E{}d_v5": 0.072, "E{}ds_v5": 0.072, "E{}as_v5": 0.0565, "E{}ads_v5": 0.0655,
    "F{}": 0.0497, "F{}s": 0.0497, "F{}s_v2": 0.0423,
    "L{}s_v3": 0.078, "L{}as_v3": 0.076,
}

# Sizes priced one by one (USD per hour): burstable, older D-series, GPU, HPC and memory sizes.
_PER_SIZE: dict[str, float] = {
    "Standard_B1s": 0.0104, "Standard_B1ms": 0.0207, "Standard_B2s": 0.0416, "Standard_B2ms": 0.0832,
    "Standard_B4ms": 0.166, "Standard_B8ms": 0.333, "Standard_B12ms": 0.499, "Standard_B16ms": 0.666,
    "Standard_B20ms": 0.832,
    "Standard_B2ts_v2": 0.0104, "Standard_B2ls_v2": 0.0416, "Standard_B2s_v2": 0.0832,
    "Standard_B4ls_v2": 0.0832, "Standard_B4s_v2": 0.166, "Standard_B8ls_v2": 0.166, "Standard_B8s_v2": 0.333,
    "Standard_B16ls_v2": 0.333, "Standard_B16s_v2": 0.666, "Standard_B32ls_v2": 0.666, "Standard_B32s_v2": 1.331,
    "Standard_D1_v2": 0.057, "Standard_D2_v2": 0.114, "Standard_D3_v2": 0.229, "Standard_D4_v2": 0.458,
    "Standard_D5_v2": 0.916, "Standard_D11_v2": 0.148, "Standard_D12_v2": 0.296, "Standard_D13_v2": 0.593,
    "Standard_D14_v2": 1.186, "Standard_D15_v2": 1.482,
    "Standard_DS1_v2": 0.057, "Standard_DS2_v2": 0.114, "Standard_DS3_v2": 0.229, "Standard_DS4_v2": 0.458,
    "Standard_DS5_v2": 0.916, "Standard_DS11_v2": 0.148, "Standard_DS12_v2": 0.296, "Standard_DS13_v2": 0.593,
    "Standard_DS14_v2": 1.186, "Standard_DS15_v2": 1.482,
    "Standard_NC6s_v3": 3.06, "Standard_NC12s_v3": 6.12, "Standard_NC24s_v3": 12.24, "Standard_NC24rs_v3": 13.464,
    "Standard_NC4as_T4_v3": 0.526, "Standard_NC8as_T4_v3": 0.752, "Standard_NC16as_T4_v3": 1.204,
    "Standard_NC64as_T4_v3": 4.352,
    "Standard_NC24ads_A100_v4": 3.673, "Standard_NC48ads_A100_v4": 7.346, "Standard_NC96ads_A100_v4": 14.692,
    "Standard_NC40ads_H100_v5": 6.98, "Standard_NC80adis_H100_v5": 13.96,
    "Standard_ND40rs_v2": 22.032, "Standard_ND96asr_v4": 27.197, "Standard_ND96amsr_A100_v4": 32.77,
    "Standard_ND96isr_H100_v5": 98.32,
    "Standard_NV12s_v3": 1.14, "Standard_NV24s_v3": 2.28, "Standard_NV48s_v3": 4.56,
    "Standard_NV6ads_A10_v5": 0.454, "Standard_NV12ads_A10_v5": 0.908, "Standard_NV18ads_A10_v5": 1.60,
    "Standard_NV36ads_A10_v5": 3.20, "Standard_NV72ads_A10_v5": 6.52,
    "Standard_HB120rs_v2": 3.60, "Standard_HB120rs_v3": 3.60, "Standard_HB176rs_v4": 7.20,
    "Standard_HC44rs": 3.168, "Standard_HX176rs": 8.64,
    "Standard_M32ls": 3.32, "Standard_M64s": 6.669, "Standard_M128s": 13.338,
}



def _family(size: str) -> str | None:
    """``Standard_D4s_v3`` -> ``D{}s_v3`` (the first run of digits after the family letters)."""
    match = re.match(r"^Standard_([A-Za-z]+?)(\d+)(.*)$", size)
    return f"{match.group(1)}{{}}{match.group(3)}" if match else None


def _build() -> dict[str, float]:
    table: dict[str, float] = {}
    for size in KNOWN_VM_SIZES:
        if size in _PER_SIZE:
            table[size.lower()] = _PER_SIZE[size]
            continue
        family = _family(size)
        vcpus = vm_vcpus(size)
        if family in _PER_VCPU and vcpus:
            table[size.lower()] = round(_PER_VCPU[family] * vcpus, 4)
    return table


_TABLE = _build()


def snapshot_price(vm_size: str, *, spot: bool = False) -> float | None:
    """The snapshot's hourly USD price of ``vm_size`` in eastus (None if the snapshot lacks it)."""
    dedicated = _TABLE.get(vm_size.strip().lower())
    if dedicated is None:
        return None
    return round(dedicated * SPOT_FRACTION, 5) if spot else dedicated


def snapshot_sizes() -> list[str]:
    """Every size the snapshot prices (Azure spelling)."""
    return [s for s in KNOWN_VM_SIZES if s.lower() in _TABLE]

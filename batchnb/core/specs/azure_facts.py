"""Facts about Azure VM sizes and Marketplace images: what PoolSpec checks a pool against.

With them the client refuses an impossible size/image pair, too many task slots or a retired
size before any request. (The local service applies the same rules on its own side, read from
the sizes' names, and fails such a pool's resize as Azure does.)

Read on 2026-12-07 from Microsoft's documentation (learn.microsoft.com/azure/virtual-machines/
sizes/..., "VM Generation Support" of each series page; the Batch supported-images list and
Azure/Batch retirement notices on GitHub):
- Generation 1 only: Av2, Dv2, Dv3, Dav4, Ev3, F (the series without premium storage).
  Generation 2 only: every v6 series, the Arm64 Dps/Dpds v5, ND A100 v4, NC A100 v4, NC/ND H100
  v5, HBv4, HX. Everything else listed here boots both.
- Arm64: D*ps_v5, D*pds_v5 (Ampere Altra); they need an Arm64 image.
- Retired, so no longer offered: NCv3 (NC6s/12s/24s/24rs_v3, 2025-09-30), NVv3 (2026-09-30),
  HC44rs (2025-05-31).
- Task slots per node: at most min(4 x vCPUs, 256) (Batch REST API, taskSlotsPerNode).
- Images: Ubuntu 22.04 ``22_04-lts`` is Gen1 and ``22_04-lts-gen2`` Gen2; Ubuntu 24.04 ``server``
  is Gen2 and ``server-gen1`` Gen1; Debian ``12`` Gen1 / ``12-gen2`` Gen2; Windows Server
  ``2022-datacenter`` Gen1 / ``2022-datacenter-g2`` Gen2, ``2019-datacenter`` Gen1 /
  ``2019-datacenter-gensecond`` Gen2; microsoft-dsvm ``ubuntu-hpc`` ``2204`` Gen2.
  ``batch.node.ubuntu 22.04`` ends Batch support on 2027-06-30 (Azure/Batch#200).
Update the date above with the table.
"""

from __future__ import annotations

import re
from typing import NamedTuple

FACTS_DATE = "2026-12-07"
MAX_TASK_SLOTS = 256
SLOTS_PER_VCPU = 4


class VmFamily(NamedTuple):
    name: str
    template: str  # "{}" takes each entry of ``sizes``
    sizes: str
    generations: tuple[int, ...] = (1, 2)
    arch: str = "x64"


_CPU = "2 4 8 16 32 48 64"
_CPU96 = "2 4 8 16 32 48 64 96"
_E = "2 4 8 16 20 32 48 64"
_E96 = "2 4 8 16 20 32 48 64 96"
_G1 = (1,)
_G2 = (2,)

VM_FAMILIES: tuple[VmFamily, ...] = (
    VmFamily("Av2", "Standard_A{}_v2", "1 2 4 8 2m 4m 8m", _G1),
    VmFamily("B", "Standard_B{}", "1s 1ms 2s 2ms 4ms 8ms 12ms 16ms 20ms"),
    VmFamily("Bsv2", "Standard_B{}_v2", "2ts 2ls 2s 4ls 4s 8ls 8s 16ls 16s 32ls 32s"),
    VmFamily("Dv2", "Standard_D{}_v2", "1 2 3 4 5 11 12 13 14 15", _G1),
    VmFamily("DSv2", "Standard_DS{}_v2", "1 2 3 4 5 11 12 13 14 15"),
    VmFamily("Dv3", "Standard_D{}_v3", _CPU, _G1),
    VmFamily("Dsv3", "Standard_D{}s_v3", _CPU),
    VmFamily("Dv4", "Standard_D{}_v4", _CPU),
    VmFamily("Dsv4", "Standard_D{}s_v4", _CPU),
    VmFamily("Ddv4", "Standard_D{}d_v4", _CPU),
    VmFamily("Ddsv4", "Standard_D{}ds_v4", _CPU),
    VmFamily("Dav4", "Standard_D{}a_v4", _CPU96, _G1),
    VmFamily("Dasv4", "Standard_D{}as_v4", _CPU96),
    VmFamily("Dv5", "Standard_D{}_v5", _CPU96),
    VmFamily("Dsv5", "Standard_D{}s_v5", _CPU96),
    VmFamily("Ddv5", "Standard_D{}d_v5", _CPU96),
    VmFamily("Ddsv5", "Standard_D{}ds_v5", _CPU96),
    VmFamily("Dasv5", "Standard_D{}as_v5", _CPU96),
    VmFamily("Dadsv5", "Standard_D{}ads_v5", _CPU96),
    VmFamily("Dpsv5", "Standard_D{}ps_v5", _CPU, _G2, "arm64"),
    VmFamily("Dpdsv5", "Standard_D{}pds_v5", _CPU, _G2, "arm64"),
    VmFamily("Dsv6", "Standard_D{}s_v6", _CPU96, _G2),
    VmFamily("Ddsv6", "Standard_D{}ds_v6", _CPU96, _G2),
    VmFamily("Dasv6", "Standard_D{}as_v6", _CPU96, _G2),
    VmFamily("Dadsv6", "Standard_D{}ads_v6", _CPU96, _G2),
    VmFamily("Ev3", "Standard_E{}_v3", _E, _G1),
    VmFamily("Esv3", "Standard_E{}s_v3", _E),
    VmFamily("Ev4", "Standard_E{}_v4", _E),
    VmFamily("Esv4", "Standard_E{}s_v4", _E),
    VmFamily("Edv4", "Standard_E{}d_v4", _E),
    VmFamily("Edsv4", "Standard_E{}ds_v4", _E),
    VmFamily("Ev5", "Standard_E{}_v5", _E96),
    VmFamily("Esv5", "Standard_E{}s_v5", _E96),
    VmFamily("Edv5", "Standard_E{}d_v5", _E96),
    VmFamily("Edsv5", "Standard_E{}ds_v5", _E96),
    VmFamily("Easv5", "Standard_E{}as_v5", _E96),
    VmFamily("Eadsv5", "Standard_E{}ads_v5", _E96),
    VmFamily("F", "Standard_F{}", "1 2 4 8 16", _G1),
    VmFamily("Fs", "Standard_F{}s", "1 2 4 8 16", _G1),
    VmFamily("Fsv2", "Standard_F{}s_v2", "2 4 8 16 32 48 64 72"),
    VmFamily("Lsv3", "Standard_L{}s_v3", "8 16 32 48 64 80"),
    VmFamily("Lasv3", "Standard_L{}as_v3", "8 16 32 48 64 80"),
    VmFamily("NCasT4_v3", "Standard_NC{}as_T4_v3", "4 8 16 64"),
    VmFamily("NCadsA100_v4", "Standard_NC{}ads_A100_v4", "24 48 96", _G2),
    VmFamily("NCadsH100_v5", "Standard_NC{}_H100_v5", "40ads 80adis", _G2),
    VmFamily("NDv2", "Standard_ND{}rs_v2", "40"),
    VmFamily("NDasrA100_v4", "Standard_ND96{}_v4", "asr amsr_A100", _G2),
    VmFamily("NDisrH100_v5", "Standard_ND96{}_H100_v5", "isr", _G2),
    VmFamily("NVadsA10_v5", "Standard_NV{}ads_A10_v5", "6 12 18 36 72"),
    VmFamily("HBv2", "Standard_HB120rs_v{}", "2"),
    VmFamily("HBv3", "Standard_HB120rs_v{}", "3"),
    VmFamily("HBv4", "Standard_HB176rs_v{}", "4", _G2),
    VmFamily("HX", "Standard_HX{}rs", "176", _G2),
    VmFamily("M", "Standard_M{}", "32ls 64s 128s"),
)

# Sizes whose number is not their vCPU count.
_VCPU_EXCEPTIONS = {
    # Dv2 and DSv2 share their numbering: size number -> vCPUs.
    **{f"standard_{series}{n}_v2": c for series in ("d", "ds")
       for n, c in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (11, 2), (12, 4), (13, 8), (14, 16), (15, 20))},
    "standard_nd96asr_v4": 96, "standard_nd96amsr_a100_v4": 96, "standard_nd96isr_h100_v5": 96,
    "standard_hb120rs_v2": 120, "standard_hb120rs_v3": 120, "standard_hb176rs_v4": 176,
}

# Memory (GiB) per vCPU by family, from the same size-series pages; sizes that break their
# family's ratio are listed in _MEMORY_EXCEPTIONS.
_MEMORY_PER_VCPU: dict[str, float] = {
    "Av2": 2, "Dv2": 3.5, "DSv2": 3.5, "Fsv2": 2, "F": 2, "Fs": 2, "Lsv3": 8, "Lasv3": 8, "M": 8,
    **{f: 4 for f in ("Dv3", "Dsv3", "Dv4", "Dsv4", "Ddv4", "Ddsv4", "Dav4", "Dasv4", "Dv5", "Dsv5", "Ddv5",
                      "Ddsv5", "Dasv5", "Dadsv5", "Dpsv5", "Dpdsv5", "Dsv6", "Ddsv6", "Dasv6", "Dadsv6")},
    **{f: 8 for f in ("Ev3", "Esv3", "Ev4", "Esv4", "Edv4", "Edsv4", "Ev5", "Esv5", "Edv5", "Edsv5", "Easv5",
                      "Eadsv5")},
}
_MEMORY_EXCEPTIONS: dict[str, float] = {
    "standard_a2m_v2": 16, "standard_a4m_v2": 32, "standard_a8m_v2": 64,
    "standard_b1s": 1, "standard_b1ms": 2, "standard_b2s": 4, "standard_b2ms": 8, "standard_b4ms": 16,
    "standard_b8ms": 32, "standard_b12ms": 48, "standard_b16ms": 64, "standard_b20ms": 80,
    "standard_b2ts_v2": 1, "standard_b2ls_v2": 4, "standard_b2s_v2": 8, "standard_b4ls_v2": 8,
    "standard_b4s_v2": 16, "standard_b8ls_v2": 16, "standard_b8s_v2": 32, "standard_b16ls_v2": 32,
    "standard_b16s_v2": 64, "standard_b32ls_v2": 64, "standard_b32s_v2": 128,
    **{f"standard_d{n}_v2": g for n, g in ((11, 14), (12, 28), (13, 56), (14, 112), (15, 140))},
    **{f"standard_ds{n}_v2": g for n, g in ((11, 14), (12, 28), (13, 56), (14, 112), (15, 140))},
    "standard_e64_v3": 432, "standard_e64s_v3": 432,
    **{f"standard_e64{s}_v4": 504 for s in ("", "s", "d", "ds")},
    **{f"standard_e96{s}_v5": 672 for s in ("", "s", "d", "ds", "as", "ads")},
    "standard_nc4as_t4_v3": 28, "standard_nc8as_t4_v3": 56, "standard_nc16as_t4_v3": 110,
    "standard_nc64as_t4_v3": 440, "standard_nc24ads_a100_v4": 220, "standard_nc48ads_a100_v4": 440,
    "standard_nc96ads_a100_v4": 880, "standard_nc40ads_h100_v5": 320, "standard_nc80adis_h100_v5": 640,
    "standard_nd40rs_v2": 672, "standard_nd96asr_v4": 900, "standard_nd96amsr_a100_v4": 1900,
    "standard_nd96isr_h100_v5": 1900, "standard_nv6ads_a10_v5": 55, "standard_nv12ads_a10_v5": 110,
    "standard_nv18ads_a10_v5": 220, "standard_nv36ads_a10_v5": 440, "standard_nv72ads_a10_v5": 880,
    "standard_hb120rs_v2": 456, "standard_hb120rs_v3": 448, "standard_hb176rs_v4": 768, "standard_hx176rs": 1408,
    "standard_m32ls": 256, "standard_m64s": 1024, "standard_m128s": 2048,
}


def vm_memory_gib(name: str) -> float | None:
    """The memory of a known size in GiB (None when batchnb does not know it)."""
    key = name.strip().lower()
    if key in _MEMORY_EXCEPTIONS:
        return _MEMORY_EXCEPTIONS[key]
    facts = VM_SIZES.get(key)
    per_vcpu = _MEMORY_PER_VCPU.get(facts.family) if facts else None
    return facts.vcpus * per_vcpu if facts and per_vcpu else None


RETIRED_VM_SIZES: dict[str, str] = {
    **{f"standard_nc{n}s_v3": "2025-09-30" for n in (6, 12, 24)},
    "standard_nc24rs_v3": "2025-09-30",
    **{f"standard_nv{n}s_v3": "2026-09-30" for n in (12, 24, 48)},
    "standard_hc44rs": "2025-05-31",
}


class VmSizeFacts(NamedTuple):
    name: str  # Azure's spelling
    family: str
    vcpus: int
    generations: tuple[int, ...]
    arch: str


def _vcpus(name: str) -> int:
    if name.lower() in _VCPU_EXCEPTIONS:
        return _VCPU_EXCEPTIONS[name.lower()]
    match = re.match(r"standard_[a-z]+(\d+)", name.lower())
    return int(match.group(1)) if match else 1


VM_SIZES: dict[str, VmSizeFacts] = {}
for _family in VM_FAMILIES:
    for _token in _family.sizes.split():
        _name = _family.template.format(_token)
        VM_SIZES[_name.lower()] = VmSizeFacts(_name, _family.name, _vcpus(_name), _family.generations, _family.arch)


def vm_size_facts(name: str) -> VmSizeFacts | None:
    """What the table knows about a size (case-insensitive), None for sizes it does not list."""
    return VM_SIZES.get(str(name).strip().lower())


def max_task_slots(name: str) -> int:
    """Batch's cap on taskSlotsPerNode for a size: min(4 x vCPUs, 256); 256 for unknown sizes."""
    facts = vm_size_facts(name)
    return MAX_TASK_SLOTS if facts is None else min(SLOTS_PER_VCPU * facts.vcpus, MAX_TASK_SLOTS)


class ImageFacts(NamedTuple):
    generation: int
    arch: str = "x64"


# (publisher, offer, sku), lower case -> generation and architecture.
MARKETPLACE_IMAGES: dict[tuple[str, str, str], ImageFacts] = {
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts"): ImageFacts(1),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): ImageFacts(2),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-arm64"): ImageFacts(2, "arm64"),
    ("canonical", "ubuntu-24_04-lts", "server"): ImageFacts(2),
    ("canonical", "ubuntu-24_04-lts", "server-gen1"): ImageFacts(1),
    ("canonical", "ubuntu-24_04-lts", "server-arm64"): ImageFacts(2, "arm64"),
    ("microsoft-dsvm", "ubuntu-hpc", "2204"): ImageFacts(2),
    ("microsoft-dsvm", "ubuntu-hpc", "2404"): ImageFacts(2),
    ("debian", "debian-12", "12"): ImageFacts(1),
    ("debian", "debian-12", "12-gen2"): ImageFacts(2),
    ("debian", "debian-12", "12-arm64"): ImageFacts(2, "arm64"),
    ("microsoftwindowsserver", "windowsserver", "2019-datacenter"): ImageFacts(1),
    ("microsoftwindowsserver", "windowsserver", "2019-datacenter-gensecond"): ImageFacts(2),
    ("microsoftwindowsserver", "windowsserver", "2022-datacenter"): ImageFacts(1),
    ("microsoftwindowsserver", "windowsserver", "2022-datacenter-g2"): ImageFacts(2),
}

NODE_AGENT_END_OF_SUPPORT = {"batch.node.ubuntu 22.04": "2027-06-30"}


def image_facts(publisher: str | None, offer: str | None, sku: str | None) -> ImageFacts | None:
    if not (publisher and offer and sku):
        return None
    return MARKETPLACE_IMAGES.get((publisher.lower(), offer.lower(), sku.lower()))


def incompatibility(size: VmSizeFacts, image: ImageFacts) -> str | None:
    """Why ``size`` cannot boot ``image`` (Azure's reason, in its words), or None if it can."""
    if image.arch != size.arch:
        return (f"The selected VM size '{size.name}' is an {size.arch} size and cannot boot an {image.arch} "
                "image.")
    if image.generation not in size.generations:
        return (f"The selected VM size '{size.name}' cannot boot Hypervisor Generation '{image.generation}'.")
    return None

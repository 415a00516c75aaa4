"""What Azure checks between a pool's VM size and its image: the task slot cap, VM generation
(Gen1/Gen2) and CPU architecture (x64/Arm64).

The local service has no VM size catalogue; it reads what it needs from the size's name, as Azure's
naming scheme encodes it (``Standard_D2s_v3``: family D, 2 vCPUs; a ``p`` after the vCPU count in the
D/E v5-v6 families: Arm64). Sizes it cannot read are not limited beyond Batch's own 256 slots.
"""

from __future__ import annotations

import re

from batchnb.local.service.model.errors import bad_value
from batchnb.local.service.model.images import GEN2

MAX_SLOTS = 256
# Older sizes whose number is not their vCPU count.
_VCPUS_BY_NAME = {f"standard_{p}{n}_v2": c for p in ("d", "ds") for n, c in
                  ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (11, 2), (12, 4), (13, 8), (14, 16), (15, 20))}
_SIZE = re.compile(r"^standard_[a-z]+(\d+)(?:-(\d+))?")  # E8-4s_v3: 8 vCPUs constrained to 4 active
_ARM64 = re.compile(r"^standard_[de]\d+p[a-z]*_v[56]$")  # Dps_v5, Dpds_v5, Eps_v5, Dpls_v6, ...
_GEN2_ONLY = re.compile(r"^standard_[a-z]+\d+[a-z]*_v6$")  # the v6 families boot Gen2 images only
_GEN1_ONLY = re.compile(r"^standard_a\d+m?_v2$")  # Av2 boots Gen1 images only


def vcpus(vm_size: str) -> int | None:
    name = vm_size.lower()
    if name in _VCPUS_BY_NAME:
        return _VCPUS_BY_NAME[name]
    match = _SIZE.match(name)
    if match is None:
        return None
    return int(match.group(2) or match.group(1))


def check_task_slots(vm_size: str, slots: int) -> None:
    """taskSlotsPerNode is at most min(4 x vCPUs, 256), as Azure enforces at pool creation."""
    cores = vcpus(vm_size)
    cap = min(4 * cores, MAX_SLOTS) if cores else MAX_SLOTS
    if slots > cap:
        raise bad_value("taskSlotsPerNode", slots, f"At most {cap} task slots per node for {vm_size} "
                                                   f"(4 x its {cores} vCPUs, and never more than {MAX_SLOTS}).")


def allocation_error(vm_size: str, image: dict) -> dict | None:
    """The resize error Azure reports when no node of this size can boot this image, or None."""
    name = vm_size.lower()
    gen2 = GEN2 in image["capabilities"]
    ref = image["imageReference"]
    label = f"{ref['publisher']}/{ref['offer']}/{ref['sku']}"
    reason = None
    if _ARM64.match(name):
        reason = f"The VM size {vm_size} is Arm64 and the image {label} is x64: choose an x64 size or an Arm64 image."
    elif _GEN2_ONLY.match(name) and not gen2:
        reason = (f"The VM size {vm_size} boots only Generation 2 images and the image {label} is Generation 1: "
                  "choose a Gen2 image (e.g. canonical/ubuntu-24_04-lts/server) or another size.")
    elif _GEN1_ONLY.match(name) and gen2:
        reason = (f"The VM size {vm_size} boots only Generation 1 images and the image {label} is Generation 2: "
                  "choose a Gen1 image (e.g. canonical/0001-com-ubuntu-server-jammy/22_04-lts) or another size.")
    if reason is None:
        return None
    return {"code": "AllocationFailed", "message": "Desired number of nodes could not be allocated",
            "values": [{"name": "Reason", "value": reason}]}

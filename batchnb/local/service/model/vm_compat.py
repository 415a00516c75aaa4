"""Azure's rules between a pool's VM size, its image and its task slots.

Azure accepts a pool whose size cannot boot its image (hypervisor generation, CPU architecture)
and then fails every allocation: the pool goes steady with no nodes and a resize error. It
refuses at creation more task slots than min(4 x vCPUs, 256). The facts (sizes, images) come
from ``batchnb._azure_facts``; sizes or images it does not list are not checked.
"""

from __future__ import annotations

from batchnb._azure_facts import image_facts, incompatibility, max_task_slots, vm_size_facts
from batchnb.local.service.model.errors import bad_value


def hardware_problem(pool_doc: dict) -> str | None:
    """Why nodes of this pool can never boot (Azure's message), or None."""
    size = vm_size_facts(pool_doc.get("vmSize") or "")
    ref = (pool_doc.get("virtualMachineConfiguration") or {}).get("imageReference") or {}
    image = image_facts(ref.get("publisher"), ref.get("offer"), ref.get("sku"))
    if size is None or image is None:
        return None
    return incompatibility(size, image)


def allocation_error(problem: str) -> dict:
    return {"code": "AllocationFailed", "message": problem + " Use a VM size and image of the same Hypervisor "
            "Generation and CPU architecture.", "values": [{"name": "Reason", "value": "VmSizeImageMismatch"}]}


def check_task_slots(vm_size: str, slots: int) -> None:
    size = vm_size_facts(vm_size)
    cap = max_task_slots(vm_size)
    if size is not None and slots > cap:
        raise bad_value("taskSlotsPerNode", slots, f"The maximum value of taskSlotsPerNode for VM size {size.name} "
                        f"is {cap} (4 times its {size.vcpus} vCPUs, at most 256).")

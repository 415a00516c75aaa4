"""vCPUs of an Azure VM size, read from its name: core-hours are node-hours times this."""

from __future__ import annotations

import re

__all__ = ["vm_vcpus"]

# The older D-series numbering is not the vCPU count.
_EXCEPTIONS = {
    **{f"standard_d{n}_v2": c for n, c in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16),
                                           (11, 2), (12, 4), (13, 8), (14, 16), (15, 20))},
    **{f"standard_ds{n}_v2": c for n, c in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16),
                                            (11, 2), (12, 4), (13, 8), (14, 16), (15, 20))},
}
_NUMBER = re.compile(r"^(?:standard|basic)_[a-z]+?(\d+)", re.I)


def vm_vcpus(vm_size: str) -> int | None:
    """``"Standard_D4s_v3"`` -> 4; None when the name carries no number."""
    name = (vm_size or "").strip().lower()
    if name in _EXCEPTIONS:
        return _EXCEPTIONS[name]
    match = _NUMBER.match(name)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None

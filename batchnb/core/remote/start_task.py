"""The start task that prepares Azure nodes for ``session.map()``.

The runner needs ``python3`` and the same cloudpickle version the notebook pickles with (and,
ideally, the same Python minor version: cloudpickle pickles functions by value, as bytecode).
The local service needs none of this: its nodes run the notebook's own Python.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from batchnb.core.specs.models import StartTaskSpec

__all__ = ["map_start_task"]


def map_start_task(packages: Sequence[str] = (), *, requirements: str | None = None) -> StartTaskSpec:
    """A start task that prepares Azure nodes for ``session.map()``.

    It installs pip (if missing), cloudpickle pinned to this kernel's version, and
    ``packages`` on every node, system-wide (as admin). Use it as
    ``PoolSpec(..., start_task=batchnb.map_start_task(["numpy==2.1.*"]))``; the pool's image
    should ship the notebook's Python minor version (e.g. ubuntu-22.04 has 3.10, ubuntu-24.04
    has 3.12).

    Parameters
    ----------
    packages : sequence of str
        pip requirement strings.
    requirements : str, optional
        The text of a requirements.txt, installed too.

    Returns
    -------
    StartTaskSpec
        An elevated start task that must succeed before the node takes tasks (retried twice).
    """
    import cloudpickle

    pins = [f"cloudpickle=={cloudpickle.__version__}", *packages]
    lines = [
        "set -e",
        # Ubuntu images ship python3 without pip.
        "python3 -m pip --version >/dev/null 2>&1 || "
        # unattended-upgrades holds the dpkg lock for minutes at first boot: wait for it instead of
        # failing the start task; no Recommends (pip alone, not a compiler toolchain).
        "(apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get "
        "-o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends python3-pip)",
        # PEP 668 images (Ubuntu 24.04) refuse system-wide pip installs without this; older pips ignore it.
        "export PIP_BREAK_SYSTEM_PACKAGES=1",
        "python3 -m pip install --quiet " + " ".join(shlex.quote(p) for p in pins),
    ]
    if requirements:
        lines.append("cat > /tmp/batchnb-requirements.txt <<'BATCHNB_EOF'\n" + requirements.rstrip("\n")
                     + "\nBATCHNB_EOF")
        lines.append("python3 -m pip install --quiet -r /tmp/batchnb-requirements.txt")
    return StartTaskSpec("/bin/sh -c " + shlex.quote("\n".join(lines)), elevated=True, wait_for_success=True,
                         max_retries=2)

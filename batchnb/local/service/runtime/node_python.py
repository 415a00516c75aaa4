"""The ``python3`` a local node offers its tasks: the standard library and nothing else.

A fresh Azure Batch node has a system Python without the notebook's packages; a local node must
not be kinder, or a notebook that works here fails on its first Azure pool. So the service makes
one venv per state directory from the base interpreter (no pip, no system or user
site-packages) and puts its ``bin`` first on every task's PATH; what tasks need beyond the
standard library arrives as a ``batchnb.Environment``. ``--host-python`` (or
``BATCHNB_LOCAL_HOST_PYTHON=1``) turns this off: tasks then run the service's own interpreter
with every package of its environment, as before.
"""

from __future__ import annotations

import os
import shutil
import sys
import venv
from pathlib import Path

__all__ = ["bare_python_bin", "host_python_bin", "kernel_path_entries"]

_DIR_NAME = "node-python"


def _bin(folder: Path) -> Path:
    return folder / ("Scripts" if os.name == "nt" else "bin")


def _version_of(folder: Path) -> str | None:
    try:
        for line in (folder / "pyvenv.cfg").read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "version":
                return value.strip()
    except OSError:
        return None
    return None


def bare_python_bin(state_dir: Path) -> Path:
    """The bin directory of the state directory's stdlib-only venv, made on first use."""
    folder = Path(state_dir) / _DIR_NAME
    wanted = "%d.%d.%d" % sys.version_info[:3]
    python = _bin(folder) / ("python.exe" if os.name == "nt" else "python3")
    if _version_of(folder) == wanted and python.exists():
        return _bin(folder)
    tmp = folder.with_name(_DIR_NAME + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # venv bases the new environment on the base interpreter even when the service runs in a venv.
    venv.EnvBuilder(with_pip=False, system_site_packages=False, symlinks=os.name != "nt").create(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return _bin(folder)


def host_python_bin() -> Path:
    """The service's own interpreter's directory (the opt-out: tasks see the host's packages)."""
    return Path(sys.executable).parent


def kernel_path_entries() -> set[str]:
    """PATH entries that belong to the service's virtualenv, which a bare node must not see."""
    entries = set()
    if sys.prefix != sys.base_prefix:  # only a venv's bin: dropping /usr/bin would break everything
        entries.add(os.path.normpath(os.path.dirname(sys.executable)))
    if os.environ.get("VIRTUAL_ENV"):
        entries.add(os.path.normpath(str(_bin(Path(os.environ["VIRTUAL_ENV"])))))
    return entries

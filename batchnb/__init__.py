"""batchnb: Azure Batch from a Jupyter notebook.

    import batchnb
    s = batchnb.connect("local")        # or batchnb.connect() for Azure (env, profile, Entra ID)
    s.create_pool(batchnb.PoolSpec("p1", vm_size="standard_d2s_v3", dedicated_nodes=2), wait=True)

Names are imported on first use, so ``import batchnb`` stays fast and pulls in no Azure SDK,
pandas, ipywidgets or plotly until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "connect": "batchnb.session",
    "Session": "batchnb.session",
    "PoolHandle": "batchnb.pool_handle",
    "JobHandle": "batchnb.job_handle",
    "PoolSpec": "batchnb.specs",
    "JobSpec": "batchnb.specs",
    "TaskSpec": "batchnb.specs",
    "StartTaskSpec": "batchnb.specs",
    "ImageReference": "batchnb.specs",
    "ResourceFileSpec": "batchnb.task_files",
    "OutputFileSpec": "batchnb.task_files",
    "sweep": "batchnb.sweeps",
    "per_file": "batchnb.sweeps",
    "TaskList": "batchnb.sweeps",
    "Storage": "batchnb.storage",
    "MapResult": "batchnb.remote.result",
    "map_start_task": "batchnb.remote.start_task",
    "BatchnbError": "batchnb.errors",
    "stage_app": "batchnb.appfiles",
    "AppBundle": "batchnb.appfiles",
}
_SUBMODULES = {"errors", "local", "storage", "specs", "sweeps", "frames", "remote", "bulk", "redact", "validation"}

__all__ = sorted([*_LAZY, "errors", "__version__"])

if TYPE_CHECKING:
    from batchnb import errors
    from batchnb.appfiles import AppBundle, stage_app
    from batchnb.errors import BatchnbError
    from batchnb.job_handle import JobHandle
    from batchnb.pool_handle import PoolHandle
    from batchnb.remote.result import MapResult
    from batchnb.remote.start_task import map_start_task
    from batchnb.session import Session, connect
    from batchnb.specs import ImageReference, JobSpec, PoolSpec, StartTaskSpec, TaskSpec
    from batchnb.storage import Storage
    from batchnb.sweeps import TaskList, per_file, sweep
    from batchnb.task_files import OutputFileSpec, ResourceFileSpec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"batchnb.{name}")
    else:
        raise AttributeError(f"module 'batchnb' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext batchnb``: the ``%batch`` magics (imported only now, to keep ``import batchnb`` light)."""
    from batchnb.magics import load_ipython_extension as load

    load(ipython)

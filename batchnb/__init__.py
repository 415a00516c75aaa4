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
    "connect": "batchnb.core.session",
    "Session": "batchnb.core.session",
    "PoolHandle": "batchnb.core.pool_handle",
    "JobHandle": "batchnb.core.job_handle",
    "PoolSpec": "batchnb.core.specs.models",
    "JobSpec": "batchnb.core.specs.models",
    "TaskSpec": "batchnb.core.specs.models",
    "StartTaskSpec": "batchnb.core.specs.models",
    "ImageReference": "batchnb.core.specs.models",
    "Environment": "batchnb.core.specs.environment",
    "ResourceFileSpec": "batchnb.core.specs.task_files",
    "OutputFileSpec": "batchnb.core.specs.task_files",
    "sweep": "batchnb.core.tasks.sweeps",
    "per_file": "batchnb.core.tasks.sweeps",
    "TaskList": "batchnb.core.tasks.sweeps",
    "Storage": "batchnb.core.storage",
    "MapResult": "batchnb.core.remote.result",
    "map_start_task": "batchnb.core.remote.start_task",
    "BatchnbError": "batchnb.errors",
    "NotebookSweep": "batchnb.core.remote.notebook_sweep",
    "record": "batchnb.node.record",
    "stage_app": "batchnb.core.tasks.appfiles",
    "AppBundle": "batchnb.core.tasks.appfiles",
    "vm_price": "batchnb.core.cost.prices",
    "Price": "batchnb.core.cost.prices",
    "set_price_overrides": "batchnb.core.cost.prices",
    "Estimate": "batchnb.core.cost.estimate",
}
# public submodule -> where it lives (the folders are the layers: core, data, views, node, local)
_SUBMODULES = {
    "errors": "batchnb.errors",
    "local": "batchnb.local",
    "storage": "batchnb.core.storage",
    "specs": "batchnb.core.specs",
    "sweeps": "batchnb.core.tasks.sweeps",
    "frames": "batchnb.data.frames",
    "remote": "batchnb.core.remote",
    "bulk": "batchnb.core.tasks.bulk",
    "redact": "batchnb.core.redact",
    "validation": "batchnb.core.validation",
    "cost": "batchnb.core.cost",
}

__all__ = sorted([*_LAZY, "errors", "__version__"])

if TYPE_CHECKING:
    from batchnb import errors
    from batchnb.core.cost.estimate import Estimate
    from batchnb.core.cost.prices import Price, set_price_overrides, vm_price
    from batchnb.core.job_handle import JobHandle
    from batchnb.core.pool_handle import PoolHandle
    from batchnb.core.remote.notebook_sweep import NotebookSweep
    from batchnb.core.remote.result import MapResult
    from batchnb.core.remote.start_task import map_start_task
    from batchnb.core.session import Session, connect
    from batchnb.core.specs.environment import Environment
    from batchnb.core.specs.models import ImageReference, JobSpec, PoolSpec, StartTaskSpec, TaskSpec
    from batchnb.core.specs.task_files import OutputFileSpec, ResourceFileSpec
    from batchnb.core.storage import Storage
    from batchnb.core.tasks.appfiles import AppBundle, stage_app
    from batchnb.core.tasks.sweeps import TaskList, per_file, sweep
    from batchnb.errors import BatchnbError
    from batchnb.node.record import record


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'batchnb' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext batchnb``: the ``%batch`` magics (imported only now, to keep ``import batchnb`` light)."""
    from batchnb.views.magics import load_ipython_extension as load

    load(ipython)

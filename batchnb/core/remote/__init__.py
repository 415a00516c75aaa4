"""``session.map()``: run a Python function over items on a pool, through Blob storage.

``mapper`` submits (pickle, stage, one task per chunk), ``runner`` is the script the nodes run
(stdlib + cloudpickle only), ``result`` collects results and errors, ``start_task`` prepares
Azure nodes.
"""

from __future__ import annotations

from batchnb.core.remote.result import ItemError, MapResult, RemoteItemError
from batchnb.core.remote.start_task import map_start_task

__all__ = ["ItemError", "MapResult", "RemoteItemError", "map_start_task"]

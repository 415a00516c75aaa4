"""Execute notebooks headlessly in a real kernel, the way a user's Run All would.

Used by notebook tests (tests/notebooks) and anything that must prove a notebook
runs top to bottom. Outputs are returned, never written back to the source file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbclient import NotebookClient

__all__ = ["execute_notebook", "notebook_outputs_text"]


def execute_notebook(
    path: str | os.PathLike[str],
    *,
    cwd: str | os.PathLike[str],
    timeout: int = 600,
    env: Mapping[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Run every cell of the notebook at *path* in a fresh ``python3`` kernel.

    *timeout* is per cell (seconds). *env* is added to this process's environment
    for the kernel only. A failing cell raises ``nbclient.exceptions.CellExecutionError``
    carrying the cell's traceback.
    """
    nb = nbformat.read(os.fspath(path), as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        startup_timeout=300,  # a kernel can take minutes to answer on a busy 2-core machine (default 60 s)
        # A stored FigureWidget state embeds the whole plotly.js bundle (~5 MB each).
        store_widget_state=False,
        resources={"metadata": {"path": os.fspath(Path(cwd))}},
    )
    # jupyter_client replaces the kernel's whole environment with `env`, so merge ours in.
    kernel_env = {**os.environ, **env} if env is not None else None
    if kernel_env is not None:
        return client.execute(env=kernel_env)
    return client.execute()


def notebook_outputs_text(nb: nbformat.NotebookNode) -> str:
    """Every output of *nb* flattened to one string, for "does this leak a secret" scans.

    Includes stream text, every mime type of display/result data (non-text types as
    JSON), error names/values/tracebacks and any stored widget state: anything a
    saved notebook would carry to a reader.
    """
    parts: list[str] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                parts.append(_as_text(output.get("text", "")))
            elif kind in ("display_data", "execute_result", "update_display_data"):
                for value in output.get("data", {}).values():
                    parts.append(_as_text(value))
                if output.get("metadata"):
                    parts.append(json.dumps(output["metadata"], default=str))
            elif kind == "error":
                parts.append(str(output.get("ename", "")))
                parts.append(str(output.get("evalue", "")))
                parts.extend(str(line) for line in output.get("traceback", []))
    widget_state = nb.get("metadata", {}).get("widgets")
    if widget_state:
        parts.append(json.dumps(widget_state, default=str))
    return "\n".join(parts)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "".join(value)
    return json.dumps(value, default=str)

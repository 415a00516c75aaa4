"""Fixtures for tests that execute notebooks headlessly (nbclient, a real ipykernel)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import nbformat
import pytest

from tests._nbrun import execute_notebook

RunNotebook = Callable[..., nbformat.NotebookNode]


@pytest.fixture
def run_notebook(tmp_path: Path) -> RunNotebook:
    """Copy a notebook into a fresh temp dir and run it there; return the executed notebook.

    Running a copy keeps whatever the notebook writes (downloads, state dirs) out of the
    repository, and leaves the committed notebook untouched.
    """

    def run(
        path: str | os.PathLike[str],
        *,
        timeout: int = 600,
        env: Mapping[str, str] | None = None,
    ) -> nbformat.NotebookNode:
        source = Path(path)
        workdir = tmp_path / source.stem
        workdir.mkdir(parents=True, exist_ok=True)
        copy = workdir / source.name
        shutil.copyfile(source, copy)
        return execute_notebook(copy, cwd=workdir, timeout=timeout, env=env)

    return run

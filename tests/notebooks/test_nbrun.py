"""The headless notebook runner runs cells for real and surfaces failures and outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tests._nbrun import execute_notebook, notebook_outputs_text

pytestmark = pytest.mark.timeout(120)


def _write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


def test_runs_in_cwd_with_env_and_collects_every_output_kind(tmp_path: Path) -> None:
    notebook = _write_notebook(
        tmp_path / "outputs.ipynb",
        "import os, pathlib\nprint(pathlib.Path.cwd().name, os.environ['NBRUN_MARKER'])",
        "from IPython.display import HTML\nHTML('<b>html-marker</b>')",
        "import ipywidgets\nipywidgets.IntSlider(description='widget-marker')",
    )
    workdir = tmp_path / "workdir-marker"
    workdir.mkdir()

    nb = execute_notebook(notebook, cwd=workdir, timeout=120, env={"NBRUN_MARKER": "env-marker"})

    text = notebook_outputs_text(nb)
    assert "workdir-marker env-marker" in text
    assert "<b>html-marker</b>" in text
    assert "application/vnd.jupyter.widget-view+json" in str(nb.cells[2].outputs[0].data)
    # No stored widget state: FigureWidget state alone is ~5 MB per figure.
    assert "widgets" not in nb.metadata
    # The source notebook stays as committed.
    assert not nbformat.read(notebook, as_version=4).cells[0].outputs


def test_failing_cell_raises_with_the_error(tmp_path: Path) -> None:
    notebook = _write_notebook(tmp_path / "fails.ipynb", "raise ValueError('boom-marker')")

    with pytest.raises(CellExecutionError, match="boom-marker"):
        execute_notebook(notebook, cwd=tmp_path, timeout=120)


def test_run_notebook_fixture_runs_a_copy(run_notebook, tmp_path: Path) -> None:
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    notebook = _write_notebook(source_dir / "writes.ipynb", "open('made-here.txt', 'w').write('x')")

    run_notebook(notebook, timeout=120)

    assert not (source_dir / "made-here.txt").exists()
    assert (tmp_path / "writes" / "made-here.txt").exists()

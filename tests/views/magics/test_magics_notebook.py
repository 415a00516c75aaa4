"""``%batch notebook PATH --sweep ... --pool P``: a notebook sweep from a magic, as a user types it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.views.magics.conftest import POOL, Shell

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]  # kernels and environments install slowly on a busy machine


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import batchnb\nbatchnb.record('double', 2 * n)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_notebook_magic_runs_the_sweep_and_keeps_it(shell: Shell, tmp_path: Path) -> None:
    path = _notebook(tmp_path / "double.ipynb")
    job = f"nbm-{tmp_path.name[-8:].lower().replace('_', '-')}"
    run = shell.ok(f"%batch notebook {path} --sweep n=1:3 --pool {POOL} --job {job} --wait --timeout 600 -o sw")
    assert f"3 runs in job '{job}'" in run.stdout
    frame = shell.ns["sw"].results()
    assert list(frame["double"]) == [2, 4, 6] and set(frame["status"]) == {"succeeded"}


def test_notebook_magic_errors_are_one_line(shell: Shell, tmp_path: Path) -> None:
    run = shell.run(f"%batch notebook {tmp_path / 'missing.ipynb'} --sweep n=1:2 --pool {POOL}")
    assert run.error is not None and "does not exist" in str(run.error) and "Traceback" not in run.stdout
    run = shell.run(f"%batch notebook {_notebook(tmp_path / 'a.ipynb')} --pool {POOL}")
    assert run.error is not None and "--sweep" in str(run.error)

"""`batchnb quickstart` (the README's main command, minus the install): runs the quickstart notebook
on the local service, prints each step, writes the executed notebook and HTML, fails loudly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _quickstart(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batchnb.cli", "quickstart", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=280, check=False)


def test_quickstart_command_prints_each_step_and_writes_notebook_and_html(local_service, tmp_path: Path) -> None:
    done = _quickstart("--out", "out", "--state-dir", str(local_service.state_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("Step 1: uploaded 3 input files", "Step 2: pool 'quickstart-pool' is ready",
                 "Step 3: job", "Step 4: added", "Step 5: job 'quickstart-job' finished: 3 tasks succeeded",
                 "Step 6: downloaded 3 output files", "Cleanup: deleted", "Quickstart finished"):
        assert step in done.stdout, done.stdout
    assert "ozymandias.txt" in done.stdout  # the results table, as text
    assert local_service.account_key not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

    executed = nbformat.read(tmp_path / "out" / "quickstart.ipynb", as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")
    html = (tmp_path / "out" / "quickstart.html").read_text()
    assert "Step 6: downloaded 3 output files" in html and "<table" in html


def test_a_failing_cell_exits_1_with_its_one_line_error(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('step one ran')"),
                                         nbformat.v4.new_code_cell("1 / 0"),
                                         nbformat.v4.new_code_cell("print('never')")])
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    done = _quickstart("--notebook", str(path), "--out", "out", cwd=tmp_path)
    assert done.returncode == 1
    assert "step one ran" in done.stdout and "never" not in done.stdout
    errors = [ln for ln in done.stderr.splitlines() if "FAILED" in ln]
    assert errors == [errors[0]] and "cell 1 failed: ZeroDivisionError: division by zero" in errors[0]
    assert (tmp_path / "out" / "broken.ipynb").exists() and (tmp_path / "out" / "broken.html").exists()


def test_a_missing_notebook_is_a_one_line_usage_error(tmp_path: Path) -> None:
    done = _quickstart("--notebook", str(tmp_path / "nope.ipynb"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "nope.ipynb does not exist" in done.stderr

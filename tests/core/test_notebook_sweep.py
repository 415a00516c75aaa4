"""session.run_notebook: a notebook as a sweep on the local service, through the public API only."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import batchnb
from batchnb.core.remote.notebook_sweep import parameter_sets
from batchnb.errors import ValidationError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # kernels start slowly on a busy 2-core machine


def _write_notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("alpha = 1\nlabel = 'a'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


ANALYSIS = """
import batchnb, pandas as pd
if alpha == 3:
    raise ValueError(f"alpha {alpha} diverges")
batchnb.record("square", alpha * alpha)
batchnb.record("tag", f"{label}-{alpha}")
batchnb.record("table", pd.DataFrame({"k": [alpha, alpha + 1]}))
"""

FIXED = ANALYSIS.replace('raise ValueError(f"alpha {alpha} diverges")', "pass")


def test_sweep_results_rerun_and_reattach(session, pool, tmp_path, unique) -> None:
    notebook = _write_notebook(tmp_path / "analysis.ipynb", ANALYSIS)
    sweep = session.run_notebook(notebook, parameters={"alpha": [1, 2, 3], "label": "x"}, pool=pool,
                                 job_id=f"nb-{unique}", timeout=600)
    frame = sweep.results()
    assert list(frame.index) == [0, 1, 2]
    assert list(frame["alpha"]) == [1, 2, 3] and set(frame["label"]) == {"x"}
    assert list(frame["status"]) == ["succeeded", "succeeded", "failed"]
    assert frame.loc[1, "square"] == 4 and frame.loc[1, "tag"] == "x-2"
    assert list(frame.loc[0, "table"]["k"]) == [1, 2]  # a recorded DataFrame comes back as one
    failed = frame.loc[2]
    assert failed["error_type"] == "ValueError" and "alpha 3 diverges" in failed["error_message"]
    assert failed["error_cell"] == 1  # the notebook's own second cell, whatever papermill inserted
    assert "diverges" in failed["error_traceback"]

    executed = sweep.notebook(1)
    assert any("injected-parameters" in (c.metadata.get("tags") or []) for c in executed.cells)
    assert "x-2" in sweep.html(1)

    # Nothing succeeded twice: only the failed set is resubmitted, with the fixed notebook.
    fixed = _write_notebook(tmp_path / "fixed.ipynb", FIXED)
    assert sweep.rerun(notebook=fixed, wait=True, timeout=600) == [2]
    task_ids = set(sweep.job.tasks().index)
    assert task_ids == {"nb-00000", "nb-00001", "nb-00002", "nb-00002-r1"}

    again = session.notebook_sweep(sweep.job_id)  # a new kernel would do exactly this
    frame = again.results()
    assert list(frame["status"]) == ["succeeded"] * 3
    assert frame.loc[2, "square"] == 9 and frame.loc[2, "attempt"] == 1
    assert again.rerun() == []  # nothing left to rerun


def test_a_set_that_cannot_start_is_reported_not_lost(session, pool, tmp_path, unique) -> None:
    notebook = _write_notebook(tmp_path / "nb.ipynb", "import batchnb\nbatchnb.record('v', alpha)")
    sweep = session.run_notebook(notebook, parameters=[{"alpha": 5}, {"alpha": 6, "nope": 1}], pool=pool,
                                 job_id=f"nb-{unique}", timeout=600)
    frame = sweep.results()
    assert frame.loc[0, "v"] == 5 and frame.loc[0, "status"] == "succeeded"
    # papermill warns about unknown parameters but runs: both sets ran, with their own values.
    assert frame.loc[1, "v"] == 6


def test_bad_input_fails_before_anything_is_created(session, pool, tmp_path, unique) -> None:
    untagged = tmp_path / "untagged.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, untagged)
    job_id = f"nb-{unique}"
    with pytest.raises(ValidationError, match="tagged 'parameters'"):
        session.run_notebook(untagged, parameters={"x": [1]}, pool=pool, job_id=job_id)
    with pytest.raises(ValidationError, match="does not exist"):
        session.run_notebook(tmp_path / "missing.ipynb", parameters={"x": [1]}, pool=pool, job_id=job_id)
    good = _write_notebook(tmp_path / "good.ipynb", "pass")
    with pytest.raises(ValidationError, match=r"parameters\[0\]\['alpha'\].*not JSON-able"):
        session.run_notebook(good, parameters={"alpha": [object()]}, pool=pool, job_id=job_id)
    with pytest.raises(batchnb.errors.NotFoundError):
        session.get_job(job_id)  # nothing was created by any of the refused calls


def test_parameter_sets_grid_and_list() -> None:
    assert parameter_sets({"a": [1, 2], "b": "x"}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert parameter_sets([{"a": 1}, {"a": 2, "c": [1]}]) == [{"a": 1}, {"a": 2, "c": [1]}]
    with pytest.raises(ValidationError, match="not a Python identifier"):
        parameter_sets({"not valid": [1]})
    with pytest.raises(ValidationError, match="gives no parameter set"):
        parameter_sets({"a": []})
    with pytest.raises(ValidationError, match=r"parameters\[1\]"):
        parameter_sets([{"a": 1}, 3])


def test_record_outside_a_run_prints_and_returns_the_value(capsys) -> None:
    assert batchnb.record("answer", 42) == 42
    assert "answer = 42" in capsys.readouterr().out
    with pytest.raises(TypeError, match="not JSON-able"):
        batchnb.record("bad", object())
    with pytest.raises(ValueError, match="identifier"):
        batchnb.record("not ok", 1)


def test_runner_scrapes_records_and_first_error() -> None:
    from batchnb.node.notebook_runner import scrape

    nb = {"cells": [
        {"outputs": [{"output_type": "display_data",
                      "data": {"application/vnd.batchnb.record+json": {"name": "v", "kind": "json", "value": 3}}}]},
        {"outputs": [{"output_type": "error", "ename": "KeyError", "evalue": "'k'",
                      "traceback": ["\x1b[0;31mKeyError\x1b[0m: 'k'"]}]},
    ]}
    records, error = scrape(json.loads(json.dumps(nb)))
    assert records == {"v": {"kind": "json", "value": 3}}
    assert error == {"type": "KeyError", "message": "'k'", "traceback": "KeyError: 'k'", "cell": 1}

"""Every notebook in notebooks/ runs headless, top to bottom, against the test's local service.

Outputs are checked the way a reader would: the steps printed what they did, the tables and the
plot are there, no cell errored, and no secret (account key, storage key, SAS signature) appears
anywhere in what a saved notebook would carry.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests._nbrun import execute_notebook, notebook_outputs_text

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# The storage key of the connection string (Azurite's well-known key locally).
_ACCOUNT_KEY_IN_CONN = re.compile(r"AccountKey=([^;]+)")
# A SAS signature that was not masked ("sig=***" is what redaction leaves).
_UNMASKED_SIG = re.compile(r"(?i)\bsig(=|%3D)(?!\*\*\*)[^&\s'\"]+")


def _local_env(local_service) -> dict[str, str]:
    # connect("local") in the kernel must reach this test's service, and no profile may interfere.
    return {"BATCHNB_LOCAL_STATE_DIR": str(local_service.state_dir),
            "BATCHNB_PROFILES_FILE": "/nonexistent/batchnb-profiles.toml"}


@pytest.fixture(autouse=True)
def _no_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernels inherit this process's environment: a developer's BATCHNB_PROFILE must not leak in.
    monkeypatch.delenv("BATCHNB_PROFILE", raising=False)


def _assert_clean(nb: nbformat.NotebookNode, local_service) -> str:
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    text = notebook_outputs_text(nb)
    assert local_service.account_key not in text
    storage_key = _ACCOUNT_KEY_IN_CONN.search(local_service.storage_connection_string).group(1)
    assert storage_key not in text
    assert not _UNMASKED_SIG.search(text), _UNMASKED_SIG.search(text).group(0)
    assert "Traceback" not in text
    return text


def _html_tables(nb: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
            if "text/html" in o.get("data", {}) and "<table" in o["data"]["text/html"]]


def _htmls(nb) -> list[str]:
    return [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]


def _mimetypes(nb: nbformat.NotebookNode) -> set[str]:
    return {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}


def _committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


@pytest.mark.parametrize("name", ["quickstart", "parameter-sweep", "exploratory-pipeline", "azure",
                                  "notebook-sweep", "notebook-sweep/estimate_pi"])
def test_notebook_is_committed_without_outputs(name: str) -> None:
    _committed_without_outputs(NOTEBOOKS / f"{name}.ipynb")


def test_quickstart(run_notebook, local_service) -> None:
    nb = run_notebook(NOTEBOOKS / "quickstart.ipynb", env=_local_env(local_service), timeout=300)
    text = _assert_clean(nb, local_service)
    for step in ("Step 1: uploaded 3 input files", "Step 2: pool 'quickstart-pool' is ready with 2 nodes",
                 "Step 3: job 'quickstart-job' created", "Step 4: added 3 tasks",
                 "Step 5: job 'quickstart-job' finished: 3 tasks succeeded, 0 failed",
                 "Step 6: downloaded 3 output files", "Cleanup: deleted job"):
        assert step in text
    results = _html_tables(nb)[-1]  # the word counts
    for name in ("raven.txt", "sonnet18.txt", "ozymandias.txt"):
        assert name in results
    # The live monitor was shown, and once monitor.wait() saw the job done it left its static
    # summary and figures (plotly's mimetype) in the notebook instead of a widget.
    assert "application/vnd.plotly.v1+json" in _mimetypes(nb)
    assert any("batchnb-static" in h for h in _htmls(nb))


def test_parameter_sweep(run_notebook, local_service) -> None:
    nb = run_notebook(NOTEBOOKS / "parameter-sweep.ipynb", env=_local_env(local_service), timeout=300)
    text = _assert_clean(nb, local_service)
    assert "17 task(s) added" in text
    assert "pi-sweep finished: 17 tasks succeeded, 0 failed" in text
    # The flaky grid point failed once and succeeded on a retry.
    assert re.search(r"task \S+ \(exponent=4, seed=3\) succeeded after [12] retry", text)
    assert "16 grid points merged" in text
    # What it cost: the job's tasks and the pool's nodes (busy and idle), priced.
    assert re.search(r"Job 'pi-sweep': 17 task\(s\), [0-9.]+ core-h: [0-9.]+ USD", text)
    assert re.search(r"Pool 'sweep-pool': [0-9.]+ node-h \([0-9.]+ idle\)", text)
    assert "application/vnd.plotly.v1+json" in _mimetypes(nb)
    assert len(_html_tables(nb)) >= 4  # the task table, the error by sample size and the two cost tables


@pytest.mark.timeout(900)
def test_notebook_sweep(local_service, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(NOTEBOOKS / "notebook-sweep", tmp_path / "notebook-sweep")
    shutil.copyfile(NOTEBOOKS / "notebook-sweep.ipynb", tmp_path / "notebook-sweep.ipynb")
    nb = execute_notebook(tmp_path / "notebook-sweep.ipynb", cwd=tmp_path, timeout=700, env=_local_env(local_service))
    text = _assert_clean(nb, local_service)
    assert "9 runs in job 'pi-notebooks'" in text and "9 runs finished" in text
    # The flaky run failed with its cell's error, and only it was resubmitted.
    assert re.search(r"1 of 9 runs failed: set 8: ConnectionError: licence server busy \(first attempt\) \(cell 2\)", text)
    assert "resubmitted sets [8]; now {'succeeded': 9" in text
    assert "application/vnd.plotly.v1+json" in _mimetypes(nb)
    assert re.search(r"set 0 ran \d+ cells; its HTML is [\d,]+ characters", text)


def test_the_swept_notebook_runs_by_hand(run_notebook, local_service) -> None:
    nb = run_notebook(NOTEBOOKS / "notebook-sweep" / "estimate_pi.ipynb", env=_local_env(local_service), timeout=120)
    text = _assert_clean(nb, local_service)
    assert re.search(r"estimate = 3\.\d+", text)  # batchnb.record shows the value outside a sweep


def test_exploratory_pipeline_survives_a_kernel_restart(local_service, tmp_path: Path) -> None:
    """Part 1 and part 2 run in two kernels (a restart in between), in the same folder."""
    source = nbformat.read(NOTEBOOKS / "exploratory-pipeline.ipynb", as_version=4)
    split = next(i for i, c in enumerate(source.cells) if c.cell_type == "markdown"
                 and c.source.startswith("## Part 2"))
    parts = []
    for index, cells in enumerate((source.cells[:split], source.cells[split:]), start=1):
        part = nbformat.v4.new_notebook(cells=cells, metadata=source.metadata)
        path = tmp_path / f"part{index}.ipynb"
        nbformat.write(part, path)
        parts.append(execute_notebook(path, cwd=tmp_path, timeout=300, env=_local_env(local_service)))

    first = _assert_clean(parts[0], local_service)
    assert "6 of 7 files summarised" in first
    assert "item 3 (day-04.csv) raised KeyError" in first
    assert "retried 1 item(s); all 7 days summarised" in first
    assert "day-04.csv" in _html_tables(parts[0])[-1]
    assert "application/vnd.jupyter.widget-view+json" in _mimetypes(parts[0])  # pool.monitor()

    second = _assert_clean(parts[1], local_service)
    assert re.search(r"re-attached to 'map-summarize-[^']+': 7 results, 1 error\(s\)", second)
    assert "day-01.csv" in _html_tables(parts[1])[0]
    assert "deleted the map jobs" in second


def test_azure_notebook_through_the_environment_variables(run_notebook, local_service) -> None:
    """azure.ipynb reads AZURE_BATCH_* like on Azure; here they point at the local service."""
    env = {**local_service.env(), "BATCHNB_PROFILES_FILE": "/nonexistent/batchnb-profiles.toml"}
    nb = run_notebook(NOTEBOOKS / "azure.ipynb", env=env, timeout=300)
    text = _assert_clean(nb, local_service)
    assert f"account '{local_service.account_name}', shared key" in text
    assert "Step 5: 3 tasks succeeded, 0 failed" in text
    assert "Cleanup: deleted job 'batchnb-quickstart-job'" in text
    assert "raven.txt" in _html_tables(nb)[-1]

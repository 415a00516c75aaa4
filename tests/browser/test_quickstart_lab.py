"""notebooks/quickstart.ipynb in JupyterLab (headless Chromium), by Run All, on the local service.

The user's path exactly: open the notebook, Run All. The test sees every cell succeed, the live
monitor reach 100 %, and the word-count table appear.
"""

from __future__ import annotations

import nbformat
import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import (
    REPO_ROOT,
    LabServer,
    PageRecord,
    open_notebook,
    run_all,
    unexpected_page_errors,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _copy_quickstart(lab: LabServer, state_dir: str) -> str:
    nb = nbformat.read(REPO_ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    # The only change: the kernel uses this test's service (the test's own state directory).
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        f"import os\nos.environ['BATCHNB_LOCAL_STATE_DIR'] = {state_dir!r}"))
    name = "quickstart_lab.ipynb"
    nbformat.write(nb, lab.root / name)
    return name


def test_quickstart_runs_all_in_jupyterlab(jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord,
                                          local_service) -> None:
    page = browser_page
    path = _copy_quickstart(jupyter_lab, str(local_service.state_dir))
    open_notebook(page, jupyter_lab, path)
    assert run_all(page, timeout=240) is True, jupyter_lab.log_tail()

    # The monitor is live until the job is done; then (at the next cell that runs) it leaves its
    # static summary and figures instead of the widget.
    wait_for(
        page,
        """() => {
            const bar = document.querySelector('.batchnb-job-progress .progress-bar');
            const live = bar && bar.style.width === '100%'
                && document.querySelector('.batchnb-job-counts').textContent.includes('3 / 3 done');
            const done = [...document.querySelectorAll('.batchnb-static')].some(s => s.textContent.includes('(done)'));
            return live || done;
        }""",
        timeout=60,
    )

    # The outputs table (step 6): one row per input file with its word count.
    wait_for(
        page,
        """() => [...document.querySelectorAll('.jp-OutputArea-output table')].some(t =>
            ['raven.txt', 'sonnet18.txt', 'ozymandias.txt'].every(f => t.textContent.includes(f))
            && t.textContent.includes('words'))""",
        timeout=30,
    )
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    text = "\n".join(outputs)
    assert "Step 6: downloaded 3 output files" in text and "Cleanup: deleted job" in text
    assert local_service.account_key not in text
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors
    assert page_record.external_requests == []

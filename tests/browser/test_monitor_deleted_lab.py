"""A job deleted from the kernel while its monitor is open in JupyterLab (headless Chromium): the
open view says it was deleted and its Terminate button is disabled, with no cell re-run for it.

The kernel-side checks are in tests/data/test_monitor_trust.py; this one proves the browser gets
the news from an idle kernel (the view polls on the kernel's event loop between cells).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import (
    LabServer,
    PageRecord,
    open_notebook,
    run_all,
    unexpected_page_errors,
    wait_for,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TERMINATE = "document.querySelector('button.batchnb-terminate-job')"
STATE = "document.querySelector('.batchnb-job-state')"


def _cells(state_dir: str) -> list[str]:
    return [
        "import batchnb\n"
        f"session = batchnb.connect('local', state_dir={state_dir!r})\n"
        "pool = session.create_pool(batchnb.PoolSpec('deleted-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=1, task_slots_per_node=2), wait=True)\n"
        "job = session.create_job('deleted-job', pool=pool)\n"
        "job.add_tasks([batchnb.TaskSpec('sleeper', 'python -c \"import time; time.sleep(120)\"')]);",
        "view = job.monitor(interval=0.5)\nview",
        "# replaced by the test",
    ]


def test_open_job_monitor_shows_the_jobs_deletion(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service
) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, "monitor_deleted.ipynb", _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    assert run_all(page, timeout=180) is True
    wait_for(page, f"() => {STATE}?.textContent.includes('active') && {TERMINATE} && !{TERMINATE}.disabled",
             timeout=90)

    # Delete the job from the kernel, in a cell of its own; the monitor's cell is not run again.
    page.evaluate("""() => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.activeCellIndex = 2;
        nb.activeCell.model.sharedModel.setSource('job.delete()');
        return window.jupyterapp.commands.execute('notebook:run-cell');
    }""")
    wait_for(page, f"() => {STATE}?.textContent.includes('deleted')", timeout=90)
    assert page.evaluate(f"() => {TERMINATE}.disabled") is True
    status = page.locator(".batchnb-job-status").inner_text()
    assert "job deleted (seen" in status
    assert page_record.external_requests == []
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors

"""The job monitor's cost line in JupyterLab in headless Chromium, against the local service.

A live monitor shows "cost so far" (and the estimate to finish) while its job runs; when the job
is done the line it leaves (widget or static summary) carries the same total as ``job.cost()``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import (
    LabServer,
    PageRecord,
    open_notebook,
    run_all,
    screenshot,
    unexpected_page_errors,
    wait_for,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _cells(state_dir: str) -> list[str]:
    return [
        "import asyncio\n"
        "import batchnb\n"
        f"session = batchnb.connect('local', state_dir={state_dir!r})\n"
        "pool = session.create_pool(batchnb.PoolSpec('cost-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=1, task_slots_per_node=2), wait=True)\n"
        "job = session.create_job('cost-job', pool=pool)\n"
        "import batchnb.views.widgets  # loaded before the tasks start: importing plotly can take seconds",
        "job.add_tasks([batchnb.TaskSpec(f'task-{i:02d}', 'python -c \"import time; time.sleep(3)\"')\n"
        "               for i in range(16)])\n"
        "view = job.monitor(interval=0.5)\nview",
        # Awaiting keeps the kernel's loop turning: the monitor stays live until the job is done.
        "while not view.watcher.done:\n"
        "    await asyncio.sleep(0.5)\n"
        "await asyncio.sleep(2)\n"
        "s = job.cost().attrs['summary']\n"
        "print(f\"TRUTH[cost so far {s['total_cost']:.4f} {s['currency']} ({s['core_hours']:.4f} core-h]\")",
    ]


def test_live_job_monitor_shows_what_the_job_costs(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service, batch_client
) -> None:
    try:
        _check_cost_line(browser_page, jupyter_lab, page_record, local_service)
    finally:  # the service is shared with the other browser tests: leave no pool behind
        for delete in (lambda: batch_client.begin_delete_job("cost-job", polling_interval=0.2).result(),
                       lambda: batch_client.begin_delete_pool("cost-pool", polling_interval=0.2).result()):
            try:
                delete()
            except Exception:
                pass


def _check_cost_line(page: Page, jupyter_lab: LabServer, page_record: PageRecord, local_service) -> None:
    page.set_viewport_size({"width": 900, "height": 1000})  # the line wraps, never cut or wider
    path = write_notebook(jupyter_lab, "cost_line.ipynb", _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    run_all(page, wait=False)

    # Live: the line is in the widget while tasks still run.
    live = wait_for(page, """() => {
        const line = document.querySelector('.batchnb-job-monitor .batchnb-cost-line');
        const bar = document.querySelector('.batchnb-job-progress .progress-bar');
        return line && line.textContent.includes('cost so far') && bar && bar.style.width !== '100%'
            ? line.textContent : null;
    }""", timeout=150)
    assert re.search(r"cost so far \d+\.\d{4} USD", str(live)), live
    assert page.evaluate("""() => [...document.querySelectorAll('.batchnb-cost-line, .batchnb-cost-line *')]
        .every(e => e.scrollWidth <= e.clientWidth + 1)""")
    screenshot(page, "job_monitor_cost_line_live")  # the page: the live view keeps moving

    wait_for(page, "() => window.__batchnbRunAll && window.__batchnbRunAll.done", timeout=200)
    assert page.evaluate("() => window.__batchnbRunAll.ok") is True
    truth_text = wait_for(page, """() => {
        const out = [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent)
            .find(t => t.includes('TRUTH['));
        return out || null;
    }""", timeout=30)
    truth = re.search(r"TRUTH\[(.*?)\]", str(truth_text)).group(1)
    # Done: what is left in the notebook (the widget, or the static summary it was swapped for)
    # shows job.cost()'s total.
    wait_for(page, """(truth) => [...document.querySelectorAll('.batchnb-cost-line')]
        .some(e => e.textContent.includes(truth))""", timeout=60, arg=truth)
    screenshot(page, "job_monitor_cost_line_done", selector=".batchnb-cost-line")
    assert page_record.external_requests == []
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors

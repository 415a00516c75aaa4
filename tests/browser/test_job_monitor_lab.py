"""``job.monitor()`` in JupyterLab in headless Chromium, against the local service.

The notebook starts a job (one task fails on purpose) and shows the monitor; the cell returns at
once and the view keeps updating from the kernel's event loop. The test sees the progress bar
reach 100 %, the figures draw, and the failed task's stderr appear when it is selected: the finished
job's view stays live until the next cell runs (it once swapped itself for its static summary at
once, which took the task list away before the user could click it). The Tasks tab lists every
task, and any one selected shows its stdout.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import (
    LabServer,
    PageRecord,
    open_notebook,
    publish_to_docs,
    run_all,
    screenshot,
    unexpected_page_errors,
    wait_for,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _cells(state_dir: str) -> list[str]:
    return [
        "import batchnb\n"
        f"session = batchnb.connect('local', state_dir={state_dir!r})\n"
        "pool = session.create_pool(batchnb.PoolSpec('monitor-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=2, task_slots_per_node=4), wait=True)\n"
        "job = session.create_job('monitor-job', pool=pool)\n"
        "tasks = [batchnb.TaskSpec(f'task-{i:03d}', f'python -c \"import time; time.sleep({0.5 + (i % 5) * 0.4:.1f})\"')\n"
        "         for i in range(40)]\n"
        "tasks.append(batchnb.TaskSpec('task-bad', 'python -c \"import sys; "
        "sys.stderr.write(\\'ValueError: bad input row 17\\'); sys.exit(2)\"'))\n"
        "job.add_tasks(tasks);",
        # The public entry point when the job handle has it; the same view either way.
        "from batchnb.views.widgets import monitor_job\n"
        "view = job.monitor(interval=0.5) if hasattr(job, 'monitor') else monitor_job(job, interval=0.5)\n"
        "view",
    ]


def test_job_monitor_follows_a_job_to_done_in_jupyterlab(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service
) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, "job_monitor.ipynb", _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    assert run_all(page, timeout=120) is True  # returns while the monitor keeps polling

    wait_for(page, "() => document.querySelector('.batchnb-job-monitor')", timeout=60)
    wait_for(
        page,
        """() => {
            const bar = document.querySelector('.batchnb-job-progress .progress-bar');
            return bar && bar.style.width === '100%';
        }""",
        timeout=90,
    )
    wait_for(page, "() => document.querySelectorAll('.batchnb-job-monitor .js-plotly-plot').length >= 1",
             timeout=60)
    counts = page.locator(".batchnb-job-counts").inner_text()
    assert "41 / 41 done" in counts and "40 succeeded" in counts and "1 failed" in counts

    # Select the failed task: its stderr tail comes from the node by byte range.
    select = page.locator(".batchnb-failed-select select")
    wait_for(page, "() => document.querySelectorAll('.batchnb-failed-select option').length === 1", timeout=30)
    select.select_option(index=0)
    wait_for(
        page,
        "() => (document.querySelector('.batchnb-failed-stderr pre') || {}).textContent"
        "?.includes('ValueError: bad input row 17')",
        timeout=30,
    )
    monitor = screenshot(page, "job_monitor", selector=".batchnb-job-monitor")

    # The Tasks tab: every task, and a succeeded one's output on selection.
    page.locator(".batchnb-job-tabs .lm-TabBar-tab", has_text="Tasks").click()
    wait_for(page, "() => document.querySelectorAll('.batchnb-task-select option').length === 41", timeout=30)
    page.locator(".batchnb-task-select select").select_option(index=0)
    wait_for(page, "() => document.querySelector('.batchnb-task-detail pre.batchnb-task-stdout')"
                   " && document.querySelector('.batchnb-task-detail')?.textContent.includes('exit code 0')",
             timeout=30)
    screenshot(page, "job_monitor_tasks", selector=".batchnb-job-monitor")

    # The timeline tab draws on demand.
    page.locator(".batchnb-job-tabs .lm-TabBar-tab", has_text="Timeline").click()
    wait_for(page, "() => document.querySelector('.batchnb-fig-timeline .js-plotly-plot')", timeout=30)
    screenshot(page, "job_monitor_timeline", selector=".batchnb-job-monitor")

    publish_to_docs(monitor, "monitor.png")
    assert page_record.external_requests == []
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors

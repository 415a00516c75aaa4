"""The monitor of a 10^6-task job in JupyterLab: the timeline is a binned heatmap, and a zoom re-bins it.

The job: a real 41-task job runs on the local service (2 nodes x 4 slots, one task fails), and its
task frame (as the watcher loaded it, through the SDK) is tiled to 1,000,000 rows: copy k of each
task runs on node "<node>-<k mod 100>", shifted in time by (k div 100) x the real job's span, with
the last copy's tasks still running. So the monitor sees 200 nodes and a million tasks with real
ids, dtypes, states and failures, without submitting a million tasks. Why not submit them: on this
shared 2-core machine that costs ~60-90 s of submission, ~1-2 GB of service memory and a first
load of the task table well past this test's budget, and what the browser test is about (does a
million-task monitor draw, and does a zoom re-bin it) does not depend on how the rows got there;
submission and loading at 10^6 are measured by their own benchmarks. The watcher does not poll
(``autostart=False``): a poll would replace the tiled frame with the real job's 41 tasks.
"""

from __future__ import annotations

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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

TIMELINE = ".batchnb-job-monitor .batchnb-fig-timeline"


def _cells(state_dir: str) -> list[str]:
    return [
        "import batchnb, numpy as np, pandas as pd\n"
        "from batchnb.data.watch import JobWatcher\n"
        "from batchnb.views.widgets import JobMonitor\n"
        f"session = batchnb.connect('local', state_dir={state_dir!r})\n"
        "pool = session.create_pool(batchnb.PoolSpec('million-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=2, task_slots_per_node=4), wait=True)\n"
        "job = session.create_job('million-job', pool=pool)\n"
        "tasks = [batchnb.TaskSpec(f'task-{i:03d}', 'python -c \"import time; time.sleep(0.3)\"') for i in range(40)]\n"
        "tasks.append(batchnb.TaskSpec('task-bad', 'python -c \"import sys; sys.exit(2)\"'))\n"
        "job.add_tasks(tasks)\n"
        "job.wait(timeout=120, poll=0.5)\n"
        "watcher = JobWatcher(session.batch_client, job.id)\n"
        "watcher.refresh()\n"
        "real = watcher.tasks\n"
        "assert len(real) == 41 and real['start_time'].notna().all()",
        # Tile the real frame to 10^6 rows (see the module docstring).
        "N, LANES = 1_000_000, 100\n"
        "k = np.arange(N) // len(real)\n"
        "big = real.iloc[np.arange(N) % len(real)].copy()\n"
        "span = real['end_time'].max() - real['start_time'].min()\n"
        "shift = pd.to_timedelta((k // LANES) * span.value, unit='ns')\n"
        "for column in ('state_time', 'created', 'start_time', 'end_time'):\n"
        "    big[column] = big[column] + shift\n"
        "big['node_id'] = big['node_id'] + pd.Series([f'-{c:03d}' for c in range(LANES)], dtype='string').iloc[k % LANES].array\n"
        "big.index = pd.Index(big.index + pd.Series([f'-{c:05d}' for c in range(k.max() + 1)], dtype='string')"
        ".iloc[k].array, name='task_id')\n"
        "last = k == k.max()\n"
        "big.loc[last, 'state'] = 'running'\n"
        "big.loc[last, ['end_time', 'duration']] = None\n"
        "big.loc[last, ['exit_code', 'result', 'failure_code', 'failure_message', 'failure_category']] = None\n"
        "watcher.tasks = big\n"
        "state = big['state'].value_counts()\n"
        "failed = int(watcher.failed().shape[0])\n"
        "watcher.counts = {'active': 0, 'running': int(state['running']), 'completed': int(state['completed']),\n"
        "                  'succeeded': int(state['completed']) - failed, 'failed': failed}\n"
        "watcher.history.append(watcher.counts)\n"
        "assert len(watcher.tasks) == N and watcher.tasks['node_id'].nunique() == 200 and not watcher.done\n"
        "print(f'{len(big):,} tasks, {failed:,} failed')",
        "view = JobMonitor(watcher, job=job, autostart=False)\n"
        "view",
    ]


def test_monitor_of_a_million_task_job_draws_a_binned_timeline_and_rebins_on_zoom(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service
) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, "job_monitor_million.ipynb", _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    assert run_all(page, timeout=300) is True

    wait_for(page, "() => document.querySelector('.batchnb-job-monitor')", timeout=60)
    counts = page.locator(".batchnb-job-counts").inner_text()
    assert "/ 1,000,000 done" in counts

    page.locator(".batchnb-job-tabs .lm-TabBar-tab", has_text="Timeline").click()
    # One heatmap (plotly.js draws it as an image), no per-task bars.
    wait_for(page, f"() => document.querySelector('{TIMELINE} .heatmaplayer image')", timeout=90)
    assert page.locator(f"{TIMELINE} .scatterlayer .trace").count() == 0
    title = page.locator(f"{TIMELINE} .gtitle").text_content() or ""  # SVG text
    assert "1,000,000 tasks on 200 nodes" in title and "binned per node and" in title
    screenshot(page, "job_monitor_million_timeline", selector=".batchnb-job-monitor")

    # Zoom: drag a box across a tenth of the plot's width, as a user does.
    box = page.locator(f"{TIMELINE} .nsewdrag").first.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.45, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y + 2, steps=8)
    page.mouse.move(box["x"] + box["width"] * 0.55, y + 2, steps=8)
    page.mouse.up()
    # The kernel re-bins for the zoomed range: the title's bin width changes, still a heatmap.
    wait_for(page, f"""(before) => {{
        const t = document.querySelector('{TIMELINE} .gtitle');
        return t && t.textContent !== before && t.textContent.includes('binned per');
    }}""", timeout=60, arg=title)
    assert page.locator(f"{TIMELINE} .heatmaplayer image").count() == 1
    screenshot(page, "job_monitor_million_zoomed", selector=".batchnb-job-monitor")

    assert page_record.external_requests == []
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors

"""Monitors a user can trust in JupyterLab (headless Chromium, 900 px wide), against the local service.

One notebook, as a user runs it: a job that finishes (one task fails), a pool monitor that reads
metrics on a pool without the sampler (every read a 404: the case that printed SDK tracebacks), and
a long job still running when the views are closed. The test checks that

- the monitor cells hold nothing but the views (no stdout/stderr stream output),
- nothing overflows horizontally at 900 px,
- the finished job's monitor becomes a static summary and figure, and closed views leave
  their summaries,
- after a save and a reopen in a new kernel, every monitor output still renders (no
  "model not found"), with its figures.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import (
    LabServer,
    PageRecord,
    open_notebook,
    run_all,
    shutdown_sessions,
    unexpected_page_errors,
    wait_for,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NOTEBOOK = "monitor_trust_lab.ipynb"
POOL, JOB, LONG_JOB = "trust-pool", "trust-job", "trust-long-job"

# Output areas of code cell i (0-based), as the DOM has them.
CELL_OUTPUTS_JS = """(i) => {
    const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
    const cell = cells[i];
    return cell ? Array.from(cell.querySelectorAll('.jp-OutputArea-output')) : [];
}"""


def _cells(state_dir: str) -> list[str]:
    return [
        "import threading, batchnb\n"
        f"session = batchnb.connect('local', state_dir={state_dir!r})\n"
        f"pool = session.create_pool(batchnb.PoolSpec({POOL!r}, vm_size='standard_d2s_v3', dedicated_nodes=1,\n"
        "                                            task_slots_per_node=3), wait=True)\n"
        f"job = session.create_job({JOB!r}, pool=pool)\n"
        "job.add_tasks([batchnb.TaskSpec(f't{i}', 'python -c \"import time; time.sleep(1.5)\"') for i in range(4)]\n"
        "              + [batchnb.TaskSpec('bad', 'python -c \"import sys; sys.stderr.write(\\'boom 17\\'); "
        "sys.exit(3)\"')])\n"
        f"long_job = session.create_job({LONG_JOB!r}, pool=pool)\n"
        "long_job.add_tasks([batchnb.TaskSpec('sleeper', 'python -c \"import time; time.sleep(120)\"')]);",
        # 1: the finished job
        "monitor = job.monitor(interval=0.5)\nmonitor",
        # 2: metrics forced on a pool without the sampler: each refresh reads a missing file (404)
        "pool_view = pool.monitor(interval=1, metrics=True)\npool_view",
        # 3: a job still running
        "long_view = long_job.monitor(interval=0.5)\nlong_view",
        # 4: keeps the kernel busy until the first job is done, then deletes the rest once Run All is over
        "monitor.wait(timeout=120);",
        # 5: any later cell: running it lands the static pictures of views that changed while the
        # kernel was idle (the test runs it again once the deletions are seen)
        "print('flushed')",
    ]


def _text(page: Page, cell: int) -> str:
    return str(page.evaluate(f"(i) => ({CELL_OUTPUTS_JS})(i).map(o => o.innerText).join('\\n')", cell))


def _stream_outputs(page: Page, cells: list[int]) -> list[str]:
    return list(page.evaluate(f"""(cells) => cells.flatMap(i => ({CELL_OUTPUTS_JS})(i)
        .filter(o => ['application/vnd.jupyter.stdout', 'application/vnd.jupyter.stderr']
                     .includes(o.getAttribute('data-mime-type')))
        .map(o => o.innerText))""", cells))


def _overflowing(page: Page) -> list[str]:
    """Output areas (and monitor parts) wider than the space they are given."""
    return list(page.evaluate("""() => {
        const bad = [];
        for (const o of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
            if (o.scrollWidth > o.clientWidth + 1) bad.push(`${o.className}: ${o.scrollWidth} > ${o.clientWidth}`);
        }
        for (const m of document.querySelectorAll('.batchnb-job-monitor, .batchnb-pool-monitor, .js-plotly-plot')) {
            const area = m.closest('.jp-OutputArea-output');
            if (area && m.getBoundingClientRect().right > area.getBoundingClientRect().right + 1)
                bad.push(`${m.className} sticks out: ${Math.round(m.getBoundingClientRect().right)} > `
                         + `${Math.round(area.getBoundingClientRect().right)} (${m.parentElement.className})`);
        }
        return bad;
    }"""))


def test_monitors_quiet_state_aware_static_and_fit_900px(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service, batch_client
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 900, "height": 1000})
    path = write_notebook(jupyter_lab, NOTEBOOK, _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    try:
        run_all(page, wait=False)
        # While the last cell waits: the pool monitor (404 on every metrics read) and the long job
        # are live and drawn, and fit.
        wait_for(page, "() => document.querySelector('.batchnb-pool-monitor .js-plotly-plot')", timeout=120)
        wait_for(page, "() => document.querySelector('.batchnb-job-monitor .batchnb-job-counts')"
                       "?.textContent.includes('1 running')", timeout=120)
        assert _overflowing(page) == []
        wait_for(page, "() => window.__batchnbRunAll.done", timeout=240)
        assert page.evaluate("() => window.__batchnbRunAll.ok") is True, jupyter_lab.log_tail()

        # The finished job: monitor.wait() swapped its widget for the static summary and figure.
        wait_for(page, f"() => ({CELL_OUTPUTS_JS})(1).some(o => o.querySelector('.batchnb-static'))", timeout=60)
        wait_for(page, f"() => ({CELL_OUTPUTS_JS})(1).some(o => o.querySelector('.js-plotly-plot .main-svg'))",
                 timeout=60)
        summary = _text(page, 1)
        assert "trust-job (done)" in summary and "boom 17" not in summary  # stderr tails start collapsed
        assert page.evaluate(f"() => ({CELL_OUTPUTS_JS})(1).some(o => o.querySelector("
                             "'details.batchnb-static-stderr'))")

        # The next cell that runs (here one closing the other views) lands their static pictures.
        page.evaluate("""() => {
            const nb = window.jupyterapp.shell.currentWidget.content;
            nb.activeCellIndex = 5;
            nb.activeCell.model.sharedModel.setSource('pool_view.close(); long_view.close()');
            return window.jupyterapp.commands.execute('notebook:run-cell');
        }""")
        wait_for(page, f"() => ({CELL_OUTPUTS_JS})(3).some(o => o.querySelector('.batchnb-static'))", timeout=60)
        wait_for(page, f"() => ({CELL_OUTPUTS_JS})(2).some(o => o.querySelector('.batchnb-static'))", timeout=60)
        assert _stream_outputs(page, [1, 2, 3]) == []
        assert _overflowing(page) == []

        # Save, stop the kernel, reopen: every monitor output renders from the notebook alone.
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        wait_for(page, "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30)
        # Errors the live views raised; after this the kernel is gone on purpose, and the widget
        # manager's complaints about that (no comm channel, no saved widget state) are not the views'.
        live_errors = list(page_record.page_errors)
        shutdown_sessions(jupyter_lab)
        open_notebook(page, jupyter_lab, path)
        # Drawn by plotly.js, or the PNG snapshot JupyterLab's plotly renderer saved with the notebook.
        wait_for(page, f"() => ({CELL_OUTPUTS_JS})(1).some(o => o.querySelector('.js-plotly-plot .main-svg')"
                       " || o.querySelector('img.plot-img[src^=\"data:image/png\"]'))", timeout=60)
        body = page.locator(".jp-Notebook").inner_text()
        assert "model not found" not in body
        assert "trust-job (done)" in body and "Job trust-long-job" in body and "Pool trust-pool" in body
        assert _overflowing(page) == []
    finally:
        for delete in (batch_client.begin_delete_job, batch_client.begin_delete_pool):
            for entity in (JOB, LONG_JOB, POOL):
                try:
                    delete(entity)
                except Exception:  # not this kind of entity, or gone already
                    pass
    assert unexpected_page_errors(live_errors) == [], live_errors
    assert page_record.external_requests == []

"""``job.monitor()`` survives a page reload, in JupyterLab (headless Chromium).

A widget output is a model id: after a reload it depends on the kernel, after a reopen without
it JupyterLab shows "model not found". The monitor therefore replaces itself, once the job is
done, with a static summary and its final progress figure in plotly's own mimetype; the saved
notebook holds those, not the widget.
"""

from __future__ import annotations

import base64
import json

import numpy as np
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
    wait_kernel_idle,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

NOTEBOOK = "monitor_reload_lab.ipynb"
N_TASKS = 6

def _cells(state_dir: str) -> list[str]:
    return [
        "import os\n"
        f"os.environ['BATCHNB_LOCAL_STATE_DIR'] = {state_dir!r}\n"
        "import batchnb, batchnb.views.widgets  # imported first: the job below must outlast the first figure\n"
        "session = batchnb.connect('local')\n"
        "pool = session.create_pool(batchnb.PoolSpec('reload-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=1, task_slots_per_node=2), wait=True)\n"
        "job = session.create_job('reload-job', pool=pool)\n"
        # Three waves of 4 s: several refreshes, so the figures are drawn mid-job and then updated.
        "job.add_tasks([batchnb.TaskSpec(f'task-{i}', 'python -c \"import time; time.sleep(4)\"')\n"
        f"              for i in range({N_TASKS})]);",
        "monitor = job.monitor(interval=0.5)\nmonitor",
        # Run All keeps the kernel busy, so this cell drives the refreshes until the job is done.
        "monitor.wait(timeout=60)\nprint('job done:', monitor.watcher.done)",
    ]


def _save(page: Page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_for(page, "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30)


# A static plotly output: drawn by plotly.js, or (after a reload) the PNG snapshot that JupyterLab's
# plotly renderer stores in the notebook once it has drawn the figure.
FIGURE_SHOWN_JS = """() => {
    const c = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[1];
    return !!c && !!(c.querySelector('.js-plotly-plot .main-svg') || c.querySelector('img.plot-img[src^="data:image/png"]'));
}"""


def _values(array: object) -> list:
    """A plotly JSON array: a list, or plotly's typed array ``{"dtype": "i8", "bdata": base64}``."""
    if isinstance(array, dict):
        return list(np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])))
    return list(array)


def _assert_static_final(page: Page, lab: LabServer, where: str) -> None:
    wait_for(page, "() => { const c = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[1];"
                   " return c && c.querySelector('.batchnb-static'); }", timeout=60)
    wait_for(page, FIGURE_SHOWN_JS, timeout=60)
    text = page.locator(".jp-Notebook .jp-CodeCell").nth(1).inner_text()
    assert "reload-job (done)" in text and "model not found" not in text, (where, text)


def _saved_progress(lab: LabServer) -> dict:
    outputs = json.loads((lab.root / NOTEBOOK).read_text())["cells"][1]["outputs"]
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    figure = next(o["data"]["application/vnd.plotly.v1+json"] for o in outputs
                  if "application/vnd.plotly.v1+json" in o.get("data", {}))
    return {t["name"]: _values(t["y"]) for t in figure["data"]}


def test_monitor_leaves_its_final_state_for_reloads(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service, batch_client
) -> None:
    """Live while the job runs; when ``monitor.wait()`` sees it done, the widget gives way to the
    static summary and the final progress figure (plotly's mimetype), which a reload, with or
    without the kernel, shows as they are: no widget state needed."""
    page = browser_page
    path = write_notebook(jupyter_lab, NOTEBOOK, _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    run_all(page, wait=False)
    # The wait cell keeps the view current while it blocks the kernel (not "loading..." until the
    # end).
    wait_for(page, f"""() => {{
        const bar = document.querySelector('.batchnb-job-progress .progress-bar');
        const counts = document.querySelector('.batchnb-job-counts');
        return !window.__batchnbRunAll.done && bar && bar.style.width !== '100%'
            && counts && counts.textContent.includes('/ {N_TASKS} done');
    }}""", timeout=120)
    wait_for(page, "() => window.__batchnbRunAll.done", timeout=90)
    assert page.evaluate("() => window.__batchnbRunAll.ok") is True, jupyter_lab.log_tail()
    _assert_static_final(page, jupyter_lab, "at the end of the run")

    _save(page)
    traces = _saved_progress(jupyter_lab)
    assert len(traces) == 4 and traces["succeeded"][-1] == N_TASKS and len(traces["succeeded"]) >= 2, traces
    try:
        page.reload(wait_until="domcontentloaded")
        wait_for(page, """(path) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return !!(w && w.context && w.context.isReady && w.context.path === path);
        }""", timeout=60, arg=path)
        wait_kernel_idle(page)
        _assert_static_final(page, jupyter_lab, "after reload")
        screenshot(page, "job_monitor_after_reload", selector=".jp-Notebook .jp-CodeCell:nth-child(2)")
    finally:
        batch_client.begin_delete_job("reload-job")
        batch_client.begin_delete_pool("reload-pool")
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors
    assert page_record.external_requests == []

"""``job.monitor()`` survives a page reload and a save with widget state, in JupyterLab (headless Chromium).

The stale-FigureWidget pitfall (/work/shared/reference/jupyter-ui-testing.md): updates made from
Python reach the views that exist at the time as messages, but a view created later (page reload,
saved widget state) is built from the widget's state traits. The monitor syncs those traits after
each update (``sync_figure_state``), so a reload shows the finished job, not the first frame.
"""

from __future__ import annotations

import json
import urllib.request

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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

NOTEBOOK = "monitor_reload_lab.ipynb"
N_TASKS = 6
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
SAVE_STATE_COMMAND = "@jupyter-widgets/jupyterlab-manager:saveWidgetState"
SAVE_STATE_SETTINGS = "@jupyter-widgets/jupyterlab-manager:plugin"

# The progress figure as plotly.js holds it: the stacked area's last value per state.
PROGRESS_FINAL_JS = """() => {
    const gd = document.querySelector('.batchnb-fig-progress .js-plotly-plot');
    if (!gd || !Array.isArray(gd.data)) return null;
    const last = {};
    for (const t of gd.data) {
        const y = t.y ? Array.from(t.y) : [];
        last[t.name] = y.length ? Number(y[y.length - 1]) : null;
    }
    return {traces: gd.data.length, points: Math.max(...gd.data.map(t => t.y ? t.y.length : 0)), last,
            paths: gd.querySelectorAll('.scatterlayer .trace path.js-fill, .scatterlayer .trace path.js-line').length};
}"""

PROGRESS_DONE_JS = """() => {
    const bar = document.querySelector('.batchnb-job-progress .progress-bar');
    const label = document.querySelector('.batchnb-job-progress .widget-label');
    return !!(bar && bar.style.width === '100%' && label && label.textContent.trim() === '100 %');
}"""




def _cells(state_dir: str) -> list[str]:
    return [
        "import os\n"
        f"os.environ['BATCHNB_LOCAL_STATE_DIR'] = {state_dir!r}\n"
        "import batchnb, batchnb.views.widgets  # imported first: the job below must outlast the first figure\n"
        "session = batchnb.connect('local')\n"
        "pool = session.create_pool(batchnb.PoolSpec('reload-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=1, task_slots_per_node=2), wait=True)\n"
        "job = session.create_job('reload-job', pool=pool)\n"
        # Three waves of 2 s: several refreshes, so the figures are drawn mid-job and then updated.
        "job.add_tasks([batchnb.TaskSpec(f'task-{i}', 'python -c \"import time; time.sleep(2)\"')\n"
        f"              for i in range({N_TASKS})]);",
        "monitor = job.monitor(interval=0.5)\nmonitor",
        # Run All keeps the kernel busy, so this cell drives the refreshes until the job is done.
        "monitor.wait(timeout=60)\nprint('job done:', monitor.watcher.done)",
    ]


def _assert_final_progress_figure(page: Page, where: str) -> None:
    state = wait_for(
        page,
        f"() => {{ const s = ({PROGRESS_FINAL_JS})(); return s && s.last.succeeded === {N_TASKS} && s; }}",
        timeout=30,
    )
    assert isinstance(state, dict), where
    # Four stacked states, more than the first frame's single sample, and drawn (not blank axes).
    assert state["traces"] == 4, (where, state)
    assert state["points"] >= 2, (where, state)
    assert state["paths"] >= 1, (where, state)


def _save(page: Page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_for(page, "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30)


def _put_user_setting(lab: LabServer, plugin: str, raw: str) -> None:
    request = urllib.request.Request(
        f"{lab.url}/lab/api/settings/{plugin}", data=json.dumps({"raw": raw}).encode(), method="PUT",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def _saved_progress_figures(lab: LabServer) -> list[list[dict]]:
    """The `_widget_data` of every saved plotly figure whose traces are the progress figure's."""
    nb = json.loads((lab.root / NOTEBOOK).read_text())
    models = nb["metadata"]["widgets"][WIDGET_STATE_MIME]["state"]
    figures = [m["state"].get("_widget_data") for m in models.values() if "_widget_data" in m.get("state", {})]
    return [data for data in figures
            if data and {t.get("name") for t in data} >= {"succeeded", "failed", "running", "active"}]


def test_monitor_recreates_final_state_after_reload_and_save(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord, local_service, batch_client
) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, NOTEBOOK, _cells(str(local_service.state_dir)))
    open_notebook(page, jupyter_lab, path)
    run_all(page, wait=False)
    # The wait cell keeps the view current while it blocks the kernel (not "loading..." until the
    # end), and the progress figure is drawn before the job is done: the final data then reaches it
    # as an update, which is what a reload must not lose.
    wait_for(page, f"""() => {{
        const bar = document.querySelector('.batchnb-job-progress .progress-bar');
        const counts = document.querySelector('.batchnb-job-counts');
        return !window.__batchnbRunAll.done && bar && bar.style.width !== '100%'
            && counts && counts.textContent.includes('/ {N_TASKS} done')
            && !!document.querySelector('.batchnb-fig-progress .js-plotly-plot');
    }}""", timeout=90)
    wait_for(page, "() => window.__batchnbRunAll.done", timeout=90)
    assert page.evaluate("() => window.__batchnbRunAll.ok") is True, jupyter_lab.log_tail()
    wait_for(page, PROGRESS_DONE_JS, timeout=30)
    assert f"{N_TASKS} / {N_TASKS} done" in page.locator(".batchnb-job-counts").inner_text()
    _assert_final_progress_figure(page, "live view")

    # A plain save (no widget state yet): after the reload only the kernel can supply the views.
    _save(page)
    try:
        page.reload(wait_until="domcontentloaded")
        wait_for(page, """(path) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return !!(w && w.context && w.context.isReady && w.context.path === path);
        }""", timeout=60, arg=path)
        wait_kernel_idle(page)
        # The kernel sends every widget's state at once, ~5 MB of plotly.js per FigureWidget (four
        # here): ~15 s on a busy 2-core machine.
        wait_for(page, "() => document.querySelector('.batchnb-job-monitor')", timeout=60)
        wait_for(page, PROGRESS_DONE_JS, timeout=30)
        assert f"{N_TASKS} / {N_TASKS} done" in page.locator(".batchnb-job-counts").inner_text()
        _assert_final_progress_figure(page, "after reload")
        screenshot(page, "job_monitor_after_reload", selector=".batchnb-job-monitor")

        # Settings > Save Widget State Automatically, as a user turns it on; then save again.
        page.evaluate(f"() => window.jupyterapp.commands.execute('{SAVE_STATE_COMMAND}')")
        wait_for(page, f"() => window.jupyterapp.commands.isToggled('{SAVE_STATE_COMMAND}')", timeout=10)
        page.evaluate("() => { window.jupyterapp.shell.currentWidget.context.model.dirty = true; }")
        _save(page)
        figures = _saved_progress_figures(jupyter_lab)
        assert figures, "no progress figure in the saved widget state"
        for data in figures:
            succeeded = next(t for t in data if t["name"] == "succeeded")
            assert len(succeeded["y"]) >= 2 and succeeded["y"][-1] == N_TASKS, succeeded["y"]
    finally:
        # The lab is shared by the whole session: later tests must not save 5 MB per figure.
        _put_user_setting(jupyter_lab, SAVE_STATE_SETTINGS, "{}")
        batch_client.begin_delete_job("reload-job")
        batch_client.begin_delete_pool("reload-pool")
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors
    assert page_record.external_requests == []

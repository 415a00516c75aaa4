"""``pool.monitor()`` in JupyterLab (headless Chromium), on a metrics pool of the local service.

The notebook creates a 2-node pool with the utilization sampler (``PoolSpec(metrics=True)``),
keeps it busy with a few sleeping tasks, and shows the monitor. The test sees the node heatmap as
one heatmap trace with one tile per node, the utilization figure fill from the nodes' sampler,
and the resize control change the pool's target (checked through the SDK, not the page).
"""

from __future__ import annotations

import re
import time

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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

POOL = "pool-monitor-lab"
JOB = "pool-monitor-lab-job"

# The heatmap as plotly.js holds it: trace types and how many grid cells hold a node (not NaN).
HEATMAP_JS = """() => {
    const gd = document.querySelector('.batchnb-fig-heatmap .js-plotly-plot');
    if (!gd || !Array.isArray(gd.data)) return null;
    const tiles = gd.data.map(t => (t.z || []).flat().filter(v => v !== null && !Number.isNaN(Number(v))).length);
    return {types: gd.data.map(t => t.type), tiles: tiles[0],
            drawn: !!gd.querySelector('.heatmaplayer image, .heatmaplayer .hm')};
}"""

# Samples in the utilization figure's pool-mean CPU line, and whether a line is drawn (2+ samples).
UTILIZATION_JS = """() => {
    const gd = document.querySelector('.batchnb-fig-utilization .js-plotly-plot');
    const mean = gd && Array.isArray(gd.data) && gd.data.find(t => t.name === 'pool mean');
    const lines = gd ? [...gd.querySelectorAll('.scatterlayer path.js-line')] : [];
    return {points: mean && mean.y ? mean.y.length : 0,
            drawn: lines.some(l => (l.getAttribute('d') || '').includes('L'))};
}"""




def _cells(state_dir: str) -> list[str]:
    return [
        "import os\n"
        f"os.environ['BATCHNB_LOCAL_STATE_DIR'] = {state_dir!r}\n"
        "import batchnb\n"
        "session = batchnb.connect('local')\n"
        f"pool = session.create_pool(batchnb.PoolSpec({POOL!r}, vm_size='standard_d2s_v3', dedicated_nodes=2,\n"
        "                                            task_slots_per_node=2, metrics=True), wait=True)\n"
        # Three sleeping tasks on four slots: one node full, one half full, no CPU burnt on CI.
        f"job = session.create_job({JOB!r}, pool=pool)\n"
        "job.add_tasks([batchnb.TaskSpec(f'sleep-{i}', 'python -c \"import time; time.sleep(90)\"') for i in range(3)]);",
        "monitor = pool.monitor(interval=1)\nmonitor",
    ]


def _heatmap(page: Page, tiles: int, timeout: float) -> dict:
    state = wait_for(page, f"() => {{ const s = ({HEATMAP_JS})(); return s && s.tiles === {tiles} && s.drawn && s; }}",
                     timeout=timeout)
    assert isinstance(state, dict)
    return state


# The pool's cost line once pool.cost() has answered: its text, and whether it fits the monitor.
COST_LINE_JS = """() => {
    const line = document.querySelector('.batchnb-pool-monitor .batchnb-cost-line');
    const box = document.querySelector('.batchnb-pool-monitor');
    if (!line || !box || !line.textContent.includes('node-h')) return null;
    const r = line.getBoundingClientRect(), b = box.getBoundingClientRect();
    return {text: line.textContent, fits: r.width > 0 && r.right <= b.right + 1, line: [r.left, r.right, r.width], box: [b.left, b.right, b.width], parent: line.parentElement.className};
}"""


def test_pool_monitor_heatmap_utilization_and_resize(jupyter_lab: LabServer, browser_page: Page,
                                                     page_record: PageRecord, local_service, batch_client) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, "pool_monitor_lab.ipynb", _cells(str(local_service.state_dir)))
    try:
        open_notebook(page, jupyter_lab, path)
        assert run_all(page, timeout=90) is True, jupyter_lab.log_tail()
        wait_for(page, "() => document.querySelector('.batchnb-pool-monitor')", timeout=30)

        state = _heatmap(page, 2, timeout=30)
        assert state["types"] == ["heatmap"], state  # one trace, whatever the pool size
        # The sampler writes every 5 s; the monitor reads the new lines on each refresh. Two
        # samples make the first visible line segment.
        wait_for(page, f"() => {{ const u = ({UTILIZATION_JS})(); return u.points >= 2 && u.drawn; }}", timeout=30)
        wait_for(page, "() => document.querySelector('.batchnb-pool-summary').textContent.includes('2 nodes')",
                 timeout=10)
        # The cost line (issue 14): idle node-hours and what they cost, inside the monitor's width.
        cost = wait_for(page, COST_LINE_JS, timeout=120)
        assert isinstance(cost, dict) and cost["fits"], cost
        assert re.search(r"idle [0-9.]+ node-h costing [0-9.]+ [A-Z]{3} · of [0-9.]+ node-h costing [0-9.]+ [A-Z]{3}",
                         cost["text"]), cost
        shot = screenshot(page, "pool_monitor", selector=".batchnb-pool-monitor")
        publish_to_docs(shot, "pool_monitor.png")

        # Resize from the widget: the pool's target changes on the service, and a third tile appears.
        box = page.locator(".batchnb-resize-dedicated input")
        box.fill("3")
        box.press("Enter")  # BoundedIntText syncs on Enter/blur
        page.locator("button.batchnb-resize-button").click()
        wait_for(page, "() => document.querySelector('.batchnb-pool-message').textContent.includes('resize requested')",
                 timeout=30)
        deadline = time.monotonic() + 10
        while batch_client.get_pool(POOL).target_dedicated_nodes != 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert batch_client.get_pool(POOL).target_dedicated_nodes == 3
        _heatmap(page, 3, timeout=120)  # a node boots, then the next refresh draws it: slow on a busy machine
        assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors
        assert page_record.external_requests == []
    finally:
        batch_client.begin_delete_job(JOB)
        batch_client.begin_delete_pool(POOL)

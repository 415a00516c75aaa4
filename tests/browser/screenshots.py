"""Screenshots of the monitors for docs/, by an explicit command (tests never write into the tree):

    python -m tests.browser.screenshots            # -> docs/monitor-{1400,900}-{live,reopened}.png ...
    python -m tests.browser.screenshots --out /tmp/shots

Starts its own local Batch service and JupyterLab (temp dirs), runs a small notebook in headless
Chromium (Debian's /usr/bin/chromium) at 1400 and 900 px: a job that finishes with one failed
task, a pool monitor and a long job; then saves, stops the kernel, reopens the notebook and shoots
again. Prints, per width, whether any output overflows horizontally.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat
from playwright.sync_api import Page, sync_playwright

from tests.browser.lab_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO_ROOT,
    LabServer,
    open_notebook,
    run_all,
    shutdown_sessions,
    start_lab,
    stop_lab,
    wait_for,
)

WIDTHS = (1400, 900)


def _cells(state_dir: str, suffix: str) -> list[str]:
    return [
        "import batchnb\n"
        f"session = batchnb.connect('local', state_dir={state_dir!r})\n"
        f"pool = session.create_pool(batchnb.PoolSpec('shots-pool-{suffix}', vm_size='standard_d2s_v3',\n"
        "                            dedicated_nodes=2, task_slots_per_node=4, metrics=True), wait=True)\n"
        f"job = session.create_job('shots-job-{suffix}', pool=pool)\n"
        "job.add_tasks(batchnb.sweep('python -c \"import time; time.sleep({s})\"', s=[0.5, 1, 1.5, 2] * 6))\n"
        "job.add_tasks([batchnb.TaskSpec('bad', 'python -c \"import sys; sys.stderr.write(\\'ValueError: bad row 17\\');"
        " sys.exit(2)\"')])\n"
        f"long_job = session.create_job('shots-long-{suffix}', pool=pool)\n"
        "long_job.add_tasks(batchnb.sweep('python -c \"import time; time.sleep({s})\"', s=[20, 40, 60, 90]));",
        "monitor = job.monitor(interval=0.5)\nmonitor",
        "long_view = long_job.monitor(interval=1)\nlong_view",
        "pool_view = pool.monitor(interval=2)\npool_view",
        "monitor.wait(timeout=120);",
        "# (closes the live views once the screenshots are taken)",
    ]


OVERFLOW_JS = """() => {
    const bad = [];
    for (const o of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
        if (o.scrollWidth > o.clientWidth + 1) bad.push(`${o.scrollWidth} > ${o.clientWidth}`);
        for (const m of o.querySelectorAll('.batchnb-job-monitor, .batchnb-pool-monitor, .js-plotly-plot')) {
            const r = m.getBoundingClientRect().right, limit = o.getBoundingClientRect().right;
            if (r > limit + 1) bad.push(`${m.className.slice(0, 60)}: ${Math.round(r)} > ${Math.round(limit)}`);
        }
    }
    return bad;
}"""


def _shoot(page: Page, out: Path, name: str) -> None:
    page.locator(".jp-Notebook").first.screenshot(path=str(out / f"{name}.png"))  # the notebook panel
    print(f"  {name}.png  overflow: {page.evaluate(OVERFLOW_JS) or 'none'}")


def _scroll_to(page: Page, selector: str) -> None:
    page.locator(selector).first.scroll_into_view_if_needed()
    time.sleep(0.5)


def run(out: Path) -> None:
    from batchnb import local

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="batchnb-shots-") as tmp:
        state_dir = Path(tmp) / "service"
        local.start(state_dir=state_dir, quiet=True)
        lab: LabServer | None = None
        try:
            lab = start_lab(Path(tmp) / "lab")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for width in WIDTHS:
                    page = browser.new_page(viewport={"width": width, "height": 1100})
                    name = f"monitors_{width}.ipynb"
                    nb = nbformat.v4.new_notebook()
                    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
                    nb.cells = [nbformat.v4.new_code_cell(c) for c in _cells(str(state_dir), str(width))]
                    nbformat.write(nb, lab.root / name)
                    open_notebook(page, lab, name)
                    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
                    print(f"{width} px: run all")
                    ok = run_all(page, timeout=240)
                    try:
                        wait_for(page, "() => document.querySelector('.batchnb-pool-monitor .js-plotly-plot')", 60)
                    except AssertionError:
                        page.screenshot(path=str(out / "failed.png"), full_page=True)
                        raise SystemExit(f"no pool monitor (run all ok: {ok}); see {out / 'failed.png'}") from None
                    time.sleep(8)  # a few refreshes: utilization lines, the long job running
                    _scroll_to(page, ".batchnb-job-monitor")
                    _shoot(page, out, f"monitor-{width}-live")
                    _scroll_to(page, ".batchnb-pool-monitor")
                    _shoot(page, out, f"pool-monitor-{width}-live")
                    # Closing the views (in a cell: display updates land while a cell runs) leaves
                    # their static pictures; saved, they are what a reopen without the kernel shows.
                    page.evaluate("""() => {
                        const nb = window.jupyterapp.shell.currentWidget.content;
                        nb.activeCellIndex = nb.widgets.length - 1;
                        nb.activeCell.model.sharedModel.setSource('long_view.close(); pool_view.close()');
                        return window.jupyterapp.commands.execute('notebook:run-cell');
                    }""")
                    time.sleep(5)
                    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                    wait_for(page, "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", 30)
                    shutdown_sessions(lab)
                    open_notebook(page, lab, name)
                    wait_for(page, "() => document.querySelector('.batchnb-static')", 60)
                    time.sleep(2)
                    _scroll_to(page, ".jp-CodeCell:nth-child(2)")
                    _shoot(page, out, f"monitor-{width}-reopened")
                    page.close()
                browser.close()
        finally:
            if lab is not None:
                stop_lab(lab)
            local.stop(state_dir=state_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs", help="where the PNGs go (default: docs/)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} not found: run `bash .ci/setup` as root (apt-get install chromium)")
    run(args.out)


if __name__ == "__main__":
    main()

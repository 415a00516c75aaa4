"""``LogTail`` in JupyterLab (headless Chromium): a running task's stdout grows in the page.

A task on the local service prints one line every 0.3 s, and waits at two gates the test opens
(files it creates), so the task is surely running when the test looks, however slow a busy machine
makes the page. The test sees the ``<pre>`` grow while the task runs (the kernel reads only the new
bytes by range), and end with the task's last line, every line once and in order, after the task
completes.
"""

from __future__ import annotations

import shlex
from pathlib import Path

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

LINES = 25
GATES = (5, 15)  # the task waits after printing these lines until the test opens the gate


def _ticker(gate_dir: Path) -> str:
    code = ("import os, time\n"
            f"for i in range({LINES}):\n"
            "    print(f'tick {i:02d}', flush=True)\n"
            "    time.sleep(0.3)\n"
            f"    if i in {GATES!r}:\n"
            f"        gate = os.path.join({str(gate_dir)!r}, f'gate-{{i}}')\n"
            "        deadline = time.monotonic() + 120\n"
            "        while not os.path.exists(gate) and time.monotonic() < deadline:\n"
            "            time.sleep(0.1)\n")
    return f"python3 -u -c {shlex.quote(code)}"


def _open_gate(gate_dir: Path, line: int) -> None:
    (gate_dir / f"gate-{line}").write_text("open")

LOG_JS = """() => {
    const pre = document.querySelector('.batchnb-log-text pre');
    const status = document.querySelector('.batchnb-log-status');
    if (!pre || !status) return null;
    return {lines: pre.textContent.split('\\n').filter(l => l.trim()), status: status.textContent};
}"""

# Whether the text's last line is inside every box that clips it (what the user actually sees).
END_VISIBLE_JS = """() => {
    const pre = document.querySelector('.batchnb-log-text pre');
    if (!pre || !pre.lastChild) return false;
    const range = document.createRange();
    range.selectNodeContents(pre);
    const rects = range.getClientRects();
    const last = rects[rects.length - 1];
    for (let box = pre; box && box !== document.body; box = box.parentElement) {
        if (getComputedStyle(box).overflowY === 'visible') continue;
        const r = box.getBoundingClientRect();
        if (last.bottom > r.bottom + 2 || last.top < r.top - 2) return false;
    }
    return true;
}"""


def _cells(state_dir: str, ticker: str) -> list[str]:
    return [
        "import os, time\n"
        f"os.environ['BATCHNB_LOCAL_STATE_DIR'] = {state_dir!r}\n"
        "import batchnb\n"
        "session = batchnb.connect('local')\n"
        "pool = session.create_pool(batchnb.PoolSpec('logtail-pool', vm_size='standard_d2s_v3',\n"
        "                                            dedicated_nodes=1), wait=True)\n"
        "job = session.create_job('logtail-job', pool=pool)\n"
        f"job.add_tasks([batchnb.TaskSpec('ticker', {ticker!r})])\n"
        # The widget is for a running task: start tailing once it runs.
        "client = session.batch_client\n"
        "deadline = time.monotonic() + 30\n"
        "while client.get_task('logtail-job', 'ticker').get('state') != 'running' and time.monotonic() < deadline:\n"
        "    time.sleep(0.1)",
        "from batchnb.views.widgets import LogTail\n"
        "tail = LogTail(session.job('logtail-job'), 'ticker', interval=0.5)\n"
        "tail",
    ]


def test_log_tail_grows_while_the_task_runs(jupyter_lab: LabServer, browser_page: Page,
                                            page_record: PageRecord, local_service, batch_client,
                                            tmp_path: Path) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, "log_tail_lab.ipynb", _cells(str(local_service.state_dir), _ticker(tmp_path)))
    try:
        open_notebook(page, jupyter_lab, path)
        assert run_all(page, timeout=90) is True, jupyter_lab.log_tail()

        first = wait_for(page, f"() => {{ const s = ({LOG_JS})(); return s && s.lines.length >= 1 && s; }}",
                         timeout=30)
        assert isinstance(first, dict)
        assert "running" in first["status"], first
        assert len(first["lines"]) <= GATES[0] + 1, first["lines"]  # the task waits at the first gate
        # More lines arrive while the task still runs (it waits again at the second gate).
        _open_gate(tmp_path, GATES[0])
        later = wait_for(
            page,
            f"""() => {{ const s = ({LOG_JS})();
                return s && s.lines.length > {GATES[0] + 1} && s.status.includes('running') && s; }}""",
            timeout=60,
        )
        assert isinstance(later, dict)
        assert later["lines"][: len(first["lines"])] == first["lines"]  # appended, not replaced
        _open_gate(tmp_path, GATES[1])

        done = wait_for(page, f"() => {{ const s = ({LOG_JS})(); return s && s.status.includes('completed') && s; }}",
                        timeout=60)
        assert isinstance(done, dict)
        assert done["lines"] == [f"tick {i:02d}" for i in range(LINES)], done["lines"]
        # A tail is read from the bottom: the newest line is in view without scrolling.
        page.locator(".batchnb-log-tail").scroll_into_view_if_needed()
        assert page.evaluate(END_VISIBLE_JS), "the last line is scrolled out of view"
        screenshot(page, "log_tail", selector=".batchnb-log-tail")
        assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors
        assert page_record.external_requests == []
    finally:
        batch_client.begin_delete_job("logtail-job")
        batch_client.begin_delete_pool("logtail-pool")

"""A finished job's monitor stays usable until the next cell runs, then leaves its static picture.

Against the real local service, in an IPython shell without a frontend (what a kernel does with
a cell's value). This is what the JupyterLab check in tests/browser/test_job_monitor_lab.py
relies on: the live view, not its static summary, is there when the failed task is selected.
"""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import batchnb
from batchnb.views.widgets import JobMonitor
from tests.local.service.helpers import uid

pytestmark = pytest.mark.timeout(240)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def session(local_service):
    s = batchnb.connect("local", state_dir=str(local_service.state_dir))
    yield s
    s.close()


def test_finished_view_stays_live_until_the_next_cell_then_swaps(session) -> None:
    pool = session.create_pool(batchnb.PoolSpec(uid("after"), vm_size="standard_d2s_v3", dedicated_nodes=1,
                                                task_slots_per_node=2), wait=True, timeout=120)
    job = session.create_job(uid("after"), pool=pool)
    job.add_tasks([batchnb.TaskSpec("ok", 'python -c "print(1)"'),
                   batchnb.TaskSpec("bad", "python -c \"import sys; sys.stderr.write('bad row 17'); sys.exit(2)\"")])
    job.wait(timeout=120)
    shell = InteractiveShell.instance()
    try:
        with capture_output() as cap:
            view = job.monitor(interval=0.3)
            assert isinstance(view, JobMonitor)
            shell.display_formatter.format(view)  # shown as a cell's value, the job already done
            view.watcher.refresh()
            view.update()
        shown = [o for o in cap.outputs if not o.update]
        ids = [o.transient["display_id"] for o in shown]
        assert len(ids) == 3 and WIDGET_VIEW in shown[0].data
        assert [o for o in cap.outputs if o.update and o.transient["display_id"] in ids] == []  # still live
        # The live view works: the failed task's stderr, and any task's stdout in the Tasks tab.
        view.failed_select.value = "bad"
        assert "bad row 17" in view.failed_detail.value
        view.task_browser.refresh(force=True)
        view.task_browser.select.value = "ok"
        assert "stdout.txt" in view.task_browser.detail.value and "1" in view.task_browser.detail.value

        with capture_output() as cap:
            shell.run_cell("x = 1")  # the user moves on: the view leaves its static picture
        # (Other views of this process may land their own pending pictures in the same cell.)
        final = {o.transient["display_id"]: o.data for o in cap.outputs if o.update}
        assert set(ids) <= set(final)
        summary = final[ids[0]]
        assert WIDGET_VIEW not in summary
        assert "(done)" in summary["text/html"] and "bad row 17" in summary["text/html"]
        view.close()
    finally:
        job.delete()
        pool.delete()

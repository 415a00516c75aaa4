"""Remake the README's screenshots (docs/monitor.png, docs/pool_monitor.png): an explicit command.

    python -m tests.browser.screenshots

Runs the two browser tests that draw the job and pool monitors in JupyterLab, with
BATCHNB_DOCS_SCREENSHOTS pointing at docs/ so that they copy their screenshots there. A plain test
run (`bash .ci/test`) never touches docs/: the working tree stays as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.browser.lab_helpers import DOCS_SCREENSHOTS_ENV, REPO_ROOT

TESTS = [
    "tests/browser/test_job_monitor_lab.py::test_job_monitor_follows_a_job_to_done_in_jupyterlab",
    "tests/browser/test_pool_monitor_lab.py::test_pool_monitor_heatmap_utilization_and_resize",
]
PICTURES = ["monitor.png", "pool_monitor.png"]


def main() -> int:
    docs = REPO_ROOT / "docs"
    before = {name: _mtime(docs / name) for name in PICTURES}
    env = {**os.environ, DOCS_SCREENSHOTS_ENV: str(docs)}
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "browser", *TESTS],
                         cwd=REPO_ROOT, env=env)
    stale = [name for name in PICTURES if _mtime(docs / name) == before[name]]
    if rc == 0 and stale:
        print(f"screenshots: not rewritten: {', '.join(stale)}", file=sys.stderr)
        return 1
    if rc == 0:
        print(f"screenshots: wrote {', '.join(str(docs / n) for n in PICTURES)}")
    return rc


def _mtime(path: Path) -> float | None:
    return path.stat().st_mtime if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())

"""Small tools the reliability scenarios share: a throwaway local service, signed admin calls, and
task command lines that leave a countable trace of every run.

Used by the tests in this folder and by ``benchmarks/reliability_summary.py``.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchnb import local
from batchnb.local import LocalService
from batchnb.local.faults_client import signed_request

ADMIN = "/_local"


# The fault suite runs against Azure's lagging Get Task Counts (batchnb must decide completion
# from the task list): switched on when the service starts (a scenario's restart resets it).
RELIABILITY_TASK_COUNTS_LAG = 1.0


@contextmanager
def throwaway_service(parent: Path | None = None, *, node_boot_seconds: float | None = None,
                      task_counts_lag: float = RELIABILITY_TASK_COUNTS_LAG) -> Iterator[LocalService]:
    """A local service in its own state dir: scenarios kill it, restart it and inject faults,
    which must never disturb the service the rest of the test suite shares."""
    parent = Path(parent) if parent else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reliability-", dir=parent) as tmp:
        state_dir = Path(tmp) / "state"
        service = local.start(state_dir=state_dir, node_boot_seconds=node_boot_seconds, quiet=True)
        try:
            if task_counts_lag:
                local.emulate(service, task_counts_lag=task_counts_lag)
            yield service
        finally:
            local.stop(state_dir=state_dir)


def admin(service: LocalService, method: str, path: str, body: Any = None) -> dict:
    response = signed_request(service, method, ADMIN + path, body=body)
    assert response.status_code == 200, f"{method} {path}: HTTP {response.status_code} {response.text[:300]}"
    return response.json()


def fault_stats(service: LocalService) -> dict[str, int]:
    """Faults injected so far by kind, plus ``requests``: every Batch request the service saw."""
    described = admin(service, "GET", "/faults")
    return {**described["injected"], "requests": described["requests"]}


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


# ------------------------------------------------------------------------------ run markers


def marker_command(marker_dir: Path, *, sleep: float = 0.0) -> str:
    """A task command line that records each run of the task in ``marker_dir``.

    The first run creates ``<task id>`` with O_EXCL (the shell's noclobber); any later run of the
    same task finds it there and records ``<task id>.again.<pid>`` instead, so a duplicated run can
    never hide. The directory is absolute and outside the node directories, so runs on any node
    (and before and after a service restart) land in the same place.
    """
    d = shlex.quote(str(marker_dir))
    script = (f'set -C; m={d}/"$AZ_BATCH_TASK_ID"; '
              f'if true > "$m" 2>/dev/null; then :; else true > "$m.again.$$"; fi')
    if sleep:
        script += f"; sleep {sleep:g}"
    return "/bin/sh -c " + shlex.quote(script)


@dataclass
class RunCount:
    first_runs: set[str]
    extra_runs: dict[str, int]

    @property
    def duplicated(self) -> list[str]:
        return sorted(self.extra_runs)


def count_runs(marker_dir: Path) -> RunCount:
    first: set[str] = set()
    extra: dict[str, int] = {}
    for name in os.listdir(marker_dir):
        if ".again." in name:
            task_id = name.split(".again.", 1)[0]
            extra[task_id] = extra.get(task_id, 0) + 1
        else:
            first.add(name)
    return RunCount(first, extra)

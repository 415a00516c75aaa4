"""A real IPython InteractiveShell with ``%load_ext batchnb``, connected to the test's local service."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from batchnb.local import LocalService

POOL = "magics-pool"


@dataclass
class CellRun:
    """What one cell did: its error (None if it succeeded), printed text and displayed value."""

    error: BaseException | None
    stdout: str
    stderr: str
    result: Any


class Shell:
    """Runs cells in the shell the way a notebook would, capturing what the user would see."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell

    @property
    def ns(self) -> dict[str, Any]:
        return self.shell.user_ns

    def run(self, source: str) -> CellRun:
        out, err = io.StringIO(), io.StringIO()
        # IPython prints "UsageError: ..." with print(file=sys.stderr): capture at the sys level.
        with redirect_stdout(out), redirect_stderr(err):
            result = self.shell.run_cell(source, store_history=False)
        return CellRun(result.error_in_exec or result.error_before_exec, out.getvalue(), err.getvalue(),
                       result.result)

    def ok(self, source: str) -> CellRun:
        run = self.run(source)
        assert run.error is None, f"{source!r} failed: {run.stderr or run.error!r}"
        return run


@pytest.fixture(scope="session")
def ipython() -> Iterator[InteractiveShell]:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "batchnb")
    yield shell


@pytest.fixture(scope="session")
def connected(ipython: InteractiveShell, local_service: LocalService) -> Shell:
    """The shell after ``%batch connect local`` to the test service, with a 2-node pool."""
    shell = Shell(ipython)
    shell.ok(f"%batch connect local --state-dir {local_service.state_dir} -o _magics_session")
    shell.ok(f"%batch pool create {POOL} --nodes 2 --slots 2 --timeout 120")
    return shell


def pin_session(connected: Shell) -> None:
    """Make the shell's own session the current one again (reconnecting if a test closed it)."""
    from batchnb.core.current import set_current

    session = connected.ns["_magics_session"]
    if session.closed:  # a test closed it (e.g. one that checks what close() does): connect again
        connected.ok(f"%batch connect local --state-dir {session.local_service.state_dir} -o _magics_session")
        session = connected.ns["_magics_session"]
    set_current(session)


@pytest.fixture
def shell(connected: Shell) -> Shell:
    # Any batchnb.connect() elsewhere in the run (other tests' fixtures) becomes the current session
    # and may be closed by then: each magics test starts on the session its shell connected.

    pin_session(connected)
    return connected

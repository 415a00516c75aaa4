"""Magic arguments are data, never shell text: shell metacharacters reach the SDK, the service and a
node's process exactly as typed, and nothing along the way runs them.

The test connects its own shell to the reliability service (it used to rely on an earlier test on
the same worker having connected: alone, its lines stopped at "not connected").
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchnb
from batchnb.core.current import clear_current, get_current, set_current
from tests.views.magics.conftest import Shell

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]

SHELL_CALLS = ("shell=True", "os.system(", "os.popen(", "getoutput(", "getstatusoutput(", "system_piped",
               ".system(")


def test_no_client_code_calls_a_shell() -> None:
    package = Path(batchnb.__file__).parent
    sources = [p for p in package.rglob("*.py") if "local" not in p.relative_to(package).parts]
    magics = [p for p in sources if "magics" in p.parts]
    assert len(magics) >= 4, "the magics moved: this scan would check nothing"
    found = [(str(p.relative_to(package)), pattern) for p in sources for pattern in SHELL_CALLS
             if pattern in p.read_text()]
    assert found == []


@pytest.fixture
def magic_shell(rel_service) -> Iterator[Shell]:
    """An IPython shell with %load_ext batchnb, connected to the reliability service by the test itself."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "batchnb")
    before = get_current()
    run = Shell(shell)
    run.ok(f"%batch connect local --state-dir {rel_service.state_dir} -o _no_shell_session")
    try:
        yield run
    finally:
        # The shell is a process-wide singleton: hand back whatever session other tests set.
        if before is not None:
            set_current(before)
        else:
            clear_current()
        shell.user_ns.pop("_no_shell_session").close()


def test_magic_arguments_reach_the_service_literally_and_run_nowhere(magic_shell, rel_service, monkeypatch,
                                                                      tmp_path) -> None:
    canary = tmp_path / "pwned"
    session = get_current()
    assert session is not None
    seen: list[tuple[str, tuple]] = []
    client = session.batch_client
    for name in ("get_job", "get_pool"):
        real = getattr(client, name)
        monkeypatch.setattr(client, name, lambda *a, _real=real, _name=name, **kw: (seen.append((_name, a)),
                                                                                    _real(*a, **kw))[1])
    popen_args: list[object] = []
    real_popen = subprocess.Popen

    def spy(args, *a, **kw):
        popen_args.append(args)
        return real_popen(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    monkeypatch.setattr(os, "system", lambda cmd: popen_args.append(cmd) or 0)

    job_id = f"x; touch {canary}"
    pool_id = f"x && touch {canary}"
    logs_job = f"$(touch {canary})"
    upload_path = f"`touch {canary}`"
    runs = {
        "job show": magic_shell.run(f"%batch job show '{job_id}'"),
        "pool show": magic_shell.run(f"%batch pool show \"{pool_id}\""),
        "logs": magic_shell.run(f"%batch logs '{logs_job}' t1"),
        "upload": magic_shell.run(f"%batch upload '{upload_path}' rel-shell-in"),
    }
    # Each line got past argument parsing into the code that talks to Batch or the disk...
    assert ("get_job", (job_id,)) in seen and ("get_pool", (pool_id,)) in seen and ("get_job", (logs_job,)) in seen
    for name, run in runs.items():
        assert run.error is not None, name  # ...which refused it as an unknown id or a missing file
        assert "not connected" not in run.stderr and "unrecognized arguments" not in run.stderr, (name, run.stderr)
    assert upload_path in runs["upload"].stderr
    # ...and nothing ran it.
    assert not canary.exists()
    assert not any(str(canary) in str(c) for c in popen_args), popen_args


def test_a_task_template_reaches_the_node_as_arguments_not_as_a_script(magic_shell, tmp_path) -> None:
    # Batch runs a command line without a shell: `$(...)`, `;` and backquotes are plain characters
    # for the program (here echo), on the local service's nodes as on Azure's.
    canary = tmp_path / "pwned"
    magic_shell.ok("%batch pool create rel-shell-pool --nodes 1 --timeout 120")
    magic_shell.ok("%batch job create rel-shell-job --pool rel-shell-pool")
    magic_shell.ok(f"%%batch tasks rel-shell-job --wait --timeout 120\necho $(touch {canary}) ';' `touch {canary}`")
    tasks = magic_shell.ok("%batch tasks rel-shell-job").result
    assert list(tasks["exit_code"]) == [0]
    out = magic_shell.ok(f"%batch logs rel-shell-job {tasks.index[0]}").stdout
    assert f"$(touch {canary}) ; `touch {canary}`" in out
    assert not canary.exists()
    magic_shell.ok("%batch job delete rel-shell-job")

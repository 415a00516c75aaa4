"""Bad input: one ``UsageError`` line, no traceback, nothing stored; and no shell, ever."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from tests.views.magics.conftest import POOL, Shell, pin_session

pytestmark = [pytest.mark.timeout(180)]

BAD_INPUTS = {
    "unknown subcommand": ("%batch frobnicate", "unknown subcommand 'frobnicate'"),
    "missing action": ("%batch pool", "missing an action"),
    "unknown action": ("%batch job explode j1", "'explode' is not an action"),
    "missing id": ("%batch pool create --nodes 1", "required: ID"),
    "invalid pool id": ("%batch pool create bad/id --nodes 1 -o nope", "pool.id"),
    "negative count": ("%batch pool create p-neg --nodes -3 -o nope", "--nodes"),
    "word for a number": ("%batch pool create p-two --nodes two -o nope", "invalid whole number >= 0 value: 'two'"),
    "no size at all": ("%batch pool create p-none -o nope", "give --nodes N"),
    "unknown vm size": ("%batch pool create p-vm --nodes 1 --vm-size standard_nope -o nope", "vm_size"),
    "job without pool": ("%batch job create j-nopool -o nope", "--pool"),
    "missing job": ("%batch job show no-such-job -o nope", "no-such-job"),
    "unbalanced quote": ('%batch logs j "unclosed', "check the quotes"),
    "bad out name": ("%batch pools -o 1abc", "not a valid Python variable name"),
    "keyword out name": ("%batch pools -o class", "not a valid Python variable name"),
    "missing local file": ("%batch upload /no/such/path/anywhere magics-in -o nope", "/no/such/path"),
    "download of a missing job": ("%batch download no-such-job /tmp/never -o nope", "no-such-job"),
    "sweep on the line magic": ("%batch tasks magics-err --sweep x=1:3 -o nope", "use the cell magic"),
    "monitor of nothing": ("%batch monitor -o nope", "give a JOB, or --pool POOL"),
    "cell body on a line command": ("%%batch pools -o nope\nbody", "takes no cell body"),
    "empty template": ("%%batch tasks magics-err -o nope\n# only a comment\n", "cell body is empty"),
    "two command lines": ("%%batch tasks magics-err -o nope\necho a\necho b\n", "2 command lines"),
    "empty range": ("%%batch tasks magics-err --sweep x=5:1:1 -o nope\necho {x}", "empty range"),
    "not NAME=VALUES": ("%%batch tasks magics-err --sweep x -o nope\necho {x}", "is not NAME=VALUES"),
    "unknown template field": ("%%batch tasks magics-err --sweep x=1:2 -o nope\necho {y}", "y"),
    "zip of unequal lists": ("%%batch tasks magics-err --sweep x=1:3 y=a,b --zip -o nope\necho {x}{y}", "zip"),
    "invalid state": ("%batch tasks magics-err --state sleeping -o nope", "invalid choice"),
}


@pytest.fixture(scope="module")
def error_job(connected: Shell) -> str:
    pin_session(connected)  # module fixtures run before the per-test `shell` re-pins the session
    connected.ok(f"%batch job create magics-err --pool {POOL}")
    return "magics-err"


@pytest.mark.parametrize("source, expected", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_prints_one_line_and_stores_nothing(shell: Shell, error_job: str, source: str,
                                                      expected: str) -> None:
    shell.ns.pop("nope", None)
    run = shell.run(source)
    assert isinstance(run.error, UsageError), f"{source!r}: {run.error!r}"
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("UsageError: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert "nope" not in shell.ns


def test_failed_connect_keeps_the_current_session(shell: Shell, tmp_path, monkeypatch) -> None:
    from batchnb.core.current import get_current

    before = get_current()
    monkeypatch.setenv("BATCHNB_PROFILES_FILE", str(tmp_path / "profiles.toml"))
    run = shell.run("%batch connect --profile nowhere -o nope")
    assert isinstance(run.error, UsageError) and "nowhere" in str(run.error)
    assert get_current() is before and "nope" not in shell.ns


def test_errors_never_show_the_account_key(shell: Shell, local_service) -> None:
    run = shell.run("%batch job show no-such-job")
    assert local_service.account_key not in run.stderr + run.stdout


def test_task_template_reaches_batch_literally_with_no_shell(shell: Shell, tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("still here")
    shell.ok(f"%batch job create magics-inject --pool {POOL}")
    template = f"echo safe; rm -rf {victim} && touch $HOME/pwned `id` $(id) | cat"
    shell.ok(f"%%batch tasks magics-inject --wait --timeout 120 -o injected\n{template}\n")
    task_id = shell.ns["injected"].ids[0]
    assert shell.ns["injected"][0].command_line == template
    printed = shell.ok(f"%batch logs magics-inject {task_id}").stdout.strip()
    # echo got every word as an argument: ';', '&&', '$(...)', backticks and '|' did nothing.
    assert printed == f"safe; rm -rf {victim} && touch $HOME/pwned `id` $(id) | cat"
    assert (victim / "keep.txt").read_text() == "still here"


def test_line_arguments_are_not_expanded_by_ipython(shell: Shell) -> None:
    shell.ns["x"] = "EXPANDED"
    shell.ok(f"%batch job create magics-noexpand --pool {POOL}")
    shell.ok("%%batch tasks magics-noexpand --sweep n=1 --merge \"echo {x} $x\" --wait --timeout 120\n"
             "echo {n}\n")
    assert shell.ok("%batch logs magics-noexpand merge").stdout.strip() == "{x} $x"

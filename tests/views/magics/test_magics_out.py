"""README: "Every magic takes `-o/--out NAME` to put its result in your namespace, and `--help`"."""

from __future__ import annotations

import pytest

from batchnb.views.magics import _COMMANDS, _load_commands
from tests.views.magics.conftest import POOL, Shell
from tests.views.magics.test_magics_help import SUBCOMMANDS

pytestmark = pytest.mark.timeout(120)


def _registered() -> list[str]:
    _load_commands()
    return sorted(" ".join(words) for words in _COMMANDS)


def test_the_help_tests_cover_every_registered_subcommand() -> None:
    # A new subcommand is not covered by the parametrized tests below until it is listed there.
    assert sorted(SUBCOMMANDS) == _registered()


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_documents_and_accepts_out(ipython, name: str) -> None:
    run = Shell(ipython).run(f"%batch {name} --help")
    assert run.error is None, run.stderr
    assert "-o NAME, --out NAME" in run.stdout, run.stdout
    # The parser itself has it (help text and parser could disagree if one were hand-written).
    _load_commands()
    parser = _COMMANDS[tuple(name.split())].parser
    assert [a.dest for a in parser._actions if a.option_strings == ["-o", "--out"]] == ["out"]


def test_terminate_and_delete_bind_their_results(shell: Shell) -> None:
    shell.ok(f"%batch job create magics-out-job --pool {POOL}")
    run = shell.ok("%batch job terminate magics-out-job --wait --timeout 60 -o ended")
    assert "-> ended" in run.stdout
    assert shell.ns["ended"].id == "magics-out-job" and shell.ns["ended"].state == "completed"

    shell.ns["gone"] = "sentinel"
    shell.ok("%batch job delete magics-out-job --wait --timeout 60 -o gone")
    assert shell.ns["gone"] is None  # bound: a deleted job has no handle
    assert "magics-out-job" not in shell.ok("%batch jobs").result.index

    shell.ok("%batch pool create magics-out-pool --nodes 0")
    shell.ns["pool_gone"] = "sentinel"
    shell.ok("%batch pool delete magics-out-pool --wait --timeout 120 -o pool_gone")
    assert shell.ns["pool_gone"] is None
    assert "magics-out-pool" not in set(shell.ok("%batch pool list").result.index)

"""``%load_ext batchnb``, ``%batch?`` and ``%batch <cmd> --help``: help without a connection."""

from __future__ import annotations

import pytest

from tests.views.magics.conftest import Shell

pytestmark = pytest.mark.timeout(60)

SUBCOMMANDS = ["connect", "pool create", "pool list", "pool show", "pool resize", "pool delete", "pools",
               "job create", "job list", "job show", "job terminate", "job delete", "jobs", "tasks",
               "monitor", "logs", "retry", "upload", "download", "notebook", "cost"]


def test_load_ext_registers_batch_with_every_subcommand_in_its_help(ipython) -> None:
    magic = ipython.find_magic("batch")
    assert magic is not None
    assert ipython.find_cell_magic("batch") is not None
    doc = magic.__doc__ or ""  # what `%batch?` shows
    for name in SUBCOMMANDS:
        assert f"%batch {name} " in doc, name


def test_batch_alone_prints_the_overview(ipython) -> None:
    run = Shell(ipython).run("%batch")
    assert run.error is None
    assert "%batch pool create" in run.stdout and "%batch download" in run.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help_even_without_its_required_arguments(ipython, name: str) -> None:
    run = Shell(ipython).run(f"%batch {name} --help")
    assert run.error is None, run.stderr
    assert run.stdout.startswith(f"usage: %batch {name}")
    assert "-h, --help" in run.stdout

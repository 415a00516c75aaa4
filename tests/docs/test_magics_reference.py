"""The %batch reference page is generated from the magics' own argument definitions.

docs/_ext/batchnb_docs.py turns every subcommand's ``magic_arguments`` parser into a section, so
an option added to a magic shows up in the reference without being written twice; and the
docstring check that fails the docs build really fails on an undocumented public function.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext" / "batchnb_docs.py"


@pytest.fixture(scope="module")
def ext() -> ModuleType:
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location("batchnb_docs", EXT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["batchnb_docs"] = module
    spec.loader.exec_module(module)
    return module


def test_every_subcommand_and_option_has_an_entry(ext: ModuleType) -> None:
    text = "\n".join(ext.magics_rst())
    commands, cell_commands = ext._magic_commands()
    assert len(commands) >= 15
    for words, func in commands.items():
        name = " ".join(words)
        assert f".. _magic-{'-'.join(words)}:" in text
        assert f"%batch {name}" in text
        if words in cell_commands:
            assert f"%%batch {name}" in text
        for action in func.parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"{option}" in text, f"%batch {name} {option} is missing from the reference"


def test_help_text_is_escaped_for_rest(ext: ModuleType) -> None:
    # argparse help such as "AZURE_BATCH_*" must reach the page as text, not as reST markup.
    assert ext._rst_text("AZURE_BATCH_* or `pool list`") == "AZURE\\_BATCH\\_\\* or ``pool list``"


def _missing_sections(ext: ModuleType, func: object, caplog: pytest.LogCaptureFixture) -> list[str]:
    class App:
        pass

    lines = (func.__doc__ or "").splitlines()  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING):
        ext.check_docstring(App(), "function", "batchnb.sweep", func, None, lines)
    return [r.getMessage() for r in caplog.records]


def test_the_docstring_check_flags_missing_sections(ext: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    def undocumented(template: str, *, mode: str = "product") -> list[str]:
        """One line and nothing about the parameters or the result."""
        return []

    messages = _missing_sections(ext, undocumented, caplog)
    assert any("'Parameters'" in m for m in messages)
    assert any("'Returns'" in m for m in messages)


def test_the_docstring_check_accepts_the_public_api(ext: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    import batchnb

    assert _missing_sections(ext, batchnb.sweep, caplog) == []

"""The docs build's own checks (docs/_ext/batchnb_docs.py), which `.ci/docs` turns into errors.

- The %batch reference is generated from every subcommand's ``magic_arguments`` parser, so an
  option added to a magic shows up in the reference without being written twice.
- The docstring check really fails on a public function without Parameters/Returns sections.
- The secret scan really flags a page that shows the local service's key or a SAS signature.
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


def test_the_secret_scan_flags_a_key_in_a_page(ext: ModuleType, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "ok.html").write_text("<p>https://acct.blob/c?sv=1&amp;sig=***</p>")
    with caplog.at_level(logging.WARNING):
        ext.check_no_secrets(tmp_path, ["s3cr3t-key"])
    assert caplog.records == []
    (tmp_path / "leak.html").write_text("<p>key s3cr3t-key</p>")
    (tmp_path / "sas.ipynb").write_text('{"text": "https://acct.blob/c?sv=1&sig=abcDEF%2B"}')
    with caplog.at_level(logging.WARNING):
        ext.check_no_secrets(tmp_path, ["s3cr3t-key"])
    flagged = sorted(r.getMessage().split()[0] for r in caplog.records)
    assert flagged == ["leak.html", "sas.ipynb"]

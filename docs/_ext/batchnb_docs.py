"""Sphinx glue for the batchnb docs.

* ``.. batch-magics::`` writes the ``%batch`` reference from the magics' own ``magic_arguments``
  parsers (the same objects ``%batch <cmd> --help`` prints), so options are never written twice.
* Every public name of ``import batchnb`` and of ``batchnb.errors`` must have a reference entry,
  and every documented callable must say what it takes and gives back (numpydoc ``Parameters`` /
  ``Returns`` sections): a warning otherwise, which ``-W`` turns into a failed build.
* The example notebooks run at build time against a private local Batch service (its own state
  directory, stopped when the build ends), with plotly figures drawn by a plotly.js shipped in
  the site rather than fetched from a CDN; no page may show the service's keys or a SAS.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------- %batch


def _magic_commands() -> tuple[dict[tuple[str, ...], Any], set[tuple[str, ...]]]:
    from batchnb.views import magics

    magics._load_commands()
    return magics._COMMANDS, magics._CELL_COMMANDS


def _option_rows(parser: Any) -> list[tuple[str, str, str]]:
    """(option, default, description) per argument, help text expanded as argparse would."""
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if "--help" in action.option_strings:
            continue
        if action.option_strings:
            takes_value = action.nargs != 0
            metavar = action.metavar or action.dest.upper()
            name = ", ".join(f"{o} {metavar}" if takes_value else o for o in action.option_strings)
        else:
            name = action.metavar or action.dest
        text = formatter._expand_help(action) if action.help else ""
        if action.choices:
            text += f" (one of: {', '.join(map(str, action.choices))})"
        if action.required:
            text += " Required."
        if action.nargs in ("+", "*"):
            text += " Takes several values."
        default = action.default
        shown = "" if default in (None, False, [], ()) or action.nargs == 0 else f"``{default}``"
        rows.append((f"``{name}``", shown, _rst_text(text.strip()) or "-"))
    return rows


def _rst_text(text: str) -> str:
    """Plain text (argparse help, docstrings with `code`) as reST: `x` becomes a literal, markup escaped."""
    out = []
    for i, part in enumerate(text.split("`")):
        if i % 2:
            out.append(f"``{part}``")
        else:
            out.append("".join("\\" + c if c in "\\*_|" else c for c in part))
    return "".join(out)


def magics_rst() -> list[str]:
    commands, cell_commands = _magic_commands()
    lines: list[str] = []
    for words, func in commands.items():
        name = " ".join(words)
        title = f"%batch {name}" + (f" / %%batch {name}" if words in cell_commands else "")
        lines += [f".. _magic-{'-'.join(words)}:", "", title, "-" * len(title), ""]
        # magic_arguments replaces __doc__ with the whole help; the parser keeps the docstring.
        doc = inspect.cleandoc(func.parser.description or "")
        if not doc:
            logger.warning("%%batch %s has no docstring", name, type="batchnb", subtype="undocumented")
        lines += [*map(_rst_text, doc.splitlines()), ""]
        # argparse's own line breaks; magic_arguments swaps its "usage: " for reST's "::", which
        # leaves the continuation lines misaligned, so they are indented again under the options.
        first, *rest = func.parser.format_usage().removeprefix("::").strip().splitlines()
        indent = " " * (len("%" + func.parser.prog.lstrip("%")) + 1)
        lines += [".. code-block:: text", "", f"   {first}", *(f"   {indent}{r.strip()}" for r in rest), ""]
        rows = _option_rows(func.parser)
        if rows:
            lines += [".. list-table::", "   :header-rows: 1", "   :widths: 30 15 55", "",
                      "   * - argument", "     - default", "     - meaning"]
            for option, default, text in rows:
                lines += [f"   * - {option}", f"     - {default}", f"     - {text}"]
            lines.append("")
    return lines


class BatchMagicsDirective(SphinxDirective):
    """``.. batch-magics::``: one section per ``%batch`` subcommand."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(magics_rst(), source="batchnb.views.magics"), self.content_offset,
                                container, match_titles=True)
        return list(container.children)


# ----------------------------------------------------------------------------------- coverage


def public_names() -> list[str]:
    """Fully qualified names that must have a reference entry."""
    import batchnb
    from batchnb import errors

    names = [f"batchnb.{n}" for n in batchnb.__all__ if n not in ("errors", "__version__")]
    return names + [f"batchnb.errors.{n}" for n in errors.__all__]


def _has_section(lines: list[str], *titles: str) -> bool:
    for i, line in enumerate(lines[:-1]):
        if line.strip() in titles and set(lines[i + 1].strip()) == {"-"}:
            return True
    return False


def _own_parameters(obj: Any, what: str) -> list[str]:
    if what in ("class", "exception"):
        if "__init__" not in vars(obj):  # inherits the documented constructor of its base class
            return []
        obj = obj.__init__
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p for p in signature.parameters if p not in ("self", "cls")]


def _returns_something(obj: Any) -> bool:
    annotation = inspect.signature(obj).return_annotation
    return annotation not in (inspect.Signature.empty, None, "None")


def check_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Runs before napoleon (priority 400 < 500), so ``lines`` are the raw numpydoc sections."""
    if what not in ("function", "method", "class", "exception"):
        return
    checked = set(public_names())
    if name not in checked and name.rsplit(".", 1)[0] not in checked:
        return  # result types documented for reference only (their constructors are internal)
    if name.split(".")[-1].startswith("_"):
        return
    if not any(line.strip() for line in lines):
        logger.warning("%s has no docstring", name, type="batchnb", subtype="undocumented")
        return
    if _own_parameters(obj, what) and not _has_section(lines, "Parameters"):
        logger.warning("%s: the docstring has no 'Parameters' section (numpydoc style, see connect())", name,
                       type="batchnb", subtype="sections")
    if what in ("function", "method") and _returns_something(obj) and not _has_section(lines, "Returns", "Yields"):
        logger.warning("%s: the docstring has no 'Returns' section", name, type="batchnb", subtype="sections")


def check_coverage(app: Sphinx, env: Any) -> None:
    import batchnb

    documented = set(env.domaindata["py"]["objects"])
    for name in public_names():
        # batchnb.BatchnbError is batchnb.errors.BatchnbError: one entry, under its module.
        defined_in = getattr(getattr(batchnb, name.split(".", 1)[1], None), "__module__", "")
        if name not in documented and f"{defined_in}.{name.rsplit('.', 1)[1]}" not in documented:
            logger.warning("public name %s has no entry in the API reference: add '.. autoclass::' or "
                           "'.. autofunction::' for it to a page of docs/reference/", name,
                           type="batchnb", subtype="undocumented")
    commands, _ = _magic_commands()
    labels = {*env.domaindata["std"]["labels"], *env.domaindata["std"]["anonlabels"]}
    for words in commands:
        if f"magic-{'-'.join(words)}" not in labels:
            logger.warning("%%batch %s has no entry in the magics reference", " ".join(words), type="batchnb")


# ----------------------------------------------------------------------------------- notebooks


def _executing(app: Sphinx) -> bool:
    return app.config.nb_execution_mode != "off"


def start_notebook_service(app: Sphinx) -> None:
    """The notebooks' ``connect("local")`` reaches a service of this build only, never the user's."""
    os.environ["BATCHNB_PROFILES_FILE"] = os.devnull  # a developer's profile must not leak in
    os.environ.pop("BATCHNB_PROFILE", None)
    # Figures as HTML drawn by the plotly.js this site ships (the mimetype stays for Jupyter).
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype+sphinx_gallery"
    if _executing(app):
        state = Path(tempfile.mkdtemp(prefix="batchnb-docs-"))
        os.environ["BATCHNB_LOCAL_STATE_DIR"] = str(state)
        app._batchnb_state_dir = state  # type: ignore[attr-defined]
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    import plotly

    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", static / "plotly.min.js")


# A SAS signature that redaction did not mask ("sig=***" is what it leaves).
_UNMASKED_SIG = re.compile(r"(?i)\bsig(=|%3D)(?!\*\*\*)[^&\s'\"<]+")


def check_no_secrets(outdir: Path, secrets: list[str]) -> None:
    """The site shows notebook outputs: none may carry the service's keys or a SAS signature."""
    for path in sorted(outdir.rglob("*")):
        if path.suffix not in (".html", ".ipynb", ".txt") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(secret and secret in text for secret in secrets) or _UNMASKED_SIG.search(text):
            logger.warning("%s shows a key or a SAS signature of the local service", path.relative_to(outdir),
                           type="batchnb", subtype="secret")


def stop_notebook_service(app: Sphinx, exception: BaseException | None) -> None:
    state = getattr(app, "_batchnb_state_dir", None)
    if state is None:
        return
    from batchnb import local

    try:
        service = local.status(state_dir=state)
        if service is not None and exception is None:
            storage_key = re.search(r"AccountKey=([^;]+)", service.storage_connection_string)
            check_no_secrets(Path(app.outdir), [service.account_key, storage_key.group(1) if storage_key else ""])
    finally:
        local.stop(state_dir=state)
        shutil.rmtree(state, ignore_errors=True)


# [text](some.ipynb) in a notebook; JSON-escaped quotes end the match.
_NOTEBOOK_LINK = re.compile(r"\[([^\]\\]+)\]\((?!https?:)[^)\s\\]+\.ipynb\)")


def notebook_links(app: Sphinx, docname: str, source: list[str]) -> None:
    """An example notebook's link to a notebook that is not a page of the site becomes its text.

    docs/examples/ links to the files of notebooks/ (one copy of each), and links between them
    resolve outside the site; the notebooks beside them (inputs of a sweep) are not pages.
    """
    if docname.startswith("examples/"):
        source[0] = _NOTEBOOK_LINK.sub(r"\1", source[0])


def plotly_on_example_pages(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                            doctree: Any) -> None:
    if pagename.startswith("examples/"):
        app.add_js_file("plotly.min.js")


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("batch-magics", BatchMagicsDirective)
    app.connect("autodoc-process-docstring", check_docstring, priority=400)
    app.connect("env-check-consistency", check_coverage)
    app.connect("builder-inited", start_notebook_service)
    app.connect("build-finished", stop_notebook_service)
    app.connect("html-page-context", plotly_on_example_pages)
    app.connect("source-read", notebook_links)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

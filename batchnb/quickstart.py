"""Run ``notebooks/quickstart.ipynb`` end to end on the local Batch service, from a terminal.

    batchnb quickstart                # or: python -m batchnb.quickstart
    batchnb quickstart --out out/ --notebook notebooks/quickstart.ipynb

Prints what each step did (the cells' printed text and result tables), writes the executed
notebook and an HTML copy to ``--out``, and exits 1 with the failing cell's one-line error if a
cell fails. The kernel runs in ``--out`` so the files the notebook makes stay there.
Needs the ``notebook`` extra (nbclient, nbconvert, ipykernel).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["find_notebook", "main", "run_notebook"]

NOTEBOOK_NAME = "quickstart.ipynb"
KERNEL_NAME = "batchnb-quickstart"
DEFAULT_CELL_TIMEOUT = 600


def find_notebook(explicit: str | None = None) -> Path:
    """``explicit``, else ``notebooks/quickstart.ipynb`` of this checkout, else of the current folder."""
    from batchnb.errors import ValidationError

    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ValidationError("--notebook", f"{explicit} does not exist", fix="give the path of a .ipynb file")
        return path
    candidates = [Path(__file__).resolve().parents[1] / "notebooks" / NOTEBOOK_NAME,
                  Path.cwd() / "notebooks" / NOTEBOOK_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise ValidationError("--notebook", f"{NOTEBOOK_NAME} was not found in {candidates[0].parent} or "
                          f"{candidates[1].parent}", fix="run from the repository root, or pass --notebook PATH")


def _kernel_manager(spec_root: Path) -> Any:
    """A kernel running THIS interpreter: a user-wide 'python3' kernelspec might point elsewhere."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec_dir = spec_root / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "batchnb quickstart", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_root)])
    # IPC sockets in the temp dir: local-only, and no "running over TCP without encryption" warning.
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc",
                              ip=str(spec_root / "kernel-ipc"))


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def cell_report(cell: Any) -> list[str]:
    """The text a reader needs from one executed cell: printed lines and result tables.

    Widgets (the live monitor) and progress bars on stderr are left out: a terminal cannot show them.
    """
    lines: list[str] = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            lines.extend(_text(output.get("text", "")).rstrip("\n").splitlines())
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                continue
            if "<table" in _text(data.get("text/html", "")) and "text/plain" in data:
                lines.extend("    " + ln for ln in _text(data["text/plain"]).splitlines())
    return lines


def run_notebook(notebook: Path, out_dir: Path, *, timeout: int = DEFAULT_CELL_TIMEOUT,
                 echo: Any = print) -> tuple[Any, str | None]:
    """Execute ``notebook`` with ``out_dir`` as its working folder; write the .ipynb and .html.

    Returns (executed notebook, None) or (partly executed notebook, one-line error).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    out_dir.mkdir(parents=True, exist_ok=True)
    error: str | None = None
    with tempfile.TemporaryDirectory(prefix="batchnb-kernelspec-") as spec_root:
        km = _kernel_manager(Path(spec_root))
        client = NotebookClient(nb, timeout=timeout, km=km,
                                # A stored FigureWidget state embeds all of plotly.js (~5 MB per figure).
                                store_widget_state=False,
                                resources={"metadata": {"path": str(out_dir)}})

        def executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
            for line in cell_report(cell):
                echo(line)

        client.on_cell_executed = executed
        try:
            client.execute()
        except CellExecutionError as exc:
            error = _failing_cell_error(nb, exc)
        except (CellTimeoutError, DeadKernelError) as exc:
            error = " ".join(str(exc).split())[:300]
        finally:
            # nbclient leaves a kernel manager it was given running: stop the kernel ourselves.
            from jupyter_core.utils import run_sync

            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=False)
    written = out_dir / notebook.name
    nbformat.write(nb, written)
    _write_html(nb, written.with_suffix(".html"))
    return nb, error


def _failing_cell_error(nb: Any, exc: Exception) -> str:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index} failed: {output.get('ename')}: {' '.join(str(output.get('evalue')).split())}"
    # UsageError-style failures print one line to stderr instead of an error output.
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr" and \
                    "Error" in _text(output.get("text", "")):
                return f"cell {index} failed: {' '.join(_text(output['text']).split())[:300]}"
    return " ".join(str(exc).split())[-300:]


def _write_html(nb: Any, path: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchnb quickstart", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebook", default=None, help="the notebook to run (default: notebooks/quickstart.ipynb)")
    parser.add_argument("--out", default="out", help="folder for the executed notebook and its HTML (default: out)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell (default: 600)")
    parser.add_argument("--state-dir", default=None,
                        help="local service state directory (default: $BATCHNB_LOCAL_STATE_DIR or per-user dir)")


def run(args: argparse.Namespace) -> int:
    from batchnb.errors import BatchnbError

    try:
        notebook = find_notebook(args.notebook)
    except BatchnbError as exc:
        print(f"batchnb quickstart: {exc}", file=sys.stderr)
        return 2
    if args.state_dir:
        # The kernel inherits this, so the notebook's connect("local") uses this service.
        os.environ["BATCHNB_LOCAL_STATE_DIR"] = str(Path(args.state_dir).resolve())
    out_dir = Path(args.out).resolve()
    started = time.monotonic()
    print(f"Running {notebook} on the local Batch service (kernel working folder: {out_dir})")
    nb, error = run_notebook(notebook, out_dir, timeout=args.timeout, echo=lambda line: print(line, flush=True))
    seconds = time.monotonic() - started
    html = out_dir / notebook.with_suffix(".html").name
    print(f"Wrote {out_dir / notebook.name} and {html}")
    if error:
        print(f"batchnb quickstart: FAILED after {seconds:.0f} s: {error}", file=sys.stderr)
        return 1
    print(f"Quickstart finished in {seconds:.0f} s: {len(nb.cells)} cells, no errors.")
    print("The local Batch service keeps running for your own notebooks: `batchnb local status` shows it, "
          "`batchnb local down` stops it.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

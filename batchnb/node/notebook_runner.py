"""Runs one parameter set of ``session.run_notebook`` on a compute node.

    python3 notebook_runner.py NOTEBOOK PARAMS_JSON OUTPUT_NOTEBOOK RESULT_JSON

Executes NOTEBOOK with papermill (parameters injected after the cell tagged ``parameters``),
writes the executed notebook and a small JSON result: the parameters, every ``batchnb.record``
value, the status, the duration and, on failure, the failing cell's error. Standard library
only, plus papermill and a Python kernel from the node's environment. Exit code 0 when the
notebook ran clean, 1 when a cell failed, 2 when the node cannot run notebooks at all.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

RECORD_MIMETYPE = "application/vnd.batchnb.record+json"
TRACEBACK_TAIL_LINES = 12


def _ansi_free(text: str) -> str:
    out, skip = [], False
    for ch in text:
        if ch == "\x1b":
            skip = True
        elif skip and ch.isalpha():
            skip = False
        elif not skip:
            out.append(ch)
    return "".join(out)


def scrape(notebook: dict) -> tuple[dict, dict | None]:
    """(records by name, the first error output) from an executed notebook's JSON.

    The error's ``cell`` counts cells of the notebook as written (0 = its first cell), skipping the
    cells papermill inserted (the injected parameters, the error banners)."""
    records: dict = {}
    error = None
    index = -1  # the cell's position in the user's notebook: papermill's own cells do not count
    for cell in notebook.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        index += 1
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if RECORD_MIMETYPE in data:
                rec = data[RECORD_MIMETYPE]
                records[rec["name"]] = {"kind": rec.get("kind", "json"), "value": rec.get("value")}
            if output.get("output_type") == "error" and error is None:
                tb = [_ansi_free(line) for line in output.get("traceback") or []]
                tail = "\n".join("\n".join(tb).splitlines()[-TRACEBACK_TAIL_LINES:])
                error = {"type": output.get("ename", ""), "message": output.get("evalue", ""),
                         "traceback": tail, "cell": index}
    return records, error


def _shim_path(work: Path) -> str | None:
    """Where ``import batchnb`` finds ``record`` when the real batchnb is not on the node."""
    try:
        import importlib.util

        if importlib.util.find_spec("batchnb") is not None:
            return None
    except (ImportError, ValueError):
        pass
    here = Path(__file__).resolve().parent
    source = here / "record.py"
    if not source.exists():
        return None
    package = work / "batchnb_shim" / "batchnb"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, package / "__init__.py")
    return str(package.parent)


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    notebook_in, params_path, notebook_out, result_path = argv[1:]
    parameters = json.loads(Path(params_path).read_text())
    result: dict = {"parameters": parameters, "records": {}, "status": "failed", "error": None,
                    "python": "%d.%d.%d" % sys.version_info[:3]}
    started = time.time()
    try:
        import papermill
    except ImportError:
        result["error"] = {"type": "ModuleNotFoundError", "cell": None, "traceback": "",
                           "message": "papermill is not installed on the node; give the pool an environment "
                                      "with papermill and ipykernel (batchnb.Environment)"}
        Path(result_path).write_text(json.dumps(result))
        print(result["error"]["message"], file=sys.stderr)
        return 2
    shim = _shim_path(Path(tempfile.mkdtemp(prefix="batchnb-nb-", dir=os.getcwd())))
    if shim:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (shim, os.environ.get("PYTHONPATH")) if p)
    failed = False
    try:
        papermill.execute_notebook(notebook_in, notebook_out, parameters=parameters, kernel_name="python3",
                                   progress_bar=False, log_output=False, cwd=os.getcwd(),
                                   start_timeout=300)  # a kernel starts slowly on a busy node
    except Exception as exc:  # noqa: BLE001 - papermill raises its own error type for a failing cell
        failed = True
        if not Path(notebook_out).exists():
            result["error"] = {"type": type(exc).__name__, "message": str(exc)[:2000], "cell": None,
                               "traceback": ""}
    result["duration"] = round(time.time() - started, 3)
    if Path(notebook_out).exists():
        executed = json.loads(Path(notebook_out).read_text())
        records, error = scrape(executed)
        result["records"] = records
        if error is not None:
            result["error"] = error
            failed = True
    result["status"] = "failed" if failed else "succeeded"
    Path(result_path).write_text(json.dumps(result, default=str))
    if failed and result["error"]:
        print(f"{result['error']['type']}: {result['error']['message']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

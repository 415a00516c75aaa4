"""Runs one map() chunk on a compute node: ``python3 runner.py FN_PICKLE ITEMS_PICKLE RESULT_PICKLE``.

This file is uploaded as a resource file and run by the node's own Python, which may not have
batchnb installed: it must need nothing but the standard library and cloudpickle.

Input  ITEMS_PICKLE: {"start": first item index, "items": [...], "python": "3.11"}
Output RESULT_PICKLE: {"start", "python", "host", "results": [entry per item]}, where an entry is
    ("ok", <cloudpickle bytes of the value>) or
    ("error", exception type name, message, formatted traceback, <pickled exception or None>)

Exit codes: 0 every item succeeded; 3 some items raised (their errors are in the result file);
2 the function could not be loaded (every item carries that error); 4 cloudpickle is missing
(no result file; the reason is on stderr).
"""

import os
import pickle
import socket
import sys
import traceback

EXIT_OK = 0
EXIT_LOAD_FAILED = 2
EXIT_ITEMS_FAILED = 3
EXIT_NO_CLOUDPICKLE = 4


def _error_entry(exc):
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        exc_bytes = cloudpickle.dumps(exc)
        pickle.loads(exc_bytes)  # an exception that pickles but cannot be rebuilt is no use
    except Exception:
        exc_bytes = None
    return ("error", type(exc).__qualname__, str(exc)[:10000], tb[-50000:], exc_bytes)


def _write(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def main(argv):
    fn_path, items_path, result_path = argv[1:4]
    with open(items_path, "rb") as fh:
        payload = pickle.load(fh)
    items = payload["items"]
    here = "%d.%d" % sys.version_info[:2]
    if payload.get("python") and payload["python"] != here:
        sys.stderr.write("batchnb runner: the client pickled with Python %s, this node runs Python %s; "
                         "functions may fail to load (see batchnb.Environment)\n" % (payload["python"], here))
    out = {"start": payload["start"], "python": here, "host": socket.gethostname(), "results": []}
    try:
        with open(fn_path, "rb") as fh:
            fn = pickle.load(fh)
    except Exception as exc:  # e.g. ModuleNotFoundError: the node lacks a module the function uses
        entry = _error_entry(exc)
        out["results"] = [entry] * len(items)
        _write(result_path, out)
        sys.stderr.write(entry[3])
        return EXIT_LOAD_FAILED
    failed = 0
    for item in items:
        try:
            value = fn(item)
            entry = ("ok", cloudpickle.dumps(value))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: every item's failure is data
            failed += 1
            entry = _error_entry(exc)
            sys.stderr.write("item %d failed:\n%s" % (payload["start"] + len(out["results"]), entry[3]))
        out["results"].append(entry)
    _write(result_path, out)
    return EXIT_ITEMS_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    try:
        import cloudpickle
    except ImportError:
        sys.stderr.write("batchnb runner: cloudpickle is not installed on this node (%s). Map with "
                         "environment='auto' (the default) or a batchnb.Environment.\n" % sys.executable)
        sys.exit(EXIT_NO_CLOUDPICKLE)
    sys.exit(main(sys.argv))

"""Runs one map() chunk on a compute node.

The task's command line (written by the notebook, and immutable once the task exists) checks this
file's SHA-256 before running it, then calls it as::

    runner.py FN_PICKLE FN_SHA256 ITEMS_PICKLE ITEMS_SHA256 RESULT_FILE ITEM_RETRIES

Both pickles are checked against their SHA-256 before anything is unpickled, so a blob replaced in
storage is refused on the node (exit 5, no result file) instead of running someone else's code.

This file is uploaded as a resource file and run by the node's own Python, which may not have
batchnb installed: it must need nothing but the standard library and cloudpickle.

Input  ITEMS_PICKLE: {"start": first item index, "items": [...], "python": "3.11"}
Output RESULT_FILE (not a pickle, so that the notebook can check it before unpickling anything):
    MAGIC, one JSON header line, then the entries' bytes back to back. The header holds
    job, task, start, python, host, fn_sha256, items_sha256 and "entries": per item
    {"ok": true, "size": n} (n bytes of cloudpickle of the value) or
    {"ok": false, "type", "message", "traceback", "size": n or -1} (the pickled exception, if any).

Exit codes: 0 every item succeeded (or ITEM_RETRIES > 0: see below); 3 some items raised (their
errors are in the result file); 2 the function could not be loaded (every item carries that
error); 4 cloudpickle is missing; 5 an input does not match its digest (no result file for 4, 5).
With ITEM_RETRIES > 0 a failing item is retried in this process and the task exits 0 once the
result file is written: a Batch retry of a task that already uploaded its result could not
upload again (results are create-only), so only crashes are left to Batch's retries.
"""

import hashlib
import json
import os
import pickle
import socket
import sys
import traceback

EXIT_OK = 0
EXIT_LOAD_FAILED = 2
EXIT_ITEMS_FAILED = 3
EXIT_NO_CLOUDPICKLE = 4
EXIT_INPUT_TAMPERED = 5
RESULT_MAGIC = b"BATCHNB-MAP-RESULT 2\n"


def _error_entry(exc):
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        exc_bytes = cloudpickle.dumps(exc)
        pickle.loads(exc_bytes)  # an exception that pickles but cannot be rebuilt is no use
    except Exception:
        exc_bytes = None
    meta = {"ok": False, "type": type(exc).__qualname__, "message": str(exc)[:10000], "traceback": tb[-50000:]}
    return meta, exc_bytes


def _read_checked(path, expected):
    with open(path, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != expected:
        sys.stderr.write("batchnb runner: %s does not match the digest the notebook staged; it was "
                         "replaced in storage and is not loaded\n" % path)
        sys.exit(EXIT_INPUT_TAMPERED)
    return data


def _write(path, header, entries):
    metas = []
    for meta, data in entries:
        meta = dict(meta)
        meta["size"] = -1 if data is None else len(data)
        metas.append(meta)
    header = dict(header, entries=metas)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(RESULT_MAGIC)
        fh.write(json.dumps(header).encode("utf-8") + b"\n")
        for _, data in entries:
            if data is not None:
                fh.write(data)
    os.replace(tmp, path)


def _call(fn, item, retries):
    for attempt in range(retries + 1):
        try:
            return {"ok": True}, cloudpickle.dumps(fn(item))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: every item's failure is data
            if attempt == retries:
                return _error_entry(exc)
    raise AssertionError("unreachable")


def main(argv):
    fn_path, fn_sha, items_path, items_sha, result_path = argv[1:6]
    retries = int(argv[6]) if len(argv) > 6 else 0
    fn_bytes = _read_checked(fn_path, fn_sha)
    payload = pickle.loads(_read_checked(items_path, items_sha))
    items = payload["items"]
    here = "%d.%d" % sys.version_info[:2]
    if payload.get("python") and payload["python"] != here:
        sys.stderr.write("batchnb runner: the client pickled with Python %s, this node runs Python %s; "
                         "functions may fail to load (see batchnb.Environment)\n" % (payload["python"], here))
    header = {"job": os.environ.get("AZ_BATCH_JOB_ID", ""), "task": os.environ.get("AZ_BATCH_TASK_ID", ""),
              "start": payload["start"], "python": here, "host": socket.gethostname(),
              "fn_sha256": fn_sha, "items_sha256": items_sha}
    try:
        fn = pickle.loads(fn_bytes)
    except Exception as exc:  # e.g. ModuleNotFoundError: the node lacks a module the function uses
        entry = _error_entry(exc)
        _write(result_path, header, [entry] * len(items))
        sys.stderr.write(entry[0]["traceback"])
        return EXIT_LOAD_FAILED
    failed = 0
    entries = []
    for item in items:
        entry = _call(fn, item, retries)
        if not entry[0]["ok"]:
            failed += 1
            sys.stderr.write("item %d failed:\n%s" % (payload["start"] + len(entries), entry[0]["traceback"]))
        entries.append(entry)
    _write(result_path, header, entries)
    return EXIT_ITEMS_FAILED if failed and not retries else EXIT_OK


if __name__ == "__main__":
    try:
        import cloudpickle
    except ImportError:
        sys.stderr.write("batchnb runner: cloudpickle is not installed on this node (%s). Map with "
                         "environment='auto' (the default) or a batchnb.Environment.\n" % sys.executable)
        sys.exit(EXIT_NO_CLOUDPICKLE)
    sys.exit(main(sys.argv))

"""Why a ``map()`` result may be unpickled in the notebook, checked before a single byte is unpickled.

Who we defend against: anyone who can read the map's tasks (on Azure, any principal with read
access to the Batch account) and so holds every SAS in them, and, as far as can be detected,
someone who holds the storage account key.

A node cannot be given a secret such a reader lacks: everything a task receives is in its
definition. So a result is not authenticated by a key on the node but by evidence that reader
cannot forge, all of it written by the notebook or by the Batch service:

* Each task may only *create* its own result blob (a blob-scoped SAS with the ``c`` permission:
  no overwrite, no other name). Someone who creates it first makes the task's own upload fail,
  and Batch records that failure (``FileUpload*``) on the task.
* The task's command line, immutable once the task exists, pins the SHA-256 of the runner, the
  function and the items; the runner refuses inputs that do not match, and its result names the
  digests it consumed.
* A result counts only if Batch says its task completed with an exit code after which the runner
  has written one (0, 2 or 3) and no upload failure, and the blob was last written while the task
  ran (between its start and end times, within ``CLOCK_SKEW``); the blob is then read by its ETag.

Anything else raises :class:`batchnb.errors.MapResultTamperedError` and nothing is unpickled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

__all__ = ["CLOCK_SKEW", "ChunkEvidence", "ParsedResult", "check_chunk", "command_digests", "parse_result",
           "runner_command", "sha256_hex"]

RESULT_MAGIC = b"BATCHNB-MAP-RESULT 2\n"
# Exit codes of the runner after which it has written a result file (see node/map_runner.py).
WROTE_RESULT = frozenset({0, 2, 3})
# Storage and Batch clocks differ a little; a blob written later than this after its task ended
# was not written by the task's own upload.
CLOCK_SKEW = dt.timedelta(minutes=2)
_MAX_HEADER = 64 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")

# Run by the node's python3 before runner.py: checks the runner's digest, then runs it. Batch runs
# command lines without a shell, so this must hold neither double quotes nor '$'.
_BOOT = ("import hashlib,sys;s=open('runner.py','rb').read();"
         "hashlib.sha256(s).hexdigest()=='{sha}' or (sys.stderr.write('batchnb runner: runner.py is not "
         "the file the notebook staged; it was replaced in storage and is not run\\n'),sys.exit(5));"
         "sys.argv[0]='runner.py';exec(compile(s,'runner.py','exec'))")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def runner_command(*, runner_sha: str, fn_sha: str, items_sha: str, item_retries: int) -> str:
    boot = _BOOT.format(sha=runner_sha)
    return f'python3 -c "{boot}" fn.pkl {fn_sha} items.pkl {items_sha} result.pkl {item_retries}'


def command_digests(command_line: str) -> tuple[str, str] | None:
    """(fn digest, items digest) pinned by a task's command line, None if it is not a map task's."""
    try:
        argv = shlex.split(command_line)
        if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3 and "\nPATH=" in argv[2]:
            # A map() with an environment (Environment.command): the runner's command follows `exec`.
            argv = shlex.split(argv[2].rsplit("; exec ", 1)[-1])
    except ValueError:
        return None
    if len(argv) < 8 or argv[:2] != ["python3", "-c"] or argv[3] != "fn.pkl" or argv[5] != "items.pkl":
        return None
    fn_sha, items_sha = argv[4], argv[6]
    if not (_HEX64.fullmatch(fn_sha) and _HEX64.fullmatch(items_sha)):
        return None
    return fn_sha, items_sha


@dataclass(frozen=True)
class ChunkEvidence:
    """What Batch and storage say about one chunk, gathered without reading the result."""

    task_id: str
    state: str | None
    exit_code: int | None
    failure_code: str | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    command_line: str
    blob_modified: dt.datetime | None  # None: there is no result blob


def check_chunk(ev: ChunkEvidence, *, skew: dt.timedelta = CLOCK_SKEW) -> str | None:
    """Why the chunk's result blob cannot have come from its own task (None: it can be read)."""
    if ev.blob_modified is None:
        return None
    if ev.state != "completed":
        return f"a result exists but the task is {ev.state or 'unknown'}; a task uploads only when it ends"
    if ev.failure_code and ev.failure_code.lower().startswith("fileupload"):
        return (f"the task's own upload of its result failed ({ev.failure_code}): the blob there was written "
                "by someone else first")
    if ev.exit_code not in WROTE_RESULT:
        return f"the task exited {ev.exit_code}, after which the runner writes no result, yet there is one"
    if command_digests(ev.command_line) is None:
        return "the task's command line is not the one map() writes"
    if ev.end_time and ev.blob_modified > ev.end_time + skew:
        return (f"the blob was written at {ev.blob_modified:%Y-%m-%d %H:%M:%S} UTC, after the task ended "
                f"({ev.end_time:%H:%M:%S} UTC)")
    if ev.start_time and ev.blob_modified < ev.start_time - skew:
        return "the blob was written before the task started"
    return None


@dataclass(frozen=True)
class ParsedResult:
    header: dict[str, Any]
    entries: list[tuple[dict[str, Any], bytes | None]]


def parse_result(data: bytes, *, job_id: str, task_id: str, digests: tuple[str, str], count: int) -> ParsedResult:
    """Split a result file without unpickling; ValueError says why it is not the expected result."""
    if not data.startswith(RESULT_MAGIC):
        raise ValueError("it is not a batchnb map result (wrong format)")
    end = data.find(b"\n", len(RESULT_MAGIC), len(RESULT_MAGIC) + _MAX_HEADER)
    if end < 0:
        raise ValueError("its header is missing or too large")
    try:
        header = json.loads(data[len(RESULT_MAGIC):end])
    except ValueError:
        raise ValueError("its header is not valid JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("entries"), list):
        raise ValueError("its header has no entries")
    if header.get("job") != job_id or header.get("task") != task_id:
        raise ValueError(f"it names job {header.get('job')!r}, task {header.get('task')!r}")
    if (header.get("fn_sha256"), header.get("items_sha256")) != digests:
        raise ValueError("it was computed from other inputs than the ones this task pins")
    metas = header["entries"]
    if len(metas) < count:
        raise ValueError(f"it holds {len(metas)} results for {count} items")
    entries: list[tuple[dict[str, Any], bytes | None]] = []
    offset = end + 1
    for meta in metas:
        size = meta.get("size") if isinstance(meta, dict) else None
        if not isinstance(size, int) or size < -1 or offset + max(size, 0) > len(data):
            raise ValueError("its entries do not match its length")
        if size < 0:
            entries.append((meta, None))
        else:
            entries.append((meta, data[offset:offset + size]))
            offset += size
    if offset != len(data):
        raise ValueError("it has bytes beyond its entries")
    return ParsedResult(header, entries)

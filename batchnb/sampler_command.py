"""Getting the utilization sampler onto compute nodes, and reading what it writes.

The sampler source travels inside the start task's command line (zlib + base64, a few KB), so a
pool needs no resource file, storage container or SAS for it: the same command works on Azure
and on the local service.
"""

from __future__ import annotations

import base64
import json
import shlex
import zlib
from functools import cache
from importlib import resources

from ._constants import METRICS_FILE_NAME

SAMPLER_FILE_NAME = "batchnb_sampler.py"
SAMPLER_LOG_NAME = "batchnb-sampler.log"
# A line this long without a newline is not a sample: drop it instead of buffering forever.
MAX_CARRY_BYTES = 1 << 20

__all__ = ["METRICS_FILE_NAME", "parse_metrics_lines", "sampler_shell_script", "sampler_source", "start_task_command"]


@cache
def sampler_source() -> bytes:
    return resources.files("batchnb").joinpath("sampler.py").read_bytes()


def _payload() -> str:
    return base64.b64encode(zlib.compress(sampler_source(), 9)).decode("ascii")


def sampler_shell_script(interval: float = 5) -> str:
    """POSIX sh script that writes the sampler into the node's shared directory and starts it detached.

    Usable on its own or joined with ``;`` to a user's own start-task script. It never fails the
    start task: metrics are an extra, and a node that cannot run them (no python3) must still
    take tasks; the reason goes to ``$AZ_BATCH_NODE_SHARED_DIR/batchnb-sampler.log``.
    """
    # The python -c program needs no quotes at all (mode and path come in argv), so it nests
    # safely inside the single-quoted sh -c argument; base64 has no shell metacharacters.
    writer = (
        "import sys,zlib,base64;"
        "open(sys.argv[1],sys.argv[2]).write(zlib.decompress(base64.b64decode(sys.argv[3])))"
    )
    interval_arg = shlex.quote(f"{float(interval):g}")
    return (
        'D="${AZ_BATCH_NODE_SHARED_DIR:-$PWD}"; '
        f'{{ python3 -c "{writer}" "$D/{SAMPLER_FILE_NAME}" wb {_payload()} && '
        f'python3 "$D/{SAMPLER_FILE_NAME}" --daemon --interval {interval_arg}; }} '
        f'>>"$D/{SAMPLER_LOG_NAME}" 2>&1 || true'
    )


def start_task_command(interval: float = 5) -> str:
    """Start-task command line that installs and starts the sampler on each node.

    Batch runs command lines without a shell, hence ``/bin/sh -c '...'``. The sampler detaches,
    so the start task finishes in well under a second, and a second run (node reboot) leaves the
    running sampler alone.
    """
    return "/bin/sh -c " + shlex.quote(sampler_shell_script(interval))


def parse_metrics_lines(data: bytes, *, carry: bytes = b"") -> tuple[list[dict], bytes]:
    """Parse sampler JSON lines read through a byte range.

    ``carry`` is the unfinished last line of the previous read; the new one is returned alongside
    the parsed samples. The sampler rotates its file at a size cap: when the file is shorter than
    the reader's offset, read again from 0 with an empty carry. Lines that are not JSON objects
    (e.g. a fragment from a read that straddled a rotation) are skipped rather than failing the
    refresh.
    """
    buf = carry + data
    cut = buf.rfind(b"\n")
    if cut < 0:
        return [], (buf if len(buf) <= MAX_CARRY_BYTES else b"")
    complete, rest = buf[:cut], buf[cut + 1 :]
    samples: list[dict] = []
    for line in complete.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            samples.append(value)
    return samples, (rest if len(rest) <= MAX_CARRY_BYTES else b"")

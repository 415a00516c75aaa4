"""Getting the utilization sampler (``batchnb.node.sampler``) onto compute nodes through a start task.

The sampler source travels inside the start task's command line (zlib + base64, a few KB), so a
pool needs no resource file, storage container or SAS for it: the same command works on Azure
and on the local service.
"""

from __future__ import annotations

import base64
import shlex
import zlib
from functools import cache
from importlib import resources

from batchnb._constants import METRICS_FILE_NAME

SAMPLER_FILE_NAME = "batchnb_sampler.py"
SAMPLER_LOG_NAME = "batchnb-sampler.log"

__all__ = ["METRICS_FILE_NAME", "sampler_shell_script", "sampler_source", "start_task_command"]


@cache
def sampler_source() -> bytes:
    return resources.files("batchnb.node").joinpath("sampler.py").read_bytes()


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

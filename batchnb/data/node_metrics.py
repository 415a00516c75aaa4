"""Reading what the node utilization sampler writes (JSON lines in the node's shared directory)."""

from __future__ import annotations

import json

# A line this long without a newline is not a sample: drop it instead of buffering forever.
MAX_CARRY_BYTES = 1 << 20

__all__ = ["parse_metrics_lines"]


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

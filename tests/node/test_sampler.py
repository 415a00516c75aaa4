"""The node sampler as it really runs: a stdlib script started by a start task through /bin/sh."""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchnb import _constants
from batchnb.core.specs.sampler_start_task import sampler_source, start_task_command
from batchnb.data.node_metrics import parse_metrics_lines
from batchnb.node import sampler

pytestmark = pytest.mark.timeout(60)
SAMPLER = Path(sampler.__file__)
PYTHON3 = shutil.which("python3")
needs_python3 = pytest.mark.skipif(PYTHON3 is None, reason="nodes run the sampler with python3 from PATH")


def node_env(shared: Path, node_id: str = "tvm-test") -> dict[str, str]:
    return {**os.environ, "AZ_BATCH_NODE_SHARED_DIR": str(shared), "AZ_BATCH_NODE_ID": node_id}


def read_samples(shared: Path) -> list[dict]:
    path = shared / _constants.METRICS_FILE_NAME
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sampler_is_standalone_stdlib_python38():
    source = sampler_source().decode()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert sampler.METRICS_FILE_NAME == _constants.METRICS_FILE_NAME


@needs_python3
def test_once_writes_one_valid_sample(tmp_path):
    proc = subprocess.run([PYTHON3, str(SAMPLER), "--once", "--interval", "0.3"], env=node_env(tmp_path),
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [sample] = read_samples(tmp_path)
    assert set(sample) == {"t", "node", "cpu", "mem", "disk", "rx", "tx", "gpu", "gpu_mem"}
    assert sample["node"] == "tvm-test" and sample["t"].endswith("Z")
    for key in ("cpu", "mem", "disk"):
        assert 0.0 <= sample[key] <= 100.0, (key, sample)
    assert sample["rx"] >= 0 and sample["tx"] >= 0
    if shutil.which("nvidia-smi") is None:
        assert sample["gpu"] is None and sample["gpu_mem"] is None


@needs_python3
def test_file_is_rotated_past_the_size_cap(tmp_path):
    for _ in range(2):
        subprocess.run([PYTHON3, str(SAMPLER), "--once", "--interval", "0", "--max-bytes", "10"],
                       env=node_env(tmp_path), check=True, timeout=30)  # fmt: skip
    assert len(read_samples(tmp_path)) == 1
    assert (tmp_path / (_constants.METRICS_FILE_NAME + ".1")).exists()


def sampler_pids(shared: Path) -> list[int]:
    """Processes running the sampler copy installed in ``shared`` (found by their own command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(shared).encode() in cmdline and b"--daemon" in cmdline:
                pids.append(int(entry.name))
    return pids


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@needs_python3
def test_start_task_command_starts_one_detached_sampler(tmp_path):
    shared, wd = tmp_path / "shared", tmp_path / "startup" / "wd"
    shared.mkdir()
    wd.mkdir(parents=True)
    command = start_task_command(interval=0.3)
    # As Batch runs a start task: split POSIX-style and exec without a shell.
    argv = shlex.split(command)
    assert argv[:2] == ["/bin/sh", "-c"]
    pid = None
    try:
        t0 = time.monotonic()
        first = subprocess.run(argv, cwd=wd, env=node_env(shared), capture_output=True, timeout=30)
        assert first.returncode == 0
        assert time.monotonic() - t0 < 10  # returned at once: the sampler detached
        assert wait_for(lambda: len(read_samples(shared)) >= 2), (shared / "batchnb-sampler.log").read_text()
        pid = int((shared / sampler.PID_FILE_NAME).read_text())
        assert sampler_pids(shared) == [pid]
        assert read_samples(shared)[-1]["cpu"] is not None  # later samples are rates over an interval

        # A node reboot re-runs the start task: the running sampler stays the only one.
        again = subprocess.run(argv, cwd=wd, env=node_env(shared), capture_output=True, timeout=30)
        assert again.returncode == 0
        time.sleep(1.0)
        assert sampler_pids(shared) == [pid]
    finally:
        for p in sampler_pids(shared):
            os.kill(p, signal.SIGTERM)
    assert wait_for(lambda: not sampler_pids(shared), timeout=10)


def test_parse_metrics_lines_carries_partial_lines():
    lines = [json.dumps({"t": f"2024-05-01T08:00:0{i}Z", "node": "n", "cpu": i}).encode() + b"\n" for i in range(5)]
    data = b"".join(lines)
    for cut_points in ([7], [len(lines[0])], [3, 40, 41, 90], list(range(1, len(data), 13))):
        samples, carry = [], b""
        bounds = [0, *cut_points, len(data)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            got, carry = parse_metrics_lines(data[a:b], carry=carry)
            samples += got
        assert [s["cpu"] for s in samples] == [0, 1, 2, 3, 4] and carry == b""

    got, carry = parse_metrics_lines(b'{"cpu": 1}\n{"cpu"')
    assert got == [{"cpu": 1}] and carry == b'{"cpu"'
    # After rotation a read may start mid-line: the fragment is skipped, not fatal.
    got, carry = parse_metrics_lines(b'u": 3}\nnot json\n[1]\n{"cpu": 4}\n')
    assert got == [{"cpu": 4}] and carry == b""
    assert parse_metrics_lines(b"") == ([], b"")


def test_parse_metrics_lines_drops_a_runaway_line():
    got, carry = parse_metrics_lines(b"x" * (2 << 20))
    assert got == [] and carry == b""

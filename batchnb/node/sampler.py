"""Node utilization sampler: runs ON Batch compute nodes (Linux), standard library only.

batchnb ships this file's source inside a pool's start task (see ``batchnb.core.specs.sampler_start_task``), so
it must stay standalone: no batchnb imports, no third-party packages, Python >= 3.8 syntax.

Every ``--interval`` seconds it appends one JSON line to
``$AZ_BATCH_NODE_SHARED_DIR/batchnb-metrics.jsonl``::

    {"t": "2024-01-01T00:00:05.123Z", "node": "<AZ_BATCH_NODE_ID>", "cpu": 12.5, "mem": 40.1,
     "disk": 33.0, "rx": 1024.0, "tx": 512.0, "gpu": null, "gpu_mem": null}

cpu/mem/disk/gpu/gpu_mem are percents, rx/tx bytes per second over all non-loopback interfaces.

On Azure a node is a VM, so cpu and mem are the host's. On the embedded local service many nodes
share one machine; its runtime marks their environment with ``BATCHNB_EMULATED_NODE=1``, and then
cpu and mem are this node's own: the processes whose ``AZ_BATCH_NODE_ROOT_DIR`` is this node's root
(its tasks, their children, start-task daemons; the sampler itself excluded), as a percent of the
machine's CPUs and memory. Disk and network stay machine-wide (they cannot be told apart per node).
The client reads new lines through the node file API with byte ranges. When the file passes
``--max-bytes`` it is renamed to ``<name>.1`` and a new one is started: a reader that finds the file
shorter than its offset starts again from 0.

``--daemon`` detaches (double fork + setsid) and holds an exclusive lock on
``batchnb-sampler.pid`` in the same directory, so starting it twice (a node reboot re-runs the
start task) never runs two samplers; ``--once`` writes one sample and exits.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

# Must equal batchnb._constants.METRICS_FILE_NAME (a unit test checks): this file cannot import batchnb.
METRICS_FILE_NAME = "batchnb-metrics.jsonl"
PID_FILE_NAME = "batchnb-sampler.pid"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Must equal batchnb._constants.EMULATED_NODE_ENV (a unit test checks): set by the local runtime only.
EMULATED_NODE_ENV = "BATCHNB_EMULATED_NODE"
_ROOT_MARK = b"AZ_BATCH_NODE_ROOT_DIR="


def read_cpu_times():
    """(busy, total) jiffies summed over all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    # user nice system idle iowait irq softirq steal; guest time is already counted in user.
    values = [int(v) for v in fields[:8]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values)
    return total - idle, total


def read_mem_percent():
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", info.get("MemFree", 0) + info.get("Cached", 0))
    return round(100.0 * (total - available) / total, 2) if total else None


def disk_root():
    # Task working directories live under the node root; that is the disk that fills up.
    for var in ("AZ_BATCH_NODE_ROOT_DIR", "AZ_BATCH_NODE_SHARED_DIR"):
        path = os.environ.get(var)
        if path and os.path.isdir(path):
            return path
    return "/"


def read_disk_percent(path):
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = used + st.f_bavail * st.f_frsize
    return round(100.0 * used / usable, 2) if usable else None


def read_net_bytes():
    """(rx, tx) bytes summed over every interface but loopback."""
    rx = tx = 0
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, data = line.partition(":")
            if name.strip() == "lo":
                continue
            cols = data.split()
            rx += int(cols[0])
            tx += int(cols[8])
    return rx, tx


def read_gpu():
    """(utilization %, memory used %) averaged over GPUs, or (None, None) without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10, check=True, universal_newlines=True,
        ).stdout  # fmt: skip
        utils, used, total = [], 0.0, 0.0
        for line in out.strip().splitlines():
            parts = [p.strip().split()[0] for p in line.split(",")]
            utils.append(float(parts[0]))
            used += float(parts[1])
            total += float(parts[2])
        if not utils:
            return None, None
        return round(sum(utils) / len(utils), 2), (round(100.0 * used / total, 2) if total else None)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None, None


def read_proc_stat(pid):
    """(ppid, starttime, cpu ticks of the process, cpu ticks of its reaped children, rss pages)."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    # The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
    rest = data[data.rindex(b")") + 2:].split()
    return (int(rest[1]), int(rest[19]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14]),
            int(rest[21]))


def node_pids(root, exclude):
    """Pids whose environment says they run on the node rooted at ``root`` (Linux /proc)."""
    wants = {_ROOT_MARK + os.fsencode(root), _ROOT_MARK + os.fsencode(os.path.realpath(root))}
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:  # gone, or not ours to read: not one of this node's processes
            continue
        if any(w in env for w in wants):
            found.append(int(name))
    return found


class NodeProcesses:
    """CPU and memory of one emulated node's processes, from /proc.

    CPU is the growth, between two samples, of each process's own ticks plus those of the children
    it reaped (a short-lived child shows up only there). A child seen in the last sample and reaped
    since by a node process would then count twice: its last seen ticks are taken off again.
    """

    def __init__(self, root):
        self.root = root
        self.me = os.getpid()
        self.tick = float(os.sysconf("SC_CLK_TCK"))
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.page = os.sysconf("SC_PAGE_SIZE")
        self._seen = {}  # pid -> (starttime, ppid, own ticks, ticks with reaped children)

    def read(self):
        """({pid: (starttime, ppid, own ticks, total ticks)}, rss bytes) of the node's processes now."""
        now, rss = {}, 0
        for pid in node_pids(self.root, {self.me}):
            try:
                ppid, start, own, children, pages = read_proc_stat(pid)
            except (OSError, ValueError, IndexError):
                continue
            now[pid] = (start, ppid, own, own + children)
            rss += pages * self.page
        return now, rss

    def ticks_since_last(self, now):
        ticks = 0
        for pid, (start, _, _, total) in now.items():
            before = self._seen.get(pid)
            ticks += total - before[3] if before is not None and before[0] == start else total
        for pid, (start, ppid, _, total) in self._seen.items():
            if (pid not in now or now[pid][0] != start) and ppid in now:
                ticks -= total  # reaped by a node process: its whole time is now in the parent's
        self._seen = now
        return max(ticks, 0)

    def prime(self):
        self._seen = self.read()[0]

    def sample(self, seconds):
        now, rss = self.read()
        ticks = self.ticks_since_last(now)
        cpu = 100.0 * ticks / self.tick / (seconds * self.cpus) if seconds > 0 else 0.0
        mem = None
        total = read_mem_total()
        if total:
            mem = round(min(100.0, 100.0 * rss / total), 2)
        return round(min(100.0, max(0.0, cpu)), 2), mem


def read_mem_total():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Keeps the previous counters so CPU and network become rates over the last interval.

    ``node_root``: measure only that emulated node's processes (see the module docstring)."""

    def __init__(self, node_id, disk_path, node_root=None):
        self.node_id = node_id
        self.disk_path = disk_path
        self.node = NodeProcesses(node_root) if node_root and os.path.isdir("/proc") else None
        self._prev = None

    def prime(self):
        self._prev = (time.monotonic(), read_cpu_times(), read_net_bytes())
        if self.node is not None:
            self.node.prime()

    def sample(self):
        now = time.monotonic()
        cpu_now, net_now = read_cpu_times(), read_net_bytes()
        cpu = rx = tx = None
        mem = read_mem_percent()
        if self._prev is not None:
            then, cpu_then, net_then = self._prev
            busy, total = cpu_now[0] - cpu_then[0], cpu_now[1] - cpu_then[1]
            cpu = round(100.0 * busy / total, 2) if total > 0 else 0.0
            dt = now - then
            if self.node is not None:
                cpu, mem = self.node.sample(dt)
            if dt > 0:
                rx = round(max(0, net_now[0] - net_then[0]) / dt, 1)
                tx = round(max(0, net_now[1] - net_then[1]) / dt, 1)
        self._prev = (now, cpu_now, net_now)
        gpu, gpu_mem = read_gpu()
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {
            "t": stamp, "node": self.node_id, "cpu": cpu, "mem": mem,
            "disk": read_disk_percent(self.disk_path), "rx": rx, "tx": tx, "gpu": gpu, "gpu_mem": gpu_mem,
        }  # fmt: skip


def append_line(path, record, max_bytes):
    try:
        if os.path.getsize(path) >= max_bytes:
            os.replace(path, path + ".1")
    except OSError:
        pass
    data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    # One write on an O_APPEND descriptor: a reader sees whole lines or a prefix, never interleaving.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def acquire_pid_lock(directory):
    """Exclusive, non-blocking lock on the pid file; None when another sampler holds it.

    A lock (not just a pid in a file) is released by the kernel when the holder dies, so a stale
    pid file left by a crash or reboot never blocks a new sampler.
    """
    import fcntl

    fd = os.open(os.path.join(directory, PID_FILE_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, ("%d\n" % os.getpid()).encode())
    return fd


def daemonize():
    """Detach from the start task: it must finish (and the node become idle) while we keep running."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def parse_args(argv):
    p = argparse.ArgumentParser(description="batchnb node utilization sampler")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--once", action="store_true", help="write one sample and exit")
    p.add_argument("--daemon", action="store_true", help="detach and keep sampling")
    p.add_argument("--dir", default=None, help="output directory (default: $AZ_BATCH_NODE_SHARED_DIR)")
    p.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="rotate the file past this size")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    directory = os.path.abspath(args.dir or os.environ.get("AZ_BATCH_NODE_SHARED_DIR") or ".")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, METRICS_FILE_NAME)
    emulated = os.environ.get(EMULATED_NODE_ENV) == "1"
    sampler = Sampler(os.environ.get("AZ_BATCH_NODE_ID") or socket.gethostname(), disk_root(),
                      node_root=os.environ.get("AZ_BATCH_NODE_ROOT_DIR") if emulated else None)

    if args.once:
        sampler.prime()
        time.sleep(min(args.interval, 0.5))
        append_line(path, sampler.sample(), args.max_bytes)
        return 0

    if args.daemon:
        daemonize()
    lock = acquire_pid_lock(directory)
    if lock is None:
        return 0  # another sampler already runs on this node
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sampler.prime()
    interval = max(0.2, args.interval)
    next_at = time.monotonic() + interval
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval
        if next_at < time.monotonic():  # suspended or badly late: skip missed ticks, don't burst
            next_at = time.monotonic() + interval
        try:
            append_line(path, sampler.sample(), args.max_bytes)
        except OSError:
            pass  # a full disk must not kill the sampler; the next tick tries again


if __name__ == "__main__":
    sys.exit(main())

"""Staging: `session.storage.upload` against plain azure-storage-blob, on Azurite.

Three measurements, all in the same run against the same Azurite, so the ratios are meaningful
even when the absolute rates depend on the machine:

- 2,000 small files (1-4 KiB): ours (parallel, one listing for the skip check, MD5 stored) vs a
  sequential loop of `upload_blob` per file. Target: ours >= 5x the loop's rate.
- one 256 MiB file: ours vs one `upload_blob(data, max_concurrency=8)`. Target: >= 0.8x.
- the skip path: uploading the same, unchanged files again (nothing is sent, MD5s are compared).

    python benchmarks/bench_staging.py            # 2,000 files + 256 MiB
    python benchmarks/bench_staging.py --quick    # 200 files + 32 MiB (CI smoke run)

It starts a throwaway local service, or reuses the one in $BATCHNB_LOCAL_STATE_DIR when set.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_check_option, env_or_throwaway_service, finish, print_table  # noqa: E402

import batchnb  # noqa: E402

SMALL_TARGET = 5.0
LARGE_TARGET = 0.8
BASELINE_CONCURRENCY = 8


def make_small_files(root: Path, count: int, seed: int = 7) -> int:
    """`count` files of 1-4 KiB of random bytes in a few sub-folders; returns the total bytes."""
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        folder = root / f"d{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 4096)
        (folder / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))
        total += size
    return total


def make_large_file(path: Path, size: int) -> None:
    block = os.urandom(4 * 2**20)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            fh.write(chunk)
            written += len(chunk)


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of another process so far; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timer:
    """Wall time, this process's CPU (all threads) and Azurite's CPU for one measured call."""

    def __init__(self, azurite_pid: int | None) -> None:
        self.azurite_pid = azurite_pid

    def __call__(self, fn):
        wall, cpu, az = time.perf_counter(), time.process_time(), process_cpu(self.azurite_pid)
        value = fn()
        self.cpu = time.process_time() - cpu
        self.azurite_cpu = process_cpu(self.azurite_pid) - az
        return time.perf_counter() - wall, value

    def per_file(self, n: int) -> str:
        return f"cpu/file: client {self.cpu / n * 1000:4.1f} ms, Azurite {self.azurite_cpu / n * 1000:4.1f} ms"


def sequential_loop(blob_service, container: str, root: Path, prefix: str = "") -> int:
    """The obvious user loop: one `upload_blob` per file, one after the other."""
    cc = blob_service.get_container_client(container)
    n = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                cc.upload_blob(prefix + path.relative_to(root).as_posix(), fh, overwrite=True)
            n += 1
    return n


def one_upload_blob(blob_service, container: str, path: Path, prefix: str) -> None:
    cc = blob_service.get_container_client(container)
    with open(path, "rb") as fh:
        cc.upload_blob(f"{prefix}/{path.name}", fh, length=path.stat().st_size, overwrite=True,
                       max_concurrency=BASELINE_CONCURRENCY)


def rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / 2**20 / seconds:8.1f} MiB/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (200 files, 32 MiB)")
    parser.add_argument("--files", type=int, default=None, help="number of small files (default 2,000)")
    parser.add_argument("--large-mib", type=int, default=None, help="size of the large file (default 256)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each measurement; the fastest counts")
    add_check_option(parser)
    args = parser.parse_args(argv)
    n_files = args.files or (200 if args.quick else 2000)
    large_bytes = (args.large_mib or (32 if args.quick else 256)) * 2**20

    from azure.storage.blob import BlobServiceClient

    run = uuid.uuid4().hex[:6]
    with (tempfile.TemporaryDirectory(prefix="batchnb-bench-staging-") as tmp,
          env_or_throwaway_service() as svc):
        small_root = Path(tmp) / "small"
        small_bytes = make_small_files(small_root, n_files)
        large = Path(tmp) / "large" / "big.bin"
        large.parent.mkdir()
        make_large_file(large, large_bytes)

        session = batchnb.connect("local", state_dir=str(svc.state_dir))
        blob_service = BlobServiceClient.from_connection_string(svc.storage_connection_string)
        try:
            storage = session.storage
            for name in (f"bench-seq-{run}", f"bench-ours-{run}", f"bench-one-{run}", f"bench-big-{run}"):
                storage.create_container(name)

            # Each measurement runs `--rounds` times, alternating ours and theirs, and keeps the
            # fastest: other work on a shared machine only ever makes a run slower.
            pid = svc.azurite_pid
            seq_s = ours_s = one_s = big_s = float("inf")
            for r in range(args.rounds):
                seq_t, ours_t = Timer(pid), Timer(pid)
                s1, _ = seq_t(lambda: sequential_loop(blob_service, f"bench-seq-{run}", small_root, prefix=f"r{r}/"))
                s2, first = ours_t(lambda: storage.upload(small_root, container=f"bench-ours-{run}", prefix=f"r{r}",
                                                          progress=False))
                assert len(first.uploaded) == n_files, first
                if s1 < seq_s:
                    seq_s, seq_cpu = s1, seq_t
                if s2 < ours_s:
                    ours_s, ours_cpu = s2, ours_t
                l1, _ = Timer(pid)(lambda: one_upload_blob(blob_service, f"bench-one-{run}", large, f"r{r}"))
                l2, big = Timer(pid)(lambda: storage.upload(large, container=f"bench-big-{run}", prefix=f"r{r}",
                                                            progress=False))
                assert len(big.uploaded) == 1
                one_s, big_s = min(one_s, l1), min(big_s, l2)
            last = f"r{args.rounds - 1}"
            skip_s, again = Timer(pid)(lambda: storage.upload(small_root, container=f"bench-ours-{run}", prefix=last,
                                                              progress=False))
            big_skip_s, big_again = Timer(pid)(lambda: storage.upload(large, container=f"bench-big-{run}", prefix=last,
                                                                      progress=False))
            assert len(again.skipped) == n_files and len(big_again.skipped) == 1
            seq_t, ours_t = seq_cpu, ours_cpu

            small_ratio = seq_s / ours_s
            # Azurite serves requests on one thread: no client can go faster than this.
            ceiling = n_files / ours_t.azurite_cpu if ours_t.azurite_cpu else float("nan")
            large_ratio = one_s / big_s
            mib_large = large_bytes // 2**20
            print_table(
                f"Staging on Azurite: {n_files:,} small files ({small_bytes / 2**20:.1f} MiB) and one "
                f"{mib_large} MiB file", [
                    ("small: sequential upload_blob loop",
                     f"{seq_s:7.2f} s  {n_files / seq_s:8.0f} files/s  {rate(small_bytes, seq_s)}  "
                     f"{seq_t.per_file(n_files)}"),
                    ("small: storage.upload",
                     f"{ours_s:7.2f} s  {n_files / ours_s:8.0f} files/s  {rate(small_bytes, ours_s)}  "
                     f"{ours_t.per_file(n_files)}"),
                    ("small: ratio ours/loop", f"{small_ratio:7.2f} x  (target >= {SMALL_TARGET})"),
                    ("small: Azurite's ceiling", f"{ceiling:14.0f} files/s  (1 / its CPU per file, one thread)"),
                    ("small: skip path (unchanged)", f"{skip_s:7.2f} s  {n_files / skip_s:8.0f} files/s"),
                    (f"large: one upload_blob(max_concurrency={BASELINE_CONCURRENCY})",
                     f"{one_s:7.2f} s  {rate(large_bytes, one_s)}"),
                    ("large: storage.upload", f"{big_s:7.2f} s  {rate(large_bytes, big_s)}"),
                    ("large: ratio ours/upload_blob", f"{large_ratio:7.2f} x  (target >= {LARGE_TARGET})"),
                    ("large: skip path (unchanged)", f"{big_skip_s:7.2f} s  {rate(large_bytes, big_skip_s)} hashed"),
                ])
            for name in (f"bench-seq-{run}", f"bench-ours-{run}", f"bench-one-{run}", f"bench-big-{run}"):
                blob_service.delete_container(name)
        finally:
            blob_service.close()
            session.close()
    sys.stdout.flush()
    missed = []
    if small_ratio < SMALL_TARGET:
        missed.append(f"small files {small_ratio:.2f}x < {SMALL_TARGET}x")
    if large_ratio < LARGE_TARGET:
        missed.append(f"large file {large_ratio:.2f}x < {LARGE_TARGET}x")
    # Wrong uploads fail the asserts above (exit 1 with a traceback). The targets are set for the
    # full size: at --quick, per-request costs dominate both sides and the ratios say little.
    return finish(args, failures=[], missed=missed, targets_apply=not args.quick)


if __name__ == "__main__":
    sys.exit(main())

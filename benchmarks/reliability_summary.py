"""Run the reliability fault scenarios at full size and print the summary table.

    python benchmarks/reliability_summary.py            # 10,000 tasks under faults, etc.
    python benchmarks/reliability_summary.py --quick    # the test suite's loads (a minute or two)

Columns: scenario, load, faults injected, tasks (or files/items) expected and seen, duplicated
runs, lost, re-runs that Batch itself does (requeue after a service kill or a preemption), and
secrets (account key, storage key, unmasked ``sig=``) found in the service's logs written during
the scenario (requests.log, server.log, azurite.log; a scenario that logged no request fails: a
scan of nothing proves nothing). The scenarios themselves live in tests/reliability/scenarios.py,
which the tests run at small loads.

A second table lists the attacks of issue 11 (tests/reliability/attacks.py): what was tried, the
service's or batchnb's answer, and whether it was refused with nothing run, hung or leaked.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability import attacks, scenarios  # noqa: E402
from tests.reliability.service_tools import throwaway_service  # noqa: E402

FULL = {"faults": 10_000, "lost_answers": 10_000, "kill": 2_000, "kernel": 200, "kernel_items": 500,
        "spot": 40, "upload": 1_000}
QUICK = {"faults": 1_000, "lost_answers": 2_000, "kill": 200, "kernel": 30, "kernel_items": 40,
         "spot": 6, "upload": 200}
_UNMASKED_SIG = re.compile(r"(?i)\bsig(=|%3D)(?!\*\*\*|REDACTED\b)[^&\s'\"]+")


LOGS = ("requests.log", "server.log", "azurite.log")


def _log_sizes(state_dir: Path) -> dict[str, int]:
    return {name: (state_dir / name).stat().st_size if (state_dir / name).exists() else 0 for name in LOGS}


def _read_since(path: Path, offset: int) -> str:
    """What was appended to ``path`` since it was ``offset`` bytes long (across one rotation)."""
    if not path.exists():
        return ""
    text = b""
    if path.stat().st_size < offset:  # rotated: the rest of the old file is now <name>.1
        rotated = path.with_name(path.name + ".1")
        if rotated.exists():
            with open(rotated, "rb") as fh:
                fh.seek(offset)
                text = fh.read()
        offset = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        text += fh.read()
    return text.decode("utf-8", errors="replace")


def _secrets_since(service, sizes: dict[str, int]) -> tuple[int, int]:
    """Secret occurrences in what the service logged since ``sizes`` were taken, and how many
    request lines that was (0 means the scan had nothing to look at, which proves nothing)."""
    key = service.account_key
    storage_key = re.search(r"AccountKey=([^;]+)", service.storage_connection_string).group(1)
    found = 0
    request_lines = 0
    for name, offset in sizes.items():
        text = _read_since(Path(service.state_dir) / name, offset)
        if name == "requests.log":
            request_lines = text.count("\n")
        found += text.count(key) + text.count(storage_key) + len(_UNMASKED_SIG.findall(text))
    return found, request_lines


def run(sizes: dict[str, int], state_parent: Path | None) -> tuple[list[scenarios.Row], list[attacks.AttackRow]]:
    plan = [
        (scenarios.faults_during_submit_and_monitor, sizes["faults"], {}),
        (scenarios.lost_answers_during_bulk_add, sizes["lost_answers"], {}),
        (scenarios.service_killed_mid_job, sizes["kill"], {}),
        (scenarios.kernel_restarted_mid_job, sizes["kernel"], {"n_items": sizes["kernel_items"]}),
        (scenarios.spot_nodes_preempted, sizes["spot"], {}),
        (scenarios.azurite_stopped_mid_upload, sizes["upload"], {}),
    ]
    rows = []
    with throwaway_service(state_parent) as service:
        for fn, load, kwargs in plan:
            print(f"running {fn.__name__} ({load:,}) ...", file=sys.stderr, flush=True)
            logs = _log_sizes(Path(service.state_dir))
            started = time.monotonic()
            try:
                row = fn(service, load, **kwargs)
            except Exception as exc:  # a failed scenario is a row that says so, not a lost table
                traceback.print_exc()
                row = scenarios.Row(fn.__name__, f"{load:,}", notes=[f"FAILED: {type(exc).__name__}: {exc}"[:200]])
                row.seconds = time.monotonic() - started
            row.secrets, request_lines = _secrets_since(service, logs)
            if not request_lines:
                row.notes.append("FAILED: requests.log got no line during the scenario: the secret scan had "
                                 "nothing to scan")
            rows.append(row)
        print("running the attacks of issue 11 ...", file=sys.stderr, flush=True)
        tried = attacks.run_attacks(service)
    return rows, tried


def print_table(rows: list[scenarios.Row]) -> None:
    header = ["scenario", "load", "faults injected", "expected", "seen", "duplicates", "lost", "re-runs",
              "secrets found", "seconds"]
    table = [[r.scenario, r.load, r.faults, f"{r.expected:,}", f"{r.seen:,}", str(r.duplicates), str(r.lost),
              str(r.reruns), str(r.secrets), f"{r.seconds:.1f}"] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    print()
    for r in rows:
        for note in r.notes:
            print(f"- {r.scenario}: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the test suite's smaller loads")
    parser.add_argument("--check", action="store_true",
                        help="accepted like the other benchmarks': this script always exits 1 on a bad row")
    parser.add_argument("--state-parent", type=Path, default=None,
                        help="where the throwaway service keeps its state (default: the temp dir)")
    args = parser.parse_args(argv)
    os.environ.pop("BATCHNB_PROFILE", None)
    rows, tried = run(QUICK if args.quick else FULL, args.state_parent)
    print_table(rows)
    print()
    attacks.print_attack_table(tried)
    bad = [r for r in rows if r.lost or r.duplicates or r.secrets or r.seen < r.expected
           or any(note.startswith("FAILED") for note in r.notes)]
    return 1 if bad or not all(a.refused for a in tried) else 0


if __name__ == "__main__":
    raise SystemExit(main())

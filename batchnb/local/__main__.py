"""`python -m batchnb.local serve ...`: the entry point of the local Batch service process.

Secrets come from the environment (BATCHNB_LOCAL_KEY, BATCHNB_LOCAL_STORAGE), never from the command
line, which any user on the machine can read with `ps`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from batchnb._constants import LOCAL_ACCOUNT_NAME

KEY_ENV = "BATCHNB_LOCAL_KEY"
# --flag -> help; the QuotaConfig field is the flag without "-quota", with underscores.
QUOTA_FLAGS = {
    "dedicated-cores-quota": "dedicated vCPUs of all pools together (default 500)",
    "low-priority-cores-quota": "spot/low-priority vCPUs of all pools together (default 100)",
    "pools-quota": "pools per account (default 100)",
    "active-jobs-quota": "jobs that are not completed (default 300)",
}


def quota_field(flag: str) -> str:
    return flag.removesuffix("-quota").replace("-", "_")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
STORAGE_ENV = "BATCHNB_LOCAL_STORAGE"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m batchnb.local", description="Embedded local Batch service.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local Batch REST service in the foreground")
    serve.add_argument("--state-dir", required=True, type=Path)
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)  # loopback unless a test says otherwise
    serve.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    serve.add_argument("--account", default=LOCAL_ACCOUNT_NAME)
    serve.add_argument("--auth", choices=("strict", "off"), default="strict")
    serve.add_argument("--allow-bearer", action="store_true")
    serve.add_argument("--node-boot-seconds", type=float, default=None)
    quotas = serve.add_argument_group("account quotas (as on Azure)")
    for flag, help_text in QUOTA_FLAGS.items():
        quotas.add_argument(f"--{flag}", type=_non_negative_int, default=None, help=help_text)
    serve.add_argument("--clock-scale", type=float, default=1.0,
                       help="run job schedule recurrences and task retention this many times faster than real time")
    serve.add_argument("--task-counts-lag", type=float, default=0.0,
                       help="answer Get Task Counts with a snapshot up to this many seconds old, as Azure may")
    serve.add_argument("--host-python", action="store_true",
                       help="tasks run this interpreter with its packages instead of a bare stdlib-only python3")
    serve.add_argument("--usage-interval-seconds", type=float, default=None,
                       help="aggregation interval of /poolusagemetrics (default 60)")
    faults = serve.add_argument_group("fault injection (fractions of requests)")
    faults.add_argument("--throttle", type=float, default=0.0)
    faults.add_argument("--error500", type=float, default=0.0)
    faults.add_argument("--drop", type=float, default=0.0)
    faults.add_argument("--retry-after", type=float, default=1.0)
    faults.add_argument("--seed", type=int, default=0)
    return parser


def build_config(args: argparse.Namespace):  # -> ServerConfig (imported lazily, see main)
    from batchnb.local.service.config import FaultConfig, QuotaConfig, ServerConfig

    quotas = QuotaConfig()
    for flag in QUOTA_FLAGS:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            setattr(quotas, quota_field(flag), value)

    config = ServerConfig(
        state_dir=args.state_dir.resolve(),
        host=args.host,
        port=args.port,
        account_name=args.account,
        account_key=os.environ.get(KEY_ENV, ""),
        auth_mode=args.auth,
        allow_bearer=args.allow_bearer,
        faults=FaultConfig(
            throttle=args.throttle,
            error500=args.error500,
            drop=args.drop,
            retry_after=args.retry_after,
            seed=args.seed,
        ),
        storage_connection_string=os.environ.get(STORAGE_ENV, ""),
        quotas=quotas,
        clock_scale=args.clock_scale,
        task_counts_lag_seconds=args.task_counts_lag,
    )
    if args.node_boot_seconds is not None:
        config.node_boot_seconds = args.node_boot_seconds
    config.host_python = bool(args.host_python)
    if args.usage_interval_seconds is not None:
        if args.usage_interval_seconds <= 0:
            raise SystemExit("batchnb.local: --usage-interval-seconds must be > 0")
        config.usage_interval_seconds = args.usage_interval_seconds
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = build_config(args)
    if config.auth_mode == "strict" and not config.account_key:
        print(f"batchnb.local: {KEY_ENV} is not set (needed with --auth strict)", file=sys.stderr)
        return 2
    # Children (task processes) must not inherit the secrets meant for this process only.
    os.environ.pop(KEY_ENV, None)
    os.environ.pop(STORAGE_ENV, None)
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    from batchnb.local.daemon import make_private

    make_private(config.state_dir)
    # Imported here so `--help` and argument errors don't pay for loading aiohttp and the service model.
    from batchnb.local.service.http.app import run_server

    run_server(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())

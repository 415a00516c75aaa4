"""The `batchnb` command line: `batchnb local up|env|status|down` and `batchnb quickstart`.

`local env` is the place where the keys are shown: the user asked for them, to paste into a shell
or another tool. `local up` shows them only with `--show-secrets` (so that `!batchnb local up` in a
notebook does not put them in its outputs); nothing else prints them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchnb.local import LocalService

_SECRET_ENV = ("AZURE_BATCH_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING")
_HIDDEN = "(hidden: `batchnb local env` or `batchnb local up --show-secrets`)"
EXIT_NOT_RUNNING = 3  # `local status` when nothing runs (LSB convention: "program is not running")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchnb", description="Azure Batch from a Jupyter notebook.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser("local", help="the embedded local Batch service")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="ACTION")
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir", default=None, help="state directory (default: $BATCHNB_LOCAL_STATE_DIR or per-user state dir)"
    )

    up = local_commands.add_parser(
        "up", parents=[state], help="start the service (or reuse the running one) and print its settings"
    )
    up.add_argument("--json", action="store_true", help="print the settings as JSON")
    up.add_argument("--host-python", action="store_true", default=None,
                    help="let tasks use this Python and its packages (nodes are bare by default, as on Azure)")
    up.add_argument("--show-secrets", action="store_true",
                    help="also print the account key and the storage connection string (else see `local env`)")
    up.set_defaults(handler=_up)

    env = local_commands.add_parser(
        "env", parents=[state], help="print `export NAME='value'` lines for a shell (starts the service if needed)"
    )
    env.set_defaults(handler=_env)

    st = local_commands.add_parser(
        "status", parents=[state], help=f"show whether the service runs (exit {EXIT_NOT_RUNNING} if not)"
    )
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=_status)

    down = local_commands.add_parser("down", parents=[state], help="stop the service")
    down.set_defaults(handler=_down)

    quickstart = commands.add_parser(
        "quickstart", help="run notebooks/quickstart.ipynb on the local service; write out/quickstart.{ipynb,html}")
    from batchnb.quickstart import add_arguments as quickstart_arguments

    quickstart_arguments(quickstart)
    quickstart.set_defaults(handler=_quickstart)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the user; our errors never carry secrets
        print(f"batchnb: error: {exc}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace) -> int:
    from batchnb import local

    service = local.start(state_dir=args.state_dir, host_python=args.host_python)
    if args.json:
        print(json.dumps(_settings(service, secrets=args.show_secrets), indent=2))
        return 0
    print(f"Local Batch service running (state: {service.state_dir})")
    env = service.env()
    width = max(map(len, env))
    for name, value in env.items():
        if name in _SECRET_ENV and not args.show_secrets:
            value = _HIDDEN
        print(f"  {name:<{width}}  {value}")
    print(f"  PIDs: server {service.server_pid}, azurite {service.azurite_pid}")
    return 0


def _env(args: argparse.Namespace) -> int:
    from batchnb import local

    service = local.start(state_dir=args.state_dir, quiet=True)
    for name, value in service.env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from batchnb import local

    service = local.status(state_dir=args.state_dir)
    running = service is not None and service.running
    if args.json:
        data: dict[str, Any] = {"running": running}
        if service is not None:
            data.update(
                batch_url=service.batch_url,
                account_name=service.account_name,
                blob_endpoint=service.blob_endpoint,
                state_dir=str(service.state_dir),
                server_pid=service.server_pid,
                azurite_pid=service.azurite_pid,
            )
        print(json.dumps(data, indent=2))
    elif service is None:
        print("Local Batch service: not running")
    else:
        print(f"Local Batch service: {'running' if running else 'not healthy'}")
        print(f"  Batch account URL  {service.batch_url}")
        print(f"  Account name       {service.account_name}")
        print(f"  Blob endpoint      {service.blob_endpoint}")
        print(f"  State directory    {service.state_dir}")
        print(f"  PIDs               server {service.server_pid}, azurite {service.azurite_pid}")
    return 0 if running else EXIT_NOT_RUNNING


def _down(args: argparse.Namespace) -> int:
    from batchnb import local

    stopped = local.stop(state_dir=args.state_dir)
    print("Local Batch service stopped" if stopped else "Local Batch service was not running")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from batchnb.quickstart import run

    return run(args)


def _settings(service: LocalService, *, secrets: bool) -> dict[str, Any]:
    settings = {
        "batch_url": service.batch_url,
        "account_name": service.account_name,
        "account_key": service.account_key,
        "storage_connection_string": service.storage_connection_string,
        "blob_endpoint": service.blob_endpoint,
        "state_dir": str(service.state_dir),
        "server_pid": service.server_pid,
        "azurite_pid": service.azurite_pid,
    }
    if not secrets:
        del settings["account_key"], settings["storage_connection_string"]
    return settings


if __name__ == "__main__":
    sys.exit(main())

"""``%batch`` / ``%%batch``: the six Batch steps as IPython magics (``%load_ext batchnb``).

    %batch connect local
    %batch upload data/ inputs
    %batch pool create p1 --vm-size standard_d2s_v3 --nodes 2 --slots 2
    %batch job create j1 --pool p1
    %%batch tasks j1 --sweep x=1:10 y=a,b
    python3 run.py --x {x} --y {y}
    %batch monitor j1

Each subcommand is a function with IPython ``magic_arguments`` (so ``%batch <cmd> --help`` and
``%batch?`` show real usage), registered here by its words. The modules ``magics_resources``,
``magics_tasks`` and ``magics_storage`` hold the subcommands by area.

The line is split with shlex and parsed with argparse; IPython's ``{var}``/``$var`` expansion is
off, so a task template reaches Batch exactly as typed. Errors show as one ``UsageError`` line
(no traceback) and still stop a Run All; nothing is stored in the namespace unless the command
succeeded.
"""

from __future__ import annotations

import functools
import keyword
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments

from batchnb.core.redact import redact
from batchnb.errors import BatchnbError
from batchnb.views.magics.args import help_option, out_option

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from batchnb.core.session import Session

__all__ = ["BatchMagics", "Context", "command", "load_ipython_extension", "overview", "run_batch_line"]

CommandFunc = Callable[["Context", Any], Any]

# (words...) -> subcommand function, filled by the @command decorators of the magics_* modules.
_COMMANDS: dict[tuple[str, ...], CommandFunc] = {}
# Subcommands that take a cell body (their function sees ctx.cell).
_CELL_COMMANDS: set[tuple[str, ...]] = set()


def command(*words: str, cell: bool = False) -> Callable[[CommandFunc], CommandFunc]:
    """Register a subcommand under ``words`` (``command("pool", "create")``).

    Goes above the function's ``@argument`` lines: it builds the argparse parser
    (``magic_arguments``) with ``-h/--help`` and ``-o/--out`` first, which every subcommand takes.
    """

    def register(func: CommandFunc) -> CommandFunc:
        func = magic_arguments(name="batch " + " ".join(words))(help_option(out_option(func)))
        _COMMANDS[words] = func
        if cell:
            _CELL_COMMANDS.add(words)
        return func

    return register


def _load_commands() -> None:
    # Imported for their @command side effect; late so that `import batchnb.views.magics` stays cheap.
    from batchnb.views.magics import cost, notebooks, resources, storage, tasks  # noqa: F401


@dataclass
class Context:
    """What a subcommand gets besides its parsed arguments."""

    shell: InteractiveShell | None
    cell: str | None = None

    @property
    def user_ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def session(self) -> Session:
        """The current session: the last ``%batch connect`` or ``batchnb.connect()``."""
        from batchnb.core.current import get_current

        current = get_current()
        if current is not None and not getattr(current, "closed", False):
            return current
        # batchnb.connect() made in a cell before this extension knew about it: use the newest
        # Session in the namespace, as the user would expect.
        from batchnb.core.session import Session

        sessions = [v for k, v in self.user_ns.items()
                    if not k.startswith("_") and isinstance(v, Session) and not v.closed]
        if sessions:
            return sessions[-1]
        raise UsageError("not connected: run `%batch connect local` (the local service) or `%batch connect` "
                         "(Azure, from the environment or a profile) first")

    @staticmethod
    def say(text: str) -> None:
        print(redact(text))


# ----------------------------------------------------------------------------------- help


def _usage(func: CommandFunc) -> str:
    text = " ".join(func.parser.format_usage().split())
    return text.removeprefix("usage:").strip().removeprefix("::").strip()


def command_help(func: CommandFunc) -> str:
    """``%batch <cmd> --help`` text: argparse's help without IPython's reST ``::`` prefix."""
    text = func.parser.format_help()
    return text.replace("::\n\n  %", "usage: %", 1)


def overview() -> str:
    """``%batch`` / ``%batch --help`` / ``%batch?``: every subcommand's usage line."""
    _load_commands()
    lines = [
        "%batch: Azure Batch from the notebook (the same commands run against Azure and the local service).",
        "",
        "Subcommands (`%batch <cmd> --help` for details; `-o NAME` stores the result in NAME):",
    ]
    for words, func in _COMMANDS.items():
        summary = (func.parser.description or "").strip().splitlines()[0] if func.parser.description else ""
        lines.append(f"  {_usage(func)}")
        if summary:
            lines.append(f"      {summary}")
    lines += [
        "",
        "Arguments are taken literally (no {var} or $var expansion) and never run through a shell.",
        "%%batch tasks: the cell body is the command line template ({name} fields are filled per task).",
    ]
    return "\n".join(lines)


def _groups() -> set[str]:
    """First words that only lead to actions (``pool`` -> ``pool create``...), not commands themselves."""
    return {w[0] for w in _COMMANDS if len(w) == 2} - {w[0] for w in _COMMANDS if len(w) == 1}


def group_help(group: str) -> str:
    """``%batch pool --help``: the usage line of each of the group's actions."""
    lines = [f"%batch {group}: one of these actions (`%batch {group} ACTION --help` for details):"]
    for words, func in _COMMANDS.items():
        if len(words) == 2 and words[0] == group:
            summary = (func.parser.description or "").strip().splitlines()
            lines.append(f"  {_usage(func)}")
            if summary:
                lines.append(f"      {summary[0]}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- running


def one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show batchnb and usage errors as one ``UsageError`` line, with no traceback.

    UsageError is what IPython prints as a single line; it still marks the cell as failed, so a
    Run All stops there. Secrets are scrubbed from the message like everywhere else.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BatchnbError, UsageError) as exc:
            raise UsageError(" ".join(redact(exc).split())) from None
        except SystemExit:  # an argparse action that exits (we catch --help ourselves, but be safe)
            return None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
            # Local paths given to upload/download: the OS message names the path.
            raise UsageError(" ".join(redact(exc).split())) from None

    return wrapper


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UsageError(f"%batch: cannot read the arguments ({exc}); check the quotes") from None


def _find(tokens: list[str]) -> tuple[tuple[str, ...], CommandFunc, list[str]]:
    for n in (2, 1):
        words = tuple(tokens[:n])
        if len(words) == n and words in _COMMANDS:
            return words, _COMMANDS[words], tokens[n:]
    first = tokens[0]
    groups = sorted({w[0] for w in _COMMANDS})
    if first in {w[0] for w in _COMMANDS if len(w) == 2}:
        actions = sorted(w[1] for w in _COMMANDS if len(w) == 2 and w[0] == first)
        got = f"{tokens[1]!r} is not" if len(tokens) > 1 else "missing"
        raise UsageError(f"%batch {first}: {got} an action; use one of: {', '.join(actions)}")
    raise UsageError(f"%batch: unknown subcommand {first!r}; use one of: {', '.join(groups)} (`%batch --help`)")


def _check_out_name(name: str | None) -> None:
    if name is None:
        return
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"-o/--out: {name!r} is not a valid Python variable name")


@one_line_errors
def run_batch_line(shell: InteractiveShell | None, line: str, cell: str | None = None) -> Any:
    """Run one ``%batch`` line (and cell body, for ``%%batch``); return what the cell shows."""
    _load_commands()
    tokens = _split(line)
    if not tokens or tokens[0] in ("-h", "--help", "help"):
        print(overview())
        return None
    if len(tokens) >= 2 and tokens[0] in _groups() and tokens[1] in ("-h", "--help", "help"):
        print(group_help(tokens[0]))  # `%batch pool --help`: the group's actions
        return None
    words, func, rest = _find(tokens)
    name = " ".join(words)
    if cell is not None and words not in _CELL_COMMANDS:
        raise UsageError(f"%%batch {name} takes no cell body; use the line magic %batch {name}")
    # Before parsing: `--help` must work even when required arguments are missing.
    if "-h" in rest or "--help" in rest:
        print(command_help(func))
        return None
    try:
        args = func.parser.parse_args(rest)
    except UsageError as exc:
        raise UsageError(f"%batch {name}: {exc}") from None
    out = getattr(args, "out", None)
    _check_out_name(out)
    try:
        result = func(Context(shell, cell), args)
    except BatchnbError as exc:
        raise UsageError(f"%batch {name}: {redact(exc)}") from None
    if out is not None:
        if shell is not None:
            shell.user_ns[out] = result
        print(f"-> {out}")
        # A live view is stored AND shown: a monitor nobody can see is no use.
        return result if _is_widget(result) else None
    return result


def _is_widget(value: Any) -> bool:
    widgets = sys.modules.get("ipywidgets")  # never imported just for this check
    return widgets is not None and isinstance(value, widgets.Widget)


@magics_class
class BatchMagics(Magics):
    """The ``%batch`` line/cell magic."""

    @no_var_expand
    @line_cell_magic
    def batch(self, line: str, cell: str | None = None) -> Any:
        return run_batch_line(self.shell, line, cell)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext batchnb``: register ``%batch``; its ``?`` help lists every subcommand."""
    _load_commands()
    # `%batch?` shows the function's docstring: make it the live list of subcommands.
    BatchMagics.batch.__doc__ = overview()
    ipython.register_magics(BatchMagics)

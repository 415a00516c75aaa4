"""Which modules a ``map()`` function and its items need on the node.

Two sources, because neither sees everything:
- the function's code, walked the way cloudpickle pickles it: functions defined in the notebook
  (``__main__``) travel by value, so their globals, closures, defaults and ``import`` statements
  (also inside the body: ``def f(x): import pandas``) count; anything else is a reference to
  its module;
- the pickles themselves (function and items): every class or function pickled by reference
  names its module (a pandas DataFrame among the items needs pandas on the node).
"""

from __future__ import annotations

import dis
import functools
import pickletools
import types
from collections.abc import Iterable
from typing import Any

__all__ = ["modules_in_pickle", "modules_needed", "modules_used_by"]

_MAX_DEPTH = 40
_MAX_ITEMS = 1000  # elements of one container looked at: enough to find the types used


def _by_value(fn: types.FunctionType) -> bool:
    import cloudpickle

    module = fn.__module__
    if module in (None, "__main__"):
        return True
    try:
        return bool(cloudpickle.cloudpickle._should_pickle_by_reference(fn) is False)
    except Exception:  # noqa: BLE001 - a private helper; if it changes, assume by reference
        return False


def modules_used_by(fn: Any) -> set[str]:
    """Module names the function refers to, directly or through notebook-defined helpers."""
    modules: set[str] = set()
    seen: set[int] = set()

    def code(co: types.CodeType, globals_: dict[str, Any], depth: int) -> None:
        for instr in dis.get_instructions(co):
            if instr.opname == "IMPORT_NAME":
                modules.add(str(instr.argval))
            elif instr.opname in ("LOAD_GLOBAL", "LOAD_NAME") and instr.argval in globals_:
                visit(globals_[instr.argval], depth + 1)
        for const in co.co_consts:
            if isinstance(const, types.CodeType):
                code(const, globals_, depth + 1)

    def visit(obj: Any, depth: int) -> None:
        if depth > _MAX_DEPTH or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            modules.add(obj.__name__)
        elif isinstance(obj, types.FunctionType):
            if not _by_value(obj):
                modules.add(obj.__module__)
                return
            code(obj.__code__, obj.__globals__, depth)
            for cell in obj.__closure__ or ():
                try:
                    visit(cell.cell_contents, depth + 1)
                except ValueError:  # an empty cell
                    pass
            for value in [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]:
                visit(value, depth + 1)
        elif isinstance(obj, functools.partial):
            for value in (obj.func, *obj.args, *obj.keywords.values()):
                visit(value, depth + 1)
        elif isinstance(obj, types.MethodType):
            visit(obj.__func__, depth + 1)
            visit(obj.__self__, depth + 1)
        elif isinstance(obj, type):
            if obj.__module__ == "__main__":
                for base in obj.__bases__:
                    visit(base, depth + 1)
                for value in list(vars(obj).values()):
                    visit(value, depth + 1)
            else:
                modules.add(obj.__module__)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for value in list(obj)[:_MAX_ITEMS]:
                visit(value, depth + 1)
        elif isinstance(obj, dict):
            for key, value in list(obj.items())[:_MAX_ITEMS]:
                visit(key, depth + 1)
                visit(value, depth + 1)
        else:
            modules.add(type(obj).__module__)

    visit(fn, 0)
    return modules


def modules_in_pickle(data: bytes) -> set[str]:
    """Module names a pickle refers to (classes and functions pickled by reference, cloudpickle's imports)."""
    modules: set[str] = set()
    strings: list[str] = []
    import_next = False
    try:
        for opcode, arg, _pos in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                modules.add(str(arg).partition(" ")[0])
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                module, name = strings[-2], strings[-1]
                modules.add(module)
                # cloudpickle pickles a module referred to by a by-value function as subimport('name').
                import_next = name == "subimport"
            elif isinstance(arg, str) and "UNICODE" in opcode.name:
                if import_next:
                    modules.add(arg)
                    import_next = False
                strings.append(arg)
                del strings[:-2]
    except Exception:  # noqa: BLE001 - a pickle we cannot walk adds nothing; the node will say what it lacks
        pass
    return modules


def modules_needed(fn: Any, pickles: Iterable[bytes]) -> set[str]:
    """Everything above for one map(): the function and every pickle sent with it."""
    found = modules_used_by(fn)
    for data in pickles:
        found |= modules_in_pickle(data)
    return found

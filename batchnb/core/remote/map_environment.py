"""Which ``Environment`` a ``map()`` runs in, decided in the kernel before anything is submitted.

- ``"auto"`` on a pool made with ``PoolSpec(python_env=...)``: that environment, after checking
  that it can run this function (same Python minor and cloudpickle version as the kernel, every
  distribution the function and items need): a mismatch is one error line with the fix, instead
  of failed tasks later.
- ``"auto"`` on any other pool: the distributions the function and the items need, with what they
  require, pinned to the kernel's versions; the map's tasks install them once per node.
- an ``Environment``: that one, plus cloudpickle as the kernel has it.
- ``None``: the node's own ``python3`` (the user set the node up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from batchnb.core.remote.needs import modules_needed
from batchnb.core.specs.environment import Environment, kernel_python, pool_environment
from batchnb.core.specs.kernel_packages import distributions_for_modules, installed, pinned_closure
from batchnb.errors import ValidationError

__all__ = ["resolve_map_environment", "resolve_notebook_environment", "pool_environment"]


def _cloudpickle_pin() -> str:
    import cloudpickle

    return f"cloudpickle=={cloudpickle.__version__}"


def _check_pool_environment(env: Environment, needed: set[str], pool_id: str) -> None:
    fix_pool = (f"recreate pool {pool_id!r} with python_env=batchnb.Environment.from_kernel(fn), "
                "or map on a pool without python_env")
    here = kernel_python()
    if env.python is not None and env.python != here:
        raise ValidationError("environment", f"pool {pool_id!r} runs Python {env.python} and this kernel {here}; "
                              "a function pickled by value needs the same minor version", fix=fix_pool)
    pin = env.pin_of("cloudpickle")
    if pin is None or pin.replace(" ", "") != _cloudpickle_pin():
        has = f"has {pin!r}" if pin else "lacks cloudpickle"
        raise ValidationError("environment", f"pool {pool_id!r} {has}, and this kernel pickles with "
                              f"{_cloudpickle_pin()!r}", fix=fix_pool)
    have = installed()
    missing = sorted(n for n in needed if n in have and have[n][1] and n not in env.names)
    if missing:
        raise ValidationError("environment", f"pool {pool_id!r} lacks {', '.join(missing)}, which the function "
                              "or its items need", fix=f"add {', '.join(missing)} to the pool's python_env, "
                              "or map on another pool")


def resolve_map_environment(environment: Environment | str | None, *, fn: Callable[..., Any],
                            pickles: Iterable[bytes], pool_id: str, pool_info: Any) -> Environment | None:
    if environment is None:
        return None
    if isinstance(environment, Environment):
        if environment.python is not None and environment.python != kernel_python():
            raise ValidationError("environment", f"asks for Python {environment.python} and this kernel runs "
                                  f"{kernel_python()}; a function pickled by value needs the same minor version",
                                  fix=f"use python={kernel_python()!r} (uv fetches it if the image lacks it)")
        return Environment(environment.with_packages(_cloudpickle_pin()).packages, python=kernel_python())
    if environment != "auto":
        raise ValidationError("environment", f"is {environment!r}",
                              fix="use 'auto', None, or batchnb.Environment([...])")
    needed = distributions_for_modules(modules_needed(fn, pickles)) | {"cloudpickle"}
    pool_env = pool_environment(pool_info)
    if pool_env is not None:
        _check_pool_environment(pool_env, needed, pool_id)
        return pool_env
    pins, left_out = pinned_closure(needed)
    return Environment(pins, python=kernel_python(), left_out=left_out)


# What notebook_runner.py needs on a node besides the notebook's own imports.
_NOTEBOOK_RUNNER_NEEDS = ("papermill", "ipykernel")


def _notebook_imports(notebook: bytes) -> set[str]:
    """Top-level modules the notebook's code cells import (magic and shell lines skipped)."""
    import ast
    import json

    modules: set[str] = set()
    try:
        cells = json.loads(notebook).get("cells", [])
    except ValueError:
        return modules
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
    return modules


def resolve_notebook_environment(environment: Environment | str | None, *, notebook: bytes, pool_id: str,
                                 pool_info: Any) -> Environment | None:
    """The Environment a ``run_notebook`` sweep runs in: like map()'s, with papermill and ipykernel
    (the node-side runner's needs) and the distributions the notebook imports."""
    if environment is None:
        return None
    have = installed()
    runner_pins = [f"{n}=={have[n][0]}" if n in have and have[n][1] else n for n in _NOTEBOOK_RUNNER_NEEDS]
    if isinstance(environment, Environment):
        return Environment(environment.with_packages(*runner_pins).packages,
                           python=environment.python or kernel_python())
    if environment != "auto":
        raise ValidationError("environment", f"is {environment!r}",
                              fix="use 'auto', None, or batchnb.Environment([...])")
    pool_env = pool_environment(pool_info)
    needed = distributions_for_modules(_notebook_imports(notebook))
    if pool_env is not None and pool_env.python in (None, kernel_python()) and not [
            n for n in {*needed, *_NOTEBOOK_RUNNER_NEEDS} if n not in pool_env.names
            and (n in _NOTEBOOK_RUNNER_NEEDS or (n in have and have[n][1]))]:
        return pool_env  # the pool's environment has everything: nothing to install
    # Otherwise the sweep brings its own (notebooks are not pickled: no version has to match the pool's).
    pins, left_out = pinned_closure({*needed, *_NOTEBOOK_RUNNER_NEEDS})
    return Environment([*pins, *(n for n in _NOTEBOOK_RUNNER_NEEDS if n in left_out)], python=kernel_python(),
                       left_out=left_out)

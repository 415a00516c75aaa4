"""What the kernel has installed: distributions, their versions, and which one provides a module.

Used by ``Environment.from_kernel()`` to pin a node's packages to exactly the kernel's versions.
A distribution installed from a local folder or in editable mode cannot come from a package index;
it is left out (and reported), since a node could not install it by name.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from functools import cache
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

__all__ = ["canonical", "installed", "distributions_for_modules", "pinned_closure"]

# Installers and build tools: the node's uv makes the venv; these are not what a task imports.
_TOOLING = frozenset({"pip", "uv", "setuptools", "wheel"})


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``Foo_Bar`` and ``foo-bar`` are the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _from_index(dist: metadata.Distribution) -> bool:
    path = getattr(dist, "_path", None)
    if path is not None and not ({"site-packages", "dist-packages"} & set(getattr(path, "parts", ()))):
        return False  # metadata in a source tree: a development install (setup.py develop, egg-link)
    text = dist.read_text("direct_url.json")
    if not text:
        return True
    try:
        info = json.loads(text)
    except ValueError:
        return True
    # A wheel or sdist URL from an index-like place is fine; local folders and editable installs are not.
    return not (info.get("dir_info") or str(info.get("url", "")).startswith("file:"))


def _site_stamp() -> tuple:
    """Changes when a package is installed or removed (a site directory's mtime changes): reading
    every distribution's metadata costs about a second, too much to repeat on every map()."""
    stamp = []
    for entry in sys.path:
        try:
            stamp.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(stamp)


def installed() -> dict[str, tuple[str, bool]]:
    """canonical name -> (version, installable from an index) for every distribution in the kernel."""
    return _installed(_site_stamp())


@cache
def _packages_distributions(_stamp: tuple) -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


@cache
def _installed(_stamp: tuple) -> dict[str, tuple[str, bool]]:
    found: dict[str, tuple[str, bool]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in found:
            found[canonical(name)] = (dist.version, _from_index(dist))
    return found


def distributions_for_modules(modules: Iterable[str]) -> set[str]:
    """Canonical names of the distributions that provide these top-level modules (stdlib ones skipped)."""
    providers = _packages_distributions(_site_stamp())
    names: set[str] = set()
    for module in modules:
        top = module.partition(".")[0]
        if not top or top in sys.stdlib_module_names or top == "__main__":
            continue
        for dist in providers.get(top, ()):
            names.add(canonical(dist))
    return names


def _requires(name: str) -> list[str]:
    try:
        reqs = metadata.distribution(name).requires or []
    except metadata.PackageNotFoundError:
        return []
    env: dict[str, str] = {**default_environment(), "extra": ""}  # type: ignore[dict-item]
    out = []
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        # Extras are not followed: a requirement that holds only under an extra is optional.
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        out.append(canonical(req.name))
    return out


def pinned_closure(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """``name==version`` for these distributions and everything they require, as installed here.

    Returns (pins, left_out): left_out are distributions that cannot come from an index (local
    folders, editable installs) or that are not installed at all.
    """
    have = installed()
    todo = [canonical(n) for n in names]
    seen: set[str] = set()
    pins, left_out = [], []
    while todo:
        name = todo.pop()
        if name in seen or name in _TOOLING:
            continue
        seen.add(name)
        if name not in have or not have[name][1]:
            left_out.append(name)
            continue
        pins.append(f"{name}=={have[name][0]}")
        todo.extend(_requires(name))
    return sorted(pins), sorted(left_out)

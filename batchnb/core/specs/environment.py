"""What a compute node needs to run the notebook's Python: ``batchnb.Environment``.

A fresh Batch node (and a local node, which is made as bare) has a system ``python3`` with the
standard library only. An Environment lists the packages (and the Python minor version) that
tasks need; batchnb installs it once per node, with uv, into a venv in the node's shared
directory (see ``batchnb.node.env_setup``), from the node's start task (``PoolSpec(python_env=)``)
or from the first ``map()`` task that needs it on that node.

    env = batchnb.Environment(["pandas==2.2.3"], python="3.11")
    env = batchnb.Environment.from_requirements("requirements.txt")
    env = batchnb.Environment.from_kernel()              # every distribution, pinned as installed here
    env = batchnb.Environment.from_kernel(summarize)     # only what this function (and its helpers) use
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from batchnb.core.specs.kernel_packages import canonical, distributions_for_modules, pinned_closure
from batchnb.errors import ValidationError

__all__ = ["Environment", "ENV_METADATA", "ENV_SETUP_VARIABLE", "UV_SHA_VARIABLE", "UV_URL_VARIABLE", "kernel_python", "pool_environment"]

# Pool metadata that records a pool's python_env, so that map() can check and use it.
ENV_METADATA = "batchnb.env"

# The job/start-task variable carrying the installer and its config (zlib + base64): a variable,
# not the command line, so that every task of a map() stays a short command.
ENV_SETUP_VARIABLE = "BATCHNB_ENV_SETUP"
# Where the node may fetch the uv binary the client staged in Blob storage (a SAS URL), and its digest.
UV_URL_VARIABLE = "BATCHNB_UV_URL"
UV_SHA_VARIABLE = "BATCHNB_UV_SHA256"
# Used when the kernel has no uv package to tell its version (uv is a batchnb dependency).
_FALLBACK_UV_VERSION = "0.13.9"
_PYTHON_RE = re.compile(r"^3\.\d{1,2}$")
_REPR_PACKAGES = 6


def pool_environment(pool_info: Any) -> Environment | None:
    """The ``python_env`` a pool was made with (recorded in its metadata), if any."""
    for item in getattr(pool_info, "metadata", None) or ():
        if item.name == ENV_METADATA:
            return Environment.from_metadata(item.value)
    return None


def kernel_python() -> str:
    return "%d.%d" % sys.version_info[:2]


@cache
def uv_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("uv")
    except metadata.PackageNotFoundError:
        return _FALLBACK_UV_VERSION


@cache
def _installer_source() -> str:
    return resources.files("batchnb.node").joinpath("env_setup.py").read_text()


def _check_packages(packages: Iterable[str], *, field_name: str) -> tuple[str, ...]:
    if isinstance(packages, str):
        raise ValidationError(field_name, f"is one string ({packages!r}), not a list",
                              fix=f"write {field_name}=[{packages!r}]")
    out: list[str] = []
    for text in packages:
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(field_name, f"has {text!r}", fix="give requirement strings such as 'pandas==2.2.3'")
        text = text.strip()
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            raise ValidationError(field_name, f"has {text!r}, which is not a requirement ({exc})",
                                  fix="write 'name', 'name==1.2.3' or 'name>=1,<2'") from None
        if text not in out:
            out.append(text)
    return tuple(out)


@dataclass(frozen=True, repr=False)
class Environment:
    """Packages (requirement strings) and a Python minor version for the nodes.

    Installed once per node with uv into a venv in the node's shared directory (by a pool's start
    task with ``PoolSpec(python_env=...)``, or by the first task of a ``map()``/``run_notebook``).

    Parameters
    ----------
    packages : sequence of str
        Requirement strings, e.g. ``["pandas==2.2.3", "scipy>=1.13"]``.
    python : str, optional
        A Python minor version such as ``"3.11"`` (uv finds or fetches it when the image has
        another one); None uses the node's own ``python3``.
    left_out : sequence of str
        Kernel distributions ``from_kernel`` could not include (installed from a local folder or
        in editable mode).

    Raises
    ------
    batchnb.errors.ValidationError
        A requirement string that does not parse, or a bad Python version.
    """

    packages: Sequence[str] = ()
    _: KW_ONLY
    python: str | None = None
    left_out: Sequence[str] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", _check_packages(self.packages, field_name="packages"))
        if self.python is not None and (not isinstance(self.python, str) or not _PYTHON_RE.match(self.python)):
            raise ValidationError("python", f"is {self.python!r}",
                                  fix=f"give a minor version such as {kernel_python()!r}, or None for the node's python3")
        object.__setattr__(self, "left_out", tuple(self.left_out))

    # --- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_kernel(cls, *uses: Any, python: str | None = "kernel", extra: Sequence[str] = ()) -> Environment:
        """The kernel's distributions, pinned to the versions installed here.

        Without arguments: every distribution of the kernel. With ``uses`` (functions, objects):
        only the distributions they need, and what those require. ``extra`` adds requirement
        strings. ``python="kernel"`` (the default) asks for the kernel's Python minor version.
        cloudpickle is always included, so that ``session.map()`` can run on a pool made with it.

        Parameters
        ----------
        *uses : object
            Functions or objects whose imported distributions are wanted (none: all of them).
        python : str, optional
            ``"kernel"``, a minor version, or None for the node's ``python3``.
        extra : sequence of str
            More requirement strings.

        Returns
        -------
        Environment
            The pinned environment.
        """
        from importlib import metadata

        if uses:
            from batchnb.core.remote.needs import modules_used_by

            modules: set[str] = set()
            for obj in uses:
                modules |= modules_used_by(obj)
            names: Iterable[str] = distributions_for_modules(modules)
        else:
            names = {canonical(d.metadata["Name"]) for d in metadata.distributions() if d.metadata["Name"]}
        pins, left_out = pinned_closure({*names, "cloudpickle"})
        return cls([*pins, *extra], python=kernel_python() if python == "kernel" else python, left_out=left_out)

    @classmethod
    def from_requirements(cls, path: str | Path, *, python: str | None = None) -> Environment:
        """The requirement lines of a requirements.txt (comments and blank lines skipped).

        Parameters
        ----------
        path : str or pathlib.Path
            The requirements file (packages only, no ``-`` options).
        python : str, optional
            A Python minor version, or None for the node's ``python3``.

        Returns
        -------
        Environment
            The environment.

        Raises
        ------
        batchnb.errors.ValidationError
            The file is missing or a line is an option.
        """
        file = Path(path)
        if not file.is_file():
            raise ValidationError("requirements", f"{str(file)!r} is not a file", fix="give the path of a requirements.txt")
        lines = []
        for number, raw in enumerate(file.read_text().splitlines(), start=1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("-"):
                raise ValidationError("requirements", f"line {number} of {file.name} is an option ({line!r})",
                                      fix="list packages only; a node installs from the index it reaches")
            lines.append(line)
        return cls(lines, python=python)

    # --- identity -------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """A stable id, shared by equal environments (same packages in any order, same Python)."""
        canon = json.dumps({"python": self.python, "packages": sorted(self.packages)}, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    @property
    def names(self) -> set[str]:
        """Canonical names of the distributions listed."""
        return {canonical(Requirement(p).name) for p in self.packages}

    def pin_of(self, name: str) -> str | None:
        """The requirement string for distribution ``name``, if listed.

        Parameters
        ----------
        name : str
            A distribution name (any spelling: it is canonicalized).

        Returns
        -------
        str or None
            The requirement string, or None.
        """
        for p in self.packages:
            if canonical(Requirement(p).name) == canonical(name):
                return p
        return None

    def with_packages(self, *packages: str) -> Environment:
        """This environment plus ``packages`` (names it already lists are kept as they are).

        Parameters
        ----------
        *packages : str
            Requirement strings to add.

        Returns
        -------
        Environment
            A new environment.
        """
        new = [p for p in packages if canonical(Requirement(p).name) not in self.names]
        return Environment([*self.packages, *new], python=self.python, left_out=self.left_out)

    def __repr__(self) -> str:
        shown = ", ".join(repr(p) for p in self.packages[:_REPR_PACKAGES])
        more = len(self.packages) - _REPR_PACKAGES
        if more > 0:
            shown += f", ... {more} more"
        extra = f", left_out={list(self.left_out)!r}" if self.left_out else ""
        return f"Environment([{shown}], python={self.python!r}{extra}, key={self.key!r})"

    # --- what runs on the node ------------------------------------------------------------------
    def setup_payload(self) -> str:
        """The installer and this environment's config, compressed for ``$BATCHNB_ENV_SETUP``.

        Returns
        -------
        str
            base64 of the zlib-compressed JSON config.
        """
        config = {"key": self.key, "python": self.python, "requirements": list(self.packages),
                  "uv_version": uv_version(), "script": _installer_source()}
        return base64.b64encode(zlib.compress(json.dumps(config).encode(), 9)).decode("ascii")

    @property
    def node_dir(self) -> str:
        """The venv's directory on a node, for sh (the variable is expanded there)."""
        return f"$AZ_BATCH_NODE_SHARED_DIR/batchnb/envs/{self.key}"

    def ensure_script(self) -> str:
        """sh lines that install the environment unless the node already has it (exit status 5 if it fails).

        Returns
        -------
        str
            The sh script.
        """
        # No quotes, $ or backslashes inside the program: it sits in double quotes in the sh script.
        decoder = ("import sys,zlib,base64,json;c=json.loads(zlib.decompress(base64.b64decode(sys.argv[1])));"
                   "g={'__name__':'batchnb_env'};exec(c.pop('script'),g);sys.exit(g['main'](c))")
        return (f'E="{self.node_dir}"; [ -f "$E/.batchnb-ready" ] || '
                f'python3 -c "{decoder}" "${ENV_SETUP_VARIABLE}" || exit $?')

    def start_command(self) -> str:
        """A start-task command line that installs the environment (a no-op where it is installed).

        Returns
        -------
        str
            The command line.
        """
        return "/bin/sh -c " + shlex.quote(self.ensure_script())

    def command(self, command: str) -> str:
        """A command line that makes sure the environment is there, then runs ``command`` with its
        ``bin`` first on PATH (so ``python`` and ``python3`` are the environment's).

        Parameters
        ----------
        command : str
            The task's own command (run by sh).

        Returns
        -------
        str
            The command line.
        """
        script = f'{self.ensure_script()}\nPATH="$E/bin:$PATH"; export PATH; exec {command}'
        return "/bin/sh -c " + shlex.quote(script)

    def path_command(self, command_line: str) -> str:
        """``command_line`` run with this environment's ``bin`` first on PATH, for a node where it is
        installed (a pool with ``python_env``). The words reach the program unchanged: Batch runs a
        command line without a shell, so each word is quoted for the ``sh`` that sets PATH.

        Parameters
        ----------
        command_line : str
            The task's command line.

        Returns
        -------
        str
            The wrapped command line.
        """
        if f"batchnb/envs/{self.key}" in command_line:
            return command_line  # already runs in it (a map() task)
        try:
            words = shlex.split(command_line)
        except ValueError:
            return command_line  # Batch will report the unbalanced quote itself
        script = f'PATH="{self.node_dir}/bin:$PATH"; export PATH; exec ' + " ".join(shlex.quote(w) for w in words)
        return "/bin/sh -c " + shlex.quote(script)

    def variables(self) -> dict[str, str]:
        """Environment variables the command needs (set them on the job or the start task), with
        ``uv_staging.uv_variables(session)`` for nodes that have no uv.

        Returns
        -------
        dict of str to str
            Name to value.
        """
        return {ENV_SETUP_VARIABLE: self.setup_payload()}

    # --- pool metadata --------------------------------------------------------------------------
    def to_metadata(self) -> str:
        """What a pool records of its environment (metadata value; see :meth:`from_metadata`).

        Returns
        -------
        str
            Compact JSON of the Python version and the packages.
        """
        return json.dumps({"python": self.python, "packages": list(self.packages)}, separators=(",", ":"))

    @classmethod
    def from_metadata(cls, text: str) -> Environment | None:
        """The environment a pool recorded, or None if the text is not one batchnb wrote.

        Parameters
        ----------
        text : str
            A pool metadata value written by :meth:`to_metadata`.

        Returns
        -------
        Environment or None
            The environment.
        """
        try:
            data = json.loads(text)
            return cls(data.get("packages") or (), python=data.get("python"))
        except (ValueError, TypeError, AttributeError, ValidationError):
            return None

"""Task factories: parameter sweeps and one-task-per-file, the way the Batch CLI extensions and
Shipyard let users describe many tasks at once.

    sweep("python train.py --lr {lr} --seed {seed:03d}", lr=[0.1, 0.01], seed=range(5))
    per_file("python convert.py {name!q}", blobs, container_url=sas_url).with_merge("python merge.py")

Templates are Python format strings. ``{x}`` inserts a value, ``{x:04d}`` formats it, and the
extra conversion ``{x!q}`` quotes it for the shell (for file names with spaces).

**Task ids are deterministic**, so that re-running the cell that adds them adds nothing twice:
with ``id_style="hash"`` (default) an id is ``<id_prefix>-<index>-<hash>``, where the hash covers
the command template and the task's parameter values: edit either and the affected tasks get new
ids instead of silently reusing old ones. ``id_style="index"`` gives ``<id_prefix>-<index>``
(``<index>`` alone with ``id_prefix=""``: integer ids, which a merge task can depend on as a
range, with no limit on the number of tasks).

**Chunking** (``chunk_size=N``) packs N items into one task. The task runs their command lines
one after another in one shell script (``/bin/sh -c``, Linux pools): every item runs even if an
earlier one failed, and the task fails if any item failed (a retry reruns the whole chunk).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import posixpath
import re
import shlex
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload
from urllib.parse import quote, urlsplit, urlunsplit

from batchnb.core.specs.models import MAX_DEPENDENCY_IDS_LENGTH, TaskSpec
from batchnb.core.specs.task_files import ResourceFileSpec, url_file_name
from batchnb.core.tasks.task_params import encode_params
from batchnb.core.validation import check_blob_name, check_choice, check_id, check_int, check_unique_ids
from batchnb.errors import ValidationError

__all__ = ["TaskList", "per_file", "sweep"]

ID_STYLES = ("hash", "index")
MODES = ("product", "zip")
DEFAULT_MAX_TASKS = 100_000
_HASH_LENGTH = 8
_MIN_INDEX_WIDTH = 5
# Sweep options that share the keyword namespace with parameters; such parameters go in params=.
_RESERVED = frozenset({"template", "mode", "id_prefix", "id_style", "start", "chunk_size", "shell",
                       "max_tasks", "task_options", "params"})
_ROW_KEYS = ("task_id", "item_index")
_TASK_OPTION_NAMES = frozenset({"display_name", "resource_files", "output_files", "environment", "max_retries",
                                "max_wall_clock", "retention", "exit_conditions", "required_slots",
                                "container_image", "app_packages", "depends_on"})


class TaskList(Sequence[TaskSpec]):
    """An immutable list of :class:`TaskSpec` with the parameters each task was made from.

    ``params`` is one dict per item (``task_id``, ``item_index`` and the item's parameters),
    ready for ``pandas.DataFrame(tasks.params)`` and a join with the job's results on ``task_id``.
    :func:`sweep` and :func:`per_file` make them; lists add (``tasks + more``) and slice.

    Parameters
    ----------
    tasks : iterable of TaskSpec
        The tasks (ids must be unique).
    params : iterable of mapping, optional
        The parameter rows.

    Raises
    ------
    batchnb.errors.ValidationError
        An item is not a TaskSpec, or two tasks share an id.
    """

    def __init__(self, tasks: Iterable[TaskSpec] = (), *, params: Iterable[Mapping[str, Any]] = ()) -> None:
        self._tasks = tuple(tasks)
        for task in self._tasks:
            if not isinstance(task, TaskSpec):
                raise ValidationError("tasks", f"has an item of type {type(task).__name__}",
                                      fix="give TaskSpec objects (or use sweep()/per_file())")
        check_unique_ids((t.id for t in self._tasks), field="tasks")
        self._params = tuple(dict(row) for row in params)

    @classmethod
    def _trusted(cls, tasks: list[TaskSpec], params: list[dict[str, Any]]) -> TaskList:
        """A list from sweep()/per_file(), which made the specs, unique ids and rows itself: no
        second check and no copy of a million rows."""
        out = cls.__new__(cls)
        out._tasks = tuple(tasks)
        out._params = tuple(params)
        return out

    # Sequence protocol ------------------------------------------------------------------------
    @overload
    def __getitem__(self, index: int) -> TaskSpec: ...
    @overload
    def __getitem__(self, index: slice) -> TaskList: ...
    def __getitem__(self, index: int | slice) -> TaskSpec | TaskList:
        if isinstance(index, slice):
            tasks = self._tasks[index]
            kept = {t.id for t in tasks}
            return TaskList(tasks, params=[r for r in self._params if r.get("task_id") in kept])
        return self._tasks[index]

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._tasks)

    def __add__(self, other: Iterable[TaskSpec]) -> TaskList:
        other_params = other.params if isinstance(other, TaskList) else []
        return TaskList([*self._tasks, *other], params=[*self._params, *other_params])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskList) and self._tasks == other._tasks and self._params == other._params

    __hash__ = None  # type: ignore[assignment]

    # What callers need ------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        """The task ids, in order."""
        return [t.id for t in self._tasks]

    @property
    def params(self) -> list[dict[str, Any]]:
        """One row per item, ``{"task_id": ..., "item_index": ..., <param>: <value>, ...}``.

        ``item_index`` is the item's position in the sweep (0-based), whatever the chunking.
        """
        return [dict(row) for row in self._params]

    @property
    def uses_dependencies(self) -> bool:
        """Whether some task depends on another (the job then needs ``uses_task_dependencies``)."""
        return any(t.uses_dependencies for t in self._tasks)

    def to_sdk(self) -> list[Any]:
        """The SDK models of every task.

        Returns
        -------
        list of azure.batch.models.BatchTaskCreateOptions
            In order.
        """
        return [t.to_sdk() for t in self._tasks]

    def with_merge(self, command_line: str, *, id: str = "merge", **task_options: Any) -> TaskList:  # noqa: A002
        """This list plus a task that runs ``command_line`` after every other task succeeded.

        When all task ids are integers, the merge task depends on id ranges (any number of tasks);
        otherwise on the list of ids, which Batch caps at 64,000 characters in total.

        >>> import batchnb
        >>> tasks = batchnb.sweep("python3 run.py {x}", x=range(3), id_style="index", id_prefix="")
        >>> merged = tasks.with_merge("python3 merge.py")
        >>> merged.ids
        ['00000', '00001', '00002', 'merge']
        >>> merged[-1].depends_on
        (range(0, 3),)

        Parameters
        ----------
        command_line : str
            The merge task's command line.
        id : str
            The merge task's id.
        **task_options
            Other :class:`TaskSpec` options of the merge task (not ``depends_on``).

        Returns
        -------
        TaskList
            A new list ending with the merge task.

        Raises
        ------
        batchnb.errors.ValidationError
            The list is empty, the id is taken, or the ids are too long to depend on.
        """
        if not self._tasks:
            raise ValidationError("with_merge", "the list has no tasks to merge",
                                  fix="build the tasks first, e.g. sweep(...).with_merge(...)")
        if "depends_on" in task_options:
            raise ValidationError("with_merge", "sets depends_on itself",
                                  fix="drop depends_on; the merge task depends on every task in the list")
        if isinstance(id, str) and id.lower() in {i.lower() for i in self.ids}:
            raise ValidationError("with_merge.id", f"{id!r} is already a task in the list",
                                  fix="give the merge task another id, e.g. with_merge(..., id='merge-all')")
        merge = TaskSpec(id, command_line, depends_on=_dependency_list(self.ids), **task_options)
        return TaskList([*self._tasks, merge], params=self._params)

    def __repr__(self) -> str:
        if not self._tasks:
            return "TaskList([])"
        span = repr(self._tasks[0].id) if len(self) == 1 else f"{self._tasks[0].id!r} .. {self._tasks[-1].id!r}"
        deps = ", uses_dependencies=True" if self.uses_dependencies else ""
        return f"TaskList({len(self)} tasks: {span}{deps})"


def _dependency_list(ids: Sequence[str]) -> list[str | range]:
    if all(i.isdigit() for i in ids):
        # Batch matches ranges by integer value ("007" is 7), so consecutive values form one range.
        values = sorted({int(i) for i in ids})
        ranges: list[str | range] = []
        run_start = previous = values[0]
        for value in values[1:]:
            if value != previous + 1:
                ranges.append(range(run_start, previous + 1))
                run_start = value
            previous = value
        ranges.append(range(run_start, previous + 1))
        return ranges
    total = sum(len(i) for i in ids)
    if total > MAX_DEPENDENCY_IDS_LENGTH:
        raise ValidationError(
            "with_merge", f"{len(ids)} task ids add up to {total} characters, over Batch's "
            f"{MAX_DEPENDENCY_IDS_LENGTH}-character limit for one task's dependencies",
            fix="make the task ids integers (sweep(..., id_style='index', id_prefix='')) so the merge "
                "task can depend on a range")
    return list(ids)


# ------------------------------------------------------------------------------------ templates


class _TemplateFormatter(string.Formatter):
    """str.format plus ``!q``: shell-quote the value."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "q":
            return shlex.quote(str(value))
        return super().convert_field(value, conversion)


_FORMATTER = _TemplateFormatter()


def _template_fields(template: str) -> list[str]:
    """Root names used in ``template`` (``{x.real}`` -> ``x``), checked for positional fields."""
    names = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValidationError("template", f"is not a valid format string ({exc})",
                              fix="balance the braces; write '{{' and '}}' for literal braces") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        root = re.match(r"[^.\[]*", name).group(0)  # type: ignore[union-attr]
        if root == "" or root.isdigit():
            raise ValidationError("template", f"has a positional field '{{{name}}}'",
                                  fix="name every field after a parameter, e.g. '{x}'")
        if conversion not in (None, "r", "s", "a", "q"):
            raise ValidationError("template", f"field '{{{name}}}' has the unknown conversion '!{conversion}'",
                                  fix="use !q to shell-quote, or !r / !s")
        names.append(root)
        if spec:
            names.extend(_template_fields(spec))
    return names


def _check_template(template: object, known: Sequence[str]) -> str:
    if not isinstance(template, str) or not template.strip():
        raise ValidationError("template", f"must be a non-empty command template, got {template!r}",
                              fix="give a command such as \"python run.py --x {x}\"")
    for name in _template_fields(template):
        if name not in known:
            listed = ", ".join(repr(k) for k in known) or "none"
            raise ValidationError("template", f"uses '{{{name}}}', which is not a parameter",
                                  fix=f"pass {name}=... or fix the name; known parameters: {listed}")
    return template


def _render(template: str, values: Mapping[str, Any]) -> str:
    try:
        return _FORMATTER.vformat(template, (), values)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if k != "url")
        raise ValidationError("template", f"cannot be filled with {shown}: {exc}",
                              fix="make the format spec match the values, e.g. '{n:04d}' needs an int") from None


def _chunk_command(commands: Sequence[str], *, shell: str) -> str:
    if len(commands) == 1:
        return commands[0]
    # Every item runs; the task's exit code says whether any failed.
    script = "rc=0\n" + "".join(f"{c} || rc=1\n" for c in commands) + "exit $rc"
    return f"{shell} -c {shlex.quote(script)}"


def _task_id(prefix: str, index: int, width: int, digest: str | None) -> str:
    parts = [p for p in (prefix, f"{index:0{width}d}", digest) if p]
    return "-".join(parts)


def _digest(template: str, items: Sequence[Mapping[str, Any]]) -> str:
    payload = json.dumps({"template": template, "items": list(items)}, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:_HASH_LENGTH]


def _digester(template: str):
    """``_digest`` for one template, several times faster: the same JSON text, built from the
    JSON of each parameter value (made once per distinct value) around a fixed tail (``sort_keys``
    puts "items" before "template"), so the ids stay what they always were."""
    tail = '], "template": ' + json.dumps(template) + "}"
    dumps = json.JSONEncoder(sort_keys=True, default=repr).encode
    sha256 = hashlib.sha256
    fragments: dict[tuple[type, Any], str] = {}  # (type, value): 1, 1.0 and True are equal keys otherwise
    keys: dict[str, str] = {}

    def item_json(item: Mapping[str, Any]) -> str:
        if item.__class__ is not dict:
            return dumps(item)
        parts = []
        for name in sorted(item):
            value = item[name]
            try:
                fragment = fragments.get((value.__class__, value))
            except TypeError:  # unhashable (a list, a dict): encoded each time
                fragment = None
                cacheable = False
            else:
                cacheable = True
            if fragment is None:
                fragment = dumps(value)
                if cacheable and len(fragments) < 100_000:
                    fragments[(value.__class__, value)] = fragment
            key = keys.get(name)
            if key is None:
                key = keys[name] = dumps(name) if name.__class__ is str else ""
            if not key:
                return dumps(item)  # non-string keys: let the encoder sort and name them
            parts.append(key + ": " + fragment)
        return "{" + ", ".join(parts) + "}"

    def digest(items: Sequence[Mapping[str, Any]]) -> str:
        payload = '{"items": [' + ", ".join([item_json(item) for item in items]) + tail
        return sha256(payload.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    return digest


def _renderer(template: str):
    """``_render`` for one template: plain ``str.format_map`` (C) when it has no ``!q`` field."""
    if any(conversion == "q" for _, _, _, conversion in _FORMATTER.parse(template)):
        return lambda values: _render(template, values)
    fmt = template.format_map

    def render(values: Mapping[str, Any]) -> str:
        try:
            return fmt(values)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            return _render(template, values)  # raises the ValidationError naming the values
    return render


def _build(
    template: str,
    items: Sequence[dict[str, Any]],
    *,
    hash_items: Sequence[Mapping[str, Any]],
    resource_files: Sequence[Sequence[ResourceFileSpec]] | None,
    row_keys: Sequence[str],
    id_prefix: str,
    id_style: str,
    start: int,
    chunk_size: int,
    shell: str,
    max_tasks: int,
    task_options: Mapping[str, Any] | None,
) -> TaskList:
    id_style = check_choice(id_style, field="id_style", choices=ID_STYLES)
    start = check_int(start, field="start", minimum=0)
    chunk_size = check_int(chunk_size, field="chunk_size", minimum=1)
    max_tasks = check_int(max_tasks, field="max_tasks", minimum=1)
    if not isinstance(id_prefix, str):
        raise ValidationError("id_prefix", f"must be a string, got {type(id_prefix).__name__}",
                              fix="give a short prefix such as 'task', or ''")
    if id_prefix:
        check_id(id_prefix, field="id_prefix")
    options = dict(task_options or {})
    unknown = set(options) - _TASK_OPTION_NAMES
    if unknown:
        raise ValidationError("task_options", f"has unknown option(s) {', '.join(sorted(map(repr, unknown)))}",
                              fix=f"use TaskSpec options: {', '.join(sorted(_TASK_OPTION_NAMES))}")
    extra_files = tuple(options.pop("resource_files", ()) or ())

    n_tasks = math.ceil(len(items) / chunk_size)
    if n_tasks > max_tasks:
        raise ValidationError("max_tasks", f"this would make {n_tasks} tasks, more than max_tasks={max_tasks}",
                              fix="check the parameter lists, raise max_tasks, or use chunk_size to pack items")
    width = max(_MIN_INDEX_WIDTH, len(str(start + n_tasks - 1)))
    longest = _task_id(id_prefix, start + n_tasks - 1, width, "x" * _HASH_LENGTH if id_style == "hash" else None)
    if len(longest) > 64:
        raise ValidationError("id_prefix", f"{id_prefix!r} makes task ids like {longest!r}, over 64 characters",
                              fix=f"shorten id_prefix to at most {len(id_prefix) - (len(longest) - 64)} characters")

    tasks: list[TaskSpec] = []
    rows: list[dict[str, Any]] = []
    digest_of = _digester(template)
    render = _renderer(template)
    first: TaskSpec | None = None
    for number in range(n_tasks):
        lo, hi = number * chunk_size, min(len(items), (number + 1) * chunk_size)
        chunk = items[lo:hi]
        digest = digest_of(hash_items[lo:hi]) if id_style == "hash" else None
        task_id = _task_id(id_prefix, start + number, width, digest)
        command = _chunk_command([render(values) for values in chunk], shell=shell)
        files = [f for per_item in (resource_files[lo:hi] if resource_files else []) for f in per_item]
        paths = [f.file_path for f in files]
        if len(set(paths)) != len(paths):
            duplicate = next(p for p in paths if paths.count(p) > 1)
            raise ValidationError("blobs", f"two files in task {task_id!r} would both be downloaded to {duplicate!r}",
                                  fix="pass (blob_name, url) pairs so that files keep their folders, or chunk_size=1")
        # Stored with the task, so a re-attached job still shows which values it ran with.
        display_name = (encode_params({k: chunk[0][k] for k in row_keys})
                        if len(chunk) == 1 and row_keys and "display_name" not in options else None)
        # The first task validates the shared options; the others only what differs (_sibling).
        if first is None:
            named = dict(options) if display_name is None else {**options, "display_name": display_name}
            first = TaskSpec(task_id, command, resource_files=[*extra_files, *files], **named)
            tasks.append(first)
        else:
            tasks.append(first._sibling(task_id, command, (*extra_files, *files), display_name))
        for offset, values in enumerate(chunk):
            row = {"task_id": task_id, "item_index": lo + offset}
            row.update({k: values[k] for k in row_keys})
            rows.append(row)
    return TaskList._trusted(tasks, rows)


# ---------------------------------------------------------------------------------------- sweep


def _values(name: str, value: Any) -> tuple[list[Any], bool]:
    """The values of one parameter, and whether it was a single (broadcastable) value."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        return [value], True
    values = list(value)
    if not values:
        raise ValidationError(name, "has no values", fix=f"give at least one value, e.g. {name}=[1, 2, 3]")
    return values, False


def sweep(
    template: str,
    *,
    mode: str = "product",
    id_prefix: str = "task",
    id_style: str = "hash",
    start: int = 0,
    chunk_size: int = 1,
    shell: str = "/bin/sh",
    max_tasks: int = DEFAULT_MAX_TASKS,
    task_options: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> TaskList:
    """One task per combination of parameter values.

    >>> import batchnb
    >>> tasks = batchnb.sweep("python3 train.py --lr {lr} --seed {seed}", lr=[0.1, 0.01], seed=range(3))
    >>> len(tasks)
    6
    >>> tasks[0].command_line
    'python3 train.py --lr 0.1 --seed 0'
    >>> tasks.params[1]["seed"]
    1

    Parameters
    ----------
    template : str
        The command line as a Python format string: ``{x}`` inserts a value, ``{x:04d}``
        formats it, ``{x!q}`` quotes it for the shell.
    mode : {"product", "zip"}
        ``"product"``: every combination (the last parameter varies fastest). ``"zip"``: the
        i-th values together (lists must be equally long; single values repeat).
    id_prefix : str
        Task ids start with this.
    id_style : {"hash", "index"}
        ``"hash"``: ``<prefix>-<index>-<hash of template and values>``; ``"index"``:
        ``<prefix>-<index>`` (integer ids with ``id_prefix=""``). Indexes are zero-padded to
        at least five digits.
    start : int
        The first task index (for a second batch of the same prefix).
    chunk_size : int
        Items per task (their command lines run one after another in one shell script).
    shell : str
        The shell that runs a chunk.
    max_tasks : int
        Refuse to make more tasks than this (a typo in a range should not make millions).
    task_options : mapping, optional
        :class:`TaskSpec` options given to every task (``output_files``, ``max_retries``...).
    params : mapping, optional
        Parameters whose names clash with these options.
    **kwargs
        The parameters: a list, range or other iterable is several values; a string or other
        single value is one.

    Returns
    -------
    TaskList
        The tasks, with ``params`` saying which values each one got.

    Raises
    ------
    batchnb.errors.ValidationError
        Unknown template names, mismatched zip lengths, empty lists, or more than
        ``max_tasks`` tasks.
    """
    all_params = dict(params or {})
    for name, value in kwargs.items():
        if name in all_params:
            raise ValidationError(name, "is given both as a keyword and in params=", fix="give it once")
        all_params[name] = value
    for name in all_params:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValidationError("params", f"{name!r} is not a valid parameter name",
                                  fix="use Python identifiers such as 'learning_rate'")
        if name in _ROW_KEYS:
            raise ValidationError(name, "is a reserved column of TaskList.params", fix="rename the parameter")
    if not all_params:
        raise ValidationError("params", "no parameters given",
                              fix="pass parameters as keywords, e.g. sweep('run {x}', x=range(10))")
    used = _template_fields(template) if isinstance(template, str) else []
    for name in used:
        if name in _RESERVED and name not in all_params:
            raise ValidationError("template", f"uses '{{{name}}}', which is also a sweep() option",
                                  fix=f"pass it as params={{'{name}': [...]}}")
    _check_template(template, list(all_params))
    mode = check_choice(mode, field="mode", choices=MODES)

    columns = {name: _values(name, value) for name, value in all_params.items()}
    names = list(columns)
    if mode == "product":
        n_items = math.prod(len(v) for v, _ in columns.values())
        if math.ceil(n_items / max(1, chunk_size if isinstance(chunk_size, int) else 1)) > max_tasks:
            raise ValidationError(
                "max_tasks", f"the product of {' x '.join(f'{n}={len(v)}' for n, (v, _) in columns.items())} "
                f"is {n_items} items, more than max_tasks={max_tasks}",
                fix="check the parameter lists, raise max_tasks, or use chunk_size to pack items")
        combos: Iterable[tuple[Any, ...]] = itertools.product(*(v for v, _ in columns.values()))
    else:
        lengths = {n: len(v) for n, (v, single) in columns.items() if not single}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{n}={length}" for n, length in lengths.items())
            raise ValidationError("mode", f"'zip' needs equally long parameters, got lengths {shown}",
                                  fix="make the lists the same length, or use mode='product'")
        n_items = next(iter(lengths.values()), 1)
        combos = zip(*(v * n_items if single else v for v, single in columns.values()))
    items = [dict(zip(names, combo)) for combo in combos]
    return _build(template, items, hash_items=items, resource_files=None, row_keys=names,
                  id_prefix=id_prefix, id_style=id_style, start=start, chunk_size=chunk_size, shell=shell,
                  max_tasks=max_tasks, task_options=task_options)


# ------------------------------------------------------------------------------------- per_file

_PER_FILE_FIELDS = ("url", "name", "stem", "blob", "path")


def _container_blob_url(container_url: str, blob: str) -> str:
    parts = urlsplit(container_url)
    path = parts.path.rstrip("/") + "/" + quote(blob, safe="/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _file_item(entry: Any, *, container_url: str | None) -> tuple[dict[str, Any], str]:
    """-> (template values, stable key for the id hash: blob name or URL without its SAS)."""
    if isinstance(entry, tuple) and len(entry) == 2:
        blob, url = entry
        check_blob_name(blob, field="blobs")
        key = blob
        path = blob
    elif isinstance(entry, str) and entry.lower().startswith(("http://", "https://")):
        url = entry
        blob = url_file_name(entry)
        if not blob:
            raise ValidationError("blobs", "has a URL without a file name",
                                  fix="give blob URLs, or (blob_name, url) pairs")
        key = urlunsplit(urlsplit(entry)._replace(query="", fragment=""))
        path = blob
    elif isinstance(entry, str):
        check_blob_name(entry, field="blobs")
        blob, key, path = entry, entry, entry
        url = _container_blob_url(container_url, entry) if container_url else None
    else:
        raise ValidationError("blobs", f"has an item of type {type(entry).__name__}",
                              fix="give blob names, blob URLs, or (blob_name, url) pairs")
    name = posixpath.basename(blob)
    stem, _ = posixpath.splitext(name)
    return {"url": url, "name": name, "stem": stem or name, "blob": blob, "path": path}, key


def per_file(
    template: str,
    blobs: Iterable[str | tuple[str, str]],
    *,
    container_url: str | None = None,
    download: bool | None = None,
    id_prefix: str = "file",
    id_style: str = "hash",
    start: int = 0,
    chunk_size: int = 1,
    shell: str = "/bin/sh",
    max_tasks: int = DEFAULT_MAX_TASKS,
    task_options: Mapping[str, Any] | None = None,
) -> TaskList:
    """One task per blob (or per ``chunk_size`` blobs).

    ``TaskList.params`` never contains URLs, so SAS tokens do not end up in DataFrames.

    Parameters
    ----------
    template : str
        The command line. Fields: ``{url}`` the SAS URL, ``{blob}`` the blob name, ``{path}``
        where the file is downloaded in the working directory (the blob name, keeping
        folders; the file name for bare URLs), ``{name}`` the file name, ``{stem}`` the file
        name without extension.
    blobs : iterable of str or tuple
        Blob names (with ``container_url``), blob URLs, or ``(blob_name, url)`` pairs.
    container_url : str, optional
        The container's SAS URL, to make the URLs of bare blob names.
    download : bool, optional
        Download each task's file(s) as resource files (default: whenever the URL is known).
    id_prefix, id_style, start, chunk_size, shell, max_tasks, task_options
        As for :func:`sweep`.

    Returns
    -------
    TaskList
        The tasks, with ``params`` naming each task's blob.

    Raises
    ------
    batchnb.errors.ValidationError
        A bad URL or blob list, unknown template names, or more than ``max_tasks`` tasks.
    """
    if container_url is not None and not (isinstance(container_url, str)
                                          and container_url.lower().startswith(("http://", "https://"))):
        raise ValidationError("container_url", "is not an http(s) URL",
                              fix="give the container's SAS URL (session.storage can make one)")
    if isinstance(blobs, (str, bytes)) or not isinstance(blobs, Iterable):
        raise ValidationError("blobs", f"must be a list of blobs, got {type(blobs).__name__}",
                              fix="give a list of blob names, URLs or (name, url) pairs")
    pairs = [_file_item(entry, container_url=container_url) for entry in blobs]
    if not pairs:
        raise ValidationError("blobs", "is empty", fix="give at least one blob (check the container and prefix)")
    _check_template(template, _PER_FILE_FIELDS)
    items = [values for values, _ in pairs]
    missing_url = [v["blob"] for v in items if v["url"] is None]
    if missing_url and ("url" in _template_fields(template) or download):
        raise ValidationError("container_url", f"is needed: blob {missing_url[0]!r} has no URL",
                              fix="pass container_url=<container SAS URL>, or (blob_name, url) pairs")
    keys = [key for _, key in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValidationError("blobs", f"lists {duplicate!r} more than once", fix="give each blob once")
    fetch = download if download is not None else not missing_url
    files = [[ResourceFileSpec(http_url=v["url"], file_path=v["path"])] for v in items] if fetch else None
    return _build(template, items, hash_items=[{"blob": key} for _, key in pairs], resource_files=files,
                  row_keys=("blob", "name", "stem", "path"), id_prefix=id_prefix, id_style=id_style,
                  start=start, chunk_size=chunk_size, shell=shell, max_tasks=max_tasks, task_options=task_options)

"""What to create: pools, jobs and tasks, as validated, immutable specs.

A spec checks everything it can when it is built (so a mistake fails in the cell that made it,
before any request), and turns into the azure-batch model with ``to_sdk()``. The same spec
works against Azure and the local service: only the session that sends it differs.

    pool = PoolSpec("p1", vm_size="standard_d2s_v3", dedicated_nodes=2, task_slots_per_node=4)
    job = JobSpec("j1", pool="p1", max_task_retries=2)
    task = TaskSpec("t-001", "python run.py --n 1", max_wall_clock=600)

Sequences given to a spec are stored as tuples and dicts are copied, so a spec does not change
when the list it was built from does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, cast

from azure.batch import models as batch_models

from batchnb.core.redact import redacted_repr
from batchnb.core.specs.autoscale_presets import MAX_FORMULA_LENGTH, PRESETS, is_preset, preset_formula
from batchnb.core.specs.environment import ENV_METADATA, Environment
from batchnb.core.specs.exit_conditions import build_exit_conditions
from batchnb.core.specs.images import DEFAULT_IMAGE, IMAGE_PRESETS, ImageReference, check_size_and_image, resolve_image
from batchnb.core.specs.task_files import OutputFileSpec, ResourceFileSpec, to_output_file, to_resource_file
from batchnb.core.specs.vm_sizes import check_vm_size, max_task_slots, vm_size_facts
from batchnb.core.validation import (
    check_choice,
    check_command_line,
    check_display_name,
    check_environment,
    check_id,
    check_int,
    check_metadata,
    to_timedelta,
)
from batchnb.errors import ValidationError

__all__ = [
    "IMAGE_PRESETS",
    "ImageReference",
    "JobSpec",
    "OutputFileSpec",
    "PoolSpec",
    "ResourceFileSpec",
    "StartTaskSpec",
    "TaskSpec",
]

MAX_TASK_SLOTS_PER_NODE = 256
MAX_APP_PACKAGES = 10
MAX_DEPENDENCY_IDS_LENGTH = 64000
NODE_FILL_TYPES = ("spread", "pack")
ALL_TASKS_COMPLETE_MODES = ("noaction", "terminatejob")
TASK_FAILURE_MODES = ("noaction", "performexitoptionsjobaction")
_RESIZE_TIMEOUT_MIN = dt.timedelta(minutes=5)
_AUTOSCALE_INTERVAL_MIN = dt.timedelta(minutes=5)
_AUTOSCALE_INTERVAL_MAX = dt.timedelta(hours=168)
_RELEASE_TASK_MAX_WALL_CLOCK = dt.timedelta(minutes=15)


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields in __post_init__ (lists -> tuples, names ->
    # canonical spelling); that is the one place a field is written after construction.
    object.__setattr__(obj, name, value)


def _env_settings(env: Mapping[str, str]) -> list[batch_models.EnvironmentSetting] | None:
    return [batch_models.EnvironmentSetting(name=k, value=v) for k, v in env.items()] or None


def _metadata_items(metadata: Mapping[str, str]) -> list[batch_models.BatchMetadataItem] | None:
    return [batch_models.BatchMetadataItem(name=k, value=v) for k, v in metadata.items()] or None


def _as_tuple(value: object, *, field: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValidationError(field, f"must be a list, got {type(value).__name__}",
                              fix=f"wrap it in a list: {field}=[...]")
    return tuple(value)


def _app_packages(value: object, *, field: str = "app_packages") -> tuple[tuple[str, str | None], ...]:
    """``"app"``, ``"app:1.0"``, ``("app", "1.0")`` or SDK references -> ((app, version), ...)."""
    out = []
    for item in _as_tuple(value, field=field):
        if isinstance(item, batch_models.BatchApplicationPackageReference):
            app, version = item.application_id, item.version
        elif isinstance(item, str):
            app, _, version_text = item.partition(":")
            version = version_text or None
        elif isinstance(item, tuple) and len(item) == 2:
            app, version = item
        else:
            raise ValidationError(field, f"has {item!r}", fix="give 'app', 'app:version' or ('app', 'version')")
        if not isinstance(app, str) or not app.strip():
            raise ValidationError(field, f"has an empty application id in {item!r}",
                                  fix="give 'app', 'app:version' or ('app', 'version')")
        out.append((app.strip(), version))
    if len(out) > MAX_APP_PACKAGES:
        raise ValidationError(field, f"has {len(out)} packages", fix=f"Batch allows at most {MAX_APP_PACKAGES}")
    return tuple(out)


def _td(value: object) -> dt.timedelta | None:
    """A duration field as ``__post_init__`` left it: a timedelta (it accepts seconds and ISO text)."""
    return cast("dt.timedelta | None", value)


def _app_package_refs(packages: Sequence[Any]) -> list[batch_models.BatchApplicationPackageReference] | None:
    """``packages`` as ``_app_packages`` normalized them: (application id, version or None) pairs."""
    return [batch_models.BatchApplicationPackageReference(application_id=a, version=v) for a, v in packages] or None


def _check_files(value: object, *, field: str, convert: Any) -> tuple[Any, ...]:
    items = _as_tuple(value, field=field)
    for item in items:
        convert(item, field=field)  # validates the type now, not at submission time
    return items


# ----------------------------------------------------------------------------------- start task


@dataclass(frozen=True, repr=False)
class StartTaskSpec:
    """The command every node runs when it joins the pool (install software, warm caches).

    Parameters
    ----------
    command_line : str
        Run without a shell, as Batch does (``/bin/sh -c '...'`` for shell syntax).
    resource_files : sequence of ResourceFileSpec, optional
        Files downloaded to the start task's directory first (SDK ``ResourceFile`` objects and
        SAS URL strings are accepted too).
    environment : mapping of str to str, optional
        Environment variables of the start task.
    max_retries : int
        How often a failing start task is retried (-1: until it succeeds).
    wait_for_success : bool
        Keep tasks off a node until its start task succeeded.
    elevated : bool
        Run as the pool-wide admin user (needed for ``apt-get`` and the like).

    Raises
    ------
    batchnb.errors.ValidationError
        A field is invalid (the message names it and the fix).
    """

    command_line: str
    _: KW_ONLY
    resource_files: Sequence[ResourceFileSpec | batch_models.ResourceFile | str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    max_retries: int = 0
    wait_for_success: bool = True
    elevated: bool = False

    def __post_init__(self) -> None:
        check_command_line(self.command_line, field="start_task.command_line")
        _set(self, "resource_files", _check_files(self.resource_files, field="start_task.resource_files",
                                                  convert=to_resource_file))
        _set(self, "environment", check_environment(self.environment, field="start_task.environment"))
        check_int(self.max_retries, field="start_task.max_retries", minimum=0, special={-1: "retry until it succeeds"})

    def to_sdk(self, *, command_prefix: Sequence[str] = (), os_type: str = "linux",
               extra_environment: Mapping[str, str] | None = None) -> batch_models.BatchStartTask:
        """The SDK start task.

        Parameters
        ----------
        command_prefix : sequence of str
            Command lines run before this start task's own (see :meth:`PoolSpec.to_sdk`).
        os_type : {"linux", "windows"}
            How several lines are joined into one command line.
        extra_environment : mapping of str to str, optional
            Variables added under this spec's own ``environment``.

        Returns
        -------
        azure.batch.models.BatchStartTask
            The model to send.
        """
        environment = {**(extra_environment or {}), **self.environment}
        return batch_models.BatchStartTask(
            command_line=_compose_command([*command_prefix, self.command_line], os_type=os_type),
            resource_files=[to_resource_file(r) for r in self.resource_files] or None,
            environment_settings=_env_settings(environment),
            max_task_retry_count=self.max_retries,
            wait_for_success=self.wait_for_success,
            user_identity=batch_models.UserIdentity(auto_user=batch_models.AutoUserSpecification(
                scope="pool", elevation_level="admin")) if self.elevated else None,
        )

    def __repr__(self) -> str:
        return redacted_repr(self)


def _compose_command(lines: Sequence[str], *, os_type: str) -> str:
    """One command line that runs ``lines`` in order (Batch runs a command line without a shell).

    A single line is sent as is. Several are joined into one shell script, one per line (so that a
    backgrounded ``cmd &`` prefix stays valid); the exit status is the last line's.
    """
    if len(lines) == 1:
        return lines[0]
    if os_type == "windows":
        return 'cmd /c "' + " & ".join(lines) + '"'
    return "/bin/sh -c " + shlex.quote("\n".join(lines))


# ------------------------------------------------------------------------------------------ pool


@dataclass(frozen=True, repr=False)
class PoolSpec:
    """A pool of compute nodes.

    Size it with fixed counts (``dedicated_nodes``, ``spot_nodes``) or with ``autoscale``.
    Everything is checked when the spec is built:

    >>> import batchnb
    >>> spec = batchnb.PoolSpec("p1", vm_size="standard_d2s_v3", dedicated_nodes=2, task_slots_per_node=4)
    >>> spec.task_slots_per_node
    4
    >>> batchnb.PoolSpec("p1", vm_size="standard_d2s_v3", dedicated_nodes=-1)
    Traceback (most recent call last):
    ...
    batchnb.errors.ValidationError: dedicated_nodes: ...

    Parameters
    ----------
    id : str
        The pool's id (letters, digits, ``-`` and ``_``; at most 64 characters).
    vm_size : str
        The VM size, checked against the sizes batchnb knows (see ``allow_unknown_vm_size``). A
        known size must boot the image (hypervisor generation and CPU architecture: e.g. the v6
        sizes need a Gen2 image, Av2 a Gen1 one) and has at most min(4 x vCPUs, 256) task slots,
        as Azure enforces.
    image : str or ImageReference
        An image preset name (``"ubuntu-24.04"`` by default, ``"ubuntu-22.04-gen2"``...; see
        ``batchnb.core.specs.images.IMAGE_PRESETS``) or an explicit image.
    display_name : str, optional
        A name for people.
    dedicated_nodes, spot_nodes : int
        Fixed node counts (spot nodes are cheaper and may be preempted).
    autoscale : str, optional
        A preset (``"queue"``, ``"queue-spot"``, ``"queue-mixed"``; they need
        ``autoscale_max_nodes``) or a formula of your own; not with fixed counts.
    autoscale_max_nodes, autoscale_min_nodes : int
        The bounds of an autoscale preset.
    autoscale_interval : timedelta, float or str, optional
        How often Batch evaluates the formula (5 minutes to 168 hours).
    task_slots_per_node : int
        Tasks a node runs at once (1 to min(4 x vCPUs, 256)).
    node_fill : {"spread", "pack"}
        Spread tasks over the nodes, or fill one node's slots first.
    start_task : StartTaskSpec or str, optional
        What every node runs when it joins the pool.
    environment : mapping of str to str, optional
        Given to the start task (Batch has no pool-wide environment; use
        ``JobSpec.environment`` for tasks). Needs a start task.
    app_packages : sequence, optional
        Application packages: ``"app"``, ``"app:version"`` or ``("app", "version")``.
    container_images : sequence of str, optional
        Images to prefetch; makes a container pool (needs an image with a container runtime).
    metadata : mapping of str to str, optional
        Name/value pairs stored with the pool.
    metrics : bool
        Have the session add the node utilization sampler to the start task, for
        ``pool.monitor()``.
    resize_timeout : timedelta, float or str, optional
        How long an allocation may take (fixed-size pools; at least 5 minutes).
    allow_unknown_vm_size : bool
        Accept any ``Standard_*`` VM size name.
    python_env : Environment, optional
        A :class:`batchnb.Environment` installed on every node by the start task, before any task
        runs there; ``session.map()`` on the pool then uses it (``environment`` was already taken:
        it holds the start task's variables, as in Batch).

    Raises
    ------
    batchnb.errors.ValidationError
        A field or a combination of fields is invalid (the message names it and the fix).
    """

    id: str
    _: KW_ONLY
    vm_size: str
    image: str | ImageReference = DEFAULT_IMAGE
    display_name: str | None = None
    dedicated_nodes: int = 0
    spot_nodes: int = 0
    autoscale: str | None = None
    autoscale_max_nodes: int | None = None
    autoscale_min_nodes: int = 0
    autoscale_interval: dt.timedelta | float | str | None = None
    task_slots_per_node: int = 1
    node_fill: str = "spread"
    start_task: StartTaskSpec | str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    app_packages: Sequence[str | tuple[str, str] | batch_models.BatchApplicationPackageReference] = ()
    container_images: Sequence[str] | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    metrics: bool = False
    python_env: Environment | None = None
    resize_timeout: dt.timedelta | float | str | None = None
    allow_unknown_vm_size: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> PoolSpec:
        """Check every field and combination; normalise in place. Called by the constructor."""
        check_id(self.id, field="pool.id")
        check_display_name(self.display_name, field="pool.display_name")
        _set(self, "vm_size", check_vm_size(self.vm_size, allow_unknown=self.allow_unknown_vm_size))
        image = resolve_image(self.image)
        check_int(self.dedicated_nodes, field="dedicated_nodes", minimum=0)
        check_int(self.spot_nodes, field="spot_nodes", minimum=0)
        check_int(self.task_slots_per_node, field="task_slots_per_node", minimum=1, maximum=MAX_TASK_SLOTS_PER_NODE)
        self._validate_hardware(image)
        _set(self, "node_fill", check_choice(self.node_fill, field="node_fill", choices=NODE_FILL_TYPES))
        _set(self, "resize_timeout", to_timedelta(self.resize_timeout, field="resize_timeout",
                                                  minimum=_RESIZE_TIMEOUT_MIN))
        self._validate_autoscale()
        if isinstance(self.start_task, str):
            _set(self, "start_task", StartTaskSpec(self.start_task))
        elif self.start_task is not None and not isinstance(self.start_task, StartTaskSpec):
            raise ValidationError("start_task", f"has the wrong type {type(self.start_task).__name__}",
                                  fix="give a command line string or StartTaskSpec(...)")
        if isinstance(self.environment, Environment):
            raise ValidationError("environment", "holds the start task's variables, and got a batchnb.Environment",
                                  fix="give it as python_env=... (the packages the nodes install)")
        _set(self, "environment", check_environment(self.environment))
        if self.environment and self.start_task is None:
            raise ValidationError(
                "environment", "is set but the pool has no start task to give it to",
                fix="add start_task=..., or set environment on the JobSpec (it reaches every task of the job)")
        _set(self, "app_packages", _app_packages(self.app_packages))
        if self.container_images is not None:
            images = _as_tuple(self.container_images, field="container_images")
            for name in images:
                if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
                    raise ValidationError("container_images", f"has {name!r}",
                                          fix="give image names such as 'python:3.11-slim'")
            if not image.supports_containers:
                capable = [n for n, ref in IMAGE_PRESETS.items() if ref.supports_containers]
                raise ValidationError(
                    "container_images", f"need an image with a container runtime, and {self.image!r} has none",
                    fix=f"use image={capable[0]!r}, or an ImageReference(..., supports_containers=True)")
            _set(self, "container_images", images)
        _set(self, "metadata", check_metadata(self.metadata))
        self._validate_windows(image)
        if self.python_env is not None:
            if not isinstance(self.python_env, Environment):
                raise ValidationError("python_env", f"has the wrong type {type(self.python_env).__name__}",
                                      fix="give batchnb.Environment([...]) or batchnb.Environment.from_kernel()")
            if image.os_type != "linux":
                raise ValidationError("python_env", f"needs a Linux image, and {self.image!r} is not one",
                                      fix="use image='ubuntu-22.04' or 'ubuntu-24.04'")
        return self

    def _validate_windows(self, image: ImageReference) -> None:
        """Windows nodes have no /bin/sh or python3: refuse the options whose start task needs them
        (on Azure every node would end 'starttaskfailed' and no task would ever run)."""
        if image.os_type != "windows":
            return
        if self.metrics:
            raise ValidationError("metrics", "needs a Linux image: the utilization sampler's start task runs "
                                  "/bin/sh and python3, which Windows nodes do not have",
                                  fix="set metrics=False, or use a Linux image such as 'ubuntu-24.04'")
        command = self.start_task.command_line if isinstance(self.start_task, StartTaskSpec) else ""
        if command.lstrip().startswith(("/bin/sh", "/bin/bash", "sh -c", "bash -c")):
            raise ValidationError("start_task", "runs a POSIX shell, which Windows nodes do not have "
                                  "(batchnb.map_start_task() is Linux-only)",
                                  fix="use a cmd /c or powershell command line, or a Linux image such as 'ubuntu-24.04'")

    def _validate_hardware(self, image: ImageReference) -> None:
        """Azure's rules between the VM size, the image and the slots (known sizes only)."""
        size = vm_size_facts(self.vm_size)
        label = repr(self.image) if isinstance(self.image, str) else "the ImageReference"
        check_size_and_image(size, image, image_label=label)
        cap = max_task_slots(self.vm_size)
        if size is not None and self.task_slots_per_node > cap:
            raise ValidationError(
                "task_slots_per_node", f"is {self.task_slots_per_node}, but Batch allows at most {cap} on "
                f"{size.name} (4 per vCPU, {size.vcpus} vCPUs)",
                fix=f"use task_slots_per_node <= {cap}, or a vm_size with more vCPUs")

    def _validate_autoscale(self) -> None:
        if self.autoscale is None:
            if self.autoscale_max_nodes is not None or self.autoscale_interval is not None:
                given = "autoscale_max_nodes" if self.autoscale_max_nodes is not None else "autoscale_interval"
                raise ValidationError(given, "only applies with autoscale",
                                      fix=f"set autoscale='queue' (or a formula), or drop {given}")
            return
        if not isinstance(self.autoscale, str) or not self.autoscale.strip():
            raise ValidationError("autoscale", f"must be a preset name or a formula, got {self.autoscale!r}",
                                  fix=f"use one of {', '.join(repr(p) for p in PRESETS)}, or a formula")
        if self.dedicated_nodes or self.spot_nodes:
            counts = "dedicated_nodes" if self.dedicated_nodes else "spot_nodes"
            raise ValidationError(counts, "cannot be combined with autoscale (the formula sets the node counts)",
                                  fix=f"drop {counts}, or drop autoscale for a fixed-size pool")
        if self.resize_timeout is not None:
            raise ValidationError("resize_timeout", "only applies to fixed-size pools",
                                  fix="drop resize_timeout, or drop autoscale")
        _set(self, "autoscale_interval", to_timedelta(
            self.autoscale_interval, field="autoscale_interval",
            minimum=_AUTOSCALE_INTERVAL_MIN, maximum=_AUTOSCALE_INTERVAL_MAX))
        if is_preset(self.autoscale):
            if self.autoscale_max_nodes is None:
                raise ValidationError("autoscale_max_nodes", f"is required with the {self.autoscale!r} preset",
                                      fix="give the most nodes the pool may grow to, e.g. autoscale_max_nodes=10")
            _set(self, "autoscale", self.autoscale.strip().lower())
            self.autoscale_formula  # noqa: B018 -- builds the formula now so that bad bounds fail here
        elif "$" not in self.autoscale:
            preset_formula(self.autoscale, max_nodes=1)  # raises "not a preset", with close matches
        else:
            if self.autoscale_max_nodes is not None or self.autoscale_min_nodes:
                given = "autoscale_max_nodes" if self.autoscale_max_nodes is not None else "autoscale_min_nodes"
                raise ValidationError(given, "only applies to autoscale presets",
                                      fix="put the bounds in your formula, or use a preset such as 'queue'")
            if len(self.autoscale) > MAX_FORMULA_LENGTH:
                raise ValidationError("autoscale", f"the formula is {len(self.autoscale)} characters long",
                                      fix=f"Batch accepts at most {MAX_FORMULA_LENGTH} characters")
            if "$TargetDedicatedNodes" not in self.autoscale and "$TargetLowPriorityNodes" not in self.autoscale:
                raise ValidationError("autoscale", "the formula assigns neither $TargetDedicatedNodes nor "
                                      "$TargetLowPriorityNodes", fix="assign at least one of them")

    @property
    def image_reference(self) -> ImageReference:
        """The resolved image (presets looked up)."""
        return resolve_image(self.image)

    @property
    def autoscale_formula(self) -> str | None:
        """The formula sent to Batch (the preset's or the user's own), or None for a fixed-size pool."""
        if self.autoscale is None:
            return None
        if is_preset(self.autoscale):
            return preset_formula(self.autoscale, max_nodes=self.autoscale_max_nodes or 0,
                                  min_nodes=self.autoscale_min_nodes,
                                  task_slots_per_node=self.task_slots_per_node)
        return self.autoscale

    def to_sdk(self, *, start_task_prefix: Sequence[str] = (),
               start_task_environment: Mapping[str, str] | None = None) -> batch_models.BatchPoolCreateOptions:
        """The ``BatchPoolCreateOptions`` to send.

        Parameters
        ----------
        start_task_prefix : sequence of str
            Command lines the session runs on every node before the user's start task, e.g.
            the utilization sampler when ``metrics=True``. With a prefix, the start task becomes
            one ``/bin/sh -c`` script (``cmd /c`` on Windows) with one line per command; without
            a user start task, the prefix alone becomes the start task.

        Returns
        -------
        azure.batch.models.BatchPoolCreateOptions
            The model to send.
        """
        image = self.image_reference
        prefix = list(start_task_prefix)
        extra_env = dict(start_task_environment or {})
        metadata = dict(self.metadata)
        if self.python_env is not None:
            # Installed before the user's start task, so that it can use the environment too.
            prefix.append(self.python_env.start_command())
            extra_env.update(self.python_env.variables())
            metadata[ENV_METADATA] = self.python_env.to_metadata()
        start_task = None
        if isinstance(self.start_task, StartTaskSpec):  # a str was made a StartTaskSpec in __post_init__
            start_task = self.start_task.to_sdk(command_prefix=prefix, os_type=image.os_type,
                                                extra_environment={**extra_env, **self.environment})
        elif prefix:
            start_task = StartTaskSpec(prefix[-1], environment=extra_env).to_sdk(
                command_prefix=prefix[:-1], os_type=image.os_type)
        container = None
        if self.container_images is not None:
            container = batch_models.BatchContainerConfiguration(
                type="dockerCompatible", container_image_names=list(self.container_images) or None)
        formula = self.autoscale_formula
        return batch_models.BatchPoolCreateOptions(
            id=self.id,
            display_name=self.display_name,
            vm_size=self.vm_size,
            virtual_machine_configuration=batch_models.VirtualMachineConfiguration(
                image_reference=image.to_sdk(),
                node_agent_sku_id=image.node_agent_sku_id,
                container_configuration=container,
            ),
            resize_timeout=_td(self.resize_timeout),
            target_dedicated_nodes=None if formula else self.dedicated_nodes,
            target_low_priority_nodes=None if formula else self.spot_nodes,
            enable_auto_scale=bool(formula),
            auto_scale_formula=formula,
            auto_scale_evaluation_interval=_td(self.autoscale_interval) if formula else None,
            start_task=start_task,
            application_package_references=_app_package_refs(self.app_packages),
            task_slots_per_node=self.task_slots_per_node,
            task_scheduling_policy=batch_models.BatchTaskSchedulingPolicy(node_fill_type=self.node_fill),
            metadata=_metadata_items(metadata),
        )

    def __repr__(self) -> str:
        return redacted_repr(self)


# ------------------------------------------------------------------------------------------- job


@dataclass(frozen=True, repr=False)
class JobSpec:
    """A job: a queue of tasks bound to a pool.

    Parameters
    ----------
    id : str
        The job's id.
    pool : str or PoolSpec
        The pool that runs its tasks (a PoolSpec stands for its id).
    display_name : str, optional
        A name for people.
    priority : int
        -1000 to 1000; higher-priority jobs' tasks are scheduled first.
    max_parallel_tasks : int
        Most of its tasks running at once (-1: no cap).
    max_wall_clock : timedelta, float or str, optional
        How long the job may run: seconds, a timedelta or an ISO-8601 duration (``"PT2H"``).
    max_task_retries : int
        The default retry count of its tasks (-1: unlimited).
    on_all_tasks_complete : {"noaction", "terminatejob"}
        ``"terminatejob"`` ends the job when its last task ends (set it only once all tasks
        are added).
    on_task_failure : {"noaction", "performexitoptionsjobaction"}
        The latter lets tasks' exit conditions terminate or disable the job.
    environment : mapping of str to str, optional
        Environment variables of every task of the job.
    uses_task_dependencies : bool, optional
        None means yes: Batch cannot turn it on once the job exists, and it costs nothing.
    preparation_task, release_task : str, optional
        Command lines run on each node before the job's first task there and when the job
        ends (or the SDK's ``BatchJobPreparationTask`` / ``BatchJobReleaseTask``). A release
        task needs a preparation task.
    metadata : mapping of str to str, optional
        Name/value pairs stored with the job.

    Raises
    ------
    batchnb.errors.ValidationError
        A field or a combination of fields is invalid (the message names it and the fix).
    """

    id: str
    _: KW_ONLY
    pool: str | PoolSpec  # a PoolSpec stands for its id (normalized in __post_init__)
    display_name: str | None = None
    priority: int = 0
    max_parallel_tasks: int = -1
    max_wall_clock: dt.timedelta | float | str | None = None
    max_task_retries: int = 0
    on_all_tasks_complete: str = "noaction"
    on_task_failure: str = "noaction"
    environment: Mapping[str, str] = field(default_factory=dict)
    uses_task_dependencies: bool | None = None
    preparation_task: str | batch_models.BatchJobPreparationTask | None = None
    release_task: str | batch_models.BatchJobReleaseTask | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> JobSpec:
        """Check every field and combination; normalise in place. Called by the constructor."""
        check_id(self.id, field="job.id")
        if isinstance(self.pool, PoolSpec):
            _set(self, "pool", self.pool.id)
        check_id(self.pool_id, field="job.pool")
        check_display_name(self.display_name, field="job.display_name")
        check_int(self.priority, field="priority", minimum=-1000, maximum=1000)
        check_int(self.max_parallel_tasks, field="max_parallel_tasks", minimum=1, special={-1: "no cap"})
        _set(self, "max_wall_clock", to_timedelta(self.max_wall_clock, field="max_wall_clock"))
        check_int(self.max_task_retries, field="max_task_retries", minimum=0, special={-1: "unlimited"})
        _set(self, "on_all_tasks_complete", check_choice(self.on_all_tasks_complete, field="on_all_tasks_complete",
                                                         choices=ALL_TASKS_COMPLETE_MODES))
        _set(self, "on_task_failure", check_choice(self.on_task_failure, field="on_task_failure",
                                                   choices=TASK_FAILURE_MODES))
        _set(self, "environment", check_environment(self.environment))
        if self.uses_task_dependencies is not None and not isinstance(self.uses_task_dependencies, bool):
            raise ValidationError("uses_task_dependencies", f"must be True, False or None, got {self.uses_task_dependencies!r}",
                                  fix="leave it None (batchnb enables dependencies) or pass a bool")
        for name, sdk_type in (("preparation_task", batch_models.BatchJobPreparationTask),
                               ("release_task", batch_models.BatchJobReleaseTask)):
            value = getattr(self, name)
            if isinstance(value, str):
                check_command_line(value, field=name)
            elif value is not None and not isinstance(value, sdk_type):
                raise ValidationError(name, f"has the wrong type {type(value).__name__}",
                                      fix=f"give a command line or azure.batch.models.{sdk_type.__name__}")
        if self.release_task is not None and self.preparation_task is None:
            raise ValidationError("release_task", "needs a preparation_task (Batch requires both)",
                                  fix="add preparation_task=..., even a trivial one such as 'true'")
        _set(self, "metadata", check_metadata(self.metadata))
        return self


    @property
    def pool_id(self) -> str:
        """The pool's id."""
        return self.pool.id if isinstance(self.pool, PoolSpec) else self.pool

    def to_sdk(self) -> batch_models.BatchJobCreateOptions:
        """The ``BatchJobCreateOptions`` to send.

        Returns
        -------
        azure.batch.models.BatchJobCreateOptions
            The model to send.
        """
        preparation = self.preparation_task
        if isinstance(preparation, str):
            preparation = batch_models.BatchJobPreparationTask(command_line=preparation)
        release = self.release_task
        if isinstance(release, str):
            release = batch_models.BatchJobReleaseTask(command_line=release)
        constraints = None
        if self.max_wall_clock is not None or self.max_task_retries:
            constraints = batch_models.BatchJobConstraints(
                max_wall_clock_time=_td(self.max_wall_clock), max_task_retry_count=self.max_task_retries)
        return batch_models.BatchJobCreateOptions(
            id=self.id,
            display_name=self.display_name,
            uses_task_dependencies=self.uses_task_dependencies is not False,
            priority=self.priority,
            max_parallel_tasks=self.max_parallel_tasks,
            constraints=constraints,
            job_preparation_task=preparation,
            job_release_task=release,
            common_environment_settings=_env_settings(self.environment),
            pool_info=batch_models.BatchPoolInfo(pool_id=self.pool_id),
            all_tasks_complete_mode=self.on_all_tasks_complete,
            task_failure_mode=self.on_task_failure,
            metadata=_metadata_items(self.metadata),
        )

    def __repr__(self) -> str:
        return redacted_repr(self)


# ------------------------------------------------------------------------------------------ task


def _dependencies(value: object, *, task_id: str) -> tuple[str | range, ...]:
    out: list[str | range] = []
    for item in _as_tuple(value, field="depends_on"):
        if isinstance(item, batch_models.BatchTaskIdRange):
            item = range(item.start, item.end + 1)
        if isinstance(item, str):
            check_id(item, field="depends_on")
            if item.lower() == task_id.lower():
                raise ValidationError("depends_on", f"task {task_id!r} depends on itself",
                                      fix="remove its own id from depends_on")
        elif isinstance(item, range):
            if item.step != 1 or len(item) == 0 or item.start < 0:
                raise ValidationError("depends_on", f"{item!r} is not a usable id range",
                                      fix="use a non-empty range with step 1 over non-negative ints, "
                                          "e.g. range(0, 100) for tasks '0'..'99'")
        else:
            raise ValidationError("depends_on", f"has {item!r} ({type(item).__name__})",
                                  fix="give task ids as strings, or range(start, stop) for integer task ids")
        out.append(item)
    id_chars = sum(len(i) for i in out if isinstance(i, str))
    if id_chars > MAX_DEPENDENCY_IDS_LENGTH:
        raise ValidationError("depends_on", f"the task ids add up to {id_chars} characters",
                              fix=f"Batch allows {MAX_DEPENDENCY_IDS_LENGTH}: use integer task ids and "
                                  "depend on range(...)s instead")
    return tuple(out)


def sdk_task_size(task: Any) -> int:
    """Bytes a ``BatchTaskCreateOptions`` takes in a request body, serialised as the SDK does
    (``json.dumps`` with its default ", " / ": " separators)."""
    return len(json.dumps(task.as_dict()).encode("utf-8"))


@dataclass(frozen=True, repr=False)
class TaskSpec:
    """One task: a command line run on a node (without a shell, as Batch does).

    >>> import batchnb
    >>> task = batchnb.TaskSpec("t-001", "python3 run.py --n 1", max_wall_clock=600)
    >>> task.replace(id="t-002").id
    't-002'

    Parameters
    ----------
    id : str
        The task's id, unique in its job.
    command_line : str
        Run without a shell (``/bin/sh -c '...'`` for shell syntax).
    display_name : str, optional
        A name for people.
    resource_files : sequence of ResourceFileSpec, optional
        Files downloaded to the working directory first (SDK ``ResourceFile`` objects and SAS
        URL strings are accepted too).
    output_files : sequence of OutputFileSpec, optional
        Files uploaded to Blob storage when the task ends.
    environment : mapping of str to str, optional
        Environment variables of the task.
    max_retries : int, optional
        Retries after a failure (-1: unlimited); None inherits the job's ``max_task_retries``.
    max_wall_clock : timedelta, float or str, optional
        How long the task may run.
    retention : timedelta, float or str, optional
        How long the task's files stay on the node (Batch's default: 7 days).
    depends_on : sequence of str or range, optional
        Task ids that must succeed first, or ``range(a, b)`` for integer task ids a..b-1;
        the job needs ``uses_task_dependencies``.
    exit_conditions : mapping or azure.batch.models.ExitConditions, optional
        What an exit code does to the job (the dict form of ``batchnb.core.specs.exit_conditions``).
    required_slots : int
        How many of a node's task slots the task occupies.
    container_image : str, optional
        Run it in this image (container pools only).
    app_packages : sequence, optional
        Application packages: ``"app"``, ``"app:version"`` or ``("app", "version")``.

    Raises
    ------
    batchnb.errors.ValidationError
        A field is invalid (the message names it and the fix).
    """

    id: str
    command_line: str
    _: KW_ONLY
    display_name: str | None = None
    resource_files: Sequence[ResourceFileSpec | batch_models.ResourceFile | str] = ()
    output_files: Sequence[OutputFileSpec | batch_models.OutputFile] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    max_retries: int | None = None
    max_wall_clock: dt.timedelta | float | str | None = None
    retention: dt.timedelta | float | str | None = None
    depends_on: Sequence[str | range] = ()
    exit_conditions: Mapping[str, Any] | batch_models.ExitConditions | None = None
    required_slots: int = 1
    container_image: str | None = None
    app_packages: Sequence[str | tuple[str, str] | batch_models.BatchApplicationPackageReference] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TaskSpec:
        """Check every field; normalise in place. Called by the constructor."""
        check_id(self.id, field="task.id")
        check_command_line(self.command_line, field="task.command_line")
        check_display_name(self.display_name, field="task.display_name")
        _set(self, "resource_files", _check_files(self.resource_files, field="resource_files",
                                                  convert=to_resource_file))
        _set(self, "output_files", _check_files(self.output_files, field="output_files", convert=to_output_file))
        _set(self, "environment", check_environment(self.environment))
        if self.max_retries is not None:
            check_int(self.max_retries, field="max_retries", minimum=0, special={-1: "unlimited"})
        _set(self, "max_wall_clock", to_timedelta(self.max_wall_clock, field="max_wall_clock"))
        _set(self, "retention", to_timedelta(self.retention, field="retention"))
        _set(self, "depends_on", _dependencies(self.depends_on, task_id=self.id))
        if isinstance(self.exit_conditions, Mapping):
            _set(self, "exit_conditions", dict(self.exit_conditions))
        build_exit_conditions(self.exit_conditions)  # validates now; converted again in to_sdk
        check_int(self.required_slots, field="required_slots", minimum=1, maximum=MAX_TASK_SLOTS_PER_NODE)
        if self.container_image is not None and (not isinstance(self.container_image, str)
                                                 or not self.container_image.strip()):
            raise ValidationError("container_image", f"has {self.container_image!r}",
                                  fix="give an image name such as 'python:3.11-slim', or None")
        _set(self, "app_packages", _app_packages(self.app_packages))
        return self

    @property
    def uses_dependencies(self) -> bool:
        """Whether the task depends on other tasks."""
        return bool(self.depends_on)

    def _sibling(self, task_id: str, command_line: str,
                 resource_files: Sequence[ResourceFileSpec | batch_models.ResourceFile | str] = (),
                 display_name: str | None = None) -> TaskSpec:
        """A task with this one's options (validated once, here) and its own id, command line,
        resource files and (when given) display name, validated like the constructor does. For
        factories that make thousands of tasks sharing their options (sweep, per_file): the full
        ``validate()`` of each one cost more than the rest of building it. Not for tasks with
        dependencies (their check depends on the id)."""
        if self.depends_on:
            return dataclasses.replace(self, id=task_id, command_line=command_line, resource_files=resource_files,
                                       display_name=self.display_name if display_name is None else display_name)
        task = object.__new__(TaskSpec)
        task.__dict__.update(self.__dict__, id=check_id(task_id, field="task.id"),
                             command_line=check_command_line(command_line, field="task.command_line"),
                             resource_files=_check_files(resource_files, field="resource_files",
                                                         convert=to_resource_file) if resource_files else ())
        if display_name is not None:
            check_display_name(display_name, field="task.display_name")
            task.__dict__["display_name"] = display_name
        return task

    def to_sdk(self) -> batch_models.BatchTaskCreateOptions:
        """The ``BatchTaskCreateOptions`` to send.

        Returns
        -------
        azure.batch.models.BatchTaskCreateOptions
            The model to send.
        """
        constraints = None
        if self.max_wall_clock is not None or self.retention is not None or self.max_retries is not None:
            constraints = batch_models.BatchTaskConstraints(
                max_wall_clock_time=_td(self.max_wall_clock), retention_time=_td(self.retention),
                max_task_retry_count=self.max_retries)
        depends_on = None
        if self.depends_on:
            ids = [d for d in self.depends_on if isinstance(d, str)]
            ranges = [batch_models.BatchTaskIdRange(start=d.start, end=d.stop - 1)
                      for d in self.depends_on if isinstance(d, range)]
            depends_on = batch_models.BatchTaskDependencies(task_ids=ids or None, task_id_ranges=ranges or None)
        return batch_models.BatchTaskCreateOptions(
            id=self.id,
            display_name=self.display_name,
            command_line=self.command_line,
            exit_conditions=build_exit_conditions(self.exit_conditions),
            container_settings=batch_models.BatchTaskContainerSettings(image_name=self.container_image)
            if self.container_image else None,
            resource_files=[to_resource_file(r) for r in self.resource_files] or None,
            output_files=[to_output_file(o) for o in self.output_files] or None,
            environment_settings=_env_settings(self.environment),
            constraints=constraints,
            required_slots=self.required_slots,
            depends_on=depends_on,
            application_package_references=_app_package_refs(self.app_packages),
        )

    def size_bytes(self) -> int:
        """Size of this task in an ``addtaskcollection`` body, serialised as the SDK does.

        Bulk add uses the same measure (``sdk_task_size``) to keep each request under Batch's 1 MB limit.

        Returns
        -------
        int
            Bytes.
        """
        return sdk_task_size(self.to_sdk())

    def replace(self, **changes: Any) -> TaskSpec:
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            Fields and their new values.

        Returns
        -------
        TaskSpec
            The new spec.

        Raises
        ------
        batchnb.errors.ValidationError
            A new value is invalid.
        """
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        return redacted_repr(self)

"""``PoolForm``: set up a pool with widgets, validated as you type, then watch it.

Validation is :class:`batchnb.core.specs.models.PoolSpec`'s own (the same rules as code), run on every
change: the first problem shows as one line under the field it concerns, and "Create pool" is
enabled only for a valid spec. After creation the form replaces itself with a PoolMonitor.
"""

from __future__ import annotations

import html
import re
from typing import Any

import ipywidgets as widgets

from batchnb.core.cost.snapshot import snapshot_price
from batchnb.core.specs.autoscale_presets import PRESETS
from batchnb.core.specs.images import DEFAULT_IMAGE, IMAGE_PRESETS, compatible_presets
from batchnb.core.specs.models import PoolSpec
from batchnb.core.specs.vm_sizes import KNOWN_VM_SIZES, vm_memory_gib, vm_size_facts
from batchnb.errors import ValidationError
from batchnb.views.widgets._loop import in_background

__all__ = ["PoolForm"]

FIXED_SIZE = "fixed size"
MAX_SIZE_OPTIONS = 400  # every known size fits; a search narrows them
_TERM = re.compile(r"(\d+(?:\.\d+)?)\s*(vcpus?|gib|gb)\b|\S+")
_W = widgets.Layout(width="420px")
_STYLE = {"description_width": "130px"}


class PoolForm(widgets.VBox):
    """A form for :class:`~batchnb.core.specs.models.PoolSpec` that creates the pool through ``session``.

    ``on_created(pool_handle)`` is called after creation. ``monitor=False`` keeps the form
    (showing a confirmation) instead of turning into the pool's monitor.
    """

    def __init__(self, session: Any, *, pool_id: str = "pool1", vm_size: str = "Standard_D2s_v3",
                 monitor: bool = True, on_created: Any = None) -> None:
        self.session = session
        self.monitor = monitor
        self.on_created = on_created
        self.pool_handle: Any = None
        self.spec: PoolSpec | None = None
        f = self.fields = {
            "id": widgets.Text(value=pool_id, description="pool id"),
            "vm_size": widgets.Dropdown(options=_SIZE_OPTIONS, value=_known(vm_size), description="VM size"),
            "image": widgets.Dropdown(options=list(IMAGE_PRESETS), value=DEFAULT_IMAGE, description="image"),
            "dedicated_nodes": widgets.IntText(value=1, description="dedicated nodes"),
            "spot_nodes": widgets.IntText(value=0, description="spot nodes"),
            "task_slots_per_node": widgets.IntText(value=1, description="slots per node"),
            "autoscale": widgets.Dropdown(options=[FIXED_SIZE, *PRESETS], value=FIXED_SIZE, description="autoscale"),
            "autoscale_max_nodes": widgets.IntText(value=0, description="max nodes", disabled=True),
            "start_task": widgets.Textarea(value="", placeholder="command line run on each node as it joins",
                                           description="start task"),
            "metrics": widgets.Checkbox(value=True, description="node utilization metrics", indent=False),
        }
        self.errors = {name: widgets.HTML() for name in f}
        # 356 sizes: a search narrows the list (name, vCPUs, memory, family), e.g. "d4 v5" or "16 vcpu".
        self.vm_size_search = widgets.Text(placeholder="search sizes: e.g. d4s, 16 vcpu, 64 gib, a100",
                                           description="find a size", layout=_W, style=_STYLE)
        self.vm_size_search.add_class("batchnb-form-vm-size-search")
        self.vm_size_search.observe(lambda _: self._filter_sizes(), names="value")
        rows = []
        # Before validation's observer: a size change first narrows the images it can boot.
        f["vm_size"].observe(lambda _: self._offer_compatible_images(), names="value")
        self._offer_compatible_images()
        for name, w in f.items():
            w.layout, w.style = _W, _STYLE
            w.add_class(f"batchnb-form-{name.replace('_', '-')}")
            self.errors[name].add_class("batchnb-form-error")
            parts = [self.vm_size_search, w] if name == "vm_size" else [w]
            rows.append(widgets.VBox([*parts, self.errors[name]], layout=widgets.Layout(margin="0 0 2px 0")))
            w.observe(lambda _: self.validate(), names="value")
        self.create_button = widgets.Button(description="Create pool", button_style="primary", icon="plus")
        self.create_button.add_class("batchnb-form-create")
        self.create_button.on_click(lambda _: self.create())
        self.message = widgets.HTML()
        self.message.add_class("batchnb-form-message")
        super().__init__(children=[widgets.HTML("<b>New pool</b>"), *rows,
                                   widgets.HBox([self.create_button, self.message])])
        self.add_class("batchnb-pool-form")
        self.validate()

    def _filter_sizes(self) -> None:
        """Only the sizes whose label has every word of the search; the chosen one stays if it matches."""
        # "16 vcpu" or "64 gib" is one term, matched whole ("6 vcpu" does not match 16 vCPUs).
        terms = [_term(m) for m in _TERM.finditer(self.vm_size_search.value.lower())]
        options = [(label, size) for label, size in _SIZE_OPTIONS if all(t.search(label.lower()) for t in terms)]
        dropdown, error = self.fields["vm_size"], self.errors["vm_size"]
        if not options:
            error.value = ("<span style='color:#6b7280;font-size:0.9em'>no known size matches "
                           f"{html.escape(self.vm_size_search.value)!s}; the list is unchanged</span>")
            return
        error.value = ""
        current = dropdown.value
        with self.hold_trait_notifications():
            dropdown.options = options[:MAX_SIZE_OPTIONS]
            dropdown.value = current if current in [v for _, v in options] else options[0][1]

    def _offer_compatible_images(self) -> None:
        """Only the image presets the chosen size boots (generation, architecture); all of them
        when none fits (an Arm64 size), so that validation says why."""
        size = vm_size_facts(self.fields["vm_size"].value)
        options = (compatible_presets(size) if size else []) or list(IMAGE_PRESETS)
        image = self.fields["image"]
        if list(image.options) != options:
            keep = image.value if image.value in options else options[0]
            image.options = options
            image.value = keep

    def _values(self) -> dict[str, Any]:
        f = self.fields
        autoscale = f["autoscale"].value
        values: dict[str, Any] = {
            "vm_size": f["vm_size"].value, "image": f["image"].value,
            "task_slots_per_node": f["task_slots_per_node"].value, "metrics": f["metrics"].value,
            "start_task": f["start_task"].value.strip() or None,
        }
        f["autoscale_max_nodes"].disabled = autoscale == FIXED_SIZE
        f["dedicated_nodes"].disabled = f["spot_nodes"].disabled = autoscale != FIXED_SIZE
        if autoscale == FIXED_SIZE:
            values.update(dedicated_nodes=f["dedicated_nodes"].value, spot_nodes=f["spot_nodes"].value)
        else:
            values.update(autoscale=autoscale, autoscale_max_nodes=f["autoscale_max_nodes"].value)
        return values

    def validate(self) -> PoolSpec | None:
        """Build the spec from the fields; show the first problem under its field. None if invalid."""
        for label in self.errors.values():
            label.value = ""
        self.message.value = ""
        try:
            self.spec = PoolSpec(self.fields["id"].value, **self._values())
        except ValidationError as exc:
            self.spec = None
            label = self.errors.get(self._field_of(exc.field))
            text = html.escape(str(exc).split("[")[0].strip())
            (label if label is not None else self.message).value = \
                f"<span style='color:#d62728;font-size:0.9em'>{text}</span>"
        self.create_button.disabled = self.spec is None
        return self.spec

    def _field_of(self, error_field: str) -> str:
        name = error_field.split(".")[-1] if error_field.startswith("pool.") else error_field.split(".")[0]
        return name if name in self.fields else ""

    def create(self) -> None:
        spec = self.validate()
        if spec is None:
            return
        self.create_button.disabled = True
        self.message.value = f"creating pool {html.escape(spec.id)}..."
        in_background(lambda: self.session.create_pool(spec), self._created, self._failed)

    def _created(self, handle: Any) -> None:
        self.pool_handle = handle
        if self.on_created is not None:
            self.on_created(handle)
        if not self.monitor:
            self.message.value = f"pool {html.escape(handle.id)} created"
            return
        self.children = (handle.monitor(),)

    def close(self) -> None:
        for child in self.children:
            child.close()  # includes the monitor this form turned into, which stops its polling
        super().close()

    def _failed(self, exc: BaseException) -> None:
        self.create_button.disabled = False
        self.message.value = f"<span style='color:#d62728'>{html.escape(str(exc)[:300])}</span>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        spec = self.spec
        bundle["text/plain"] = f"PoolForm({spec!r})" if spec else "PoolForm(invalid)"
        bundle["text/html"] = f"<div><b>New pool form</b> <code>{html.escape(repr(spec))}</code></div>"
        return bundle


def _term(match: re.Match[str]) -> re.Pattern[str]:
    number, unit = match.group(1), match.group(2)
    if not number:
        return re.compile(re.escape(match.group(0)))
    unit = "vcpu" if unit.startswith("vcpu") else "gib"
    return re.compile(rf"(?<![\d.]){re.escape(number)} {unit}\b")


def size_label(size: str) -> str:
    """``Standard_D2s_v3 · 2 vCPU · 8 GiB · ~$0.096/h`` (the price: batchnb's dated eastus snapshot)."""
    facts = vm_size_facts(size)
    memory = vm_memory_gib(size)
    price = snapshot_price(size)
    parts = [size]
    if facts is not None:
        parts.append(f"{facts.vcpus} vCPU")
    if memory is not None:
        parts.append(f"{memory:g} GiB")
    if facts is not None and facts.arch != "x64":
        parts.append(facts.arch)
    if price is not None:
        parts.append(f"~${price:.3f}/h")
    return " · ".join(parts)


def _known(size: str) -> str:
    facts = vm_size_facts(size)
    return facts.name if facts is not None else size


_SIZE_OPTIONS: list[tuple[str, str]] = [(size_label(size), size) for size in KNOWN_VM_SIZES]

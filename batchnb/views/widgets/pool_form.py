"""``PoolForm``: set up a pool with widgets, validated as you type, then watch it.

Validation is :class:`batchnb.core.specs.models.PoolSpec`'s own (the same rules as code), run on every
change: the first problem shows as one line under the field it concerns, and "Create pool" is
enabled only for a valid spec. After creation the form replaces itself with a PoolMonitor.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from batchnb.core.specs.autoscale_presets import PRESETS
from batchnb.core.specs.images import DEFAULT_IMAGE, IMAGE_PRESETS, compatible_presets
from batchnb.core.specs.models import PoolSpec
from batchnb.core.specs.vm_sizes import KNOWN_VM_SIZES, vm_size_facts
from batchnb.errors import ValidationError
from batchnb.views.widgets._loop import in_background

__all__ = ["PoolForm"]

FIXED_SIZE = "fixed size"
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
            "vm_size": widgets.Dropdown(options=list(KNOWN_VM_SIZES), value=vm_size, description="VM size"),
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
        rows = []
        # Before validation's observer: a size change first narrows the images it can boot.
        f["vm_size"].observe(lambda _: self._offer_compatible_images(), names="value")
        self._offer_compatible_images()
        for name, w in f.items():
            w.layout, w.style = _W, _STYLE
            w.add_class(f"batchnb-form-{name.replace('_', '-')}")
            self.errors[name].add_class("batchnb-form-error")
            rows.append(widgets.VBox([w, self.errors[name]], layout=widgets.Layout(margin="0 0 2px 0")))
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

"""Pool OS images: named presets and explicit Marketplace/gallery references.

A preset is what ``az batch pool supported-images list`` calls an image reference plus a node
agent SKU; the node agent SKU must match the image or Azure refuses the pool, which is why both
travel together here. Each image also has a hypervisor generation (1: BIOS, 2: UEFI) and a CPU
architecture, which the VM size must support or its nodes never boot (``check_size_and_image``);
both come from the dated table in ``batchnb.core.specs.azure_facts`` for Marketplace images, or are given.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.batch import models as batch_models

from batchnb.core.specs.azure_facts import NODE_AGENT_END_OF_SUPPORT, VmSizeFacts, image_facts, incompatibility
from batchnb.core.specs.azure_facts import ImageFacts as _ImageFacts
from batchnb.core.validation import did_you_mean
from batchnb.errors import ValidationError

__all__ = ["DEFAULT_IMAGE", "IMAGE_PRESETS", "ImageReference", "check_size_and_image", "resolve_image"]

ARCHITECTURES = ("x64", "arm64")


@dataclass(frozen=True, kw_only=True)
class ImageReference:
    """An explicit VM image: Marketplace (publisher/offer/sku/version) or a custom image id.

    Parameters
    ----------
    node_agent_sku_id : str
        The Batch node agent for that OS, e.g. ``"batch.node.ubuntu 22.04"``.
    publisher, offer, sku : str, optional
        The Marketplace image (all three, or none with ``virtual_machine_image_id``).
    version : str
        The Marketplace image version.
    virtual_machine_image_id : str, optional
        A custom or Azure Compute Gallery image's resource id.
    supports_containers : bool
        Whether the image has a container runtime (needed for
        ``PoolSpec(container_images=...)``).
    generation : int, optional
        The image's hypervisor generation (1 or 2); defaults to what batchnb's table knows of a
        Marketplace image, so that PoolSpec can check the VM size against it (None: not checked).
    architecture : str, optional
        ``"x64"`` or ``"arm64"``; defaults like ``generation``.

    Raises
    ------
    batchnb.errors.ValidationError
        No node agent, an incomplete Marketplace image, or both kinds of image.
    """

    node_agent_sku_id: str
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    version: str = "latest"
    virtual_machine_image_id: str | None = None
    supports_containers: bool = True
    generation: int | None = None
    architecture: str | None = None

    def __post_init__(self) -> None:
        if not self.node_agent_sku_id or not isinstance(self.node_agent_sku_id, str):
            raise ValidationError("image.node_agent_sku_id", "is empty",
                                  fix="give the node agent for the OS, e.g. 'batch.node.ubuntu 22.04'")
        marketplace = (self.publisher, self.offer, self.sku)
        if self.virtual_machine_image_id is None and not all(marketplace):
            missing = [n for n, v in zip(("publisher", "offer", "sku"), marketplace) if not v]
            raise ValidationError(f"image.{missing[0]}", "is missing",
                                  fix="give publisher, offer and sku, or virtual_machine_image_id")
        if self.virtual_machine_image_id is not None and any(marketplace):
            raise ValidationError("image.virtual_machine_image_id", "is given together with publisher/offer/sku",
                                  fix="use either a Marketplace image or a custom image id, not both")
        if self.generation not in (None, 1, 2):
            raise ValidationError("image.generation", f"must be 1 or 2, got {self.generation!r}",
                                  fix="1 for BIOS (Gen1) images, 2 for UEFI (Gen2) images, or None")
        if self.architecture is not None and self.architecture not in ARCHITECTURES:
            raise ValidationError("image.architecture", f"must be 'x64' or 'arm64', got {self.architecture!r}",
                                  fix="architecture='x64' or architecture='arm64', or None")
        known = image_facts(self.publisher, self.offer, self.sku)
        if known is not None:
            if self.generation is None:
                object.__setattr__(self, "generation", known.generation)
            if self.architecture is None:
                object.__setattr__(self, "architecture", known.arch)

    @property
    def end_of_support(self) -> str | None:
        """The date Azure Batch stops supporting this image's node agent, or None when none is announced."""
        return NODE_AGENT_END_OF_SUPPORT.get(self.node_agent_sku_id.lower())

    @property
    def os_type(self) -> str:
        """``"windows"`` or ``"linux"``, from the node agent (Batch names it after the OS)."""
        return "windows" if "windows" in self.node_agent_sku_id.lower() else "linux"

    def to_sdk(self) -> batch_models.BatchVmImageReference:
        """The SDK model.

        Returns
        -------
        azure.batch.models.BatchVmImageReference
            The model to send.
        """
        if self.virtual_machine_image_id is not None:
            return batch_models.BatchVmImageReference(virtual_machine_image_id=self.virtual_machine_image_id)
        return batch_models.BatchVmImageReference(
            publisher=self.publisher, offer=self.offer, sku=self.sku, version=self.version)


# The default: Gen2 (what every current size boots), supported by Batch past 2027.
DEFAULT_IMAGE = "ubuntu-24.04"

# Gen1 twins exist for the sizes that boot only Gen1 (Av2, Dv2, Dv3, Dav4, Ev3, F), Gen2 twins
# for the sizes that boot only Gen2 (every v6 series, A100/H100 GPUs, HBv4, HX).
_UBUNTU_2404 = ("canonical", "ubuntu-24_04-lts", "batch.node.ubuntu 24.04")
_UBUNTU_2204 = ("canonical", "0001-com-ubuntu-server-jammy", "batch.node.ubuntu 22.04")
_DEBIAN_12 = ("debian", "debian-12", "batch.node.debian 12")
_WINDOWS = ("microsoftwindowsserver", "windowsserver", "batch.node.windows amd64")
# name, (publisher, offer, node agent), sku, whether the image has a container runtime
_PRESET_ROWS = (
    ("ubuntu-24.04", _UBUNTU_2404, "server", False),
    ("ubuntu-24.04-gen1", _UBUNTU_2404, "server-gen1", False),
    # batch.node.ubuntu 22.04 ends Batch support on 2027-06-30 (Azure/Batch#200).
    ("ubuntu-22.04", _UBUNTU_2204, "22_04-lts", False),
    ("ubuntu-22.04-gen2", _UBUNTU_2204, "22_04-lts-gen2", False),
    # The HPC image ships a container runtime: the usual choice for container pools on Ubuntu.
    ("ubuntu-22.04-hpc", ("microsoft-dsvm", "ubuntu-hpc", "batch.node.ubuntu 22.04"), "2204", True),
    ("debian-12", _DEBIAN_12, "12", False),
    ("debian-12-gen2", _DEBIAN_12, "12-gen2", False),
    ("windows-2019", _WINDOWS, "2019-datacenter", False),
    ("windows-2022", _WINDOWS, "2022-datacenter", False),
    ("windows-2022-gen2", _WINDOWS, "2022-datacenter-g2", False),
)
IMAGE_PRESETS: dict[str, ImageReference] = {
    name: ImageReference(publisher=publisher, offer=offer, sku=sku, node_agent_sku_id=agent,
                         supports_containers=containers)
    for name, (publisher, offer, agent), sku, containers in _PRESET_ROWS
}


def _os_of(ref: ImageReference) -> str:
    """The OS line a preset belongs to ('batch.node.ubuntu 24.04' -> 'ubuntu'), to suggest a twin."""
    return ref.node_agent_sku_id.split()[0].rsplit(".", 1)[-1] if " " in ref.node_agent_sku_id else ref.os_type


def compatible_presets(size: VmSizeFacts) -> list[str]:
    """The presets whose generation and architecture ``size`` boots."""
    return [name for name, ref in IMAGE_PRESETS.items()
            if ref.generation in size.generations and ref.architecture == size.arch]


def check_size_and_image(size: VmSizeFacts | None, image: ImageReference, *, image_label: str) -> None:
    """Refuse a VM size that cannot boot the image (generation or architecture) before any request.

    Azure accepts such a pool and then fails every node allocation; sizes or images the table does
    not know are not checked."""
    if size is None or image.generation is None or image.architecture is None:
        return
    problem = incompatibility(size, _ImageFacts(image.generation, image.architecture))
    if problem is None:
        return
    twins = sorted((n for n in compatible_presets(size) if _os_of(IMAGE_PRESETS[n]) == _os_of(image)),
                   key=lambda n: IMAGE_PRESETS[n].node_agent_sku_id != image.node_agent_sku_id)
    others = twins or compatible_presets(size)
    if others:
        fix = f"use image={others[0]!r}, or a vm_size that boots {image_label}"
    else:
        fix = (f"use a vm_size that boots {image_label} (e.g. 'Standard_D4s_v5'), or an {size.arch} image that "
               f"Batch lists (az batch pool supported-images list) as ImageReference(..., architecture={size.arch!r})")
    what = (f"is a Gen{image.generation} {image.architecture} image, and {size.name} boots only "
            f"{'/'.join(f'Gen{g}' for g in size.generations)} {size.arch} images")
    raise ValidationError("image", f"{image_label} {what}", fix=fix)


def resolve_image(value: object, *, field: str = "image") -> ImageReference:
    """A preset name (case-insensitive) or an :class:`ImageReference` -> ImageReference."""
    if isinstance(value, ImageReference):
        return value
    listed = ", ".join(repr(p) for p in IMAGE_PRESETS)
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a preset name or an ImageReference, got {type(value).__name__}",
                              fix=f"use one of {listed}, or batchnb.ImageReference(...)")
    preset = IMAGE_PRESETS.get(value.strip().lower())
    if preset is None:
        raise ValidationError(field, f"{value!r} is not an image preset",
                              fix=f"{did_you_mean(value, IMAGE_PRESETS, n=1)}use one of {listed}, or batchnb.ImageReference(...)")
    return preset

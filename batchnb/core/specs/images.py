"""Pool OS images: named presets and explicit Marketplace/gallery references.

A preset is what ``az batch pool supported-images list`` calls an image reference plus a node
agent SKU; the node agent SKU must match the image or Azure refuses the pool, which is why both
travel together here.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.batch import models as batch_models

from batchnb.core.validation import did_you_mean
from batchnb.errors import ValidationError

__all__ = ["IMAGE_PRESETS", "ImageReference", "resolve_image"]


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


IMAGE_PRESETS: dict[str, ImageReference] = {
    "ubuntu-22.04": ImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts",
        node_agent_sku_id="batch.node.ubuntu 22.04", supports_containers=False),
    "ubuntu-24.04": ImageReference(
        publisher="canonical", offer="ubuntu-24_04-lts", sku="server",
        node_agent_sku_id="batch.node.ubuntu 24.04", supports_containers=False),
    # The HPC image ships a container runtime: the usual choice for container pools on Ubuntu.
    "ubuntu-22.04-hpc": ImageReference(
        publisher="microsoft-dsvm", offer="ubuntu-hpc", sku="2204",
        node_agent_sku_id="batch.node.ubuntu 22.04", supports_containers=True),
    "debian-12": ImageReference(
        publisher="debian", offer="debian-12", sku="12",
        node_agent_sku_id="batch.node.debian 12", supports_containers=False),
    "windows-2019": ImageReference(
        publisher="microsoftwindowsserver", offer="windowsserver", sku="2019-datacenter",
        node_agent_sku_id="batch.node.windows amd64", supports_containers=False),
    "windows-2022": ImageReference(
        publisher="microsoftwindowsserver", offer="windowsserver", sku="2022-datacenter",
        node_agent_sku_id="batch.node.windows amd64", supports_containers=False),
}


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

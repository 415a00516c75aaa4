"""The images the local service offers (GET /supportedimages) and the check a pool's image must pass.

Local nodes are Linux processes on this machine, so only Linux images are offered; a Windows image
is refused at pool creation with a message saying so, rather than accepted and then failing every
task with CommandProgramNotFound. Any other image the list does not hold is refused as Azure
refuses an unsupported image/agent pair (400 InvalidPropertyValue).
"""

from __future__ import annotations

from batchnb.local.service.model.errors import bad_value, missing

GEN2 = "Generation2VMImage"
SUPPORTED_IMAGES = [
    {"nodeAgentSKUId": "batch.node.ubuntu 22.04", "osType": "linux", "verificationType": "verified",
     "capabilities": [], "batchSupportEndOfLife": "2027-06-30T00:00:00.0000000Z",
     "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy",
                        "sku": "22_04-lts", "version": "latest"}},
    {"nodeAgentSKUId": "batch.node.ubuntu 22.04", "osType": "linux", "verificationType": "verified",
     "capabilities": ["DockerCompatible", GEN2], "batchSupportEndOfLife": "2027-06-30T00:00:00.0000000Z",
     "imageReference": {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2204", "version": "latest"}},
    {"nodeAgentSKUId": "batch.node.ubuntu 24.04", "osType": "linux", "verificationType": "verified",
     "capabilities": [GEN2], "imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts",
                                               "sku": "server", "version": "latest"}},
    {"nodeAgentSKUId": "batch.node.debian 12", "osType": "linux", "verificationType": "verified",
     "capabilities": [], "imageReference": {"publisher": "debian", "offer": "debian-12", "sku": "12",
                                            "version": "latest"}},
    # The Gen1/Gen2 twins of the images above (batchnb's -gen1/-gen2 presets), for the sizes that
    # boot only one generation (Av2: Gen1; the v6 families: Gen2).
    {"nodeAgentSKUId": "batch.node.ubuntu 22.04", "osType": "linux", "verificationType": "verified",
     "capabilities": [GEN2], "batchSupportEndOfLife": "2027-06-30T00:00:00.0000000Z",
     "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy",
                        "sku": "22_04-lts-gen2", "version": "latest"}},
    {"nodeAgentSKUId": "batch.node.ubuntu 24.04", "osType": "linux", "verificationType": "verified",
     "capabilities": [], "imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts",
                                            "sku": "server-gen1", "version": "latest"}},
    {"nodeAgentSKUId": "batch.node.debian 12", "osType": "linux", "verificationType": "verified",
     "capabilities": [GEN2], "imageReference": {"publisher": "debian", "offer": "debian-12", "sku": "12-gen2",
                                               "version": "latest"}},
    {"nodeAgentSKUId": "batch.node.el 9", "osType": "linux", "verificationType": "verified",
     "capabilities": [GEN2], "imageReference": {"publisher": "almalinux", "offer": "almalinux-x86_64",
                                               "sku": "9-gen2", "version": "latest"}},
]
LINUX_ONLY = ("The local Batch service runs Linux nodes only (its nodes are processes on this machine); "
              "use a Linux image such as batch.node.ubuntu 24.04 locally, and Windows pools on Azure.")


def _key(ref: dict) -> tuple[str, str, str]:
    return tuple((str(ref.get(k) or "")).lower() for k in ("publisher", "offer", "sku"))  # type: ignore[return-value]


def find_image(vmc: dict) -> dict:
    """The supported image a pool's virtualMachineConfiguration names; a 400 otherwise."""
    ref = vmc.get("imageReference")
    if not isinstance(ref, dict) or not ref:
        raise missing("virtualMachineConfiguration.imageReference")
    agent = vmc.get("nodeAgentSKUId")
    if not agent:
        raise missing("virtualMachineConfiguration.nodeAgentSKUId")
    if "windows" in str(agent).lower() or "windows" in str(ref.get("publisher") or "").lower() \
            or vmc.get("windowsConfiguration") is not None:
        raise bad_value("virtualMachineConfiguration.nodeAgentSKUId", agent, LINUX_ONLY)
    if ref.get("virtualMachineImageId") or ref.get("sharedGalleryImageId") or ref.get("communityGalleryImageId"):
        raise bad_value("virtualMachineConfiguration.imageReference", "custom image",
                        "Custom and gallery images are not available to the local Batch service; use a "
                        "Marketplace image listed by GET /supportedimages.")
    agents = {i["nodeAgentSKUId"] for i in SUPPORTED_IMAGES}
    if str(agent).lower() not in agents:
        raise bad_value("virtualMachineConfiguration.nodeAgentSKUId", agent,
                        f"The node agent SKU is not supported. Supported: {', '.join(sorted(agents))}.")
    for image in SUPPORTED_IMAGES:
        if _key(image["imageReference"]) == _key(ref):
            if image["nodeAgentSKUId"] != str(agent).lower():
                raise bad_value("virtualMachineConfiguration.nodeAgentSKUId", agent,
                                f"The image {'/'.join(_key(ref))} needs the node agent SKU "
                                f"'{image['nodeAgentSKUId']}'.")
            return image
    listed = "; ".join("/".join(_key(i["imageReference"])) for i in SUPPORTED_IMAGES)
    raise bad_value("virtualMachineConfiguration.imageReference", "/".join(_key(ref)),
                    f"The image is not supported (GET /supportedimages lists what is): {listed}.")


def check_container_configuration(vmc: dict, image: dict) -> None:
    """containerConfiguration: a known type, image names as strings, on an image that supports it."""
    config = vmc.get("containerConfiguration")
    if config is None:
        return
    if not isinstance(config, dict):
        raise bad_value("virtualMachineConfiguration.containerConfiguration", config, "Expected a JSON object.")
    kind = config.get("type")
    if not kind:
        raise missing("virtualMachineConfiguration.containerConfiguration.type")
    if str(kind).lower() not in ("dockercompatible", "cricompatible"):
        raise bad_value("virtualMachineConfiguration.containerConfiguration.type", kind,
                        "Allowed values: dockerCompatible, criCompatible.")
    names = config.get("containerImageNames") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise bad_value("virtualMachineConfiguration.containerConfiguration.containerImageNames", names,
                        "Expected a JSON array of image names.")
    if "DockerCompatible" not in image["capabilities"]:
        raise bad_value("virtualMachineConfiguration.containerConfiguration", kind,
                        "The pool's image does not support containers; use an image whose capabilities include "
                        "DockerCompatible (e.g. microsoft-dsvm/ubuntu-hpc/2204).")

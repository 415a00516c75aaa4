"""Application packages and mounts: what the local account does not have is refused as Azure refuses it.

The local account has no application packages (GET /applications lists none), so any reference is
what Azure answers for an unknown package: 409 InvalidApplicationPackageReferences. Mount
configurations (Blob/NFS/SMB mounts on nodes) are not emulated and say so.
"""

from __future__ import annotations

from batchnb.local.service.model.errors import ServiceError, not_emulated


def check_package_references(refs) -> None:
    if not refs:
        return
    names = ", ".join(f"{r.get('applicationId')}" + (f"/{r['version']}" if r.get("version") else "")
                      for r in refs if isinstance(r, dict))
    raise ServiceError(409, "InvalidApplicationPackageReferences", "One or more of the specified application "
                       "package references are invalid.",
                       {"Reason": f"The local Batch account has no application packages ({names}); ship the "
                                  "application with resource files or an environment instead."})


def check_mounts(mounts) -> None:
    if mounts:
        raise not_emulated("Mount configurations", "Download inputs with resource files from Blob storage, or "
                                                   "use an Azure pool for mounted file systems.")

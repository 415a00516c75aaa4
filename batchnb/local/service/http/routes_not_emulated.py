"""Batch operation groups the local service does not emulate: every verb answers the one refusal
(400 FeatureNotEmulated naming the feature and what to do instead), not a 404 or 405 that reads
like a typo. docs/local-service.md keeps the list."""

from __future__ import annotations

from aiohttp import web

from batchnb.local.service.model.errors import not_emulated

NOT_EMULATED = {
    "/certificates": ("Certificates", "Certificates are retired in Batch; pass secrets to tasks through "
                                      "environment settings or Azure Key Vault."),
}


def register(app: web.Application, svc) -> None:
    for prefix, (feature, instead) in NOT_EMULATED.items():
        async def refuse(request, feature=feature, instead=instead):
            raise not_emulated(feature, instead)

        app.router.add_route("*", prefix + "{tail:.*}", refuse)

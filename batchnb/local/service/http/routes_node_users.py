"""HTTP handlers for node user accounts (model/node_users.py). Registered before the pool routes,
whose ``POST .../nodes/{node}/{action}`` would otherwise take ``users`` for an action."""

from __future__ import annotations

from aiohttp import web

from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.respond import data_service_id


def register(app: web.Application, svc) -> None:
    r = app.router

    async def add_user(request):
        pool_id, node_id = request.match_info["pool"], request.match_info["node"]
        user = svc.add_node_user(pool_id, node_id, await read_json(request))
        url = f"{data_service_id(request)}/{user['name']}"
        return web.Response(status=201, headers={"DataServiceId": url, "Location": url})

    async def replace_user(request):
        m = request.match_info
        svc.replace_node_user(m["pool"], m["node"], m["user"], await read_json(request))
        return web.Response(status=200, headers={"DataServiceId": data_service_id(request)})

    async def delete_user(request):
        m = request.match_info
        svc.delete_node_user(m["pool"], m["node"], m["user"])
        return web.Response(status=200)

    r.add_post("/pools/{pool}/nodes/{node}/users", add_user)
    r.add_put("/pools/{pool}/nodes/{node}/users/{user}", replace_user)
    r.add_delete("/pools/{pool}/nodes/{node}/users/{user}", delete_user)

"""HTTP handlers for pools, nodes and account-level lists: translate only, the model does the work."""

from __future__ import annotations

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.listing import docs_page, list_state, model_page
from batchnb.local.service.http.respond import changed, check_conditions, created, entity, json_response
from batchnb.local.service.model.errors import not_found
from batchnb.local.service.model.images import SUPPORTED_IMAGES

# Where the SDK's pollers need a transitional state, the model sets it before we answer 202.


def register(app: web.Application, svc) -> None:
    r = app.router

    async def list_pools(request):
        return json_response(model_page(request, svc.pools.values(), allowed=odata.POOL_FILTER_PROPS, kind="pools"))

    async def create_pool(request):
        return created(request, svc.create_pool(await read_json(request)).doc)

    async def get_pool(request):
        pool = svc.get_pool(request.match_info["pool"])
        check_conditions(request, pool.doc, write=False)
        if request.method == "HEAD":
            return web.Response(status=200)
        return entity(request, pool.doc, "pools", select=list_state(request)["s"])

    async def patch_pool(request):
        pool = svc.get_pool(request.match_info["pool"])
        check_conditions(request, pool.doc, write=True)
        return changed(request, svc.patch_pool(pool.doc["id"], await read_json(request)).doc)

    async def delete_pool(request):
        pool = svc.get_pool(request.match_info["pool"])
        check_conditions(request, pool.doc, write=True)
        svc.delete_pool(pool.doc["id"])
        return web.Response(status=202)

    async def pool_action(request):
        pool_id, action = request.match_info["pool"], request.match_info["action"].lower()
        body = await read_json(request)
        pool = svc.get_pool(pool_id)
        if action in ("resize", "stopresize", "enableautoscale", "removenodes"):
            check_conditions(request, pool.doc, write=True)
        if action == "updateproperties":
            return changed(request, svc.replace_pool_properties(pool_id, body).doc, 204)
        if action == "resize":
            return changed(request, svc.resize_pool(pool_id, body).doc, 202)
        if action == "stopresize":
            return changed(request, svc.stop_resize_pool(pool_id).doc, 202)
        if action == "removenodes":
            return changed(request, svc.remove_nodes(pool_id, body).doc, 202)
        if action == "enableautoscale":
            return changed(request, svc.enable_autoscale(pool_id, body).doc)
        if action == "disableautoscale":
            return changed(request, svc.disable_autoscale(pool_id).doc)
        if action == "evaluateautoscale":
            return json_response({"odata.metadata": "", **svc.evaluate_autoscale(pool_id, body)},
                                 headers={"DataServiceId": str(request.url)})
        raise web.HTTPNotFound()

    async def list_nodes(request):
        pool = svc.get_pool(request.match_info["pool"])
        return json_response(model_page(request, pool.nodes.values(), allowed=odata.NODE_FILTER_PROPS, kind="nodes"))

    async def get_node(request):
        node = svc.get_node(request.match_info["pool"], request.match_info["node"])
        return entity(request, node.doc, "nodes", select=list_state(request)["s"])

    async def node_action(request):
        pool_id, node_id = request.match_info["pool"], request.match_info["node"]
        action = request.match_info["action"].lower()
        body = await read_json(request)
        if action in ("reboot", "reimage"):
            node = svc.reboot_node(pool_id, node_id, body, reimage=action == "reimage")
            return changed(request, node.doc, 202)
        if action == "deallocate":
            return changed(request, svc.deallocate_node(pool_id, node_id, body).doc, 202)
        if action == "start":
            return changed(request, svc.start_node(pool_id, node_id).doc, 202)
        if action == "disablescheduling":
            return changed(request, svc.disable_scheduling(pool_id, node_id, body).doc)
        if action == "enablescheduling":
            return changed(request, svc.enable_scheduling(pool_id, node_id).doc)
        if action == "uploadbatchservicelogs":
            svc.get_node(pool_id, node_id)
            return json_response({"virtualDirectoryName": f"{pool_id}/{node_id}", "numberOfFilesUploaded": 0})
        raise web.HTTPNotFound()

    async def remote_login(request):
        return json_response(svc.remote_login_settings(request.match_info["pool"], request.match_info["node"]))

    async def list_extensions(request):
        svc.get_node(request.match_info["pool"], request.match_info["node"])
        return json_response({"value": []})

    async def supported_images(request):
        return json_response(docs_page(request, SUPPORTED_IMAGES, allowed=odata.SUPPORTED_IMAGES_FILTER_PROPS,
                                       kind="supportedimages"))

    async def node_counts(request):
        return json_response(docs_page(request, svc.node_counts(), allowed=odata.NODE_COUNTS_FILTER_PROPS,
                                       kind="poolnodecounts"))

    async def empty_list(request):
        return json_response({"value": []})

    async def get_application(request):
        raise not_found("ApplicationNotFound", "application")  # no application packages locally

    r.add_get("/pools", list_pools)
    r.add_post("/pools", create_pool)
    r.add_get("/pools/{pool}", get_pool, allow_head=False)
    r.add_head("/pools/{pool}", get_pool)
    r.add_patch("/pools/{pool}", patch_pool)
    r.add_delete("/pools/{pool}", delete_pool)
    r.add_get("/pools/{pool}/nodes", list_nodes)
    r.add_get("/pools/{pool}/nodes/{node}", get_node)
    r.add_get("/pools/{pool}/nodes/{node}/remoteloginsettings", remote_login)
    r.add_get("/pools/{pool}/nodes/{node}/extensions", list_extensions)
    r.add_post("/pools/{pool}/nodes/{node}/{action}", node_action)
    r.add_post("/pools/{pool}/{action}", pool_action)
    r.add_get("/supportedimages", supported_images)
    r.add_get("/nodecounts", node_counts)
    r.add_get("/applications", empty_list)
    r.add_get("/applications/{application}", get_application)

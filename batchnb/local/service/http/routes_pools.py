"""HTTP handlers for pools, nodes and account-level lists: translate only, the model does the work."""

from __future__ import annotations

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.entity_handlers import add_collection_routes, run_action
from batchnb.local.service.http.listing import docs_page, list_state, model_page
from batchnb.local.service.http.respond import check_conditions, entity, json_response
from batchnb.local.service.model.errors import not_found
from batchnb.local.service.model.images import SUPPORTED_IMAGES

# Where the SDK's pollers need a transitional state, the model sets it before we answer 202.


def register(app: web.Application, svc) -> None:
    r = app.router

    add_collection_routes(
        r, "/pools", "pool", "pools", items=lambda: svc.pools.values(), allowed=odata.POOL_FILTER_PROPS, create=svc.create_pool,
        lookup=lambda request: svc.get_pool(request.match_info["pool"]),
        update=lambda pool, body, replace: svc.patch_pool(pool.doc["id"], body), update_methods=("PATCH",),
        delete=lambda pool: svc.delete_pool(pool.doc["id"]))

    pool_actions = {
        "updateproperties": (svc.replace_pool_properties, 204),
        "resize": (svc.resize_pool, 202),
        "stopresize": (lambda pool_id, body: svc.stop_resize_pool(pool_id), 202),
        "removenodes": (svc.remove_nodes, 202),
        "enableautoscale": (svc.enable_autoscale, 200),
        "disableautoscale": (lambda pool_id, body: svc.disable_autoscale(pool_id), 200),
    }

    async def pool_action(request):
        pool_id, action = request.match_info["pool"], request.match_info["action"].lower()
        body = await read_json(request)
        pool = svc.get_pool(pool_id)
        if action in ("resize", "stopresize", "enableautoscale", "removenodes"):
            check_conditions(request, pool.doc, write=True)
        if action == "evaluateautoscale":
            return json_response({"odata.metadata": "", **svc.evaluate_autoscale(pool_id, body)},
                                 headers={"DataServiceId": str(request.url)})
        return run_action(request, pool_actions, action, pool_id, body)

    async def list_nodes(request):
        pool = svc.get_pool(request.match_info["pool"])
        return json_response(model_page(request, pool.nodes.values(), allowed=odata.NODE_FILTER_PROPS, kind="nodes"))

    async def get_node(request):
        node = svc.get_node(request.match_info["pool"], request.match_info["node"])
        return entity(request, node.doc, "nodes", select=list_state(request)["s"])

    node_actions = {
        "reboot": (lambda ids, body: svc.reboot_node(*ids, body, reimage=False), 202),
        "reimage": (lambda ids, body: svc.reboot_node(*ids, body, reimage=True), 202),
        "deallocate": (lambda ids, body: svc.deallocate_node(*ids, body), 202),
        "start": (lambda ids, body: svc.start_node(*ids), 202),
        "disablescheduling": (lambda ids, body: svc.disable_scheduling(*ids, body), 200),
        "enablescheduling": (lambda ids, body: svc.enable_scheduling(*ids), 200),
    }

    async def node_action(request):
        pool_id, node_id = request.match_info["pool"], request.match_info["node"]
        action = request.match_info["action"].lower()
        body = await read_json(request)
        if action == "uploadbatchservicelogs":
            return json_response(await svc.upload_node_logs(pool_id, node_id, body))
        return run_action(request, node_actions, action, (pool_id, node_id), body)

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

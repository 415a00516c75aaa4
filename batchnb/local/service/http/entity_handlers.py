"""The get/update/delete handlers every addressable entity (pool, job, schedule, task) shares:
look it up, honour If-Match/If-None-Match, then let the model do the work."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.listing import list_state, model_page
from batchnb.local.service.http.respond import changed, check_conditions, created, entity, json_response


def entity_handlers(lookup: Callable[[web.Request], Any], kind: str, *, update: Callable[..., Any],
                    delete: Callable[[Any], None], delete_status: int = 202, bare_head: bool = True):
    """``(get, update, delete)`` handlers. ``lookup(request)`` finds the entity (raising 404);
    ``update(found, body, replace=PUT?)`` and ``delete(found)`` call the model. With ``bare_head`` a HEAD
    answers a plain 200; without it (jobs, whose GET route also takes HEAD) the entity's headers."""

    async def get_handler(request):
        found = lookup(request)
        check_conditions(request, found.doc, write=False)
        if bare_head and request.method == "HEAD":
            return web.Response(status=200)
        return entity(request, found.doc, kind, select=list_state(request)["s"])

    async def update_handler(request):
        found = lookup(request)
        check_conditions(request, found.doc, write=True)
        body = await read_json(request)
        return changed(request, update(found, body, replace=request.method == "PUT").doc)

    async def delete_handler(request):
        found = lookup(request)
        check_conditions(request, found.doc, write=True)
        delete(found)
        return web.Response(status=delete_status)

    return get_handler, update_handler, delete_handler


def add_collection_routes(router: web.UrlDispatcher, path: str, key: str, kind: str, *, items: Callable[[], Any],
                          allowed: dict, create: Callable[[dict], Any], lookup: Callable[[web.Request], Any],
                          update: Callable[..., Any], delete: Callable[[Any], None],
                          update_methods: tuple[str, ...] = ("PATCH", "PUT"), bare_head: bool = True) -> None:
    """Route list and create on ``path`` and get/HEAD, update and delete on ``path/{key}`` (the
    handlers above); ``lookup`` reads ``key`` from ``request.match_info``."""

    async def list_handler(request):
        return json_response(model_page(request, items(), allowed=allowed, kind=kind))

    async def create_handler(request):
        return created(request, create(await read_json(request)).doc)

    get_handler, update_handler, delete_handler = entity_handlers(
        lookup, kind, update=update, delete=delete, bare_head=bare_head)
    router.add_get(path, list_handler)
    router.add_post(path, create_handler)
    one = f"{path}/{{{key}}}"
    router.add_get(one, get_handler, allow_head=not bare_head)
    if bare_head:
        router.add_head(one, get_handler)
    for method in update_methods:
        router.add_route(method, one, update_handler)
    router.add_delete(one, delete_handler)


# An entity action: the model call (given the entity's id, or ids, and the request body) and the
# status Azure answers it with.
Action = tuple[Callable[[Any, Any], Any], int]


def run_action(request: web.Request, actions: Mapping[str, Action], action: str, key: Any, body: Any) -> web.Response:
    """Answer ``POST .../{action}`` from ``actions`` (404 for an action the table does not hold)."""
    if action not in actions:
        raise web.HTTPNotFound()
    call, status = actions[action]
    return changed(request, call(key, body).doc, status)

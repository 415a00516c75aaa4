"""Task and node file APIs. The file path arrives percent-encoded (%2F): we take it from the raw
path and let node_files refuse anything that would leave the task or node directory."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import quote

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.listing import docs_page, list_state
from batchnb.local.service.model.errors import ServiceError
from batchnb.local.service.runtime import node_files


def _raw_file_path(request: web.Request) -> str:
    raw = request.rel_url.raw_path
    return raw.split("/files/", 1)[1] if "/files/" in raw else ""


def _file_api(fn):
    async def handler(request):
        try:
            return await fn(request)
        except node_files.FileApiError as exc:
            raise ServiceError(exc.status, exc.code, exc.message) from None
    return handler


def register(app: web.Application, svc) -> None:
    r = app.router

    # Each base is (anchor, parts below it, files URL prefix): the anchor is the service's nodes
    # directory; everything below it, node roots included, is opened without following links.
    def below_nodes(path):
        return svc.nodes_dir, path.relative_to(svc.nodes_dir).parts

    def task_base(request):
        task, base = svc.task_files_root(request.match_info["job"], request.match_info["task"])
        return *below_nodes(base), task.doc["url"] + "/files/"

    def node_base(request):
        node = svc.get_node(request.match_info["pool"], request.match_info["node"])
        return *below_nodes(svc.node_root(node)), node.doc["url"] + "/files/"

    def lister(base_of):
        @_file_api
        async def list_files(request):
            anchor, parts, prefix = base_of(request)
            recursive = bool(list_state(request).get("r"))  # from the token on later pages
            try:
                files = await asyncio.to_thread(node_files.list_entries, anchor, parts, recursive=recursive,
                                                url_prefix=prefix)
            except node_files.FileApiError as exc:
                if exc.status != 404:
                    raise
                files = []  # the task has not made its directory yet
            return web.json_response(docs_page(request, files, allowed=odata.FILE_FILTER_PROPS, kind="files"))
        return list_files

    def getter(base_of):
        @_file_api
        async def get_file(request):
            anchor, parts, prefix, segments = _addressed(request, base_of)
            fd = await asyncio.to_thread(node_files.open_entry, anchor, parts, segments)
            try:
                info = os.fstat(fd)
                name = "/".join(segments)
                headers = node_files.headers_of(info, name, prefix + quote(name, safe="/"))
                if request.method == "HEAD":
                    return web.Response(status=200, headers=headers)
                node_files.check_readable(info)
                start, stop = node_files.byte_range(info.st_size, request.headers.get("ocp-range"))
                return await _stream(request, fd, start, stop, headers)
            finally:
                os.close(fd)
        return get_file

    def deleter(base_of):
        @_file_api
        async def delete_file(request):
            anchor, parts, _, segments = _addressed(request, base_of)
            recursive = (request.query.get("recursive") or "").lower() == "true"
            await asyncio.to_thread(node_files.delete_entry, anchor, parts, segments, recursive=recursive)
            return web.Response(status=200)
        return delete_file

    for prefix, base_of in (("/jobs/{job}/tasks/{task}", task_base), ("/pools/{pool}/nodes/{node}", node_base)):
        r.add_get(prefix + "/files", lister(base_of))
        r.add_get(prefix + "/files/{path:.+}", getter(base_of), allow_head=False)
        r.add_head(prefix + "/files/{path:.+}", getter(base_of))
        r.add_delete(prefix + "/files/{path:.+}", deleter(base_of))


def _addressed(request: web.Request, base_of) -> tuple:
    """The file a get/delete names: its task or node directory (anchor, parts, URL prefix) and the
    checked segments of its path."""
    anchor, parts, prefix = base_of(request)
    return anchor, parts, prefix, node_files.path_segments(_raw_file_path(request))


async def _stream(request: web.Request, fd: int, start: int, stop: int, headers: dict) -> web.StreamResponse:
    """The bytes [start, stop) of the open file, sent a chunk at a time: memory stays constant
    whatever the file's size (a 200 MB stdout used to be read whole)."""
    response = web.StreamResponse(status=200, headers={**headers, **request.get("common_headers", {})})
    response.content_length = stop - start
    await response.prepare(request)
    position = start
    while position < stop:
        chunk = await asyncio.to_thread(os.pread, fd, min(node_files.CHUNK_BYTES, stop - position), position)
        if not chunk:  # the file shrank while we sent it: the short answer ends the connection
            break
        await response.write(chunk)
        position += len(chunk)
    await response.write_eof()
    return response

"""Task and node file APIs. The file path arrives percent-encoded (%2F): we take it from the raw
path and let node_files refuse anything that would leave the task or node directory."""

from __future__ import annotations

import asyncio
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

    def task_base(request):
        task, base = svc.task_files_root(request.match_info["job"], request.match_info["task"])
        return base, task.doc["url"] + "/files/"

    def node_base(request):
        node = svc.get_node(request.match_info["pool"], request.match_info["node"])
        return svc.node_root(node), node.doc["url"] + "/files/"

    def lister(base_of):
        @_file_api
        async def list_files(request):
            base, prefix = base_of(request)
            recursive = bool(list_state(request).get("r"))  # from the token on later pages
            files = await asyncio.to_thread(node_files.list_files, base, recursive=recursive, url_prefix=prefix) \
                if base.exists() else []
            return web.json_response(docs_page(request, files, allowed=odata.FILE_FILTER_PROPS, kind="files"))
        return list_files

    def getter(base_of):
        @_file_api
        async def get_file(request):
            base, prefix = base_of(request)
            raw = _raw_file_path(request)
            path = node_files.resolve(base, raw)
            if not path.exists():
                raise node_files.FileApiError(404, "FileNotFound", "The specified file does not exist.")
            headers = node_files.file_headers(path, prefix + quote(path.relative_to(base).as_posix(), safe="/"))
            if request.method == "HEAD":
                return web.Response(status=200, headers=headers)
            if path.is_dir():
                raise node_files.FileApiError(400, "OperationNotValidOnDirectory",
                                              "The requested path is a directory.")
            data = await asyncio.to_thread(node_files.read_range, path, request.headers.get("ocp-range"))
            headers["Content-Length"] = str(len(data))
            return web.Response(status=200, body=data, headers=headers)
        return get_file

    def deleter(base_of):
        @_file_api
        async def delete_file(request):
            base, _ = base_of(request)
            path = node_files.resolve(base, _raw_file_path(request))
            recursive = (request.query.get("recursive") or "").lower() == "true"
            await asyncio.to_thread(node_files.delete, path, recursive=recursive)
            return web.Response(status=200)
        return delete_file

    for prefix, base_of in (("/jobs/{job}/tasks/{task}", task_base), ("/pools/{pool}/nodes/{node}", node_base)):
        r.add_get(prefix + "/files", lister(base_of))
        r.add_get(prefix + "/files/{path:.+}", getter(base_of), allow_head=False)
        r.add_head(prefix + "/files/{path:.+}", getter(base_of))
        r.add_delete(prefix + "/files/{path:.+}", deleter(base_of))

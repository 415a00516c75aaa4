"""Thin response helpers: the headers and status codes the Batch SDK expects for each kind of reply."""

from __future__ import annotations

import json
import uuid
from email.utils import parsedate_to_datetime

from aiohttp import web

from batchnb.local.service.http.listing import base_url
from batchnb.local.service.model import clock
from batchnb.local.service.model.errors import ServiceError

JSON = "application/json; odata=minimalmetadata"


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        headers={"Content-Type": JSON, **(headers or {})})


def _entity_headers(doc: dict) -> dict:
    headers = {}
    if doc.get("eTag"):
        headers["ETag"] = doc["eTag"]
    if doc.get("lastModified"):
        headers["Last-Modified"] = clock.rfc1123(clock.parse_iso(doc["lastModified"]))
    return headers


def entity(request: web.Request, doc: dict, kind: str, *, select: list[str] | None = None) -> web.Response:
    body = {"odata.metadata": f"{base_url(request)}/$metadata#{kind}/@Element", **doc}
    if select:
        keep = set(select) | {"odata.metadata"}
        body = {k: v for k, v in body.items() if k in keep}
    return json_response(body, headers=_entity_headers(doc))


def data_service_id(request: web.Request) -> str:
    return f"{base_url(request)}{request.path}"


def created(request: web.Request, doc: dict) -> web.Response:
    url = doc.get("url") or data_service_id(request)
    return web.Response(status=201, headers={"DataServiceId": url, "Location": url, **_entity_headers(doc)})


def changed(request: web.Request, doc: dict | None, status: int = 200) -> web.Response:
    """A mutating POST/PUT/PATCH: DataServiceId plus the entity's new ETag/Last-Modified."""
    return web.Response(status=status, headers={"DataServiceId": data_service_id(request),
                                                **(_entity_headers(doc) if doc else {})})


def error_response(exc: ServiceError, request_id: str) -> web.Response:
    message = f"{exc.message}\nRequestId:{request_id}\nTime:{clock.iso(clock.now())}"
    body = {"odata.metadata": "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            "code": exc.code, "message": {"lang": "en-US", "value": message}}
    if exc.values:
        body["values"] = [{"key": k, "value": v} for k, v in exc.values.items()]
    if exc.status == 304 or exc.status == 404 and exc.headers.get("x-no-body"):
        return web.Response(status=exc.status)
    headers = {k: v for k, v in exc.headers.items() if k != "x-no-body"}
    return json_response(body, status=exc.status, headers=headers)


def check_conditions(request: web.Request, doc: dict, *, write: bool) -> None:
    """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since: 412 for writes, 304 for reads."""
    h = request.headers
    etag = doc.get("eTag")
    modified = clock.parse_iso(doc["lastModified"]) if doc.get("lastModified") else None
    failed = False
    if h.get("If-Match") and h["If-Match"].strip('"') not in (etag, "*"):
        failed = True
    if h.get("If-None-Match") and h["If-None-Match"].strip('"') in (etag, "*"):
        failed = True
    try:
        if h.get("If-Modified-Since") and modified and modified.replace(microsecond=0) <= parsedate_to_datetime(
                h["If-Modified-Since"]):
            failed = True
        if h.get("If-Unmodified-Since") and modified and modified.replace(microsecond=0) > parsedate_to_datetime(
                h["If-Unmodified-Since"]):
            failed = True
    except (TypeError, ValueError):
        raise ServiceError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct "
                                                      "format.") from None
    if failed:
        if write:
            raise ServiceError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) "
                                                       "is not met.")
        raise ServiceError(304, "ConditionNotMet", "Not modified.")


def new_request_id() -> str:
    return str(uuid.uuid4())

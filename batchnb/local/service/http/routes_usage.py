"""HTTP handler for ``GET /poolusagemetrics``: translate only, the model (model/usage.py) counts."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from batchnb.local.service.http.listing import docs_page
from batchnb.local.service.http.respond import json_response
from batchnb.local.service.model.usage import parse_query_time

# Azure's documented filter properties for account usage metrics.
_ORDER = {"eq", "ne", "gt", "ge", "lt", "le"}
USAGE_FILTER_PROPS: dict[str, set[str]] = {"poolId": {"eq", "ne", "startswith"}, "startTime": set(_ORDER),
                                           "endTime": set(_ORDER), "vmSize": {"eq", "ne"}}


def register(app: web.Application, svc) -> None:
    async def list_usage_metrics(request: web.Request) -> web.Response:
        query = {k.lower(): v for k, v in request.query.items()}
        # A continuation link carries the filter in its token but not the times: keep them in the link.
        start = parse_query_time("startTime", query.get("starttime"))
        end = parse_query_time("endtime", query.get("endtime"))
        docs = svc.pool_usage_metrics(start=start, end=end)
        body = docs_page(request, docs, allowed=USAGE_FILTER_PROPS, kind="poolusagemetrics")
        if "odata.nextLink" in body:
            extra = "".join(f"&{k}={quote(request.query[k], safe='')}" for k in request.query if k.lower() in ("starttime", "endtime"))
            body["odata.nextLink"] += extra
        return json_response(body)

    app.router.add_get("/poolusagemetrics", list_usage_metrics)

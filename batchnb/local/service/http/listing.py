"""List responses: $filter, $select, $expand=stats, maxresults and an absolute odata.nextLink whose
opaque token carries all continuation state (the SDK re-sends only the link and api-version)."""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import itertools
import json
import secrets
from operator import attrgetter, itemgetter
from typing import Callable, Iterable

from aiohttp import web

from batchnb.local.service.http.odata import ODataError, parse_filter, select
from batchnb.local.service.model import clock
from batchnb.local.service.model.errors import ServiceError

MAX_RESULTS = 1000


def _bad_query(name: str, value: str, reason: str) -> ServiceError:
    return ServiceError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the "
                        "request URI is invalid.", {"QueryParameterName": name, "QueryParameterValue": value[:200],
                                                     "Reason": reason})


# Continuation tokens are signed: a client can only send back a token this service handed out, so a
# forged one cannot lift maxresults past 1000 or smuggle values of the wrong type into a listing.
# The key follows the account key, so tokens stay valid across a restart of the service.
_token_key = secrets.token_bytes(32)
_MAX_TOKEN_CHARS = 16384


def set_token_key(account_key: str) -> None:
    global _token_key
    if account_key:
        _token_key = hmac.new(account_key.encode(), b"batchnb-local-skiptoken-v1", hashlib.sha256).digest()


def _mac(raw: bytes) -> str:
    return base64.b32encode(hmac.new(_token_key, raw, hashlib.sha256).digest()[:20]).decode()


def encode_token(state: dict) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.b32encode(raw).decode().rstrip("=") + "." + _mac(raw)


def decode_token(token: str) -> dict:
    invalid = _bad_query("$skiptoken", token, "The continuation token is not valid.")
    body, _, mac = token.partition(".")
    if len(token) > _MAX_TOKEN_CHARS or not mac:
        raise invalid
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (ValueError, TypeError):
        raise invalid from None
    if not hmac.compare_digest(mac.upper(), _mac(raw)):
        raise invalid
    try:
        state = json.loads(raw)
    except ValueError:
        raise invalid from None
    if not isinstance(state, dict):
        raise invalid
    return state


def list_state(request: web.Request) -> dict:
    """Filter/select/expand/maxresults from the query, or from the continuation token."""
    q = {k.lower(): v for k, v in request.query.items()}
    if "$skiptoken" in q:
        return decode_token(q["$skiptoken"])
    max_text = q.get("maxresults")
    if max_text is None:
        max_results = MAX_RESULTS
    else:
        try:
            max_results = int(max_text)
        except ValueError:
            raise _bad_query("maxresults", max_text, "Expected an integer.") from None
        if not 1 <= max_results <= MAX_RESULTS:
            raise ServiceError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the "
                               "request URI is outside the permissible range.",
                               {"QueryParameterName": "maxresults", "QueryParameterValue": max_text,
                                "Reason": "maxresults must be between 1 and 1000."})
    select_text = q.get("$select")
    expand = [e.strip() for e in (q.get("$expand") or "").split(",") if e.strip()]
    for e in expand:
        if e != "stats":
            raise _bad_query("$expand", q["$expand"], "Only 'stats' can be expanded.")
    return {"f": q.get("$filter") or None, "s": [s.strip() for s in select_text.split(",") if s.strip()]
            if select_text else None, "e": expand, "m": max_results, "a": 0,
            # file lists: the next page must list the same (recursive) tree
            "r": (q.get("recursive") or "").lower() == "true"}


def compile_filter(text: str | None, allowed: dict):
    if not text:
        return None
    try:
        return parse_filter(text, allowed)
    except ODataError as exc:
        raise _bad_query("$filter", text, str(exc)) from None


def page(request: web.Request, entities: Iterable, *, allowed: dict, kind: str,
         render: Callable[[object], dict], seq_of: Callable[[object], int], sorted_by_seq: bool = True,
         candidates: Callable[[object], list] | None = None, stats: Callable[[object], dict] | None = None,
         live: Callable[[object], bool] | None = None) -> dict:
    """Build one page. `candidates(filter)` may narrow the entities (a change-log lookup) and
    returns them sorted by seq; otherwise `entities` must already be in seq order. `live(entity)`
    skips entities that are gone (a list that keeps deleted tasks until it is rebuilt).

    A page costs what it returns: it starts by bisection and reads on from there (no copy of the
    list), so page 1,000 of a million-task job costs what page 1 of a small one does."""
    state = list_state(request)
    flt = compile_filter(state["f"], allowed)
    after = state.get("a", 0)
    items = None
    if candidates is not None and flt is not None:
        items = candidates(flt)
    if items is None:
        items = entities if isinstance(entities, list) else list(entities)
    first = bisect.bisect_right(items, after, key=seq_of) if after else 0
    out = []
    limit = state["m"]
    last_seq = None
    more = False
    for entity in itertools.islice(items, first, None):
        if live is not None and not live(entity):
            continue
        doc = render(entity)
        if flt is not None and not flt.matches(doc):
            continue
        if len(out) == limit:
            more = True
            break
        if "stats" in state["e"] and stats is not None:
            doc = dict(doc, stats=stats(entity))
        out.append(select(doc, state["s"]) if state["s"] else doc)
        last_seq = seq_of(entity)
    body = {"odata.metadata": f"{base_url(request)}/$metadata#{kind}", "value": out}
    if more:
        token = encode_token({**state, "a": last_seq})
        body["odata.nextLink"] = f"{base_url(request)}{request.path}?$skiptoken={token}"
    return body


def model_page(request: web.Request, entities: Iterable, *, allowed: dict, kind: str, **options) -> dict:
    """A page of model objects (jobs, pools, nodes, tasks): each lists as its ``doc``, in ``seq`` order.
    ``options``: as for :func:`page` (``candidates``, ``stats``)."""
    return page(request, list(entities), allowed=allowed, kind=kind, render=attrgetter("doc"),
                seq_of=attrgetter("seq"), **options)


def docs_page(request: web.Request, docs: Iterable[dict], *, allowed: dict, kind: str) -> dict:
    """A page of plain documents; a document's position (from 1) is its continuation sequence."""
    return page(request, list(enumerate(docs, 1)), allowed=allowed, kind=kind, render=itemgetter(1),
                seq_of=itemgetter(0))


def base_url(request: web.Request) -> str:
    """The caller's own scheme://host:port, so that next links come back to where it called."""
    return f"{request.scheme}://{request.host}"


def task_stats(task) -> dict:
    doc = task.peek()
    info = doc.get("executionInfo") or {}
    start = info.get("startTime")
    end = info.get("endTime")
    wall = (clock.parse_iso(end) - clock.parse_iso(start)).total_seconds() if start and end else 0.0
    return {"url": f"{doc['url']}/stats", "startTime": doc["creationTime"],
            "lastUpdateTime": doc.get("stateTransitionTime"), "userCPUTime": "PT0S", "kernelCPUTime": "PT0S",
            "wallClockTime": f"PT{wall:.3f}S", "readIOps": "0", "writeIOps": "0", "readIOGiB": 0.0,
            "writeIOGiB": 0.0, "waitTime": "PT0S"}

"""Reading request bodies: empty bodies are fine, malformed JSON is a Batch 400, oversize a 413."""

from __future__ import annotations

import json

from aiohttp import web

from batchnb.local.service.model.errors import ServiceError

MAX_BODY = 1024 * 1024  # the Batch limit for a task collection; other bodies get the same cap
# Batch bodies nest a handful of levels; a limit far below Python's recursion limit keeps every
# later step (validation, json.dumps into the store) safe from a body nested 100,000 deep.
MAX_DEPTH = 64


def _too_deep(body: object, limit: int = MAX_DEPTH) -> bool:
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        for child in (value.values() if isinstance(value, dict) else value):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


async def read_json(request: web.Request, *, limit: int = MAX_BODY) -> dict:
    length = request.content_length
    if length is not None and length > limit:
        raise ServiceError(413, "RequestBodyTooLarge", f"The request body is too large and exceeds the maximum "
                           f"permissible limit of {limit} bytes.")
    # StreamReader.read(n) returns what has arrived so far, not n bytes: read to the end (or past the limit).
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise ServiceError(413, "RequestBodyTooLarge", f"The request body is too large and exceeds the maximum "
                           f"permissible limit of {limit} bytes.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError(400, "InvalidRequestBody", "The specified Request Body is not syntactically valid.",
                           {"Reason": str(exc)[:200]}) from None
    except RecursionError:
        raise _too_deep_error() from None
    if not isinstance(body, dict):
        raise ServiceError(400, "InvalidRequestBody", "The request body must be a JSON object.")
    if _too_deep(body):
        raise _too_deep_error()
    return body


def _too_deep_error() -> ServiceError:
    return ServiceError(400, "InvalidRequestBody", f"The request body nests deeper than {MAX_DEPTH} levels.")

"""Reading request bodies: empty bodies are fine, malformed JSON is a Batch 400, oversize a 413."""

from __future__ import annotations

import json

from aiohttp import web

from batchnb.local.service.model.errors import ServiceError

MAX_BODY = 1024 * 1024  # the Batch limit for a task collection; other bodies get the same cap


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
    if not isinstance(body, dict):
        raise ServiceError(400, "InvalidRequestBody", "The request body must be a JSON object.")
    return body

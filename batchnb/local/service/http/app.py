"""The local Batch service's HTTP front: middleware (request ids, faults, authentication, errors)
and the route table. Handlers are thin; the model (BatchService) holds state and behaviour."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiohttp import web

from batchnb._constants import LOCAL_ADMIN_PREFIX
from batchnb.local.service.config import ServerConfig
from batchnb.local.service.http import (
    access_log,
    bearer,
    listing,
    routes_admin,
    routes_files,
    routes_jobs,
    routes_node_users,
    routes_not_emulated,
    routes_pools,
    routes_schedules,
    routes_usage,
    sharedkey,
)
from batchnb.local.service.http.faults import Faults
from batchnb.local.service.http.respond import error_response, new_request_id
from batchnb.local.service.model import clock
from batchnb.local.service.model.errors import ServiceError
from batchnb.local.service.model.service import BatchService
from batchnb.local.service.runtime.scheduler import Scheduler

log = logging.getLogger("batchnb.local")
MAX_CLOCK_SKEW_S = 15 * 60


def _auth_error(status: int, detail: str) -> ServiceError:
    return ServiceError(status, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                        "value of Authorization header is formed correctly including the signature.",
                        {"AuthenticationErrorDetail": detail})


def authenticate(request: web.Request, config: ServerConfig) -> None:
    if config.auth_mode == "off":
        return
    auth = request.headers.get("Authorization")
    if not auth:
        raise _auth_error(401, "The request does not contain an Authorization header.")
    scheme = auth.split(" ", 1)[0].lower()
    if scheme == "bearer":
        if not config.allow_bearer:
            raise _auth_error(401, "Bearer tokens are not accepted by this local service (start it with "
                                   "--allow-bearer).")
        try:
            bearer.verify(auth.split(" ", 1)[1].strip() if " " in auth else "", account_key=config.account_key)
        except bearer.BearerError as exc:
            raise _auth_error(401, str(exc)) from None
        return
    if scheme != "sharedkey":
        raise ServiceError(400, "InvalidAuthenticationInfo", "Authentication information is not given in the "
                                                             "correct format. Check the value of Authorization header.")
    date_text = request.headers.get("ocp-date") or request.headers.get("Date")
    if not date_text:
        raise _auth_error(403, "The request does not carry an ocp-date header.")
    try:
        sent = parsedate_to_datetime(date_text)
    except (TypeError, ValueError, IndexError, OverflowError):
        sent = None
    if sent is None or sent.tzinfo is None:  # RFC 1123 dates carry a zone (GMT); one without is malformed
        raise _auth_error(403, "The ocp-date header is not a valid RFC 1123 date.")
    skew = abs((datetime.now(timezone.utc) - sent).total_seconds())
    if skew > MAX_CLOCK_SKEW_S:
        raise _auth_error(403, f"Request date header too old: '{date_text}'.")
    ok, sts = sharedkey.verify(request.method, request.rel_url.raw_path, request.rel_url.raw_query_string,
                               request.headers, config.account_name, config.account_key)
    if not ok:
        # Azure's wording, which quotes the signature it received (batchnb's errors mask it).
        found = auth.split(":", 1)[1] if ":" in auth else ""
        raise _auth_error(403, f"The MAC signature found in the HTTP request '{found}' is not the same as any "
                               f"computed signature. Server used following string to sign: '{sts}'.")


def _log_request(request: web.Request, request_id: str, outcome: str, started: float) -> None:
    access_log.log_request(request_id, request.method, request.rel_url.raw_path, request.rel_url.raw_query_string,
                           outcome, time.perf_counter() - started)


def make_app(svc: BatchService, config: ServerConfig) -> web.Application:
    faults = Faults(config.faults)
    listing.set_token_key(config.account_key)

    @web.middleware
    async def batch_middleware(request: web.Request, handler):
        request_id = new_request_id()
        started = time.perf_counter()
        common = {"request-id": request_id, "DataServiceVersion": "3.0"}
        if (request.headers.get("return-client-request-id") or "").lower() == "true":
            common["client-request-id"] = request.headers.get("client-request-id", "")
        request["common_headers"] = common  # for streamed answers, whose headers go out before we return
        admin = request.path.startswith(LOCAL_ADMIN_PREFIX)
        drop_answer = False
        try:
            if request.path == LOCAL_ADMIN_PREFIX + "/health":
                response = await handler(request)
            else:
                if not admin:
                    fault = faults.pick()
                    if fault == "drop":
                        # Half the drops lose the request, half only the answer (the work is done
                        # and committed): the second kind is what makes a client's retry of a
                        # POST meet its own earlier success (TaskExists), as on a real network.
                        if faults.rng.random() < 0.5:
                            if request.transport is not None:
                                request.transport.abort()
                            raise asyncio.CancelledError()
                        drop_answer = True
                    if fault == "throttle":
                        code = "TooManyRequests" if faults.rng.random() < 0.5 else "ServerBusy"
                        raise ServiceError(429 if code == "TooManyRequests" else 503, code,
                                           "Request failed as server encountered too many requests. Please try "
                                           "again." if code == "TooManyRequests" else "The server is busy.",
                                           headers={"Retry-After": f"{faults.config.retry_after:g}"})
                    if fault == "error500":
                        raise ServiceError(500, "InternalError", "The server encountered an internal error. Please "
                                                                 "retry the request.")
                authenticate(request, config)
                if not admin and not any(k.lower() == "api-version" for k in request.query):
                    raise ServiceError(400, "MissingRequiredQueryParameter", "A query parameter that's mandatory "
                                       "for this request is not specified.", {"QueryParameterName": "api-version"})
                response = await handler(request)
        except ServiceError as exc:
            response = error_response(exc, request_id)
        except web.HTTPNotFound:
            response = error_response(ServiceError(404, "ResourceNotFound",
                                                   "The specified resource does not exist."), request_id)
        except web.HTTPMethodNotAllowed:
            response = error_response(ServiceError(405, "UnsupportedHttpVerb", "The resource doesn't support the "
                                                   "specified HTTP verb."), request_id)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # body shapes the model did not expect
            log.warning("bad request answered 400: %r", exc, exc_info=True)  # a shape check is missing somewhere
            response = error_response(ServiceError(400, "InvalidRequestBody", "The request body is not valid.",
                                                   {"Reason": str(exc)[:200]}), request_id)
        except asyncio.CancelledError:
            _log_request(request, request_id, "dropped", started)
            raise
        except Exception:
            log.exception("internal error")
            response = error_response(ServiceError(500, "InternalError", "The server encountered an internal "
                                                   "error. Please retry the request."), request_id)
        finally:
            svc.flush()  # acknowledged means committed
        _log_request(request, request_id, f"{response.status}{' answer-dropped' if drop_answer else ''}", started)
        if drop_answer:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError()
        for k, v in common.items():
            response.headers.setdefault(k, v)
        return response

    app = web.Application(middlewares=[batch_middleware], client_max_size=64 * 1024 * 1024)
    routes_node_users.register(app, svc)  # before the pool routes: see routes_node_users
    routes_pools.register(app, svc)
    routes_schedules.register(app, svc)
    routes_not_emulated.register(app, svc)
    routes_jobs.register(app, svc)
    routes_files.register(app, svc)
    routes_usage.register(app, svc)
    routes_admin.register(app, svc, faults)
    return app


def _write_ready(state_dir: Path, port: int) -> None:
    info = {"pid": os.getpid(), "port": port, "batch_url": f"http://127.0.0.1:{port}",
            "started": clock.iso(clock.now())}
    tmp = state_dir / "server.json.tmp"
    tmp.unlink(missing_ok=True)
    with open(tmp, "w", opener=lambda path, flags: os.open(path, flags, 0o600)) as fh:
        fh.write(json.dumps(info))
    tmp.replace(state_dir / "server.json")


async def serve(config: ServerConfig) -> None:
    state_dir = Path(config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    access_log.configure(state_dir)
    svc = BatchService(config, runtime=Scheduler)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    port = sock.getsockname()[1]
    svc.base_url = f"http://127.0.0.1:{port}"
    await svc.start()
    app = make_app(svc, config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    _write_ready(state_dir, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await svc.stop()


def run_server(config: ServerConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The blob SDK logs every request at INFO (resource/output files): keep server.log to what matters.
    logging.getLogger("azure").setLevel(logging.WARNING)
    asyncio.run(serve(config))

"""create_app: the reference core API as a FastAPI app over its own DuckDB file.

    >>> from runreplay.server import create_app
    >>> app = create_app("server.duckdb", {"alice": "a-long-secret-token"})  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8765)                        # doctest: +SKIP

`runreplay serve` does the same from the command line. The app logs one line per request
(method, path, status, duration, actor) on the "runreplay.server" logger and never a token
or a query string.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from runreplay import __version__
from runreplay.errors import RunReplayError
from runreplay.model import json_schema
from runreplay.server.auth import Authenticator
from runreplay.server.database import Clock, ServerDatabase
from runreplay.server.errors import ApiProblem, install_error_handlers, problem_response
from runreplay.server.executor import DemoExecutor
from runreplay.server.replay import ReplayService
from runreplay.server.routes import router
from runreplay.server.schemas import ReplayBody

log = logging.getLogger("runreplay.server")

MAX_REQUEST_BYTES = 64 * 1024
"""No route takes a body near this; bigger ones get 413 (the replay route checks its own,
so that the refusal is audited)."""


@dataclass
class ServerState:
    """What the routes share: the database, the token check, the replay service, the executor."""

    database: ServerDatabase
    authenticator: Authenticator
    replays: ReplayService
    executor: DemoExecutor | None

    @property
    def store(self):
        """The Store in the server's file (use it under `database.lock` while serving)."""
        return self.database.store

    def close(self) -> None:
        if self.executor is not None:
            self.executor.stop()
        self.database.close()


def create_app(
    db_path: str | os.PathLike,
    tokens: Mapping[str, str],
    clock: Clock | None = None,
    execute: bool = False,
    *,
    event_delay: float = 0.25,
) -> FastAPI:
    """The core API app over the DuckDB file `db_path` (created when missing).

    `tokens` maps operator names to bearer tokens. `clock` returns the server's "now" (an
    aware datetime) for createdAt and staleness; tests pass a fixed one. `execute=True`
    starts the demo executor, which moves queued replays to a final status, `event_delay`
    seconds per history event. The database closes when the app shuts down.
    """
    authenticator = Authenticator(tokens)
    database = ServerDatabase(db_path, clock)
    executor = DemoExecutor(database, event_delay) if execute else None
    state = ServerState(
        database=database,
        authenticator=authenticator,
        replays=ReplayService(database, executor.wake if executor else None),
        executor=executor,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if executor is not None:
            executor.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="runreplay core API",
        version=__version__,
        description=(
            "The reference core API of runreplay: diff runs, replay a run with its recorded "
            "inputs (refused while its assets are stale), read the audit log. Errors are "
            '`{"error": {"code", "message"}}`. Every route but /health needs '
            "`Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runreplay = state
    app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestLog)
    app.openapi = lambda: _openapi(app)
    return app


class RequestLog:
    """ASGI middleware: one log line per request — method, path, status, duration, actor."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        request_state = scope.setdefault("state", {})

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                "%s %s %d %.1fms actor=%s",
                scope["method"],
                _printable_path(scope),
                status,
                (time.perf_counter() - started) * 1000,
                request_state.get("actor", "-"),
            )


class BodyLimit:
    """ASGI middleware: a body over MAX_REQUEST_BYTES gets 413 in the one error shape.

    The body is read here, whole, before the app sees it (no route takes a big one): a
    chunked body declares no length, and a limit hit while FastAPI reads would become its
    generic 400.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (
            scope["method"] == "POST" and scope["path"].endswith("/replay")
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES:
            await _too_large()(scope, receive, send)
            return
        chunks, size, message = [], 0, {"more_body": True}
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_REQUEST_BYTES:
                await _too_large()(scope, receive, send)
                return
        if message["type"] == "http.request":
            message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        pending = [message]

        async def buffered() -> dict:
            return pending.pop() if pending else await receive()

        await self.app(scope, buffered, send)


def _too_large_problem() -> ApiProblem:
    return ApiProblem(
        413, "payload_too_large", f"the body is over {MAX_REQUEST_BYTES} bytes; no route needs that"
    )


def _too_large():
    return problem_response(_too_large_problem())


def _printable_path(scope: dict) -> str:
    """The path as sent (percent-encoded), so a %0A in it cannot forge a log line."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    return path.encode("ascii", "backslashreplace").decode().replace("\n", "\\n")


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, with our error shape instead of 422 and the run-record schema."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path_item in document["paths"].values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
    schemas.update(_record_schemas())
    schemas["ReplayBody"] = ReplayBody.model_json_schema()
    app.openapi_schema = document
    return document


def _record_schemas() -> dict:
    """The shipped run-record JSON Schema as OpenAPI components (its $defs become siblings)."""
    record = copy.deepcopy(json_schema())
    definitions = record.pop("$defs", {})
    record.pop("$schema", None)
    record.pop("$id", None)

    def relink(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    value.replace("#/$defs/", "#/components/schemas/RunRecord_")
                    if key == "$ref"
                    else relink(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [relink(item) for item in node]
        return node

    components = {"RunRecord": relink(record)}
    for name, definition in definitions.items():
        components[f"RunRecord_{name}"] = relink(definition)
    return components


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run `app` with uvicorn until SIGINT / SIGTERM; `on_ready(url)` once it listens.

    The socket is bound here, so port 0 picks a free port and the URL given to `on_ready`
    is the real one. The request log replaces uvicorn's access log (which would log query
    strings).
    """
    import uvicorn

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as error:  # socket.gaierror; UnicodeError from IDNA
        reason = getattr(error, "strerror", None) or "not a valid host name"
        raise RunReplayError(
            f"cannot resolve host {host!r}: {reason}; give an IP address or a host name "
            "this machine resolves (127.0.0.1 for this machine only)"
        ) from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        advice = (
            "choose a --host that is an address of this machine"
            if error.errno == errno.EADDRNOTAVAIL
            else "choose another --port"
        )
        raise RunReplayError(
            f"cannot listen on {host}:{port}: {error.strerror}; {advice}"
        ) from None
    bound_host, bound_port = listener.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown}:{bound_port}"
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, access_log=False, log_config=None)
    )
    if on_ready is not None:
        startup = server.startup

        async def announce(sockets=None):
            await startup(sockets)
            if server.started:
                on_ready(url)

        server.startup = announce
    server.run(sockets=[listener])

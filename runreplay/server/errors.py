"""The server's one error shape, {"error": {"code", "message"}}, and the handlers that make it.

Every failure leaves the server through `problem_response`: a refused request raises
ApiProblem; FastAPI's validation and routing errors and any unexpected exception are
translated here, so no response carries a framework message or a stack trace (422 never
leaves the server: a malformed request is a 400).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from runreplay.errors import RunNotFound, RunReplayError
from runreplay.model import dumps

log = logging.getLogger("runreplay.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiProblem(Exception):
    """A request the server refuses: HTTP status, error code, message, optional extra keys."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """The JSON body: extra keys first, then the error object of docs/ARCHITECTURE.md, "The core API"."""
        return {**self.extra, "error": {"code": self.code, "message": self.message}}


def json_response(body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None):
    """A JSON response serialised once with orjson (diff bodies can hold 100k+ leaves)."""
    return Response(
        dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


def problem_response(problem: ApiProblem) -> Response:
    return json_response(problem.body(), problem.status_code, problem.headers)


def run_not_found(run_id: str) -> ApiProblem:
    return ApiProblem(
        404,
        "run_not_found",
        f"run {run_id!r} is not on this server; list the runs it holds with GET /workflow-runs",
    )


def describe_validation(errors: Iterable[Mapping[str, Any]]) -> str:
    """One plain sentence per pydantic error: where (query parameter, body field) and what."""
    sentences = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        kind = error.get("type", "")
        where = _where(location)
        if kind == "json_invalid":
            sentences.append("the body is not valid JSON; send a JSON object such as {}")
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            sentences.append(f"{where} must be a JSON object")
        elif kind == "extra_forbidden":
            sentences.append(f"{where} is not a known field; remove it")
        elif kind == "missing":
            sentences.append(f"{where} is required")
        elif kind.startswith("bool"):
            sentences.append(f"{where} must be true or false")
        else:
            message = str(error.get("msg", "is not valid")).rstrip(".")
            sentences.append(f"{where}: {message[:1].lower()}{message[1:]}")
    return "; ".join(sentences) or "the request is not valid"


def _where(location: list[str]) -> str:
    if not location:
        return "the request"
    section, *rest = location
    names = {"query": "query parameter", "path": "path parameter", "header": "header"}
    if section == "body":
        return f"body field {'.'.join(rest)!r}" if rest else "the body"
    if section in names and rest:
        return f"{names[section]} {'.'.join(rest)!r}"
    return repr(".".join(location))


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure to the one error shape."""

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, problem: ApiProblem) -> Response:
        return problem_response(problem)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return problem_response(ApiProblem(400, "bad_request", describe_validation(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        raw_path = request.scope.get("raw_path")  # as sent: a %2F in it stays visible
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        if error.status_code == 404:
            message = f"no route {path!r}; see /openapi.json for the routes"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {path!r}"
        else:
            message = str(error.detail) if isinstance(error.detail, str) else code
        return problem_response(ApiProblem(error.status_code, code, message))

    @app.exception_handler(RunNotFound)
    async def _not_found(request: Request, error: RunNotFound) -> Response:
        return problem_response(run_not_found(error.run_id))

    @app.exception_handler(RunReplayError)
    async def _library(request: Request, error: RunReplayError) -> Response:
        return problem_response(ApiProblem(400, "bad_request", str(error)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            ApiProblem(
                500,
                "internal_error",
                "the server failed while handling this request; its log has the details",
            )
        )

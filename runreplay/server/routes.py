"""The HTTP routes of the core API (docs/ARCHITECTURE.md, "The core API", with its tooling extensions), thin over the library.

Every route except /health needs a bearer token; every route reads or writes the server's
DuckDB file under its lock. Diffs come from runreplay.diff (`diff_stored` + `to_dict`),
staleness from the Store, replays from runreplay.server.replay.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import pandas as pd
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Match

from runreplay import __version__
from runreplay.diff import diff_stored
from runreplay.model import STATUSES, as_utc, dumps, format_timestamp, loads
from runreplay.server import audit
from runreplay.server.errors import ApiProblem, json_response, run_not_found
from runreplay.server.replay import IDEMPOTENCY_HEADER, MAX_BODY_BYTES
from runreplay.server.schemas import (
    AssetState,
    AuditPage,
    DiffResponse,
    ErrorBody,
    FreshnessReport,
    Health,
    ReplayAccepted,
    RunPage,
    StaleRefusal,
    require_json,
)


class SlashAwareRoute(APIRoute):
    """An APIRoute whose `{name:path}` parameters may hold "/", sent as %2F or as is.

    Starlette matches the decoded path, where /workflow-runs/a%2Fdiff and /workflow-runs/a/diff
    look alike. This route also reads the raw path: the fixed segments after the last
    parameter ("/diff", "/replay", "/freshness") must be real slashes there, so a %2F is
    always part of the id. Hence GET /workflow-runs/a%2Fdiff is run "a/diff" and
    GET /workflow-runs/a/diff?compareTo=b is a diff of run "a". A parameter is never empty
    (as with a plain `{runId}`).
    """

    @cached_property
    def _fixed_tail(self) -> list[str]:
        """The segments after the last parameter: ["diff"] for /workflow-runs/{runId}/diff."""
        if "}" not in self.path_format:
            return []
        return self.path_format.rsplit("}", 1)[1].split("/")[1:]

    def matches(self, scope: dict) -> tuple[Match, dict]:
        match, child_scope = super().matches(scope)
        if match is Match.NONE:
            return match, child_scope
        if "" in child_scope.get("path_params", {}).values():
            return Match.NONE, {}
        raw_path = scope.get("raw_path")
        tail = self._fixed_tail
        if tail and raw_path is not None:
            raw_tail = raw_path.decode("latin-1").rsplit("/", len(tail))[1:]
            if [unquote(segment) for segment in raw_tail] != tail:
                return Match.NONE, {}
        return match, child_scope


router = APIRouter(route_class=SlashAwareRoute)
bearer = HTTPBearer(
    auto_error=False,
    description="A token from RUNREPLAY_TOKENS, the token file, or the one `serve` generated.",
)

_ERRORS = {
    400: {"model": ErrorBody, "description": "Malformed request (query, body or header)."},
    401: {"model": ErrorBody, "description": "No bearer token, or an unknown one."},
}
_NOT_FOUND = {404: {"model": ErrorBody, "description": "Unknown run."}}
_NOT_JSON = {
    415: {"model": ErrorBody, "description": "A body not sent as Content-Type: application/json."}
}


def _state(request: Request):
    return request.app.state.runreplay


def operator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The operator behind the request's bearer token (ApiProblem 401 otherwise)."""
    name = _state(request).authenticator.operator_for(request.headers.get("authorization"))
    request.state.actor = name
    return name


Operator = Annotated[str, Depends(operator)]


async def json_operator(request: Request, actor: Operator) -> str:
    """The operator, once the body (if any) is known to be JSON (ApiProblem 415 otherwise)."""
    require_json(request.headers.get("content-type"), await request.body())
    return actor


JsonOperator = Annotated[str, Depends(json_operator)]
RunId = Annotated[
    str,
    Path(
        alias="runId",
        description='The run\'s runId, percent-encoded; a "/" in it as %2F (a literal "/" '
        "before diff or replay at the end starts that action).",
    ),
]


@router.get("/health", response_model=Health, tags=["tooling"], summary="Liveness (no token)")
def health(request: Request) -> Any:
    return json_response(
        {"status": "ok", "version": __version__, "executor": _state(request).executor is not None}
    )


@router.get(
    "/workflow-runs",
    response_model=RunPage,
    responses=_ERRORS,
    tags=["runs"],
    summary="List runs, newest first, with filters and cursor pagination",
)
def list_runs(
    request: Request,
    actor: Operator,
    workflow_id: Annotated[str | None, Query(alias="workflowId")] = None,
    status: Annotated[Literal[STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    since: Annotated[datetime | None, Query(description="createdAt >= since")] = None,
    until: Annotated[datetime | None, Query(description="createdAt < until")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Any:
    conditions, params = [], []
    for sql, value in (
        ("workflow_id = ?", workflow_id),
        ("status = ?", status),
        ("created_at >= ?", as_utc(since)),
        ("created_at < ?", as_utc(until)),
    ):
        if value is not None:
            conditions.append(sql)
            params.append(value)
    where = " AND ".join(conditions) or "true"
    page_conditions, page_params = where, list(params)
    if cursor is not None:
        created_at, run_id = _decode_cursor(cursor)
        page_conditions += " AND (created_at < ? OR (created_at = ? AND run_id < ?))"
        page_params += [created_at, created_at, run_id]
    database = _state(request).database
    with database.lock:
        connection = database.connection
        total = connection.execute(f"SELECT count(*) FROM runs WHERE {where}", params).fetchone()
        rows = connection.execute(
            f"SELECT run_id, created_at FROM runs WHERE {page_conditions} "
            "ORDER BY created_at DESC, run_id DESC LIMIT ?",
            [*page_params, limit + 1],
        ).fetchall()
        runs = [database.store.run(row[0]) for row in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return json_response({"runs": runs, "nextCursor": next_cursor, "total": total[0]})


@router.get(
    "/workflow-runs/{runId:path}/diff",
    response_model=DiffResponse,
    responses={
        **_ERRORS,
        **_NOT_FOUND,
        400: {
            "model": ErrorBody,
            "description": "compareTo missing, empty or given twice, runs of different "
            "workflows (workflow_mismatch), or a bad ignore glob.",
        },
    },
    tags=["runs"],
    summary="Diff a run against another run of the same workflow",
)
def diff_runs_route(
    request: Request,
    actor: Operator,
    run_id: RunId,
    compare_to: Annotated[str, Query(alias="compareTo", description="The other run's runId.")],
    ignore: Annotated[list[str] | None, Query(description="Path globs to leave out.")] = None,
    hide_volatile: Annotated[bool, Query(alias="hideVolatile")] = False,
) -> Any:
    if len(request.query_params.getlist("compareTo")) > 1:
        raise ApiProblem(
            400, "bad_request", "query parameter 'compareTo' is given more than once; give it once"
        )
    if not compare_to:
        raise ApiProblem(
            400,
            "bad_request",
            "query parameter 'compareTo' is empty; it must name a run (the runId to diff against)",
        )
    database = _state(request).database
    with database.lock:
        workflows = dict(
            database.connection.execute(
                "SELECT run_id, workflow_id FROM runs WHERE run_id IN (?, ?)", [run_id, compare_to]
            ).fetchall()
        )
        for wanted in (run_id, compare_to):
            if wanted not in workflows:
                raise run_not_found(wanted)
        if workflows[run_id] != workflows[compare_to]:
            raise ApiProblem(
                400,
                "workflow_mismatch",
                f"run {run_id!r} belongs to workflow {workflows[run_id]!r} and run "
                f"{compare_to!r} to {workflows[compare_to]!r}; diff two runs of one workflow",
            )
        run_diff = diff_stored(
            database.store,
            run_id,
            compare_to,
            now=database.now(),
            hide_volatile=hide_volatile,
            ignore=ignore or (),
        )
    return json_response(run_diff.to_dict())


@router.post(
    "/workflow-runs/{runId:path}/replay",
    status_code=202,
    response_model=ReplayAccepted,
    responses={
        **_ERRORS,
        **_NOT_FOUND,
        400: {
            "model": ErrorBody,
            "description": "Bad body (not JSON, not an object, allowStaleAssets not a boolean, "
            "unknown fields), bad Idempotency-Key, or a key reused for another request.",
        },
        409: {"model": StaleRefusal, "description": "Stale assets; nothing was enqueued."},
        413: {"model": ErrorBody, "description": "The body is too large."},
        **_NOT_JSON,
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ReplayBody"}}
            },
        }
    },
    tags=["replay"],
    summary="Replay a run with its recorded inputs (refused while its assets are stale)",
)
async def replay_route(
    request: Request,
    run_id: RunId,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Any unique string (a UUID): a repeat with the same key gets the "
            "first answer and enqueues nothing.",
        ),
    ] = None,
) -> Any:
    raw_body = await _read_body(request)
    state = _state(request)

    def authenticate() -> str:
        name = state.authenticator.operator_for(request.headers.get("authorization"))
        request.state.actor = name
        return name

    answer = await run_in_threadpool(
        state.replays.replay,
        run_id,
        raw_body,
        idempotency_key,
        authenticate,
        request.headers.get("content-type"),
    )
    return json_response(answer.body, answer.status_code, answer.headers)


# After the diff and replay routes: a GET of .../diff is the diff, not a run record.
@router.get(
    "/workflow-runs/{runId:path}",
    response_model=None,
    responses={
        200: {
            "description": "The run record.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunRecord"}}},
        },
        **_ERRORS,
        **_NOT_FOUND,
    },
    tags=["runs"],
    summary="One run record",
)
def get_run(request: Request, actor: Operator, run_id: RunId) -> Any:
    database = _state(request).database
    with database.lock:
        if not database.store.has_run(run_id):
            raise run_not_found(run_id)
        return json_response(database.store.run(run_id))


@router.get(
    "/audit",
    response_model=AuditPage,
    responses=_ERRORS,
    tags=["replay"],
    summary="The append-only audit log of replay requests",
)
def read_audit(
    request: Request,
    actor: Operator,
    run_id: Annotated[
        str | None, Query(alias="runId", description="Rows about this run (or its replay).")
    ] = None,
    after_id: Annotated[int, Query(alias="afterId", ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    database = _state(request).database
    with database.lock:
        rows = audit.read(database.connection, run_id, after_id=after_id, limit=limit + 1)
    next_after = rows[limit - 1]["id"] if len(rows) > limit else None
    return json_response({"audit": rows[:limit], "nextAfterId": next_after})


@router.put(
    "/assets/{assetKey:path}/freshness",
    response_model=AssetState,
    responses={
        **_ERRORS,
        404: {"model": ErrorBody, "description": "An asset key with control characters."},
        413: {"model": ErrorBody, "description": "The body is too large."},
        **_NOT_JSON,
    },
    tags=["assets"],
    summary="Report an asset's current freshness (mark it fresh or stale)",
)
def report_freshness(
    request: Request,
    actor: JsonOperator,
    asset_key: Annotated[str, Path(alias="assetKey", min_length=1)],
    report: FreshnessReport,
) -> Any:
    if report.stale is None and report.lastUpdated is None:
        raise ApiProblem(
            400,
            "invalid_body",
            'give "stale" (true or false), "lastUpdated", or both; "maxLagMinutes" is '
            'optional and only counts with "lastUpdated" (stale once older than that)',
        )
    database = _state(request).database
    with database.lock:
        now = database.now()
        database.store.report_freshness(
            asset_key,
            stale=report.stale,
            last_updated=report.lastUpdated,
            max_lag_minutes=report.maxLagMinutes,
            reported_at=now,
            reported_by=actor,
        )
        state = database.store.asset_state(now)
    row = state[state["asset_key"] == asset_key].iloc[0]
    return json_response(
        {
            "assetKey": asset_key,
            "currentRunId": _value(row["current_run_id"]),
            "lastUpdated": _time(row["last_updated"]),
            "maxLagMinutes": _minutes(row["max_lag_minutes"]),
            "stale": _value(row["stale_flag"]),
            "isStale": bool(row["is_stale"]),
            "reason": _value(row["reason"]),
        }
    )


# -- helpers -----------------------------------------------------------------------------


async def _read_body(request: Request) -> bytes:
    """The body, cut just past MAX_BODY_BYTES (the replay service refuses it with 413)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)


def _encode_cursor(row: tuple) -> str:
    text = dumps([format_timestamp(row[1]), row[0]])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, run_id = loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        return datetime.fromisoformat(created_at), str(run_id)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise ApiProblem(
            400,
            "invalid_cursor",
            "the cursor is not one this server gave out; pass nextCursor from the previous "
            "page, or leave cursor out for the first page",
        ) from None


def _value(value: Any) -> Any:
    if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _minutes(value: Any) -> float | int | None:
    value = _value(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _time(value: Any) -> str | None:
    value = _value(value)
    return None if value is None else format_timestamp(value.to_pydatetime())

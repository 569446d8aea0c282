"""The JSON bodies of the core API as pydantic models, for /openapi.json and request parsing.

Responses are built as plain dicts and serialised once (orjson); these models document
them. The run record itself is documented by the package's JSON Schema
(runreplay/run_record.schema.json), installed into the OpenAPI components as `RunRecord`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema, field_validator

from runreplay.server.errors import ApiProblem

RunRecord = Annotated[
    dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/RunRecord"}]})
]
"""A run record (docs/ARCHITECTURE.md, "The record contract"); see the RunRecord schema."""

MAX_LAG_MINUTES = 100 * 366 * 24 * 60
"""Beyond this a lag cannot be turned into an interval; the API refuses it."""


def require_json(content_type: str | None, body: bytes) -> None:
    """ApiProblem 415 unless a non-empty `body` is declared JSON (application/json or +json).

    An empty body needs no Content-Type (a replay's empty body means {}). A body without
    one is refused too: which parser applies must not depend on the FastAPI version.
    """
    if not body.strip():
        return
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    sent = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
    raise ApiProblem(
        415,
        "unsupported_media_type",
        f"the body came with {sent}; bodies are JSON: send it with "
        "Content-Type: application/json (curl: -H 'Content-Type: application/json')",
    )


class ReplayBody(BaseModel):
    """The replay request body: `{}` or `{"allowStaleAssets": true}`."""

    model_config = ConfigDict(extra="forbid")

    allowStaleAssets: StrictBool = Field(  # noqa: N815 - JSON keys are camelCase
        False, description="Replay even when assets the run produced are stale now."
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. run_not_found.")
    message: str = Field(description="What is wrong and what to do next.")


class ErrorBody(BaseModel):
    """Every error: {"error": {"code", "message"}}."""

    error: ErrorDetail


class StaleAsset(BaseModel):
    assetKey: str  # noqa: N815 - JSON keys are camelCase
    lastUpdated: str | None  # noqa: N815
    maxLagMinutes: float | None  # noqa: N815
    reason: str


class ReplayAccepted(BaseModel):
    """202: the replay is enqueued."""

    status: Literal["enqueued"]
    run: RunRecord = Field(description="The new run: QUEUED, same runKey and inputs, replayOf.")
    auditId: int  # noqa: N815


class StaleRefusal(BaseModel):
    """409: assets the run produced are stale now; nothing was enqueued."""

    status: Literal["stale_assets"]
    runId: str  # noqa: N815
    staleAssets: list[StaleAsset]  # noqa: N815
    message: str
    auditId: int  # noqa: N815
    error: ErrorDetail


class RunPage(BaseModel):
    """A page of runs, newest first."""

    runs: list[RunRecord]
    nextCursor: str | None = Field(  # noqa: N815
        description="Pass as `cursor` for the next page; null on the last page."
    )
    total: int = Field(description="Runs matching the filters, over all pages.")


class AuditRow(BaseModel):
    id: int
    at: str
    actor: str | None
    action: str
    runId: str | None  # noqa: N815
    newRunId: str | None  # noqa: N815
    outcome: Literal["enqueued", "stale_assets", "repeated", "rejected", "failed"]
    statusCode: int  # noqa: N815
    allowStaleAssets: bool | None  # noqa: N815
    staleAssetKeys: list[str]  # noqa: N815
    idempotencyKey: str | None  # noqa: N815
    detail: str | None


class AuditPage(BaseModel):
    audit: list[AuditRow]
    nextAfterId: int | None = Field(  # noqa: N815
        description="Pass as `afterId` for the next page; null on the last page."
    )


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    executor: bool = Field(description="Whether the demo executor runs queued replays.")


class FreshnessReport(BaseModel):
    """An asset's current freshness, reported from outside a run."""

    model_config = ConfigDict(extra="forbid")

    stale: StrictBool | None = Field(
        None, description="true / false flags the asset; null leaves the lag rule to decide."
    )
    lastUpdated: datetime | None = Field(  # noqa: N815
        None, description="When the asset's data was last updated (ISO 8601 with a zone)."
    )
    maxLagMinutes: float | None = Field(  # noqa: N815
        None, ge=0, le=MAX_LAG_MINUTES, description="Allowed age in minutes (up to 100 years)."
    )

    @field_validator("lastUpdated")
    @classmethod
    def _zoned_and_in_range(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-20T01:00:00Z")
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None
        if not 1970 <= utc.year <= 9998:
            raise ValueError("must lie between the years 1970 and 9998")
        return utc


class AssetState(BaseModel):
    assetKey: str  # noqa: N815
    currentRunId: str | None  # noqa: N815
    lastUpdated: str | None  # noqa: N815
    maxLagMinutes: float | None  # noqa: N815
    stale: bool | None = Field(description="The flag of the current freshness, if any.")
    isStale: bool  # noqa: N815
    reason: str | None


class DiffRuns(BaseModel):
    base: RunRecord
    compareTo: RunRecord  # noqa: N815


class DiffResponse(BaseModel):
    """RunDiff.to_dict(): the same JSON as a local diff (docs/ARCHITECTURE.md, "Diff semantics")."""

    runs: DiffRuns
    history: dict[str, Any] = Field(
        description="alignment, firstDivergence, attempts, retryPathsDiffer."
    )
    fieldChanges: list[dict[str, Any]]  # noqa: N815
    assetDeltas: list[dict[str, Any]]  # noqa: N815
    staleWarnings: list[StaleAsset]  # noqa: N815
    summary: str
    options: dict[str, Any]

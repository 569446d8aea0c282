"""The append-only audit log of replay requests: one row per request, whatever its outcome.

Rows are only ever inserted (this module has no UPDATE or DELETE, and neither has any other):
id, at, actor, action, run_id, new_run_id, outcome, status_code, allow_stale_assets,
stale_asset_keys, idempotency_key, detail. An enqueued replay's row is written in the same
transaction as the new run (see runreplay.server.replay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from runreplay.model import format_timestamp

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id BIGINT PRIMARY KEY,
    "at" TIMESTAMPTZ NOT NULL,
    actor VARCHAR,
    action VARCHAR NOT NULL,
    run_id VARCHAR,
    new_run_id VARCHAR,
    outcome VARCHAR NOT NULL,
    status_code INTEGER NOT NULL,
    allow_stale_assets BOOLEAN,
    stale_asset_keys VARCHAR[] NOT NULL,
    idempotency_key VARCHAR,
    detail VARCHAR
);
"""

OUTCOMES = ("enqueued", "stale_assets", "repeated", "rejected", "failed")
"""enqueued (202), stale_assets (409), repeated (an Idempotency-Key seen before: the first
answer again, nothing new), rejected (400 / 401 / 404 / 413 / 415: nothing done), failed (500: the
server broke, nothing was written)."""


@dataclass
class AuditEntry:
    """What one replay request asked and what came of it, before it gets an id."""

    at: datetime
    run_id: str | None
    idempotency_key: str | None = None
    actor: str | None = None
    action: str = "replay"
    new_run_id: str | None = None
    outcome: str = "rejected"
    status_code: int = 400
    allow_stale_assets: bool | None = None
    stale_asset_keys: list[str] = field(default_factory=list)
    detail: str | None = None


def append(connection: duckdb.DuckDBPyConnection, entry: AuditEntry) -> int:
    """Insert one row and return its id (ids count up from 1; callers hold the server lock)."""
    row = connection.execute(
        """
        INSERT INTO audit
        SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM audit
        RETURNING id
        """,
        [
            entry.at,
            entry.actor,
            entry.action,
            entry.run_id,
            entry.new_run_id,
            entry.outcome,
            entry.status_code,
            entry.allow_stale_assets,
            entry.stale_asset_keys,
            entry.idempotency_key,
            entry.detail,
        ],
    ).fetchone()
    return int(row[0])


def read(
    connection: duckdb.DuckDBPyConnection,
    run_id: str | None = None,
    *,
    after_id: int = 0,
    limit: int = 1000,
) -> list[dict]:
    """Audit rows in id order as API JSON (camelCase); `run_id` matches run_id or new_run_id."""
    rows = connection.execute(
        """
        SELECT id, "at", actor, action, run_id, new_run_id, outcome, status_code,
               allow_stale_assets, stale_asset_keys, idempotency_key, detail
        FROM audit
        WHERE id > $after AND ($run_id IS NULL OR run_id = $run_id OR new_run_id = $run_id)
        ORDER BY id LIMIT $limit
        """,
        {"after": after_id, "run_id": run_id, "limit": limit},
    ).fetchall()
    return [
        {
            "id": row[0],
            "at": format_timestamp(row[1]),
            "actor": row[2],
            "action": row[3],
            "runId": row[4],
            "newRunId": row[5],
            "outcome": row[6],
            "statusCode": row[7],
            "allowStaleAssets": row[8],
            "staleAssetKeys": list(row[9]),
            "idempotencyKey": row[10],
            "detail": row[11],
        }
        for row in rows
    ]

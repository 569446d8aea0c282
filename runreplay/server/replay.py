"""Replay with prior inputs: the stale-asset guard, Idempotency-Key, the queue and its audit.

`ReplayService.replay` is the whole of POST /workflow-runs/{runId}/replay: it decides,
writes and audits under the server lock, so concurrent requests cannot enqueue twice for one
key. The new run copies the original's recorded inputs (runKey, partitionKey, parameters,
triggerPayload, and its context without the per-execution keys) — never defaults, so a
replay of a replay replays what that replay recorded.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from runreplay.diff import stale_warnings_from
from runreplay.errors import RunNotFound
from runreplay.model import dumps, format_timestamp, loads
from runreplay.server import audit
from runreplay.server.audit import AuditEntry
from runreplay.server.database import ServerDatabase
from runreplay.server.errors import ApiProblem, describe_validation, run_not_found
from runreplay.server.schemas import ReplayBody, require_json
from runreplay.store import Store

log = logging.getLogger("runreplay.server")

EXECUTION_CONTEXT_KEYS = ("host", "traceId")
"""Context keys that describe one execution; the executor of the replay sets its own."""

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPEATED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
MAX_BODY_BYTES = 64 * 1024  # the same limit as every route's (app.MAX_REQUEST_BYTES)


@dataclass(frozen=True)
class ReplayAnswer:
    """The HTTP answer to one replay request."""

    status_code: int
    body: dict
    repeated: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {REPEATED_HEADER: "true"} if self.repeated else {}


def parse_body(raw: bytes, content_type: str | None = None) -> bool:
    """allowStaleAssets from a raw body (empty means {}); ApiProblem 413 / 415 / 400 otherwise."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiProblem(
            413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes; send {{}}"
        )
    if not raw.strip():
        return False
    require_json(content_type, raw)
    try:
        return ReplayBody.model_validate_json(raw).allowStaleAssets
    except ValidationError as error:
        message = describe_validation(
            {**detail, "loc": ("body", *detail["loc"])} for detail in error.errors()
        )
        raise ApiProblem(
            400,
            "invalid_body",
            f'{message}; the body is {{}} or {{"allowStaleAssets": true}}',
        ) from None


def replay_record(original: dict, new_run_id: str, created_at: str) -> dict:
    """The QUEUED run that replays `original` with its recorded inputs."""
    context = {
        key: value
        for key, value in original["context"].items()
        if key not in EXECUTION_CONTEXT_KEYS
    }
    return {
        "runId": new_run_id,
        "workflowId": original["workflowId"],
        "runKey": original["runKey"],
        "partitionKey": original["partitionKey"],
        "status": "QUEUED",
        "createdAt": created_at,
        "startedAt": None,
        "finishedAt": None,
        "replayOf": original["runId"],
        "parameters": original["parameters"],
        "context": context,
        "output": {},
        "triggerPayload": original["triggerPayload"],
        "history": [{"seq": 0, "at": created_at, "status": "QUEUED"}],
        "assets": [],
    }


class ReplayService:
    """Decides, writes and audits replay requests against one ServerDatabase."""

    def __init__(self, database: ServerDatabase, on_enqueued: Callable[[str], None] | None = None):
        self.database = database
        self.on_enqueued = on_enqueued

    def replay(
        self,
        run_id: str,
        raw_body: bytes,
        idempotency_key: str | None,
        authenticate: Callable[[], str],
        content_type: str | None = None,
    ) -> ReplayAnswer:
        """Answer one replay request; every outcome appends exactly one audit row.

        `authenticate` returns the operator or raises ApiProblem 401. `content_type` is the
        request's Content-Type header. A refused request (401, 400, 404, 413, 415) raises
        ApiProblem after its audit row is written.
        """
        database = self.database
        with database.lock:
            entry = AuditEntry(at=database.now(), run_id=run_id, idempotency_key=idempotency_key)
            try:
                entry.actor = authenticate()
                entry.allow_stale_assets = parse_body(raw_body, content_type)
                _check_key(idempotency_key)
                answer = self._decide(entry)
            except ApiProblem as problem:
                entry.outcome, entry.status_code = "rejected", problem.status_code
                entry.detail = f"{problem.code}: {problem.message}"
                audit.append(database.connection, entry)
                raise
            except Exception as error:  # the transaction rolled back; the attempt is on record
                entry.outcome, entry.status_code = "failed", 500
                entry.new_run_id, entry.detail = None, f"internal_error: {type(error).__name__}"
                try:
                    audit.append(database.connection, entry)
                except Exception:
                    log.exception("could not audit a failed replay request")
                raise
        if answer.status_code == 202 and not answer.repeated and self.on_enqueued:
            self.on_enqueued(answer.body["run"]["runId"])
        return answer

    def _decide(self, entry: AuditEntry) -> ReplayAnswer:
        store = self.database.store
        connection = self.database.connection
        fingerprint = hashlib.sha256(
            dumps([entry.run_id, entry.allow_stale_assets]).encode()
        ).hexdigest()
        if entry.idempotency_key is not None:
            earlier = connection.execute(
                "SELECT request_fingerprint, status_code, response FROM idempotency_keys "
                "WHERE actor = ? AND idempotency_key = ?",
                [entry.actor, entry.idempotency_key],
            ).fetchone()
            if earlier is not None:
                if earlier[0] != fingerprint:
                    raise ApiProblem(
                        400,
                        "idempotency_key_reused",
                        f"Idempotency-Key {entry.idempotency_key!r} was used for a different "
                        "request (another run or allowStaleAssets); send a new key for a new "
                        "request",
                    )
                body = loads(earlier[2])
                entry.outcome, entry.status_code = "repeated", earlier[1]
                entry.new_run_id = body.get("run", {}).get("runId")
                entry.stale_asset_keys = [a["assetKey"] for a in body.get("staleAssets", [])]
                audit.append(connection, entry)
                return ReplayAnswer(earlier[1], body, repeated=True)
        try:
            original = store.run(entry.run_id)
        except RunNotFound:
            raise run_not_found(entry.run_id) from None
        stale_assets = stale_warnings_from(store.stale_assets(entry.run_id, now=entry.at))
        entry.stale_asset_keys = [asset["assetKey"] for asset in stale_assets]
        if stale_assets and not entry.allow_stale_assets:
            return self._refuse(entry, stale_assets, fingerprint)
        return self._enqueue(entry, original, fingerprint)

    def _refuse(self, entry: AuditEntry, stale_assets: list[dict], fingerprint: str):
        keys = ", ".join(entry.stale_asset_keys)
        message = (
            f"run {entry.run_id!r} produced assets that are stale now ({keys}); nothing was "
            'enqueued. To replay anyway, send the request again with {"allowStaleAssets": '
            "true} (runreplay replay --allow-stale-assets, or confirm the prompt)"
        )
        entry.outcome, entry.status_code = "stale_assets", 409
        connection = self.database.connection
        with self.database.store.transaction():
            audit_id = audit.append(connection, entry)
            body = {
                "status": "stale_assets",
                "runId": entry.run_id,
                "staleAssets": stale_assets,
                "message": message,
                "auditId": audit_id,
                "error": {"code": "stale_assets", "message": message},
            }
            self._remember(entry, fingerprint, 409, body)
        return ReplayAnswer(409, body)

    def _enqueue(self, entry: AuditEntry, original: dict, fingerprint: str) -> ReplayAnswer:
        store = self.database.store
        connection = self.database.connection
        new_run_id = _new_run_id(store)
        record = replay_record(original, new_run_id, format_timestamp(entry.at))
        entry.outcome, entry.status_code, entry.new_run_id = "enqueued", 202, new_run_id
        with store.transaction():
            store.load_records([record], source="replay")
            connection.execute("INSERT INTO replay_queue VALUES (?, ?)", [new_run_id, entry.at])
            audit_id = audit.append(connection, entry)
            body = {"status": "enqueued", "run": store.run(new_run_id), "auditId": audit_id}
            self._remember(entry, fingerprint, 202, body)
        return ReplayAnswer(202, body)

    def _remember(self, entry: AuditEntry, fingerprint: str, status: int, body: dict) -> None:
        if entry.idempotency_key is None:
            return
        self.database.connection.execute(
            "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?)",
            [entry.actor, entry.idempotency_key, fingerprint, status, dumps(body), entry.at],
        )


def _check_key(key: str | None) -> None:
    if key is not None and not _KEY.fullmatch(key):
        raise ApiProblem(
            400,
            "invalid_idempotency_key",
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters (a UUID is "
            "a good choice)",
        )


def _new_run_id(store: Store) -> str:
    while True:
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        if not store.has_run(run_id):
            return run_id

"""The server's DuckDB file: the Store, the server's own tables, its clock and the one lock.

One DuckDB connection must not be used by two threads at once, and a replay must check and
write atomically, so every read and write of the server goes through `lock`. The server's
tables (audit, idempotency_keys, replay_queue) live in the same file as the Store's, so a
new run, its queue entry and its audit row commit in one transaction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb

import runreplay
from runreplay.errors import RunReplayError
from runreplay.server.audit import AUDIT_SCHEMA

Clock = Callable[[], datetime]

SERVER_SCHEMA = (
    AUDIT_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    actor VARCHAR NOT NULL,
    idempotency_key VARCHAR NOT NULL,
    request_fingerprint VARCHAR NOT NULL,
    status_code INTEGER NOT NULL,
    response JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (actor, idempotency_key)
);
CREATE TABLE IF NOT EXISTS replay_queue (
    run_id VARCHAR PRIMARY KEY,
    enqueued_at TIMESTAMPTZ NOT NULL
);
"""
)


def system_clock() -> datetime:
    return datetime.now(UTC)


class ServerDatabase:
    """The Store in the server's file, plus the lock that serialises every access to it."""

    def __init__(self, db_path: str | os.PathLike, clock: Clock | None = None):
        self.store = runreplay.open(db_path)
        self.lock = threading.RLock()
        self._clock = clock or system_clock
        with self.lock:
            self.store.connection.execute(SERVER_SCHEMA)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The Store's DuckDB connection (hold `lock` while using it)."""
        return self.store.connection

    def now(self) -> datetime:
        """The server clock as an aware UTC datetime (injectable: tests pass a fixed one)."""
        moment = self._clock()
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise RunReplayError(f"the server clock must return an aware datetime, got {moment!r}")
        return moment.astimezone(UTC)

    def close(self) -> None:
        with self.lock:
            self.store.close()

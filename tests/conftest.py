"""Shared fixtures: real DuckDB stores in tmp_path, valid records, the committed sample."""

from __future__ import annotations

import copy
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import runreplay

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "runs.ndjson"
RUNREPLAY_BIN = Path(sys.executable).parent / "runreplay"

BASE_RECORD = {
    "runId": "run-000001",
    "workflowId": "nightly-etl",
    "runKey": "nightly-etl:2026-11-20",
    "partitionKey": "2026-11-20",
    "status": "SUCCEEDED",
    "createdAt": "2026-11-20T01:00:00Z",
    "startedAt": "2026-11-20T01:00:05Z",
    "finishedAt": "2026-11-20T01:10:00Z",
    "replayOf": None,
    "parameters": {"batchSize": 500, "model": {"name": "xgb", "depth": 6}},
    "context": {"image": "etl:1.4.2", "host": "worker-3"},
    "output": {"rowsWritten": 120034, "metrics": {"auc": 0.91, "p@10": 0.4}},
    "triggerPayload": {"source": "schedule", "cron": "0 1 * * *"},
    "history": [
        {"seq": 0, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"},
        {
            "seq": 1,
            "at": "2026-11-20T01:00:05Z",
            "status": "RUNNING",
            "step": "extract",
            "attempt": 1,
        },
        {"seq": 2, "at": "2026-11-20T01:10:00Z", "status": "SUCCEEDED"},
    ],
    "assets": [
        {
            "assetKey": "warehouse/orders",
            "materializedAt": "2026-11-20T01:09:00Z",
            "payload": {"rows": 120034, "schemaHash": "ab12"},
            "freshness": {
                "lastUpdated": "2026-11-20T01:09:00Z",
                "maxLagMinutes": 1440,
                "stale": False,
            },
        }
    ],
}


def make_record(run_id: str = "run-000001", **changes) -> dict:
    """A valid run record (camelCase) with top-level keys replaced by `changes`."""
    record = copy.deepcopy(BASE_RECORD)
    record["runId"] = run_id
    record.update(changes)
    return record


@pytest.fixture
def store(tmp_path):
    """A store in a real DuckDB file, closed after the test."""
    with runreplay.open(tmp_path / "runs.duckdb") as opened:
        yield opened


def contents(store: runreplay.Store) -> dict[str, list]:
    """Every row of every table, sorted: equal before and after means the store is unchanged."""
    return {
        table: sorted(
            map(
                repr,
                store.connection.execute(
                    f"SELECT * EXCLUDE (loaded_at) FROM {table}"
                    if table == "runs"
                    else f"SELECT * FROM {table}"
                ).fetchall(),
            )
        )
        for table in ("runs", "run_events", "asset_snapshots", "run_fields", "meta")
    }


@pytest.fixture
def sample_path() -> Path:
    if not SAMPLE.exists():
        pytest.fail(
            f"the committed sample {SAMPLE} is missing; run python -m runreplay.sample data"
        )
    return SAMPLE


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env.pop("RUNREPLAY_DB", None)
    env["NO_COLOR"] = "1"
    return env


# -- a live core API server on 127.0.0.1 (real sockets) -----------------------------------

FIXED_NOW = datetime(2026, 12, 1, tzinfo=UTC)
"""The server clock in tests: staleness never depends on the wall clock."""
TOKENS = {"alice": "alice-secret-token-0001", "bob": "bob-secret-token-0002"}


@dataclass
class LiveServer:
    """A core API server running in a thread of the test process."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread
    tokens: dict[str, str]
    sent_replays: int = 0
    """Replay requests a test sent (its helpers count them): the audit must hold as many rows."""

    def headers(self, operator: str = "alice", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[operator]}", **extra}

    @property
    def database(self):
        """The server's ServerDatabase (use under `database.lock`)."""
        return self.app.state.runreplay.database

    def count(self, sql: str, params: Any = None) -> int:
        with self.database.lock:
            return self.database.connection.execute(sql, params).fetchone()[0]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        if self.thread.is_alive():
            raise RuntimeError("the test server did not stop within 10 s")


def start_server(
    db_path: Path,
    *,
    execute: bool = False,
    clock: Callable[[], datetime] | None = None,
    event_delay: float = 0.01,
    tokens: dict[str, str] | None = None,
) -> LiveServer:
    """Start create_app(db_path) under uvicorn on a free 127.0.0.1 port; wait until it listens."""
    import socket

    import uvicorn

    from runreplay.server import create_app

    tokens = dict(tokens or TOKENS)
    app = create_app(
        db_path, tokens, clock=clock or (lambda: FIXED_NOW), execute=execute,
        event_delay=event_delay,
    )  # fmt: skip
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, log_config=None)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 10 s")
        time.sleep(0.01)
    return LiveServer(f"http://127.0.0.1:{port}", app, server, thread, tokens)


@pytest.fixture(scope="session")
def server_db_template(tmp_path_factory) -> Path:
    """A server DuckDB file holding the committed sample, built once per session."""
    if not SAMPLE.exists():
        pytest.fail(f"the committed sample {SAMPLE} is missing")
    path = tmp_path_factory.mktemp("server-template") / "server.duckdb"
    with runreplay.open(path) as template:
        template.load(SAMPLE)
    return path


@pytest.fixture
def server_db(tmp_path, server_db_template) -> Path:
    """A fresh copy of the sample server database for one test."""
    path = tmp_path / "server.duckdb"
    shutil.copyfile(server_db_template, path)
    return path


@pytest.fixture
def live_server(server_db):
    """A core API server over the sample, fixed clock, executor off; stopped after the test."""
    server = start_server(server_db)
    yield server
    server.stop()

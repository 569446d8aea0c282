"""Shared fixtures: real DuckDB stores in tmp_path, valid records, the committed sample."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

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

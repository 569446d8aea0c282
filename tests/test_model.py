"""The run record: validation messages, normalisation, the shipped JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest

import runreplay
from runreplay.errors import InvalidRunRecord
from runreplay.model import json_schema, normalize_record, normalize_timestamp
from tests.conftest import make_record


def test_normalize_keeps_a_complete_record_as_it_is():
    record = make_record()
    assert normalize_record(record) == record


def test_normalize_fills_optional_keys():
    record = normalize_record(
        {"runId": "r", "workflowId": "w", "status": "QUEUED", "createdAt": "2026-01-01T00:00:00Z"}
    )
    assert record["parameters"] == {} and record["history"] == [] and record["assets"] == []
    assert record["runKey"] is None and record["replayOf"] is None


def test_timestamps_are_stored_as_utc():
    record = normalize_record(make_record(createdAt="2026-11-20T03:00:00+02:00"))
    assert record["createdAt"] == "2026-11-20T01:00:00Z"
    assert normalize_timestamp("2026-11-20T01:00:00.250+00:00") == "2026-11-20T01:00:00.250000Z"


def test_unknown_top_level_keys_are_kept():
    record = normalize_record(make_record(tenant="acme", labels=["a"]))
    assert record["tenant"] == "acme" and record["labels"] == ["a"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"runId": None}, "runId", "required"),
        ({"workflowId": ""}, "workflowId", "must not be empty"),
        ({"status": "DONE"}, "status", "expected one of QUEUED"),
        ({"createdAt": "2026-11-20T01:00:00"}, "createdAt", "no time zone"),
        ({"createdAt": "yesterday"}, "createdAt", "ISO 8601"),
        ({"parameters": "batch=5"}, "parameters", "expected a JSON object"),
        ({"history": {"seq": 0}}, "history", "expected a list"),
        (
            {"history": [{"seq": -1, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"}]},
            "history[0].seq",
            ">= 0",
        ),
        ({"assets": [{"payload": {}}]}, "assets[0].assetKey", "required"),
        (
            {"assets": [{"assetKey": "a", "freshness": {"stale": "yes"}}]},
            "assets[0].freshness.stale",
            "true or false",
        ),
    ],
)
def test_invalid_records_name_the_field(changes, field, words):
    with pytest.raises(InvalidRunRecord) as raised:
        normalize_record(make_record(**changes), source="x.ndjson", line=7)
    assert raised.value.field == field
    message = str(raised.value)
    assert "x.ndjson line 7" in message and repr(field) in message and words in message


def test_python_values_json_cannot_hold_are_refused():
    with pytest.raises(InvalidRunRecord, match=r"parameters.ratio.*not a JSON number"):
        normalize_record(make_record(parameters={"ratio": float("nan")}), check_json=True)


def test_sample_shaped_record_matches_the_shipped_schema():
    jsonschema.validate(make_record(), json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(make_record(status="DONE"), json_schema())


def test_errors_share_one_base_class():
    assert issubclass(runreplay.InvalidRunRecord, runreplay.RunReplayError)
    assert issubclass(runreplay.DuplicateRunError, runreplay.InvalidRunRecord)
    assert issubclass(runreplay.StoreLocked, runreplay.RunReplayError)

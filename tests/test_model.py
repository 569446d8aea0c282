"""The run record: validation messages, normalisation, the shipped JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runreplay
from runreplay.errors import InvalidRunRecord
from runreplay.model import (
    ASSET_KEYS,
    EVENT_KEYS,
    FRESHNESS_KEYS,
    NORMAL_KEYS,
    STATUSES,
    is_normal,
    json_schema,
    normalize_record,
    normalize_timestamp,
)
from tests.conftest import make_record
from tests.strategies import json_objects, json_values


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


def test_a_list_status_is_an_invalid_record_not_a_crash():
    with pytest.raises(InvalidRunRecord, match="expected one of"):
        normalize_record(make_record(status=["FAILED"]))


@pytest.mark.parametrize(
    "changes",
    [
        {"createdAt": "2026-11-20T03:00:00+02:00"},  # normalised to UTC
        {"createdAt": "2026-W47-5T01:00:00Z"},  # an ISO week date of the stored length
        {"createdAt": "2026-02-30T01:00:00Z"},  # no such day
        {"runKey": None, "parameters": None},  # nulls become {}
        {"history": [{"at": "2026-11-20T01:00:00Z", "seq": 0, "status": "QUEUED"}]},  # order
        {"history": [{"seq": 0, "at": "2026-11-20T01:00:00Z", "status": "QUEUED", "step": None}]},
        {"history": [{"seq": True, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"}]},
        {"assets": [{"assetKey": "a", "freshness": {"stale": "yes"}}]},
        {"status": ["FAILED"]},
    ],
)
def test_records_not_in_normal_form_take_the_precise_path(changes):
    record = make_record(**changes)
    assert not is_normal(record)
    try:
        normalized = normalize_record(record, copy=False)
    except InvalidRunRecord:
        return
    assert normalized is not record


# Records in normal form, then at most one value replaced by something else.
_time = st.sampled_from(["2026-11-20T01:00:00Z", "2026-01-02T23:59:59Z"])
_odd = st.one_of(
    st.sampled_from(
        [
            "2026-11-20T03:00:00+02:00",
            "2026-02-30T01:00:00Z",
            "2026-11-20T01:00:00.5Z",
            "2026-11-20T01:00:00",
            "2026-W47-5T01:00:00Z",
            "",
            "DONE",
            -1,
            1.5,
            True,
        ]
    ),
    json_values,
)
_event = st.fixed_dictionaries(
    {"seq": st.integers(0, 5), "at": _time, "status": st.sampled_from(STATUSES)},
    optional={"step": st.text(max_size=3), "attempt": st.integers(0, 3), "message": st.text()},
)
_freshness = st.fixed_dictionaries(
    {},
    optional={
        "lastUpdated": _time,
        "maxLagMinutes": st.one_of(st.integers(0, 9), st.floats(0, 9)),
        "stale": st.booleans(),
    },
)
_asset = st.fixed_dictionaries(
    {"assetKey": st.text(min_size=1, max_size=3)},
    optional={"materializedAt": _time, "payload": json_objects, "freshness": _freshness},
)
_normal_records = st.fixed_dictionaries(
    {
        "runId": st.text(min_size=1, max_size=4),
        "workflowId": st.text(min_size=1, max_size=4),
        "runKey": st.one_of(st.none(), st.text(max_size=3)),
        "partitionKey": st.one_of(st.none(), st.text(max_size=3)),
        "status": st.sampled_from(STATUSES),
        "createdAt": _time,
        "startedAt": st.one_of(st.none(), _time),
        "finishedAt": st.one_of(st.none(), _time),
        "replayOf": st.one_of(st.none(), st.text(max_size=3)),
        "parameters": json_objects,
        "context": json_objects,
        "output": json_objects,
        "triggerPayload": json_objects,
        "history": st.lists(_event, max_size=3),
        "assets": st.lists(_asset, max_size=2),
    },
    optional={"tenant": json_values},
)


def _in_order(mapping: dict, keys: tuple[str, ...]) -> dict:
    return {key: mapping[key] for key in keys if key in mapping}


@st.composite
def _records(draw):
    """A normal record, or one with a top-level, event, asset or freshness value replaced
    (or a key dropped, or the keys reordered)."""
    record = _in_order(draw(_normal_records), NORMAL_KEYS + ("tenant",))
    record["history"] = [_in_order(event, EVENT_KEYS) for event in record["history"]]
    record["assets"] = [_in_order(asset, ASSET_KEYS) for asset in record["assets"]]
    for asset in record["assets"]:
        if "freshness" in asset:
            asset["freshness"] = _in_order(asset["freshness"], FRESHNESS_KEYS)
    change = draw(st.sampled_from(["none", "top", "event", "asset", "freshness", "order"]))
    targets = {
        "top": [record],
        "event": record["history"],
        "asset": record["assets"],
        "freshness": [a["freshness"] for a in record["assets"] if "freshness" in a],
    }.get(change, [])
    if targets:
        target = draw(st.sampled_from(targets))
        keys = sorted(target) or ["stale"]
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = draw(_odd)
    elif change == "order":
        keys = draw(st.permutations(sorted(record)))
        record = {key: record[key] for key in keys}
    return record


@settings(max_examples=300, deadline=None)
@given(record=_records())
def test_the_fast_path_accepts_only_what_normalisation_leaves_unchanged(record):
    """is_normal is a shortcut: it may say no to a normal record, never yes to another."""
    if not is_normal(record):
        return
    assert orjson.dumps(normalize_record(record)) == orjson.dumps(record)
    assert normalize_record(record, copy=False) is record


def test_sample_records_take_the_fast_path(sample_path):
    for line in sample_path.read_bytes().splitlines():
        assert is_normal(orjson.loads(line))


def test_as_utc_reads_the_times_a_user_gives():
    import pandas as pd

    from runreplay.errors import RunReplayError
    from runreplay.model import as_utc

    expected = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)
    assert as_utc("2026-10-12T03:00:00+02:00") == expected
    assert as_utc("2026-10-12T01:00:00") == expected  # naive: taken as UTC
    assert as_utc(pd.Timestamp("2026-10-12 01:00", tz="UTC")) == expected
    assert type(as_utc(pd.Timestamp("2026-10-12 01:00"))) is datetime
    assert as_utc(None) is None
    with pytest.raises(RunReplayError, match="'last tuesday' is not an ISO 8601 time"):
        as_utc("last tuesday")
    with pytest.raises(RunReplayError, match="expected a datetime or ISO 8601 string"):
        as_utc(12)

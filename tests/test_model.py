"""The run record: validation messages, normalisation, the shipped JSON Schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import jsonschema
import numpy as np
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
    MAX_DEPTH,
    NORMAL_KEYS,
    STATUSES,
    dumps,
    format_timestamp,
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
        ({"createdAt": "2026-11-20T01:00:00zz"}, "createdAt", "ISO 8601"),
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


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("0999-06-01T00:00:00+01:00", "0999-05-31T23:00:00Z"),
        ("0500-01-01T00:00:00.5Z", "0500-01-01T00:00:00.500000Z"),
        ("0001-01-01T00:00:00-05:00", "0001-01-01T05:00:00Z"),
        ("9999-12-31T23:59:59.999999+00:00", "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_years_before_1000_are_stored_with_four_digits(value, stored):
    assert normalize_timestamp(value) == stored


def test_format_timestamp_pads_the_year_to_four_digits():
    assert format_timestamp(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_timestamp(datetime(999, 5, 31, 23, tzinfo=UTC)) == "0999-05-31T23:00:00Z"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"createdAt": "0001-01-01T00:00:00+05:30"}, "createdAt"),
        ({"finishedAt": "9999-12-31T23:59:59-05:00"}, "finishedAt"),
        (
            {"history": [{"seq": 0, "at": "0001-01-01T00:59:00+01:00", "status": "QUEUED"}]},
            "history[0].at",
        ),
    ],
)
def test_timestamps_outside_the_utc_range_are_invalid_records(changes, field):
    with pytest.raises(InvalidRunRecord) as raised:
        normalize_record(make_record(**changes))
    assert raised.value.field == field
    assert "out of range once converted to UTC" in str(raised.value)


@pytest.mark.parametrize(
    "created_at",
    [
        "0001-01-01T00:00:00Z",  # already in normal form: the fast path
        "0999-06-01T00:00:00+01:00",
        "0500-01-01T00:00:00.5Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T18:59:59.999999-05:00",
    ],
)
def test_extreme_years_round_trip_through_the_store(store, created_at):
    """DuckDB's TIMESTAMPTZ holds years 1 to 9999; the store gives them back as loaded."""
    record = make_record(
        createdAt=created_at,
        startedAt=created_at,
        history=[{"seq": 0, "at": created_at, "status": "QUEUED"}],
        assets=[
            {
                "assetKey": "a",
                "materializedAt": created_at,
                "freshness": {"lastUpdated": created_at},
            }
        ],
    )
    result = store.load_records([record])
    assert result.runs == 1 and not result.errors
    assert store.run(record["runId"]) == normalize_record(record)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2026-01-01T00:00:00z", "2026-01-01T00:00:00Z"),  # RFC 3339 allows a lower-case z
        ("2026-01-01t00:00:00Z", "2026-01-01T00:00:00Z"),  # ... and a lower-case t
        ("2026-01-01t03:00:00.5z", "2026-01-01T03:00:00.500000Z"),
    ],
)
def test_lower_case_z_and_t_are_read_and_stored_upper_case(value, stored):
    record = make_record(createdAt=value)
    assert not is_normal(record)  # the slow path rewrites it
    assert normalize_record(record)["createdAt"] == stored


def _nested(depth: int) -> dict:
    """`depth` objects, each inside the one before: {"k": {"k": ... 1}}."""
    value: object = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        (make_record(parameters={"x": "\ud800"}), "parameters.x", "lone surrogate"),
        (make_record(run_id="run-\ud800"), "runId", "lone surrogate"),
        (make_record(note=["ok", "\udc00"]), "note[1]", "lone surrogate"),
        (make_record(parameters={"a": {"\ud800": 1}}), "parameters.a", "object key"),
        ({**make_record(), "x\ud800": 1}, None, "top-level key"),
        ({**make_record(), (1, 2): "x"}, None, "top-level key (1, 2) is a tuple, not a string"),
        ({**make_record(), 1: "x"}, None, "top-level key 1 is a int, not a string"),
        ({**make_record(), None: "x"}, None, "top-level key None is a NoneType"),
        (make_record(parameters={"x": _nested(MAX_DEPTH - 1)}), "parameters", "1024 levels"),
    ],
)
def test_python_values_json_cannot_hold_are_invalid_records(record, field, words):
    with pytest.raises(InvalidRunRecord) as raised:
        normalize_record(record, check_json=True)
    assert raised.value.field == field
    assert words in str(raised.value)
    assert raised.value.run_id in (None, "run-000001")  # never the bad runId itself


def test_load_records_skips_what_json_cannot_hold(store):
    """Each of these crashed the load (UnicodeEncodeError, TypeError, RecursionError) or,
    for a key 1, loaded it as "1"."""
    bad = [
        make_record(run_id="surrogate", parameters={"x": "\ud800"}),
        make_record(run_id="surrogate-id-\ud800"),
        {**make_record(run_id="extra-surrogate"), "x\ud800": 1},
        {**make_record(run_id="tuple-key"), (1, 2): "x"},
        {**make_record(run_id="int-key"), 1: "x"},
        {**make_record(run_id="null-key"), None: "x"},
        make_record(run_id="deep", parameters={"x": _nested(1100)}),
    ]
    result = store.load_records([make_record(run_id="ok"), *bad], on_error="skip")
    assert result.runs == 1 and store.has_run("ok")
    assert [type(error) for error in result.errors] == [InvalidRunRecord] * len(bad)


@pytest.mark.parametrize("how", ["records", "file"])
def test_records_nested_to_the_depth_limit_round_trip(store, tmp_path, how):
    """A record may nest MAX_DEPTH containers (itself included), as deep as a JSON file
    can be read; deeper than orjson writes, so the stdlib writes it, without recursing."""
    record = make_record(parameters={"x": _nested(MAX_DEPTH - 2)})
    if how == "records":
        result = store.load_records([record])
    else:
        path = tmp_path / "deep.ndjson"
        path.write_text(dumps(record) + "\n")
        result = store.load(path)
    assert result.runs == 1 and not result.errors
    # dict == recurses (and would overflow the stack): compare the JSON text instead
    assert dumps(store.run(record["runId"])) == dumps(normalize_record(record))


def test_dumps_writes_values_nested_beyond_the_stack():
    assert dumps(_nested(3000)) == '{"k":' * 3000 + "1" + "}" * 3000
    assert dumps([[{"a": 2**70, 1: None}], []]) == '[[{"a":1180591620717411303424,"1":null}],[]]'


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"a.b": float("nan")}, 'parameters["a.b"]'),
        ({"a": {"b": float("nan")}}, "parameters.a.b"),
        ({"steps": [1, {"p@10": float("inf")}]}, 'parameters.steps[1]["p@10"]'),
    ],
)
def test_json_errors_name_the_field_in_path_syntax(parameters, field):
    with pytest.raises(InvalidRunRecord) as raised:
        normalize_record(make_record(parameters=parameters), check_json=True)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.True_, "a numpy.bool is not a JSON value; convert it with bool()"),
        (np.int64(3), "a numpy.int64 is not a JSON value; convert it with int()"),
        (np.float32(1.5), "a numpy.float32 is not a JSON value; convert it with float()"),
        (Decimal("1.5"), "a decimal.Decimal is not a JSON value; convert it with float()"),
        ((1, 2), "a tuple is not a JSON value; convert it with list()"),
    ],
)
def test_values_json_cannot_hold_are_named_by_their_real_type(value, words):
    with pytest.raises(InvalidRunRecord) as raised:
        normalize_record(make_record(parameters={"x": value}), check_json=True)
    assert words in str(raised.value)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"assets": [{"assetKey": "a", "freshness": {"stale": np.True_}}]},
            "expected true or false, got a numpy.bool; convert it with bool()",
        ),
        (
            {"history": [{"seq": np.int64(0), "at": "2026-11-20T01:00:00Z", "status": "QUEUED"}]},
            "got a numpy.int64; convert it with int()",
        ),
    ],
)
def test_numpy_values_in_known_fields_are_named_by_their_real_type(changes, words):
    with pytest.raises(InvalidRunRecord) as raised:
        normalize_record(make_record(**changes))
    assert words in str(raised.value)


def test_a_numpy_float64_is_a_float_and_loads(store):
    record = make_record(parameters={"ratio": np.float64(0.5)})
    store.load_records([record])
    assert store.run(record["runId"])["parameters"] == {"ratio": 0.5}


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
    assert as_utc(date(2026, 10, 12)) == expected.replace(hour=0)  # a day: midnight UTC
    with pytest.raises(RunReplayError, match="expected a datetime, date or ISO 8601 string"):
        as_utc(12)
    with pytest.raises(RunReplayError, match="out of range once converted to UTC"):
        as_utc("0001-01-01T00:00:00+05:30")

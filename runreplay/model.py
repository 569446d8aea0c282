"""The run record: validation, normalisation to the stored form, and its JSON Schema.

A record arrives as the core API serialises it (camelCase; docs/ARCHITECTURE.md, "The record contract"). `normalize_record`
checks it and returns the normalised record, the one shape the rest of runreplay relies on:

- every known top-level key is present: optional scalars are None, parameters / context /
  output / triggerPayload are objects ({} when absent or null), history and assets are lists;
- timestamps are ISO 8601 UTC strings ending in "Z" (microseconds only when non-zero);
- history events and assets omit optional keys whose value is null;
- unknown top-level keys are kept as they are (the store keeps them in `extra`).
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from runreplay.errors import InvalidRunRecord, RecordProblem, RunReplayError
from runreplay.paths import format_path

STATUSES = ("QUEUED", "RUNNING", "RETRYING", "SUCCEEDED", "FAILED", "CANCELED")
_STATUS_SET = frozenset(STATUSES)

OBJECT_SECTIONS = ("parameters", "context", "output", "triggerPayload")
FIELD_SECTIONS = ("parameters", "context", "output")
"""Sections whose leaves the store keeps in run_fields: what drift, predicates and suspects read."""
SECTIONS = ("parameters", "context", "output", "triggerPayload", "run")
"""Field sections of a diff in report order; "run" holds the run's own fields (RUN_FIELDS)."""
RUN_FIELDS = ("status", "runKey", "partitionKey", "replayOf", "duration")
"""The run's own fields a diff compares (its section "run") and field statistics include."""
VOLATILE_THRESHOLD = 0.9
"""Share of a path's consecutive pairs that must change for it to be volatile."""
VOLATILE_MIN_PAIRS = 3
"""Consecutive pairs a path needs before it can be called volatile."""
VOLATILE_RECENT_RUNS = 10_000
"""How many of a workflow's newest runs a diff learns its volatile paths from."""
OPTIONAL_STRINGS = ("runKey", "partitionKey", "replayOf")
OPTIONAL_TIMES = ("startedAt", "finishedAt")
KNOWN_KEYS = frozenset(
    ("runId", "workflowId", "status", "createdAt", "history", "assets")
    + OBJECT_SECTIONS
    + OPTIONAL_STRINGS
    + OPTIONAL_TIMES
)
EVENT_KEYS = ("seq", "at", "status", "step", "attempt", "message")
ASSET_KEYS = ("assetKey", "materializedAt", "payload", "freshness")
FRESHNESS_KEYS = ("lastUpdated", "maxLagMinutes", "stale")


class _Bad(Exception):
    """Internal: a problem at a field path, turned into InvalidRunRecord by the caller."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message


def normalize_timestamp(value: Any, field: str = "timestamp") -> str:
    """Return `value` (an ISO 8601 string with a zone) as a UTC string ending in "Z".

    >>> normalize_timestamp("2026-11-20T03:00:00+02:00")
    '2026-11-20T01:00:00Z'
    """
    try:
        return _timestamp(value, field)
    except _Bad as bad:
        raise InvalidRunRecord(RecordProblem(bad.message, field=bad.field)) from None


def parse_timestamp(value: str) -> datetime:
    """Parse a normalised (or any zoned ISO 8601) timestamp into an aware UTC datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as the normalised UTC string (raises OverflowError when
    the time in UTC falls outside years 1 to 9999)."""
    moment = moment.astimezone(UTC)
    # not strftime("%Y"): glibc does not zero-pad years before 1000 ("1-01-01T...")
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _timestamp(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Bad(field, f"expected an ISO 8601 timestamp string, got {_kind(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = _lower_case_zulu(value, field)
    if moment.tzinfo is None:
        raise _Bad(
            field,
            f"timestamp {value!r} has no time zone; add 'Z' or an offset such as +00:00",
        )
    if _is_normal_form(value):
        return value  # already normalised: skip formatting on the hot path
    try:
        return format_timestamp(moment)
    except OverflowError:  # 0001-01-01T00:00:00+05:30 is in year 0 in UTC
        raise _Bad(
            field,
            f"timestamp {value!r} is out of range once converted to UTC; stored times must "
            "fall between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
        ) from None


def _lower_case_zulu(value: str, field: str) -> datetime:
    """Parse a timestamp fromisoformat refuses: RFC 3339 allows a lower-case "z" (Python's
    parser takes "t" for "T" already). The error path only."""
    if value.endswith("z") and value[-2:-1].isdigit():  # "...:00z", not "...:00zz"
        try:
            return datetime.fromisoformat(value[:-1] + "Z")
        except ValueError:
            pass  # not a timestamp either way: say so below
    raise _Bad(
        field, f"expected an ISO 8601 timestamp such as 2026-11-20T01:00:00Z, got {value!r}"
    ) from None


def _is_normal_form(value: str) -> bool:
    """True when a string that parses as a timestamp is already in the stored form,
    YYYY-MM-DDTHH:MM:SSZ (a week date or other ISO layout of the same length is not)."""
    return (
        len(value) == 20
        and value[19] == "Z"
        and value[10] == "T"
        and value[4] == "-"
        and value[7] == "-"
        and value[13] == ":"
        and value[16] == ":"
    )


_fromisoformat = datetime.fromisoformat


def _is_normal_timestamp(value: Any) -> bool:
    """True when `value` is a valid timestamp already in the stored form (no copy needed)."""
    if (  # _is_normal_form, inlined: this runs ~12 times per record
        type(value) is not str
        or len(value) != 20
        or value[19] != "Z"
        or value[10] != "T"
        or value[4] != "-"
        or value[7] != "-"
        or value[13] != ":"
        or value[16] != ":"
    ):
        return False
    try:
        _fromisoformat(value)
    except ValueError:
        return False
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if type(value) is int or type(value) is float:
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, int | float):  # a subclass: numpy.float64, an IntEnum
        return f"a {_type_name(value)} ({value})"
    return f"a {_type_name(value)}; {_conversion(value)}"


def _type_name(value: Any) -> str:
    """The type's name as its user knows it: `tuple`, `numpy.bool`, `decimal.Decimal`."""
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _conversion(value: Any) -> str:
    """How to turn a value of a type JSON lacks into a JSON value (error messages)."""
    numpy = sys.modules.get("numpy")  # not imported for this: a numpy value means it is loaded
    if numpy is not None and isinstance(value, numpy.generic):
        plain = type(value.item())
        if plain in (bool, int, float, str):
            return f"convert it with {plain.__name__}()"
        return "convert it with .item() to a Python value JSON can hold"
    if isinstance(value, numbers.Integral):
        return "convert it with int()"
    if isinstance(value, numbers.Real):
        return "convert it with float()"
    if isinstance(value, numbers.Number):
        return "convert it with float() or str()"
    if isinstance(value, date):
        return "write it as an ISO 8601 string with .isoformat()"
    if isinstance(value, tuple | set | frozenset):
        return "convert it with list()"
    return "use a string, number, true/false, null, list or object"


def _string(value: Any, field: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise _Bad(field, "is required and missing; every record needs it")
        return None
    if not isinstance(value, str):
        raise _Bad(field, f"expected a string, got {_kind(value)}")
    if required and not value:
        raise _Bad(field, "is required and must not be empty")
    return value


def _status(value: Any, field: str) -> str:
    if value is None:
        raise _Bad(field, f"is required and missing; use one of {', '.join(STATUSES)}")
    if not isinstance(value, str) or value not in _STATUS_SET:
        raise _Bad(field, f"expected one of {', '.join(STATUSES)}, got {value!r}")
    return value


def _object(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(field, f"expected a JSON object, got {_kind(value)}")
    return value


def _int(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(field, f"expected an integer >= {minimum}, got {_kind(value)}")
    if value < minimum:
        raise _Bad(field, f"expected an integer >= {minimum}, got {value}")
    if value > INT64_MAX:
        raise _Bad(field, f"expected an integer <= {INT64_MAX} (64-bit), got {value}")
    return value


INT64_MAX = 2**63 - 1
"""The largest history seq / attempt the store holds (BIGINT columns)."""


def _event(event: Any, index: int) -> dict:
    field = f"history[{index}]"
    if not isinstance(event, dict):
        raise _Bad(field, f"expected a history event object, got {_kind(event)}")
    if event.get("seq") is None:
        raise _Bad(field + ".seq", "is required and missing; expected an integer sequence number")
    out: dict[str, Any] = {
        "seq": _int(event["seq"], field + ".seq", 0),
        "at": _timestamp(event.get("at"), field + ".at"),
        "status": _status(event.get("status"), field + ".status"),
    }
    step = _string(event.get("step"), field + ".step", required=False)
    if step is not None:
        out["step"] = step
    if event.get("attempt") is not None:
        out["attempt"] = _int(event["attempt"], field + ".attempt", 0)
    message = _string(event.get("message"), field + ".message", required=False)
    if message is not None:
        out["message"] = message
    for key, value in event.items():
        if key not in out and key not in EVENT_KEYS:
            out[key] = value
    return out


def _asset(asset: Any, index: int) -> dict:
    field = f"assets[{index}]"
    if not isinstance(asset, dict):
        raise _Bad(field, f"expected an asset object, got {_kind(asset)}")
    out: dict[str, Any] = {
        "assetKey": _string(asset.get("assetKey"), field + ".assetKey", required=True)
    }
    if asset.get("materializedAt") is not None:
        out["materializedAt"] = _timestamp(asset["materializedAt"], field + ".materializedAt")
    if asset.get("payload") is not None:
        out["payload"] = _object(asset["payload"], field + ".payload")
    if asset.get("freshness") is not None:
        out["freshness"] = _freshness(asset["freshness"], field + ".freshness")
    for key, value in asset.items():
        if key not in out and key not in ASSET_KEYS:
            out[key] = value
    return out


def _freshness(freshness: Any, field: str) -> dict:
    if not isinstance(freshness, dict):
        raise _Bad(field, f"expected a freshness object, got {_kind(freshness)}")
    out: dict[str, Any] = {}
    if freshness.get("lastUpdated") is not None:
        out["lastUpdated"] = _timestamp(freshness["lastUpdated"], field + ".lastUpdated")
    lag = freshness.get("maxLagMinutes")
    if lag is not None:
        if isinstance(lag, bool) or not isinstance(lag, int | float) or lag < 0:
            raise _Bad(
                field + ".maxLagMinutes", f"expected a number of minutes >= 0, got {_kind(lag)}"
            )
        out["maxLagMinutes"] = lag
    stale = freshness.get("stale")
    if stale is not None:
        if not isinstance(stale, bool):
            raise _Bad(field + ".stale", f"expected true or false, got {_kind(stale)}")
        out["stale"] = stale
    for key, value in freshness.items():
        if key not in out and key not in FRESHNESS_KEYS:
            out[key] = value
    return out


MAX_DEPTH = 1024
"""How deeply containers may nest in a record, the record itself counting as one: what
orjson (the loader's JSON parser) reads. A deeper file line is not valid JSON to it."""

_SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone UTF-16 surrogate: Python strings can hold one (from a bad decode), UTF-8 cannot."""


def _check_json(value: Any, field: str) -> None:
    """Reject what JSON cannot hold (NaN, non-string keys, sets, lone surrogates, nesting
    beyond MAX_DEPTH...) in dicts built in Python.

    A stack entry's `where` is (parent's where, key or index): the path text is built only
    for the error message, in the project's path syntax (runreplay.paths).
    """
    stack: list[tuple[Any, Any, int]] = [(value, None, 2)]  # the record is depth 1
    pop, push = stack.pop, stack.append
    while stack:
        item, where, depth = pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _Bad(
                    field,
                    f"is nested more than {MAX_DEPTH} levels deep (counting the record), "
                    "deeper than a JSON file can be loaded; flatten it or store the deep "
                    "part as a JSON string",
                )
            if isinstance(item, list):
                for index, child in enumerate(item):
                    push((child, (where, index), depth + 1))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    raise _Bad(
                        _path(field, where),
                        f"object key {key!r} is not a string; JSON keys are strings",
                    )
                if not key.isascii() and _SURROGATE.search(key):
                    raise _Bad(_path(field, where), _surrogate_message(key, "object key"))
                push((child, (where, key), depth + 1))
        elif isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise _Bad(_path(field, where), _surrogate_message(item, "the string"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _Bad(
                    _path(field, where),
                    f"{float(item)!r} is not a JSON number; use null or a finite number",
                )
        elif item is not None and not isinstance(item, int | bool):
            raise _Bad(
                _path(field, where),
                f"a {_type_name(item)} is not a JSON value; {_conversion(item)}",
            )


def _path(field: str, where: Any) -> str:
    """The path text of a `_check_json` location (the error path only)."""
    segments = []
    while where is not None:
        where, segment = where
        segments.append(segment)
    return format_path([field, *reversed(segments)])


def _surrogate_message(text: str, what: str) -> str:
    position = _SURROGATE.search(text).start()
    return (
        f"{what} {text[:40]!r} holds a lone surrogate ({text[position]!r} at character "
        f"{position}), which is not valid Unicode and cannot be stored; fix the text where "
        "it was decoded (decoding with errors='replace' keeps the rest)"
    )


def normalize_record(
    record: Any,
    *,
    source: str | None = None,
    line: int | None = None,
    check_json: bool = False,
    copy: bool = True,
) -> dict:
    """Validate a run record and return its normalised form (see the module docstring).

    Raises InvalidRunRecord naming `source`, `line`, the runId when known and the field path.
    `check_json=True` also rejects values JSON cannot hold (for dicts built in Python).
    `copy=False` returns `record` itself when it already is in normal form (the loader's
    hot path: a freshly parsed record nobody else holds).
    """
    if not copy and not check_json and is_normal(record):
        return record
    run_id = record.get("runId") if isinstance(record, dict) else None
    try:
        if not isinstance(record, dict):
            raise _Bad("", f"expected a run record (a JSON object), got {_kind(record)}")
        if record.get("createdAt") is None:
            raise _Bad("createdAt", "is required and missing; expected an ISO 8601 timestamp")
        out: dict[str, Any] = {
            "runId": _string(record.get("runId"), "runId", required=True),
            "workflowId": _string(record.get("workflowId"), "workflowId", required=True),
            "runKey": _string(record.get("runKey"), "runKey", required=False),
            "partitionKey": _string(record.get("partitionKey"), "partitionKey", required=False),
            "status": _status(record.get("status"), "status"),
            "createdAt": _timestamp(record["createdAt"], "createdAt"),
        }
        for key in OPTIONAL_TIMES:
            value = record.get(key)
            out[key] = None if value is None else _timestamp(value, key)
        out["replayOf"] = _string(record.get("replayOf"), "replayOf", required=False)
        for key in OBJECT_SECTIONS:
            out[key] = _object(record.get(key), key)
        history = record.get("history")
        if history is None:
            history = []
        elif not isinstance(history, list):
            raise _Bad("history", f"expected a list of events, got {_kind(history)}")
        out["history"] = [_event(event, i) for i, event in enumerate(history)]
        assets = record.get("assets")
        if assets is None:
            assets = []
        elif not isinstance(assets, list):
            raise _Bad("assets", f"expected a list of assets, got {_kind(assets)}")
        out["assets"] = [_asset(asset, i) for i, asset in enumerate(assets)]
        for key, value in record.items():
            if key not in KNOWN_KEYS:
                out[key] = value
        if check_json:
            for key, value in out.items():
                if key not in KNOWN_KEYS:
                    _check_top_level_key(key)
                _check_json(value, key)
    except _Bad as bad:
        problem = RecordProblem(
            bad.message,
            source=source,
            line=line,
            # a bad runId (one holding a lone surrogate, say) is not repeated as the run's id
            run_id=run_id if isinstance(run_id, str) and bad.field != "runId" else None,
            field=bad.field or None,
        )
        raise InvalidRunRecord(problem) from None
    return out


def _check_top_level_key(key: Any) -> None:
    """Reject an unknown top-level key JSON cannot hold (check_json: dicts built in Python)."""
    if not isinstance(key, str):
        raise _Bad(
            "",
            f"top-level key {key!r} is a {_type_name(key)}, not a string; JSON keys are "
            "strings: use a string key, or remove it",
        )
    if not key.isascii() and _SURROGATE.search(key):
        raise _Bad("", _surrogate_message(key, "top-level key"))


NORMAL_KEYS = (
    "runId", "workflowId", "runKey", "partitionKey", "status", "createdAt", "startedAt",
    "finishedAt", "replayOf", "parameters", "context", "output", "triggerPayload", "history",
    "assets",
)  # fmt: skip
"""The known top-level keys in the order of a normalised record."""


def _ordered_subsets(required: tuple[str, ...], optional: tuple[str, ...]) -> frozenset:
    """Every key tuple a normalised object can have: `required`, then any of `optional` in
    order (optional keys whose value is null are dropped by normalisation)."""
    shapes = []
    for mask in range(2 ** len(optional)):
        chosen = tuple(key for bit, key in enumerate(optional) if mask >> bit & 1)
        shapes.append(required + chosen)
    return frozenset(shapes)


_EVENT_SHAPES = _ordered_subsets(EVENT_KEYS[:3], EVENT_KEYS[3:])
_ASSET_SHAPES = _ordered_subsets(ASSET_KEYS[:1], ASSET_KEYS[1:])
_FRESHNESS_SHAPES = _ordered_subsets((), FRESHNESS_KEYS)


def is_normal(record: Any) -> bool:
    """True when `record` is a valid run record already in normal form, so that
    `normalize_record(record) == record` with the same key order.

    A cheap check for the loader's hot path: records exported by the core API pass it;
    anything else (missing keys, offsets in timestamps, nulls, invalid values) returns
    False and goes through `normalize_record`, which normalises it or says what is wrong.
    """
    if type(record) is not dict or len(record) < len(NORMAL_KEYS):
        return False
    if tuple(record)[: len(NORMAL_KEYS)] != NORMAL_KEYS:
        return False
    (
        run_id, workflow_id, run_key, partition_key, status, created_at, started_at,
        finished_at, replay_of, parameters, context, output, trigger, history, assets, *_,
    ) = record.values()  # fmt: skip
    if not (
        type(run_id) is str
        and run_id
        and type(workflow_id) is str
        and workflow_id
        and (run_key is None or type(run_key) is str)
        and (partition_key is None or type(partition_key) is str)
        and (replay_of is None or type(replay_of) is str)
        and type(status) is str
        and status in _STATUS_SET
        and _is_normal_timestamp(created_at)
        and (started_at is None or _is_normal_timestamp(started_at))
        and (finished_at is None or _is_normal_timestamp(finished_at))
        and type(parameters) is dict
        and type(context) is dict
        and type(output) is dict
        and type(trigger) is dict
        and type(history) is list
        and type(assets) is list
    ):
        return False
    for event in history:
        if type(event) is not dict or tuple(event) not in _EVENT_SHAPES:
            return False
        seq = event["seq"]
        status = event["status"]
        if not (
            type(seq) is int
            and 0 <= seq <= INT64_MAX
            and type(status) is str
            and status in _STATUS_SET
            and _is_normal_timestamp(event["at"])
        ):
            return False
        if len(event) > 3:
            step = event.get("step", "")
            attempt = event.get("attempt", 0)
            if not (
                type(step) is str
                and type(attempt) is int
                and 0 <= attempt <= INT64_MAX
                and type(event.get("message", "")) is str
            ):
                return False
    for asset in assets:
        if type(asset) is not dict or tuple(asset) not in _ASSET_SHAPES:
            return False
        asset_key = asset["assetKey"]
        if type(asset_key) is not str or not asset_key:
            return False
        if len(asset) == 1:
            continue
        if "materializedAt" in asset and not _is_normal_timestamp(asset["materializedAt"]):
            return False
        if type(asset.get("payload", _EMPTY)) is not dict:
            return False
        freshness = asset.get("freshness", _EMPTY)
        if type(freshness) is not dict or tuple(freshness) not in _FRESHNESS_SHAPES:
            return False
        if "lastUpdated" in freshness and not _is_normal_timestamp(freshness["lastUpdated"]):
            return False
        lag = freshness.get("maxLagMinutes", 0)
        if not (type(lag) is int or type(lag) is float) or not lag >= 0:
            return False
        if type(freshness.get("stale", False)) is not bool:
            return False
    return True


_EMPTY: dict = {}


def extra_of(record: dict) -> dict:
    """The unknown top-level keys of a normalised record."""
    return {key: value for key, value in record.items() if key not in KNOWN_KEYS}


def as_utc(moment: Any) -> datetime | None:
    """A time given as a datetime (pandas Timestamps included), a date (its midnight), an
    ISO 8601 string or None, as an aware UTC datetime; naive times are taken as UTC. Raises RunReplayError saying
    how to write a time it cannot read."""
    if moment is None:
        return None
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError as error:
            raise RunReplayError(
                f"{moment!r} is not an ISO 8601 time ({error}); "
                "write it like 2026-10-12 or 2026-10-12T01:00:00Z"
            ) from None
    if type(moment) is date:  # a day: its midnight in UTC
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if isinstance(moment, datetime) and hasattr(moment, "to_pydatetime"):
        moment = moment.to_pydatetime()  # a pandas Timestamp (not imported for this)
    if not isinstance(moment, datetime):
        raise RunReplayError(f"expected a datetime, date or ISO 8601 string, got {moment!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times are taken as UTC, as stored
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise RunReplayError(
            f"{moment.isoformat()!r} is out of range once converted to UTC; give a time "
            "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        ) from None


def dumps(value: Any) -> str:
    """JSON text of a value as stored (orjson; stdlib json for integers beyond 64 bits or
    nesting beyond orjson's 254 levels)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        import json

        try:
            return json.dumps(value, **_STDLIB_JSON)
        except RecursionError:  # nested deeper than the stack: a record may nest MAX_DEPTH
            return _dumps_deep(value, json.JSONEncoder(**_STDLIB_JSON).encode)


_STDLIB_JSON = {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False}


class _Punctuation(str):
    """Text `_dumps_deep` writes as it is (braces, commas, keys), not a value to encode."""


def _dumps_deep(value: Any, encode: Any) -> str:
    """`json.dumps` without recursion (so without a depth limit), for deeply nested values."""
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Punctuation:
            parts.append(item)
        elif isinstance(item, dict):
            parts.append("{")
            stack.append(_Punctuation("}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                # a key that is not a string: stdlib's text for it ({1: x} -> {"1": x})
                key_text = encode(key) if isinstance(key, str) else encode({key: None})[1:-6]
                stack.append(child)
                stack.append(_Punctuation(("," if index else "") + key_text + ":"))
        elif isinstance(item, list | tuple):
            parts.append("[")
            stack.append(_Punctuation("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Punctuation(","))
        else:
            parts.append(encode(item))
    return "".join(parts)


def loads(text: str | bytes) -> Any:
    """Parse JSON text (orjson; stdlib json for integers beyond 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        import json

        return json.loads(text)


@lru_cache(maxsize=1)
def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a run record, shipped in the package."""
    text = resources.files("runreplay").joinpath("run_record.schema.json").read_text("utf-8")
    return orjson.loads(text)


def describe_event(event: Any) -> str:
    """`load RETRYING (attempt 1, seq 4): timeout writing batch`, or "— (no event)" for None."""
    if event is None:
        return "— (no event)"
    text = f"{event['step']} {event['status']}" if event.get("step") else str(event["status"])
    details = []
    if event.get("attempt") is not None:
        details.append(f"attempt {event['attempt']}")
    if event.get("seq") is not None:
        details.append(f"seq {event['seq']}")
    if details:
        text += f" ({', '.join(details)})"
    if event.get("message"):
        text += f": {event['message']}"
    return text

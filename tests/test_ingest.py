"""Loading files: formats, all-or-nothing transactions, and what bad input says."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runreplay import ingest, model
from runreplay.errors import DuplicateRunError, InvalidRunRecord, SourceError
from runreplay.model import OBJECT_SECTIONS, normalize_record
from tests.conftest import contents, make_record
from tests.strategies import json_keys, json_values


def line(record) -> bytes:
    return orjson.dumps(record) + b"\n"


GOOD_1 = line(make_record("run-100"))
GOOD_2 = line(make_record("run-101"))


def with_bad(bad: bytes) -> bytes:
    """Two good lines, then the bad one on line 3."""
    return GOOD_1 + GOOD_2 + bad


def corrupt_gzip(content: bytes) -> bytes:
    """`content` gzipped, with the header of its first deflate block garbled (zlib.error)."""
    data = bytearray(gzip.compress(content))
    data[12] ^= 0xFF
    return bytes(data)


JSON_ARRAY = b"[" + GOOD_1 + b"," + GOOD_2 + b"]"


MALFORMED = [
    # (name, file suffix, file content, expected line, expected field or None, words in message)
    (
        "broken JSON line",
        ".ndjson",
        with_bad(b'{"runId": "run-102", "status": \n'),
        3,
        None,
        "not valid JSON",
    ),
    (
        "missing runId",
        ".ndjson",
        with_bad(line({**make_record(), "runId": None})),
        3,
        "runId",
        "required",
    ),
    (
        "bad status",
        ".ndjson",
        with_bad(line(make_record("run-102", status="DONE"))),
        3,
        "status",
        "expected one of",
    ),
    (
        "timestamp without zone",
        ".ndjson",
        with_bad(line(make_record("run-102", createdAt="2026-11-20T01:00:00"))),
        3,
        "createdAt",
        "no time zone",
    ),
    (
        "history not a list",
        ".ndjson",
        with_bad(line(make_record("run-102", history="QUEUED,RUNNING"))),
        3,
        "history",
        "expected a list",
    ),
    (
        "asset without key",
        ".ndjson",
        with_bad(line(make_record("run-102", assets=[{"payload": {"rows": 1}}]))),
        3,
        "assets[0].assetKey",
        "required",
    ),
    (
        "parameters a string",
        ".ndjson",
        with_bad(line(make_record("run-102", parameters="batchSize=500"))),
        3,
        "parameters",
        "expected a JSON object",
    ),
    (
        "duplicate runId, other content",
        ".ndjson",
        with_bad(line(make_record("run-100", status="FAILED"))),
        3,
        "runId",
        "appeared earlier in this load",
    ),
    ("empty file", ".ndjson", b"", 1, None, "holds no run record"),
    (
        "binary garbage",
        ".ndjson",
        GOOD_1 + bytes(range(256)) * 4 + b"\n",
        2,
        None,
        "not valid JSON",
    ),
    (
        "wrong top-level type",
        ".ndjson",
        with_bad(b"[1, 2, 3]\n"),
        3,
        None,
        "expected a run record (a JSON object)",
    ),
    (
        "event with bad status",
        ".ndjson",
        with_bad(
            line(
                make_record(
                    "run-102",
                    history=[{"seq": 0, "at": "2026-11-20T01:00:00Z", "status": "WAITING"}],
                )
            )
        ),
        3,
        "history[0].status",
        "expected one of",
    ),
    (
        "event seq beyond 64 bits",
        ".ndjson",
        with_bad(
            line(
                make_record(
                    "run-102",
                    history=[{"seq": 2**63, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"}],
                )
            )
        ),
        3,
        "history[0].seq",
        "(64-bit)",
    ),
    (
        "negative max lag",
        ".ndjson",
        with_bad(
            line(
                make_record(
                    "run-102", assets=[{"assetKey": "a", "freshness": {"maxLagMinutes": -5}}]
                )
            )
        ),
        3,
        "assets[0].freshness.maxLagMinutes",
        ">= 0",
    ),
    (
        "JSON file holding a number",
        ".json",
        b"42",
        1,
        None,
        "expected a run record (an object) or an array",
    ),
    (
        "bad record inside a JSON array",
        ".json",
        b"[" + GOOD_1 + b"," + line(make_record("run-102", status=7)) + b"]",
        2,
        "status",
        "expected one of",
    ),
    (
        "truncated JSON file",
        ".json",
        b'[{"runId": "run-1",\n "status": ',
        2,
        None,
        "not valid JSON",
    ),
    (
        "JSON line broken after non-ASCII text: the column within the line",
        ".ndjson",
        with_bad('{"runId": "é", oops}\n'.encode()),
        3,
        None,
        "line 3: not valid JSON at column 16 (unexpected character, expected a string key); "
        "fix or remove this line",
    ),
    (
        "JSON line that is not UTF-8",
        ".ndjson",
        with_bad(b'{"runId": "\xff"}\n'),
        3,
        None,
        "line 3: not valid JSON at column 12 (byte 0xff is not UTF-8 text)",
    ),
    (
        "byte order mark not at the start of the file",
        ".ndjson",
        with_bad(codecs.BOM_UTF8 + line(make_record("run-102"))),
        3,
        None,
        "at column 1 (UTF-8 byte order mark (BOM) is not supported)",
    ),
    (
        "JSON file broken after non-ASCII text",
        ".json",
        '[{"s": "ééé"},\n {"s": "é" oops}]'.encode(),
        2,
        None,
        "line 2: not valid JSON at column 12 (unexpected character",
    ),
    (
        "JSON file that is not UTF-8",
        ".json",
        b'[\n{"runId": "\xff"}]',
        2,
        None,
        "line 2: not valid JSON at column 12 (byte 0xff is not UTF-8 text); fix the file",
    ),
    (
        "corrupt deflate block in gzip NDJSON",
        ".ndjson.gz",
        corrupt_gzip(GOOD_1 + GOOD_2),
        1,
        None,
        "line 1: the gzip stream is corrupt (Error -3 while decompressing data",
    ),
    (
        "corrupt deflate block in gzip JSON",
        ".json.gz",
        corrupt_gzip(JSON_ARRAY),
        1,
        None,
        "line 1: the gzip stream is corrupt (Error -3 while decompressing data",
    ),
    (
        "truncated gzip JSON",
        ".json.gz",
        gzip.compress(JSON_ARRAY)[:-10],
        JSON_ARRAY.count(b"\n") + 1,  # the first line not read whole: the last
        None,
        "the gzip stream is corrupt (Compressed file ended",
    ),
]


@pytest.mark.parametrize(
    ("suffix", "content", "line_no", "field", "words"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_bad_input_names_line_and_field_and_changes_nothing(
    store, tmp_path, suffix, content, line_no, field, words
):
    store.load_records([make_record("run-000001"), make_record("run-000002", status="FAILED")])
    before = contents(store)
    path = tmp_path / f"export{suffix}"
    path.write_bytes(content)
    with pytest.raises(InvalidRunRecord) as raised:
        store.load(path)
    error = raised.value
    message = str(error)
    assert str(path) in message
    assert error.line == line_no and f" {line_no}" in message
    assert error.field == field
    if field:
        assert repr(field) in message
    assert words in message
    assert contents(store) == before


def test_huge_line_is_refused_without_reading_it_whole(store, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_RECORD_BYTES", 4096)
    path = tmp_path / "huge.ndjson"
    huge = line(make_record("run-102", parameters={"blob": "x" * 20_000}))
    path.write_bytes(GOOD_1 + huge + GOOD_2)
    before = contents(store)
    with pytest.raises(InvalidRunRecord, match=r"huge.ndjson line 2: the line is longer than"):
        store.load(path)
    assert contents(store) == before
    result = store.load(path, on_error="skip")
    assert result.runs == 2 and len(result.errors) == 1 and result.errors[0].line == 2


def test_skip_mode_loads_the_good_and_lists_every_bad(store, tmp_path):
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(GOOD_1 + b"not json\n" + line(make_record("run-102", status="DONE")) + GOOD_2)
    result = store.load(path, on_error="skip")
    assert result.runs == 2
    assert [(e.line, e.field) for e in result.errors] == [(2, None), (3, "status")]
    assert set(store.runs()["run_id"]) == {"run-100", "run-101"}


def test_a_stored_run_with_other_content_is_an_error_unless_replace(store, tmp_path):
    store.load_records([make_record("run-100")])
    path = tmp_path / "changed.ndjson"
    path.write_bytes(line(make_record("run-100", status="FAILED")) + GOOD_2)
    before = contents(store)
    with pytest.raises(DuplicateRunError, match=r"changed.ndjson line 1.*replace=True"):
        store.load(path)
    assert contents(store) == before
    result = store.load(path, replace=True)
    assert (result.runs, result.replaced) == (2, 1)
    assert store.run("run-100")["status"] == "FAILED"
    assert store.counts()["runs"] == 2
    assert store.sql("SELECT count(*) AS n FROM run_events WHERE run_id = 'run-100'")["n"][0] == 3


def test_reloading_identical_records_is_a_no_op(store, tmp_path):
    path = tmp_path / "runs.ndjson"
    path.write_bytes(GOOD_1 + GOOD_2)
    first = store.load(path)
    before = contents(store)
    second = store.load(path)
    assert (first.runs, second.runs, second.skipped) == (2, 0, 2)
    assert contents(store) == before


def damaged_gzip(content: bytes, damage: str) -> bytes:
    """`content` gzipped and cut two thirds in, or in two gzip members, the second with
    its first deflate block garbled."""
    if damage == "truncated":
        whole = gzip.compress(content)
        return whole[: len(whole) * 2 // 3]
    half = content.index(b"\n", len(content) // 2) + 1
    return gzip.compress(content[:half]) + corrupt_gzip(content[half:])


@pytest.mark.parametrize("read_bytes", [256, ingest.READ_BYTES])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_export_names_the_line_where_it_breaks(
    store, tmp_path, monkeypatch, damage, workers, read_bytes
):
    """Every whole line before the damage loads (with on_error="skip"), even those in the
    read that meets it; the next line is the problem; with on_error="raise" nothing is
    written. This process decompresses, so workers see the same."""
    monkeypatch.setattr(ingest, "READ_BYTES", read_bytes)
    records = [make_record(f"run-{i:03d}", output={"rows": i}) for i in range(40)]
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(damaged_gzip(b"".join(line(record) for record in records), damage))
    before = contents(store)
    with pytest.raises(InvalidRunRecord, match=r"cut.ndjson.gz line \d+: the gzip stream is"):
        store.load(path, workers=workers)
    assert contents(store) == before
    result = store.load(path, on_error="skip", workers=workers)
    loaded = sorted(store.runs()["run_id"])
    assert 0 < result.runs == len(loaded) < len(records)
    assert loaded == [record["runId"] for record in records[: result.runs]]
    assert [error.line for error in result.errors] == [result.runs + 1]
    assert result.runs == readable_start(path).count(b"\n")  # no readable line lost


def readable_start(path: Path) -> bytes:
    """What a damaged gzip file decompresses to before the damage."""
    parts = []
    with gzip.open(path) as stream, contextlib.suppress(EOFError, OSError, zlib.error):
        while part := stream.read1(16):  # read() would drop what it decoded in the bad call
            parts.append(part)
    return b"".join(parts)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_json_file_is_one_bad_record_at_the_line_reached(
    store, tmp_path, monkeypatch, damage, workers
):
    """A JSON document cut short holds no record that can be read: the file is one problem
    at the first line not read whole; with on_error="skip" the other files still load."""
    monkeypatch.setattr(ingest, "READ_BYTES", 256)
    records = [make_record(f"run-{i:03d}") for i in range(10)]
    content = orjson.dumps(records, option=orjson.OPT_INDENT_2)
    path = tmp_path / "cut.json.gz"
    path.write_bytes(damaged_gzip(content, damage))
    good = tmp_path / "good.json"
    good.write_bytes(JSON_ARRAY)
    before = contents(store)
    with pytest.raises(
        InvalidRunRecord, match=r"cut.json.gz line \d+: the gzip stream is"
    ) as raised:
        store.load(good, path, workers=workers)
    assert contents(store) == before
    assert 1 < raised.value.line <= readable_start(path).count(b"\n") + 1
    result = store.load(good, path, on_error="skip", workers=workers)
    assert result.runs == 2 and set(store.runs()["run_id"]) == {"run-100", "run-101"}
    assert [(error.source, error.line) for error in result.errors] == [
        (str(path), raised.value.line)
    ]


def test_gzip_json_array_parquet_directory_and_glob(store, tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    with gzip.open(exports / "a.ndjson.gz", "wb") as stream:
        stream.write(line(make_record("run-1")) + line(make_record("run-2")))
    (exports / "b.json").write_bytes(orjson.dumps([make_record("run-3"), make_record("run-4")]))
    (exports / "c.json").write_bytes(orjson.dumps(make_record("run-5")))
    rows = [make_record("run-6"), make_record("run-7", status="FAILED")]
    table = pa.table(
        {
            "runId": [r["runId"] for r in rows],
            "workflowId": [r["workflowId"] for r in rows],
            "status": [r["status"] for r in rows],
            "createdAt": pa.array(
                [1_700_000_000_000_000, 1_700_000_060_000_000], pa.timestamp("us", tz="UTC")
            ),
            "parameters": [orjson.dumps(r["parameters"]).decode() for r in rows],
            "history": [orjson.dumps(r["history"]).decode() for r in rows],
        }
    )
    pq.write_table(table, exports / "d.parquet")
    (exports / "notes.txt").write_text("ignored")
    result = store.load(exports)
    assert result.runs == 7 and len(result.sources) == 4
    assert store.run("run-6")["createdAt"] == "2023-11-14T22:13:20Z"
    assert store.run("run-7")["parameters"] == rows[1]["parameters"]
    assert store.run("run-2") == make_record("run-2")
    again = store.load(str(exports / "*.json"))
    assert again.skipped == 3


@pytest.mark.parametrize(
    ("suffix", "workers"),
    [(".ndjson", 1), (".ndjson", 2), (".jsonl.gz", 1), (".jsonl.gz", 2), (".json", 1),
     (".json.gz", 1)],
)  # fmt: skip
def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped(
    store, tmp_path, monkeypatch, suffix, workers
):
    """Windows tools start UTF-8 files with a BOM: skipped there (by workers too, which
    read plain NDJSON by byte range), refused anywhere else (see MALFORMED)."""
    from runreplay import store as store_module

    monkeypatch.setattr(store_module, "BATCH_RECORDS", 1)  # a chunk per line: many spans
    content = codecs.BOM_UTF8 + (JSON_ARRAY if suffix in (".json", ".json.gz") else GOOD_1 + GOOD_2)
    path = tmp_path / f"export{suffix}"
    path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
    result = store.load(path, workers=workers)
    assert (result.runs, result.errors) == (2, [])
    assert [store.run(run_id) for run_id in ("run-100", "run-101")] == [
        make_record("run-100"),
        make_record("run-101"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(), max_size=4),
    before=st.text(),
    pad=st.text(" \t", max_size=3),
    bom=st.booleans(),
)
def test_a_json_file_that_does_not_parse_names_the_line_and_column_an_editor_shows(
    tmp_path_factory, texts, before, pad, bom
):
    """orjson reports where a document fails in characters: whatever non-ASCII text comes
    before, the line and column are counted in characters (not bytes)."""
    lines = ["[", *(orjson.dumps(text).decode() + "," for text in texts)]
    last = orjson.dumps(before).decode() + pad  # a string, then no comma: "?" is an error
    document = "\n".join([*lines, last + "?]"]).encode()
    path = tmp_path_factory.mktemp("json") / "runs.json"
    path.write_bytes(codecs.BOM_UTF8 + document if bom else document)
    (_source, unit, numbers, (problem,)), *_ = ingest.read_chunks(path, 10)
    assert (unit, numbers, problem.line) == ("line", [len(lines) + 1], len(lines) + 1)
    assert problem.message.startswith(f"not valid JSON at column {len(last) + 1} (")


def parquet_rows(**columns) -> pa.Table:
    """Three valid rows run-1, run-2 and run-3, with `columns` added."""
    return pa.table(
        {
            "runId": ["run-1", "run-2", "run-3"],
            "workflowId": ["w"] * 3,
            "status": ["QUEUED"] * 3,
            "createdAt": ["2026-11-20T01:00:00Z"] * 3,
            **columns,
        }
    )


NAN, INF = math.nan, math.inf
NOT_A_NUMBER = "is not a JSON number; use null or a finite number"
PRICE = pa.struct([("price", pa.decimal128(5, 2))])
LAG = pa.list_(pa.struct([("assetKey", pa.string()), ("freshness", pa.struct([("maxLagMinutes", pa.float64())]))]))  # fmt: skip

NOT_JSON_IN_PARQUET = [
    # (name, column, values of rows 1-3 (row 2 is bad), type, field, words in message)
    ("decimal", "cost", [None, Decimal("1.10"), None], pa.decimal128(5, 2), "cost",
     "a decimal is not a JSON value; cast the column to double or string"),
    ("decimal in parameters", "parameters", [{"price": None}, {"price": Decimal(1)}, None],
     PRICE, "parameters.price", "a decimal is not a JSON value"),
    ("binary", "blob", [None, b"ab", None], pa.binary(), "blob",
     "binary data is not a JSON value; cast the column to string"),
    ("binary in context", "context", [None, {"b": b"ab"}, {"b": None}],
     pa.struct([("b", pa.large_binary())]), "context.b", "binary data is not a JSON value"),
    ("duration", "took", [None, timedelta(seconds=3), None], pa.duration("s"), "took",
     "a duration is not a JSON value; cast the column to a number"),
    ("NaN in parameters", "parameters", [{"x": 1.0}, {"x": NAN}, {"x": None}],
     pa.struct([("x", pa.float64())]), "parameters.x", f"nan {NOT_A_NUMBER}"),
    ("NaN in a float column", "score", [1.0, NAN, None], pa.float32(), "score",
     f"nan {NOT_A_NUMBER}"),
    ("infinite max lag", "assets",
     [None, [{"assetKey": "a", "freshness": {"maxLagMinutes": 1}},
             {"assetKey": "b", "freshness": {"maxLagMinutes": INF}}], []],
     LAG, "assets[1].freshness.maxLagMinutes", f"inf {NOT_A_NUMBER}"),
    ("-inf in a list", "output", [{"l": [1.0]}, {"l": [2.0, -INF]}, {"l": None}],
     pa.struct([("l", pa.list_(pa.float64()))]), "output.l[1]", f"-inf {NOT_A_NUMBER}"),
    ("NaN in a map", "output", [{"m": [("a", 1.0)]}, {"m": [("b", NAN)]}, None],
     pa.struct([("m", pa.map_(pa.string(), pa.float64()))]), "output.m[0][1]",
     f"nan {NOT_A_NUMBER}"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("column", "values", "kind", "field", "words"),
    [case[1:] for case in NOT_JSON_IN_PARQUET],
    ids=[case[0] for case in NOT_JSON_IN_PARQUET],
)
def test_parquet_values_json_cannot_hold_are_bad_rows(
    store, tmp_path, column, values, kind, field, words
):
    """A decimal, binary data, a duration, NaN or an infinity, at the top or nested: the
    row is a bad record naming file, row and field (NDJSON cannot even hold them)."""
    path = tmp_path / "export.parquet"
    pq.write_table(parquet_rows(**{column: pa.array(values, kind)}), path)
    before = contents(store)
    with pytest.raises(InvalidRunRecord) as raised:
        store.load(path)
    assert str(raised.value).startswith(f"{path} row 2, runId 'run-2', field {field!r}: ")
    assert (raised.value.line, raised.value.field) == (2, field)
    assert words in str(raised.value)
    assert contents(store) == before
    result = store.load(path, on_error="skip")
    assert result.runs == 2 and [(e.line, e.field) for e in result.errors] == [(2, field)]


def test_a_null_field_of_a_parquet_struct_is_left_out(store, tmp_path):
    """Parquet cannot tell a missing key from a null one: a struct's null fields are left
    out (the README says so)."""
    kind = pa.struct([("x", pa.float64()), ("y", pa.string())])
    path = tmp_path / "export.parquet"
    pq.write_table(parquet_rows(parameters=pa.array([{"x": 1.5, "y": None}] * 3, kind)), path)
    store.load(path)
    assert store.run("run-1")["parameters"] == {"x": 1.5}


def _arrow_values(kind: pa.DataType) -> st.SearchStrategy:
    if kind == pa.float64():
        return st.none() | st.floats()
    if kind == pa.binary():
        return st.none() | st.binary(max_size=2)
    if kind == pa.string():
        return st.none() | st.text(max_size=2)
    if pa.types.is_struct(kind):
        fields = {kind.field(i).name: _arrow_values(kind.field(i).type) for i in range(2)}
        return st.none() | st.fixed_dictionaries(fields)
    if pa.types.is_map(kind):
        entries = st.tuples(st.text(max_size=2), _arrow_values(kind.item_type))
        return st.none() | st.lists(entries, max_size=3)
    size = kind.list_size if pa.types.is_fixed_size_list(kind) else None
    return st.none() | st.lists(
        _arrow_values(kind.value_type), min_size=size or 0, max_size=size or 3
    )


_arrow_types = st.recursive(
    st.sampled_from([pa.float64(), pa.binary(), pa.string()]),
    lambda inner: st.one_of(
        inner.map(pa.list_),
        inner.map(pa.large_list),
        inner.map(lambda kind: pa.list_(kind, 2)),
        inner.map(lambda kind: pa.map_(pa.string(), kind)),
        st.tuples(inner, inner).map(lambda kinds: pa.struct(zip("ab", kinds, strict=True))),
    ),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=_arrow_types)
def test_parquet_rows_json_cannot_hold_are_all_found_column_wise(data, kind):
    """Arrow picks the rows to look at (so valid rows cost no Python): whatever the nesting,
    nulls and slicing, it picks exactly the rows that hold a value JSON cannot."""
    values = data.draw(st.lists(_arrow_values(kind), max_size=6))
    skip = data.draw(st.integers(0, len(values)))
    column = pa.array(values, kind).slice(skip)
    batch = pa.record_batch([column], names=["v"])
    expected = {index for index, row in enumerate(batch.to_pylist()) if ingest._first_non_json(row)}
    checked = [0] if ingest._may_hold_non_json(kind) else []  # as _read_parquet picks
    assert ingest._suspect_rows(batch, checked) == expected


def test_a_damaged_parquet_page_is_a_source_error_naming_the_file(store, tmp_path):
    """Damage in a later page raises whatever pyarrow's decoder meets (OSError for bad
    compressed data, ArrowInvalid for a dictionary index out of bounds...): always a
    SourceError naming the file and the rows read, and nothing is written."""
    rows = 20_000
    table = pa.table(
        {
            "runId": [f"r{i}" for i in range(rows)],
            "workflowId": ["w"] * rows,
            "status": ["QUEUED"] * rows,
            "createdAt": ["2026-11-20T01:00:00Z"] * rows,
            "parameters": [json.dumps({"i": i, "pad": "abc" * (i % 7)}) for i in range(rows)],
        }
    )
    path = tmp_path / "damaged.parquet"
    pq.write_table(table, path, row_group_size=2000)
    whole = path.read_bytes()
    chance = random.Random(3)
    before = contents(store)
    messages = []
    for _ in range(5):
        damaged = bytearray(whole)
        at = chance.randint(len(whole) // 4, len(whole) * 3 // 4)
        damaged[at : at + 64] = bytes(chance.randint(0, 255) for _ in range(64))
        path.write_bytes(damaged)
        with pytest.raises(SourceError) as raised:
            store.load(path, on_error="skip")
        messages.append(str(raised.value))
        assert contents(store) == before
    for message in messages:
        assert re.fullmatch(
            rf"cannot read '{re.escape(str(path))}' after row \d+ \(.+\); the file is damaged: "
            "export it again",
            message,
        ), message


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("missing.ndjson", "no such file"),
        ("*.nothing", "matches no file"),
        ("notes.txt", "not a supported"),
    ],
)
def test_bad_sources_are_named(store, tmp_path, monkeypatch, source, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match=words):
        store.load(source)


def test_progress_bar_can_be_forced_and_silenced(store, tmp_path, capsys):
    path = tmp_path / "runs.ndjson"
    path.write_bytes(GOOD_1 + GOOD_2)
    store.load(path, progress=True)
    shown = capsys.readouterr().err
    assert "loading runs" in shown
    assert "writing to the store" in shown  # after reading: the commit's wait is named
    store.load(path, progress=False, replace=True)
    assert capsys.readouterr().err == ""
    store.load_records([make_record("run-200")], progress=True)
    assert "writing to the store" in capsys.readouterr().err


def test_batches_span_the_transaction(store, tmp_path, monkeypatch):
    """A bad record after several flushed batches still leaves the store unchanged."""
    from runreplay import store as store_module

    monkeypatch.setattr(store_module, "BATCH_RECORDS", 3)
    path = tmp_path / "many.ndjson"
    good = b"".join(line(make_record(f"run-{i:03d}")) for i in range(10))
    path.write_bytes(good + line(make_record("run-bad", status="?")))
    with pytest.raises(InvalidRunRecord, match="many.ndjson line 11"):
        store.load(path)
    assert store.counts() == {"runs": 0, "run_events": 0, "asset_snapshots": 0, "run_fields": 0}
    path.write_bytes(good)
    assert store.load(path).runs == 10


def test_worker_processes_load_exactly_what_one_process_loads(tmp_path, sample_path):
    import runreplay

    with (
        runreplay.open(tmp_path / "one.duckdb") as one,
        runreplay.open(tmp_path / "two.duckdb") as two,
    ):
        first = one.load(sample_path, workers=1)
        second = two.load(sample_path, workers=2)
        assert (first.runs, first.events, first.fields) == (
            second.runs,
            second.events,
            second.fields,
        )
        assert contents(one)["run_fields"] == contents(two)["run_fields"]
        assert contents(one)["run_events"] == contents(two)["run_events"]


def test_worker_processes_keep_the_load_all_or_nothing(store, tmp_path, monkeypatch):
    from runreplay import store as store_module

    monkeypatch.setattr(store_module, "BATCH_RECORDS", 4)
    path = tmp_path / "many.ndjson"
    good = b"".join(line(make_record(f"run-{i:03d}")) for i in range(20))
    path.write_bytes(good + b"{broken\n" + good)
    with pytest.raises(InvalidRunRecord, match="many.ndjson line 21: not valid JSON"):
        store.load(path, workers=2)
    assert store.counts()["runs"] == 0
    result = store.load(path, workers=2, on_error="skip")
    assert (result.runs, result.skipped, len(result.errors)) == (20, 20, 1)


LONG_QUERY = "SELECT sum(i * 2) FROM range(10000000000) t(i)"  # ~10 s: stopped long before


def _stalled_at_events(store_module, started):
    """Wrap Store._insert_staged so that, as the load inserts run_events, one long DuckDB
    query runs on the store's connection inside the load's transaction: something to
    interrupt while DuckDB executes (real inserts of a small load take milliseconds)."""
    real = store_module.Store._insert_staged

    def insert(self, table, *args, **kwargs):
        if table == "run_events":
            started()
            self.connection.execute(LONG_QUERY).fetchall()
        return real(self, table, *args, **kwargs)

    return insert


def test_an_interrupted_commit_is_a_keyboard_interrupt_and_writes_nothing(
    store, tmp_path, monkeypatch, sample_path
):
    """DuckDB stops a query on `interrupt()` with its own InterruptException; the load
    rolls back and says it was interrupted, as Ctrl-C anywhere else does."""
    import threading

    from runreplay import store as store_module

    store.load_records([make_record("run-before")])
    before = contents(store)
    running = threading.Event()
    monkeypatch.setattr(
        store_module.Store, "_insert_staged", _stalled_at_events(store_module, running.set)
    )
    interrupter = threading.Thread(
        target=lambda: running.wait(60) and (time.sleep(0.2), store.connection.interrupt())
    )
    interrupter.start()
    with pytest.raises(KeyboardInterrupt, match="nothing from it is in the store"):
        store.load(sample_path, workers=1)
    interrupter.join()
    assert running.is_set() and contents(store) == before
    monkeypatch.undo()
    assert store.load(sample_path).runs > 0  # the store goes on working


CTRL_C_SCRIPT = """
import sys

import runreplay
from runreplay import store as store_module
from tests.test_ingest import _stalled_at_events

ready = lambda: print("inserting", flush=True)
store_module.Store._insert_staged = _stalled_at_events(store_module, ready)
with runreplay.open(sys.argv[1]) as store:
    try:
        store.load(sys.argv[2], progress=False)
    except KeyboardInterrupt as interrupt:
        print("KeyboardInterrupt:", interrupt, flush=True)
    print("runs", store.counts()["runs"], flush=True)
"""


def test_ctrl_c_while_duckdb_writes_is_a_keyboard_interrupt(tmp_path, sample_path):
    """Ctrl-C (SIGINT) while a load's DuckDB query runs: DuckDB's client raises
    RuntimeError("Query interrupted"), which the load turns back into KeyboardInterrupt
    (a script, a notebook and the CLI then stop as they do on any Ctrl-C)."""
    import signal

    (tmp_path / "ctrl_c.py").write_text(CTRL_C_SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(tmp_path / "ctrl_c.py"), str(tmp_path / "s.duckdb"), str(sample_path)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},  # for tests.*
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "inserting\n"
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.splitlines() == [
        "KeyboardInterrupt: the load was interrupted before it committed: "
        "nothing from it is in the store",
        "runs 0",
    ]


UNGUARDED_SCRIPT = """
import sys
from multiprocessing import spawn

import runreplay
from runreplay import store as store_module

store_module.BATCH_RECORDS = 4  # many chunks, so both workers start and build batches
print("script ran")
with runreplay.open(sys.argv[1]) as store:
    result = store.load(sys.argv[2], workers=2, progress=False)
print("loaded", result.runs, "runs")
others = spawn.get_preparation_data("a process of the script's own")
print("its own processes still prepare main:", any(key.startswith("init_main") for key in others))
"""


@pytest.mark.parametrize("how", ["file", "stdin", "module"])
def test_a_script_without_a_main_guard_loads_with_workers(tmp_path, sample_path, how):
    """The load workers never re-run the user's script. multiprocessing's children do by
    default, so a quick script without `if __name__ == "__main__":` ran again in each
    worker (which died: BrokenProcessPool), and `python - < script.py` found no file
    '<stdin>' to re-run."""
    (tmp_path / "quick_load.py").write_text(UNGUARDED_SCRIPT)
    start = {"file": ["quick_load.py"], "stdin": ["-"], "module": ["-m", "quick_load"]}[how]
    args = [sys.executable, *start, str(tmp_path / "runs.duckdb"), str(sample_path)]
    feed = UNGUARDED_SCRIPT if how == "stdin" else None
    done = subprocess.run(
        args, cwd=tmp_path, input=feed, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    runs = sum(1 for text in sample_path.read_bytes().splitlines() if text.strip())
    assert done.stdout.splitlines() == [
        "script ran",
        f"loaded {runs} runs",
        "its own processes still prepare main: True",
    ]


FORK_SERVER_FIRST = """
import sys
from multiprocessing import forkserver

import runreplay


class Watch:  # reports, as the loader is imported, whether the fork server runs yet
    def find_spec(self, name, path=None, target=None):
        if name == "runreplay.ingest":
            print("fork server running:", forkserver._forkserver._forkserver_pid is not None)


store = runreplay.open(sys.argv[1])
print("after open:", sorted(set(sys.modules) & {"numpy", "pyarrow", "pandas", "runreplay.ingest"}))
sys.meta_path.insert(0, Watch())
print("loaded", store.load(sys.argv[2], workers=int(sys.argv[3]), progress=False).runs, "runs")
"""


def test_a_load_starts_its_workers_before_it_imports_the_loader(tmp_path, sample_path):
    """Opening a store imports DuckDB only, not the loader (numpy, pyarrow, pandas: ~0.4 s
    in a fresh process). A load with workers starts the fork server they come from first,
    so that it imports the same modules on the other core while this process does."""
    (tmp_path / "first.py").write_text(FORK_SERVER_FIRST)
    for workers, running in (("1", False), ("2", True)):
        done = subprocess.run(
            [
                sys.executable,
                "first.py",
                str(tmp_path / f"{workers}.duckdb"),
                str(sample_path),
                workers,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[:2] == ["after open: []", f"fork server running: {running}"]
        assert lines[2].startswith("loaded ") and lines[2] != "loaded 0 runs"


@pytest.mark.parametrize("size", [2, 40])
def test_batches_come_back_in_order_wherever_they_were_built(tmp_path, size):
    """While the workers start, this process builds batches itself; the workers build the
    rest (with small chunks this process builds nearly all; with bigger ones, once the fork
    server runs, the workers build most). Either way each chunk is built once and the
    batches come back in order."""
    from runreplay import store as store_module

    records = [make_record(f"run-{i:04d}") for i in range(40 * size)]
    items = (("record", number, record) for number, record in enumerate(records))
    chunks = list(ingest.group_records(items, "x", size))
    batches = list(store_module._batches(iter(chunks), False, 2, str(tmp_path)))
    numbers = [store_module._batch_number(batch.files["runs"]) for batch in batches]
    assert numbers == list(range(len(chunks)))
    for number, batch in enumerate(batches):
        staged = pq.read_table(batch.files["runs"]).column("run_id").to_pylist()
        assert staged == [record["runId"] for record in chunks[number][3]]


@pytest.mark.parametrize("workers", [1, 2])
def test_runs_repeated_across_batches_or_stored_are_written_once(tmp_path, monkeypatch, workers):
    """Batches are staged whole; runs a later batch repeats, or the store holds already,
    are left out of that batch's insert, and replaced runs are written once."""
    import runreplay
    from runreplay import store as store_module

    monkeypatch.setattr(store_module, "BATCH_RECORDS", 3)
    records = [make_record(f"run-{i:03d}", output={"rows": i}) for i in range(8)]
    path = tmp_path / "runs.ndjson"  # batches: 0 1 2 | 3 4 2 (again) | 5 6 7
    path.write_bytes(b"".join(line(record) for record in records[:5] + records[2:3] + records[5:]))
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records([records[0], make_record("run-001", status="FAILED")])
        result = store.load(path, replace=True, workers=workers)
        assert (result.runs, result.skipped, result.replaced) == (7, 2, 1)
        per_run = len(records[0]["history"]), len(records[0]["assets"])
        assert (result.events, result.assets) == (7 * per_run[0], 7 * per_run[1])
        assert (
            result.fields
            == store.counts()["run_fields"]
            - store.sql("SELECT count(*) AS n FROM run_fields WHERE run_id = 'run-000'")["n"][0]
        )
        with runreplay.open(tmp_path / "reference.duckdb") as reference:
            reference.load_records(records)
            loaded, expected = contents(store), contents(reference)
            hashes = "SELECT run_id, content_hash FROM runs ORDER BY run_id"
            assert store.sql(hashes).equals(reference.sql(hashes))
    for table in ("run_events", "asset_snapshots", "run_fields"):  # runs.source differs
        assert loaded[table] == expected[table], table


@pytest.mark.parametrize("read_bytes", [7, 300, 5000, ingest.READ_BYTES])
def test_lines_split_across_read_blocks_keep_their_numbers(tmp_path, monkeypatch, read_bytes):
    """NDJSON is read in blocks: lines, blank lines, over-long lines and a last line without
    a newline come out with the same numbers whatever the block size."""
    import runreplay

    monkeypatch.setattr(ingest, "READ_BYTES", read_bytes)
    monkeypatch.setattr(ingest, "MAX_RECORD_BYTES", 4096)
    huge = line(make_record("run-102", parameters={"blob": "x" * 20_000}))
    crlf = orjson.dumps(make_record("run-103")) + b"\r\n"
    last = orjson.dumps(make_record("run-104"))  # no newline at the end of the file
    path = tmp_path / "blocks.ndjson"
    path.write_bytes(GOOD_1 + b"\n  \r\n" + huge + GOOD_2 + b"{broken\n" + crlf + last)
    with runreplay.open(tmp_path / "s.duckdb") as store:
        result = store.load(path, on_error="skip", workers=1)
        assert [(error.line, str(error).split(": ", 1)[1][:24]) for error in result.errors] == [
            (4, "the line is longer than "),
            (6, "not valid JSON at column"),
        ]
        assert sorted(store.runs()["run_id"]) == ["run-100", "run-101", "run-103", "run-104"]


def test_a_file_of_blank_lines_holds_no_record(store, tmp_path):
    path = tmp_path / "blank.ndjson"
    path.write_bytes(b"\n \n\r\n")
    with pytest.raises(InvalidRunRecord, match="blank.ndjson line 1: the file holds no run record"):
        store.load(path)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.text(" \r\tab{}é", max_size=12).map(str.encode), max_size=12),
    newline_at_end=st.booleans(),
    read_bytes=st.integers(1, 40),
    size=st.integers(1, 5),
    max_bytes=st.integers(1, 10),
    gzipped=st.booleans(),
    bom=st.booleans(),
)
def test_ndjson_chunks_hand_on_every_line_with_its_number(
    tmp_path_factory, pieces, newline_at_end, read_bytes, size, max_bytes, gzipped, bom
):
    """Whatever the block size, chunk size and line limit, from a plain file (as spans of
    it) or a gzip one (as bytes), with a byte order mark at the start or not: every line
    comes out once, in order, with its number (the BOM is not part of line 1); a line over
    the limit is a problem at its number; a file of blank lines (none over the limit) is
    one problem at line 1."""
    content = b"\n".join(pieces) + (b"\n" if newline_at_end and pieces else b"")
    lines = content.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # after the last newline
    expected = [
        (number, "too long" if len(text) > max_bytes else text)
        for number, text in enumerate(lines, start=1)
    ]
    if all(not text.strip() and len(text) <= max_bytes for text in lines):
        expected.append((1, "no record"))
    path = tmp_path_factory.mktemp("chunks") / ("lines.ndjson.gz" if gzipped else "lines.ndjson")
    written = codecs.BOM_UTF8 + content if bom else content
    path.write_bytes(gzip.compress(written) if gzipped else written)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest, "READ_BYTES", read_bytes)
        patch.setattr(ingest, "MAX_RECORD_BYTES", max_bytes)
        chunks = list(ingest.read_chunks(path, size))
    got = []
    for index, (source, unit, numbers, records) in enumerate(chunks):
        assert (source, unit) == (str(path), "line") and 0 < len(numbers) <= size
        if type(records) is not list and index + 1 < len(chunks):  # lines up to a problem
            assert len(numbers) == size or type(chunks[index + 1][3]) is list
        if type(records) is ingest.Span:
            assert not gzipped
            records = records.read()
        elif type(records) is bytes:
            assert gzipped and records.endswith(b"\n")
            records = records.split(b"\n")[:-1]
        for number, record in zip(numbers, records, strict=True):
            if isinstance(record, ingest.RecordProblem):
                assert record.line == number
                record = "too long" if "longer than" in record.message else "no record"
            got.append((number, record))
    assert got == expected


def test_a_file_changed_between_cutting_and_reading_is_a_clear_error(tmp_path):
    """A plain NDJSON file is cut into spans, which build_batch reads (maybe in a worker):
    if the file changed in between, the lines would not be the ones counted."""
    path = tmp_path / "runs.ndjson"
    path.write_bytes(b"".join(line(make_record(f"run-{i}")) for i in range(4)))
    chunk = next(ingest.read_chunks(path, 10))
    assert type(chunk[3]) is ingest.Span and ingest.build_batch(chunk, staging=str(tmp_path))
    path.write_bytes(path.read_bytes().replace(b'"run-1"', b'"run-1",\n"x": 1'))
    with pytest.raises(SourceError, match="runs.ndjson' changed while it was being loaded"):
        ingest.build_batch(chunk, staging=str(tmp_path))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SourceError, match="changed while it was being loaded"):
        ingest.build_batch(chunk, staging=str(tmp_path))


def test_leaves_are_added_exactly_as_flatten_lists_them():
    from runreplay.paths import flatten
    from tests.strategies import nested

    sections = [
        {"a": 1, "b c": {"x": [1, {}, [], {"y": None}]}, "p@10": 0.4, "新しい": "v"},
        {"long": list(range(300))},  # positions beyond the cached segments
        {"deep": nested(5000)},  # deeper than the interpreter's stack
    ]
    for section in sections:
        paths, values = [], []
        ingest.leaf_adder(paths, values)(section, "parameters")
        leaves = flatten(section, "parameters")
        assert paths == list(leaves) and values == list(leaves.values())


_section_keys = st.sampled_from(["parameters", "context", "output", "triggerPayload", "history"])
_sections = st.dictionaries(st.one_of(_section_keys, json_keys), json_values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    parameters=_sections,
    context=_sections,
    output=_sections,
    trigger=_sections,
    payload=_sections,
    extra=_sections,
)
def test_sections_cut_from_the_record_text_equal_their_own_json(
    parameters, context, output, trigger, payload, extra
):
    """Whatever keys the sections, an asset's payload or an unknown top-level key hold
    (section names included): a cut, when there is one, is each section's own JSON."""
    record = normalize_record(
        make_record(
            parameters=parameters,
            context=context,
            output=output,
            triggerPayload=trigger,
            assets=[{"assetKey": "a", "payload": payload}],
            zExtra=extra,
        )
    )
    texts = ingest.section_texts(orjson.dumps(record))
    if texts is not None:  # None: a section holds a nested key such as "context"
        expected = [orjson.dumps(record[key]) for key in OBJECT_SECTIONS]
        assert list(texts) == expected
    plain = normalize_record(make_record())
    assert ingest.section_texts(orjson.dumps(plain)) is not None


def test_run_fields_hold_each_leaf_as_its_own_json_text(store):
    leaves = {"f": 1.0, "e": 1e16, "t": 1e-7, "i": 1, "b": True, "n": None, "s": 'é"\n,',
              "big": 2**70, "o": {}, "a": [], "neg": -0.0}  # fmt: skip
    store.load_records([make_record("run-1", parameters=leaves)])
    stored = dict(
        store.connection.execute(
            "SELECT path, value FROM run_fields WHERE section = 'parameters'"
        ).fetchall()
    )
    assert stored == {f"parameters.{key}": model.dumps(value) for key, value in leaves.items()}
    store.load_records([make_record("run-2", parameters={k: leaves[k] for k in "feitbnsoa"})])
    stored = dict(
        store.connection.execute(
            "SELECT path, value FROM run_fields WHERE run_id = 'run-2' AND section = 'parameters'"
        ).fetchall()
    )
    assert stored == {
        f"parameters.{key}": orjson.dumps(leaves[key]).decode() for key in "feitbnsoa"
    }


def test_a_load_leaves_no_bookkeeping_table_behind(store, tmp_path):
    """Repeats are settled by queries over the staged files: no table outlives a load."""
    path = tmp_path / "runs.ndjson"
    path.write_bytes(line(make_record("run-1")) + line(make_record("run-1", status="FAILED")))
    leftover = "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE 'runreplay_load%'"
    with pytest.raises(DuplicateRunError, match="runs.ndjson line 2"):
        store.load(path)
    assert store.sql(leftover)["n"][0] == 0
    assert store.load(path, on_error="skip").runs == 1
    assert store.sql(leftover)["n"][0] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_runs_sharing_a_section_each_get_its_leaves(tmp_path, workers):
    """A batch flattens each distinct section text once and reuses the leaves: every run
    still gets exactly the leaves `flatten` lists for its own sections, under its own id."""
    import runreplay
    from runreplay.paths import flatten

    shared = {"batchSize": 500, "model": {"name": "xgb", "depth": [6, {}]}}
    variants = [shared, {"batchSize": 500.0, "model": {"name": "xgb", "depth": [6, {}]}}, {}]
    records = [
        make_record(f"run-{i:03d}", parameters=variants[i % 3], output={"rows": i % 2})
        for i in range(12)
    ]
    path = tmp_path / "runs.ndjson"
    path.write_bytes(b"".join(line(record) for record in records))
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load(path, workers=workers)
        stored = store.connection.execute(
            "SELECT run_id, path, value, value_type FROM run_fields ORDER BY ALL"
        ).fetchall()
    expected = sorted(
        (record["runId"], path, model.dumps(value), ingest.value_type(value))
        for record in records
        for section in ingest.FIELD_SECTIONS
        for path, value in flatten(record[section], section).items()
        if record[section]
    )
    assert stored == expected
    assert ("run-001", "parameters.batchSize", "500.0", "float") in stored


def test_python_built_leaves_are_typed_as_the_json_they_are_written_as(store):
    """Records built in Python may hold numpy numbers, IntEnums or str subclasses: their
    run_fields rows say float, integer and string, as plain values do (drift compares
    value types, so "float64" would look like a type change)."""
    import enum

    import numpy as np

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    parameters = {"rate": np.float64(0.5), "level": Level.HIGH, "name": Name("xgb")}
    store.load_records([make_record("run-300", parameters=parameters)])
    stored = store.sql(
        "SELECT path, value, value_type FROM run_fields WHERE run_id = 'run-300' "
        "AND section = 'parameters' ORDER BY path"
    )
    assert stored.values.tolist() == [
        ["parameters.level", "3", "integer"],
        ["parameters.name", '"xgb"', "string"],
        ["parameters.rate", "0.5", "float"],
    ]
    assert [ingest.value_type(value) for value in (True, None, {}, [], 2**70)] == [
        "boolean",
        "null",
        "object",
        "array",
        "integer",
    ]


def test_a_section_that_rarely_repeats_is_flattened_without_the_memo(monkeypatch):
    """Past its trial a batch stops memoising a section whose texts do not repeat (each
    run's output) and keeps reusing one that does (shared parameters); either way each
    run gets exactly its own leaves."""
    from runreplay.paths import flatten

    monkeypatch.setattr(ingest, "_MEMO_TRIAL", 3)
    monkeypatch.setattr(ingest, "_MEMO_HIT_RATIO", 1)
    rows = ingest.RowBatch()
    records = [
        normalize_record(make_record(f"run-{i}", parameters={"k": i % 2}, output={"n": i}))
        for i in range(40)
    ]
    for record in records:
        text = orjson.dumps(record)
        rows.add(record, "digest", "src", is_normal=True, sections=ingest.section_texts(text))
    parameters, context, output = rows._flattened
    assert len(parameters) == 2 and rows._memo_hits[0] == 38
    assert len(output) == 4  # stopped once it held more than trial + ratio * repeats
    expected = [
        (record["runId"], path, value)
        for record in records
        for section in ingest.FIELD_SECTIONS
        if record[section]
        for path, value in flatten(record[section], section).items()
    ]
    fields = rows.tables()["run_fields"]
    run_ids, paths = fields.column("run_id").to_pylist(), fields.column("path").to_pylist()
    assert list(zip(run_ids, paths, rows.field_values, strict=True)) == expected


@pytest.fixture
def tiny_batches(monkeypatch):
    """Batches of two records, and the stored runs' keys listed however small the load."""
    from runreplay import store as store_module

    monkeypatch.setattr(store_module, "BATCH_RECORDS", 2)
    monkeypatch.setattr(store_module, "KNOWN_MIN_BYTES", 0)


STORED_RUN_1 = make_record("run-1")
CHANGED_RUN_1 = make_record("run-1", status="FAILED")


@pytest.mark.parametrize("workers", [1, 2])
def test_runs_the_store_holds_are_not_converted_again(tmp_path, monkeypatch, tiny_batches, workers):
    """A record the store holds with the same content is only checked and hashed: the
    batch lists it as seen, stages no rows for it, and the load counts it as skipped."""
    import runreplay

    records = [make_record(f"run-{i:03d}", output={"rows": i}) for i in range(5)]
    path = tmp_path / "runs.ndjson"
    path.write_bytes(b"".join(line(record) for record in records))
    built = []
    real_build = ingest.build_batch

    def spy(*args, **kwargs):
        batch = real_build(*args, **kwargs)
        built.append(batch)
        return batch

    monkeypatch.setattr(ingest, "build_batch", spy)
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records[:3])
        before = contents(store)
        built.clear()
        result = store.load(path, workers=1)  # in this process, so the spy sees the batches
        assert (result.runs, result.skipped) == (2, 3)
        assert [bool(batch.seen) for batch in built] == [True, True, False]
        assert sum("runs" in batch.files for batch in built) == 2  # run-003, then run-004
        monkeypatch.setattr(ingest, "build_batch", real_build)  # workers pickle it
        again = store.load(path, workers=workers)
        assert (again.runs, again.skipped, again.errors) == (0, 5, [])
        assert ingest._KNOWN == {}  # this process keeps no keys after a load
        after = contents(store)
    for table in ("run_events", "asset_snapshots", "run_fields"):
        assert set(before[table]) <= set(after[table])


@pytest.mark.parametrize("replace", [False, True])
def test_a_stored_run_repeated_with_other_content_in_the_load_is_still_a_duplicate(
    tmp_path, tiny_batches, replace
):
    """run-1 is stored; the file holds it unchanged on line 1 and changed on line 3 (another
    batch). Line 3 contradicts line 1 of the same load: an error even with replace=True."""
    import runreplay

    path = tmp_path / "runs.ndjson"
    path.write_bytes(line(STORED_RUN_1) + line(make_record("run-2")) + line(CHANGED_RUN_1))
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records([STORED_RUN_1])
        before = contents(store)
        with pytest.raises(DuplicateRunError, match="runs.ndjson line 3.*earlier in this load"):
            store.load(path, replace=replace)
        assert contents(store) == before
        result = store.load(path, replace=replace, on_error="skip")
        assert (result.runs, result.skipped, result.replaced) == (1, 1, 0)
        assert [error.line for error in result.errors] == [3]
        assert store.run("run-1")["status"] == STORED_RUN_1["status"]


def test_a_changed_run_then_its_stored_version_in_one_load(tmp_path, tiny_batches):
    """The file changes stored run-1 on line 1 and repeats the stored version on line 3:
    line 1 clashes with the store (replaced with replace=True), line 3 with line 1."""
    import runreplay

    path = tmp_path / "runs.ndjson"
    path.write_bytes(line(CHANGED_RUN_1) + line(make_record("run-2")) + line(STORED_RUN_1))
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records([STORED_RUN_1])
        result = store.load(path, on_error="skip")
        assert (result.runs, result.skipped) == (1, 0)
        assert [(error.line, "already in the store" in str(error)) for error in result.errors] == [
            (1, True),
            (3, False),
        ]
        result = store.load(path, on_error="skip", replace=True)
        assert (result.runs, result.replaced, result.skipped) == (1, 1, 1)  # run-2 is stored
        assert [error.line for error in result.errors] == [3]
        assert store.run("run-1")["status"] == "FAILED"


_pool = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from(["SUCCEEDED", "FAILED"])), max_size=12
)


@settings(max_examples=25, deadline=None)
@given(stored=_pool, loaded=_pool, replace=st.booleans())
def test_leaving_out_stored_runs_changes_no_outcome(tmp_path_factory, stored, loaded, replace):
    """Whatever mix of stored, repeated and changed runs a load holds, leaving out the runs
    the store holds already gives the same counts, errors and tables as converting all."""
    import runreplay
    from runreplay import store as store_module

    def records(pairs):
        return [make_record(f"run-{number}", status=status) for number, status in pairs]

    path = tmp_path_factory.mktemp("load") / "runs.ndjson"
    path.write_bytes(b"".join(line(record) for record in records(loaded)) or b"\n")
    outcomes = []
    for leave_out in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store_module, "BATCH_RECORDS", 3)
            patch.setattr(store_module, "KNOWN_MIN_BYTES", 0)
            if not leave_out:
                patch.setattr(store_module.Store, "_known_runs", lambda *args: None)
            with runreplay.open(tmp_path_factory.mktemp("s") / "s.duckdb") as store:
                store.load_records(records(stored), on_error="skip")
                try:
                    result = store.load(path, replace=replace, on_error="skip", workers=1)
                except InvalidRunRecord as error:
                    outcomes.append(str(error))
                    continue
                errors = [(error.line, str(error)) for error in result.errors]
                counts = (result.runs, result.skipped, result.replaced, result.fields)
                outcomes.append((counts, errors, contents(store)))
    assert outcomes[0] == outcomes[1]


def test_small_loads_do_not_list_the_stored_runs(store, tmp_path, monkeypatch):
    """Listing every stored run's key pays only for a load big enough next to the store."""
    from runreplay import store as store_module

    store.load_records([make_record("run-1"), make_record("rün-ß✓")])  # keys hash UTF-8
    with tempfile.TemporaryDirectory() as staging:
        assert store._known_runs(staging, load_bytes=1024) is None  # below KNOWN_MIN_BYTES
        monkeypatch.setattr(store_module, "KNOWN_MIN_BYTES", 0)
        assert store._known_runs(staging, load_bytes=2 * 64 - 1) is None  # store too big
        path = store._known_runs(staging, load_bytes=2 * 64)
        keys = pq.read_table(path).column(0).to_pylist()
    stored = store.sql("SELECT run_id, content_hash FROM runs")
    assert sorted(keys) == sorted(
        ingest.known_key(row.run_id, row.content_hash) for row in stored.itertuples()
    )


def test_building_batch_after_batch_keeps_no_rows_alive(tmp_path):
    """A worker builds batch after batch with the cycle collector mostly idle: whatever a
    batch allocated for its rows must be freed by reference counting alone."""
    import gc
    import sys

    records = [
        line(make_record(f"run-{i}", parameters={"a": i, "b": [i, f"v{i}"]}, output={"n": i}))
        for i in range(300)
    ]
    chunk = (str(tmp_path / "runs.ndjson"), "line", range(1, 301), records)
    gc.collect()
    gc.disable()
    try:
        ingest.build_batch(chunk, False, str(tmp_path), 0)
        before = sys.getallocatedblocks()
        for number in range(1, 6):
            ingest.build_batch(chunk, False, str(tmp_path), number)
        grown = sys.getallocatedblocks() - before
    finally:
        gc.enable()
    assert grown < 3000, grown  # without release(): 8,000 and more (the rows stay alive)

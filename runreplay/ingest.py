"""Reading run records from files and building the stored rows, streamed in batches.

Sources are files, globs or directories of NDJSON (`.ndjson`, `.jsonl`, optionally `.gz`),
JSON (one record or an array, `.json`, optionally `.gz`) and Parquet (`.parquet`). NDJSON
and Parquet are read in bounded batches so memory does not grow with the file; a JSON
array is parsed whole (export NDJSON for very large histories).

`read_source` yields `(number, record_or_problem)` pairs so a caller can stop at the first
problem or skip bad records; `RowBatch` turns normalised records into the column lists the
store inserts through Arrow.
"""

from __future__ import annotations

import contextlib
import gc
import glob as globlib
import gzip
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from runreplay.errors import InvalidRunRecord, RecordProblem, SourceError
from runreplay.model import OBJECT_SECTIONS, dumps, extra_of, format_timestamp, normalize_record
from runreplay.paths import flatten

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = NDJSON_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES

MAX_RECORD_BYTES = 64 * 1024 * 1024
"""A single NDJSON line longer than this is refused rather than read into memory."""

FIELD_SECTIONS = ("parameters", "context", "output")
"""The sections whose leaves go into run_fields (drift analyses these)."""


@dataclass
class LoadResult:
    """What one `Store.load` / `Store.load_records` call did."""

    runs: int = 0
    events: int = 0
    assets: int = 0
    fields: int = 0
    skipped: int = 0
    replaced: int = 0
    errors: list[InvalidRunRecord] = field(default_factory=list)
    seconds: float = 0.0
    sources: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"loaded {self.runs} run(s) ({self.events} events, {self.assets} asset snapshots, "
            f"{self.fields} fields) in {self.seconds:.2f} s; {self.skipped} identical skipped"
        )
        if self.replaced:
            text += f", {self.replaced} replaced"
        if self.errors:
            text += f"; {len(self.errors)} bad record(s) skipped"
        return text


def _has_suffix(path: str, suffixes: tuple[str, ...]) -> bool:
    return path.lower().endswith(suffixes)


def expand_sources(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """Resolve paths, globs and directories into the ordered list of files to read."""
    files: list[Path] = []
    for source in sources:
        text = os.fspath(source)
        if any(char in text for char in "*?["):
            matched = sorted(globlib.glob(text, recursive=True))
            if not matched:
                raise SourceError(f"the glob {text!r} matches no file; check the pattern")
            files.extend(Path(m) for m in matched if _has_suffix(m, SUPPORTED_SUFFIXES))
            continue
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and _has_suffix(p.name, SUPPORTED_SUFFIXES)
            )
            if not found:
                raise SourceError(
                    f"the directory {text!r} holds no run files "
                    f"({', '.join(SUPPORTED_SUFFIXES)}); point at the export folder"
                )
            files.extend(found)
        elif path.is_file():
            if not _has_suffix(path.name, SUPPORTED_SUFFIXES):
                raise SourceError(
                    f"{text!r} is not a supported run export; use one of "
                    f"{', '.join(SUPPORTED_SUFFIXES)} (rename NDJSON files to .ndjson)"
                )
            files.append(path)
        else:
            raise SourceError(f"no such file or directory: {text!r}")
    return files


class _Progress:
    """Counts bytes read so a progress bar can follow a stream (no-op without a bar)."""

    def __init__(self, bar: Any | None):
        self.bar = bar
        self.done = 0

    def advance_to(self, position: int, base: int) -> None:
        if self.bar is not None and base + position > self.done:
            self.bar.update(base + position - self.done)
            self.done = base + position


def read_source(path: Path, progress: _Progress | None = None, base: int = 0) -> Iterator[tuple]:
    """Yield `(unit, number, record)` for every record of one file.

    `number` is the 1-based line (NDJSON), record (JSON array) or row (Parquet). `record` is
    a dict, the raw bytes of an NDJSON line (parsed later, maybe in a worker process), or a
    `RecordProblem` standing in for a record that cannot be read.
    """
    name = path.name.lower()
    try:
        if name.endswith(NDJSON_SUFFIXES):
            yield from _read_ndjson(path, progress, base)
        elif name.endswith(JSON_SUFFIXES):
            yield from _read_json(path)
        else:
            yield from _read_parquet(path)
    except OSError as error:
        raise SourceError(f"cannot read {str(path)!r}: {error.strerror or error}") from None


def _read_ndjson(path: Path, progress: _Progress | None, base: int) -> Iterator[tuple]:
    with open(path, "rb") as raw:
        stream: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        )
        number = 0
        any_record = False
        try:
            while True:
                line = stream.readline(MAX_RECORD_BYTES + 1)
                if not line:
                    break
                number += 1
                if progress is not None and number % 512 == 0:
                    progress.advance_to(raw.tell(), base)
                if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                    _skip_rest_of_line(stream)
                    yield (
                        "line",
                        number,
                        RecordProblem(
                            f"the line is longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB; "
                            "a run record should be far smaller: check the export is NDJSON "
                            "(one record per line)",
                            source=str(path),
                            line=number,
                        ),
                    )
                    any_record = True
                    continue
                if not line.strip():
                    continue
                any_record = True
                yield "line", number, line
        except (gzip.BadGzipFile, EOFError) as error:
            yield (
                "line",
                number + 1,
                RecordProblem(
                    f"the gzip stream is corrupt ({error}); re-export the file",
                    source=str(path),
                    line=number + 1,
                ),
            )
            return
        if progress is not None:
            progress.advance_to(raw.tell(), base)
        if not any_record:
            yield (
                "line",
                1,
                RecordProblem(
                    "the file holds no run record; expected one JSON object per line",
                    source=str(path),
                    line=1,
                ),
            )


def _skip_rest_of_line(stream: io.BufferedIOBase) -> None:
    while True:
        chunk = stream.readline(1024 * 1024)
        if not chunk or chunk.endswith(b"\n"):
            return


def _read_json(path: Path) -> Iterator[tuple]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        content = stream.read()
    if not content.strip():
        yield (
            "record",
            1,
            RecordProblem(
                "the file is empty; expected a run record or an array of run records",
                source=str(path),
                line=1,
            ),
        )
        return
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        line = content[: error.pos].count(b"\n") + 1 if error.pos is not None else None
        yield (
            "line",
            line,
            RecordProblem(
                f"not valid JSON ({error.msg} at character {error.pos}); fix the file",
                source=str(path),
                line=line,
            ),
        )
        return
    if isinstance(document, dict):
        yield "record", 1, document
    elif isinstance(document, list):
        if not document:
            yield (
                "record",
                1,
                RecordProblem("the array is empty; expected run records", source=str(path), line=1),
            )
        for index, record in enumerate(document, start=1):
            yield "record", index, record
    else:
        yield (
            "record",
            1,
            RecordProblem(
                "expected a run record (an object) or an array of them, "
                f"got a JSON {type(document).__name__}",
                source=str(path),
                line=1,
            ),
        )


def _read_parquet(path: Path) -> Iterator[tuple]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        yield (
            "row",
            1,
            RecordProblem(f"not a readable Parquet file ({error})", source=str(path), line=1),
        )
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=2048):
        for row in batch.to_pylist():
            number += 1
            yield "row", number, _from_parquet_row(row)
    if number == 0:
        yield "row", 1, RecordProblem("the file holds no rows", source=str(path), line=1)


_JSON_COLUMNS = frozenset(OBJECT_SECTIONS + ("history", "assets"))


def _from_parquet_row(row: dict) -> dict:
    """Parquet rows hold nested fields as JSON text or as structs; timestamps as datetimes."""
    record = {}
    for key, value in row.items():
        if key in _JSON_COLUMNS and isinstance(value, str | bytes):
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(value)  # a string that is not JSON: validation names it
        record[key] = _plain(value)
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def content_hash(record: dict) -> str:
    """A digest of a normalised record: equal digests mean an identical record."""
    return hashlib.blake2b(dumps(record).encode(), digest_size=16).hexdigest()


def value_type(value: Any) -> str:
    """The JSON type of a leaf as stored in run_fields.value_type."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "boolean"
    if kind is int:
        return "integer"
    if kind is float:
        return "float"
    if kind is str:
        return "string"
    if kind is dict:
        return "object"
    if kind is list:
        return "array"
    return kind.__name__


@dataclass
class Batch:
    """What `build_batch` made of a chunk of records: staged Parquet files for the store.

    `files` maps each table to the Parquet file holding the chunk's rows for it (empty when
    no record was accepted). `entries` lists the accepted records in order as (run_id,
    digest, source, unit, number, events, assets, fields) — the last three count the rows
    the record put in run_events, asset_snapshots and run_fields. `problems` lists the
    rejected records as (RecordProblem, is_duplicate) — problems, not exceptions, so a batch
    built in a worker process pickles cleanly.
    """

    files: dict[str, str]
    entries: list[tuple[str, str, str, str, int, int, int, int]]
    problems: list[tuple[RecordProblem, bool]]
    skipped: int = 0


def build_batch(
    items: list[tuple], check_json: bool = False, staging: str = ".", number: int = 0
) -> Batch:
    """Parse, validate and normalise a chunk of `(source, unit, number, record)` items and
    stage its rows as Parquet files `{table}-{number}.parquet` in the `staging` directory.

    Runs in this process or in a worker process (so the store's process neither converts
    nor writes the rows). Records repeated within the chunk are skipped when identical and
    rejected when their content differs.
    """
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived containers: GC passes would cost ~40 %
    try:
        rows = RowBatch()
        entries: list[tuple[str, str, str, str, int, int, int, int]] = []
        problems: list[tuple[RecordProblem, bool]] = []
        seen: dict[str, tuple[str, int]] = {}
        skipped = 0
        for source, unit, line, raw in items:
            if isinstance(raw, bytes):
                try:
                    raw = orjson.loads(raw)
                except orjson.JSONDecodeError as error:
                    raw = RecordProblem(
                        f"not valid JSON ({error}); fix or remove this line",
                        source=source,
                        line=line,
                    )
            if isinstance(raw, RecordProblem):
                raw.unit = unit
                problems.append((raw, False))
                continue
            try:
                record = normalize_record(raw, source=source, line=line, check_json=check_json)
            except InvalidRunRecord as error:
                error.problem.unit = unit
                problems.append((error.problem, False))
                continue
            digest = content_hash(record)
            run_id = record["runId"]
            first = seen.get(run_id)
            if first is not None:
                if first[0] == digest:
                    skipped += 1
                else:
                    problems.append((duplicate_problem(run_id, source, unit, line, first[1]), True))
                continue
            seen[run_id] = (digest, line)
            counts = rows.add(record, digest, source)
            entries.append((run_id, digest, source, unit, line, *counts))
        files = {}
        if rows.count:
            for name, table in rows.tables().items():
                path = os.path.join(staging, f"{name}-{number:06d}.parquet")
                pq.write_table(table, path, compression="none")
                files[name] = path
        return Batch(files, entries, problems, skipped)
    finally:
        if collecting:
            gc.enable()


def duplicate_problem(
    run_id: str, source: str, unit: str, number: int, first_number: int | str
) -> RecordProblem:
    """The problem of a runId that appears twice in one load with different content."""
    first = first_number if isinstance(first_number, str) else f"{unit} {first_number}"
    return RecordProblem(
        f"the same runId appeared earlier in this load ({first}) with different content; "
        "keep one version of the run",
        source=source,
        line=number,
        run_id=run_id,
        field="runId",
        unit=unit,
    )


_RUN_TIME_COLUMNS = ("created_at", "started_at", "finished_at")
_TIMESTAMP = pa.timestamp("us", tz="UTC")


class RowBatch:
    """Rows for the four tables, filled from normalised records (tuples per row; run_fields
    as columns, filled by C-level maps: it has ~20 rows per run)."""

    def __init__(self) -> None:
        self.runs: list[tuple] = []
        self.events: list[tuple] = []
        self.assets: list[tuple] = []
        self.field_run_ids: list[str] = []
        self.field_sections: list[str] = []
        self.field_paths: list[str] = []
        self.field_values: list[str] = []
        self.field_types: list[str] = []
        self.count = 0

    def add(self, record: dict, digest: str, source: str) -> tuple[int, int, int]:
        """Add one record's rows; returns how many events, assets and fields it has."""
        run_id = record["runId"]
        fields_before = len(self.field_paths)
        extra = extra_of(record)
        self.runs.append(
            (
                run_id,
                record["workflowId"],
                record["runKey"],
                record["partitionKey"],
                record["status"],
                record["createdAt"],
                record["startedAt"],
                record["finishedAt"],
                record["replayOf"],
                dumps(record["parameters"]),
                dumps(record["context"]),
                dumps(record["output"]),
                dumps(record["triggerPayload"]),
                dumps(extra) if extra else None,
                digest,
                source,
            )
        )
        append_event = self.events.append
        for position, event in enumerate(record["history"]):
            unknown = None
            if len(event) > 3 and not _EVENT_KNOWN.issuperset(event):
                unknown = dumps({k: v for k, v in event.items() if k not in _EVENT_KNOWN})
            append_event(
                (
                    run_id,
                    position,
                    event["seq"],
                    event["at"],
                    event["status"],
                    event.get("step"),
                    event.get("attempt"),
                    event.get("message"),
                    unknown,
                )
            )
        for position, asset in enumerate(record["assets"]):
            freshness = asset.get("freshness")
            payload = asset.get("payload")
            known = freshness or {}
            lag = known.get("maxLagMinutes")
            unknown = {k: v for k, v in asset.items() if k not in _ASSET_KNOWN}
            self.assets.append(
                (
                    run_id,
                    position,
                    asset["assetKey"],
                    asset.get("materializedAt"),
                    None if payload is None else dumps(payload),
                    None if freshness is None else dumps(freshness),
                    known.get("lastUpdated"),
                    None if lag is None else float(lag),
                    known.get("stale"),
                    dumps(unknown) if unknown else None,
                )
            )
        for section in FIELD_SECTIONS:
            if not record[section]:
                continue  # an empty section has no fields
            leaves = flatten(record[section], section)
            count = len(leaves)
            self.field_run_ids.extend(repeat(run_id, count))
            self.field_sections.extend(repeat(section, count))
            self.field_paths.extend(leaves)
            values = leaves.values()
            self.field_values.extend(map(dumps, values))
            self.field_types.extend(map(_VALUE_TYPES.__getitem__, map(type, values)))
        self.count += 1
        return len(record["history"]), len(record["assets"]), len(self.field_paths) - fields_before

    def tables(self) -> dict[str, pa.Table]:
        """Arrow tables for runs, run_events, asset_snapshots and run_fields."""
        fields = {
            "run_id": self.field_run_ids,
            "section": self.field_sections,
            "path": self.field_paths,
            "value": self.field_values,
            "value_type": self.field_types,
        }
        return {
            "runs": _table(_columns(self.runs, RUN_COLUMNS), RUN_COLUMNS, _RUN_TIME_COLUMNS),
            "run_events": _table(_columns(self.events, EVENT_COLUMNS), EVENT_COLUMNS, ("at",)),
            "asset_snapshots": _table(
                _columns(self.assets, ASSET_COLUMNS),
                ASSET_COLUMNS,
                ("materialized_at", "last_updated"),
            ),
            "run_fields": _table(fields, FIELD_COLUMNS, ()),
        }


def _columns(rows: list[tuple], names: tuple[str, ...]) -> dict[str, Any]:
    """Row tuples as {column name: values}."""
    if not rows:
        return {name: [] for name in names}
    return dict(zip(names, zip(*rows, strict=True), strict=True))


_VALUE_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    dict: "object",
    list: "array",
}
"""run_fields.value_type by Python type of a parsed JSON leaf (see value_type)."""


_EVENT_KNOWN = frozenset(("seq", "at", "status", "step", "attempt", "message"))
_ASSET_KNOWN = frozenset(("assetKey", "materializedAt", "payload", "freshness"))

RUN_COLUMNS = (
    "run_id", "workflow_id", "run_key", "partition_key", "status", "created_at", "started_at",
    "finished_at", "replay_of", "parameters", "context", "output", "trigger_payload", "extra",
    "content_hash", "source",
)  # fmt: skip
EVENT_COLUMNS = ("run_id", "position", "seq", "at", "status", "step", "attempt", "message", "extra")
ASSET_COLUMNS = (
    "run_id", "position", "asset_key", "materialized_at", "payload", "freshness",
    "last_updated", "max_lag_minutes", "stale_flag", "extra",
)  # fmt: skip
FIELD_COLUMNS = ("run_id", "section", "path", "value", "value_type")

_ARROW_TYPES = {
    "seq": pa.int64(),
    "attempt": pa.int64(),
    "position": pa.int32(),
    "max_lag_minutes": pa.float64(),
    "stale_flag": pa.bool_(),
}


def _table(columns: dict[str, list], names: tuple[str, ...], times: tuple[str, ...]) -> pa.Table:
    arrays = []
    for name in names:
        values = columns[name]
        if name in times:
            arrays.append(pa.array(values, pa.string()).cast(_TIMESTAMP))
        else:
            arrays.append(pa.array(values, _ARROW_TYPES.get(name, pa.string())))
    return pa.Table.from_arrays(arrays, names=list(names))

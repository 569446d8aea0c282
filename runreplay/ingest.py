"""Reading run records from files and building the stored rows, streamed in batches.

Sources are files, globs or directories of NDJSON (`.ndjson`, `.jsonl`, optionally `.gz`),
JSON (one record or an array, `.json`, optionally `.gz`) and Parquet (`.parquet`). NDJSON
and Parquet are read in bounded batches so memory does not grow with the file; a JSON
array is parsed whole (export NDJSON for very large histories).

`read_chunks` yields a file's records in chunks (NDJSON as raw lines, so the reading
process does no work per line); `build_batch` parses, validates and normalises a chunk —
in this process or a worker — collecting problems so a caller can stop at the first or skip
bad records, and stages the rows `RowBatch` builds as Parquet for the store to insert.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import gzip
import hashlib
import math
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from runreplay.errors import InvalidRunRecord, RecordProblem, SourceError
from runreplay.model import (
    FIELD_SECTIONS,
    NORMAL_KEYS,
    OBJECT_SECTIONS,
    dumps,
    extra_of,
    format_timestamp,
    normalize_record,
)
from runreplay.paths import flatten, key_segment
from runreplay.paths import join as join_path
from runreplay.sources import JSON_SUFFIXES, NDJSON_SUFFIXES

MAX_RECORD_BYTES = 64 * 1024 * 1024
"""A single NDJSON line longer than this is refused rather than read into memory."""

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

    COUNTERS: ClassVar = ("runs", "events", "assets", "fields")
    """The counts of rows written, in the order of the tables runs, run_events,
    asset_snapshots and run_fields."""

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


class _Progress:
    """Counts bytes read so a progress bar can follow a stream (no-op without a bar)."""

    def __init__(self, bar: Any | None):
        self.bar = bar
        self.done = 0

    def advance_to(self, position: int, base: int) -> None:
        if self.bar is not None and base + position > self.done:
            self.bar.update(base + position - self.done)
            self.done = base + position


Chunk = tuple[str, str, Sequence[int], "list | bytes | Span"]
"""`(source, unit, numbers, records)`: consecutive records of one file, in the form
`build_batch` takes. `unit` is "line" (NDJSON, or where a JSON file fails to parse),
"record" (JSON) or "row" (Parquet); `numbers` are the 1-based line, record or row numbers.
`records` is a list of records (dicts) and of `RecordProblem`s standing in for records
that cannot be read, or, for NDJSON, its lines (blank lines included) as one object: the
`Span` of the file they fill (a plain file), or the bytes read, each line ending in a
newline (a gzip file). `build_batch` splits and parses them, maybe in a worker process, so
the reading process does no work per line and hands on one small object per chunk."""


class Span(NamedTuple):
    """Whole NDJSON lines of a plain file, by position: the process that builds the batch
    reads them itself (a worker, from the page cache) rather than being sent them through
    a pipe: ~0.15 s less CPU per 100k runs, the two processes together. The last line of a
    file may lack its newline: the span counts one."""

    path: str
    offset: int
    length: int
    lines: int

    def read(self) -> list[bytes]:
        """The lines, without their newlines; a SourceError if the file changed since it
        was cut into spans."""
        with open(self.path, "rb") as stream:
            data = os.pread(stream.fileno(), self.length, self.offset)
        if len(data) == self.length - 1 and not data.endswith(b"\n"):
            data += b"\n"  # the file's last line, without a newline
        lines = data.split(b"\n")
        if len(data) != self.length or len(lines) != self.lines + 1 or lines.pop():
            raise SourceError(
                f"{self.path!r} changed while it was being loaded; load it again once "
                "whatever writes it has finished"
            )
        return lines


READ_BYTES = 4 * 1024 * 1024
"""NDJSON is read in blocks of this size, cut at the last newline."""


def read_chunks(
    path: Path, size: int, progress: _Progress | None = None, base: int = 0
) -> Iterator[Chunk]:
    """Yield the records of one file in chunks of at most `size` (see `Chunk`).

    NDJSON is read in blocks and handed on as the bytes of whole lines, so the reading
    process does no work per line: splitting, parsing and checking happen in `build_batch`.
    """
    name = path.name.lower()
    source = str(path)
    try:
        if name.endswith(NDJSON_SUFFIXES):
            yield from _ndjson_chunks(path, source, size, progress, base)
        elif name.endswith(JSON_SUFFIXES):
            yield from group_records(_read_json(path), source, size)
        else:
            yield from group_records(_read_parquet(path), source, size)
    except OSError as error:
        raise SourceError(f"cannot read {source!r}: {error.strerror or error}") from None


def group_records(items: Iterable[tuple], source: str, size: int) -> Iterator[Chunk]:
    """Group `(unit, number, record)` items into chunks of at most `size`."""
    unit, numbers, records = None, [], []
    for item_unit, number, record in items:
        if records and (len(records) >= size or item_unit != unit):
            yield source, unit, numbers, records
            numbers, records = [], []
        unit = item_unit
        numbers.append(number)
        records.append(record)
    if records:
        yield source, unit, numbers, records


class _PendingLines:
    """Whole NDJSON lines read but not handed on yet, cut into chunks of exactly `size`
    lines with C-level searches (no object per line). With `spans` (`source` is a plain
    file) a chunk is the `Span` its lines fill in the file, and only their count and extent
    are kept; without (a gzip stream), the bytes read are kept and handed on."""

    def __init__(self, source: str, size: int, spans: bool = False) -> None:
        self.source = source
        self.size = size
        self.spans = spans
        self.parts: list[bytes] = []  # each holds whole lines, each line ending in b"\n"
        self.offset = 0  # with spans: where the lines held start in the file...
        self.length = 0  # ...and how many bytes they take
        self.count = 0  # lines held
        self.first = 1  # the line number of the first line held
        self.refused = 0  # lines refused with a problem

    @property
    def next_number(self) -> int:
        """The line number of the next line read."""
        return self.first + self.count

    def add(self, lines: bytes, at: int = 0) -> Iterator[Chunk]:
        """Take `lines` (whole lines, the last ending in a newline), found at offset `at` of
        the file; yield the chunks that fill up."""
        count = lines.count(b"\n")
        start = 0
        while self.count + count >= self.size:
            take = self.size - self.count
            end = start
            for _ in range(take):  # just past the take-th newline from start
                end = lines.index(b"\n", end) + 1
            self._hold(lines, start, end, at, take)
            yield from self.flush()
            start, count = end, count - take
        if count:
            self._hold(lines, start, len(lines), at, count)

    def _hold(self, lines: bytes, start: int, end: int, at: int, count: int) -> None:
        if not self.spans:
            self.parts.append(lines[start:end] if start or end < len(lines) else lines)
        else:
            if not self.count:  # held lines are consecutive: a refused line flushes first
                self.offset = at + start
            self.length += end - start
        self.count += count

    def flush(self) -> Iterator[Chunk]:
        """Yield the lines held as one chunk (nothing when none are held)."""
        if self.count:
            numbers = range(self.first, self.next_number)
            if self.spans:
                lines: bytes | Span = Span(self.source, self.offset, self.length, self.count)
            else:
                lines = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            yield self.source, "line", numbers, lines
            self.first = self.next_number
            self.parts, self.length, self.count = [], 0, 0

    def problem(self, message: str) -> Iterator[Chunk]:
        """Yield the held lines, then a chunk of one problem at the next line."""
        yield from self.flush()
        found = RecordProblem(message, source=self.source, line=self.first)
        yield self.source, "line", [self.first], [found]
        self.first += 1
        self.refused += 1


_NON_BLANK = re.compile(rb"\S")

_BOM = codecs.BOM_UTF8
"""A UTF-8 byte order mark: skipped at the very start of an NDJSON or JSON file (Windows
tools write one), refused anywhere else."""

_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
"""What reading a damaged gzip stream raises: a bad header or CRC, an early end, a corrupt
deflate block."""


def _gzip_corrupt_message(error: Exception) -> str:
    return f"the gzip stream is corrupt ({error}); re-export the file"


class _GzipBlocks:
    """Reads of a gzip stream that return every byte decoded before the stream breaks,
    then raise. GzipFile.read(n) raises as it meets the damage and drops what it decoded
    in that call (up to READ_BYTES): the lines there were lost under on_error="skip" and
    the error named the line where the read began."""

    def __init__(self, stream: gzip.GzipFile) -> None:
        self.stream = stream
        self.broken: BaseException | None = None

    def read(self, size: int) -> bytes:
        if self.broken is not None:
            raise self.broken
        parts, got = [], 0
        try:
            while got < size:
                part = self.stream.read1(size - got)
                if not part:
                    break
                parts.append(part)
                got += len(part)
        except _GZIP_ERRORS as error:
            if not parts:
                raise
            self.broken = error  # raised by the next read, once these lines are in
        return b"".join(parts)


def _ndjson_chunks(
    path: Path, source: str, size: int, progress: _Progress | None, base: int
) -> Iterator[Chunk]:
    gzipped = path.name.lower().endswith(".gz")
    with open(path, "rb") as raw:
        stream: Any = _GzipBlocks(gzip.GzipFile(fileobj=raw)) if gzipped else raw
        pending = _PendingLines(source, size, spans=not gzipped)
        carry: list[bytes] = []  # the start of a line whose end is not read yet
        carried = 0  # its length
        carry_at = 0  # where it starts in the file (plain files)
        position = 0  # where the next block starts in the file (plain files)
        skipping = False  # inside a line longer than MAX_RECORD_BYTES, not kept
        any_record = False
        try:
            head = stream.read(len(_BOM))  # a BOM is skipped; other bytes start the first block
            if head == _BOM:
                head, position = b"", len(_BOM)
            while True:
                block = stream.read(READ_BYTES)
                if head:
                    block, head = head + block, b""
                if not block:
                    break
                block_at, position = position, position + len(block)
                if progress is not None:
                    progress.advance_to(raw.tell(), base)
                if skipping:
                    end = block.find(b"\n")
                    if end < 0:
                        continue
                    block = block[end + 1 :]
                    block_at += end + 1
                    skipping = False
                end = block.rfind(b"\n") + 1  # 0: no newline in the block
                if end:
                    at = carry_at if carry else block_at
                    lines = b"".join((*carry, block[:end])) if carry else block[:end]
                    carry, carried = [], 0
                    if not any_record:
                        any_record = _NON_BLANK.search(lines) is not None
                    if len(lines) > MAX_RECORD_BYTES:  # may hold an over-long line
                        yield from _long_lines(lines, at, pending)
                    else:
                        yield from pending.add(lines, at)
                if end < len(block):
                    if not carry:
                        carry_at = block_at + end
                    carry.append(block[end:])
                    carried += len(block) - end
                    if carried > MAX_RECORD_BYTES:
                        yield from pending.problem(_too_long())
                        carry, carried, skipping = [], 0, True
        except _GZIP_ERRORS as error:  # the lines before it are whole: they load
            yield from pending.problem(_gzip_corrupt_message(error))
            return
        if carry:  # the last line has no newline
            last = b"".join(carry)
            any_record = any_record or bool(last.strip())
            yield from pending.add(last + b"\n", carry_at)
        yield from pending.flush()
        if progress is not None:
            progress.advance_to(raw.tell(), base)
        if not any_record and not pending.refused:
            problem = RecordProblem(
                "the file holds no run record; expected one JSON object per line",
                source=source,
                line=1,
            )
            yield source, "line", [1], [problem]


def _long_lines(lines: bytes, at: int, pending: _PendingLines) -> Iterator[Chunk]:
    """`_PendingLines.add`, line by line, refusing lines over MAX_RECORD_BYTES."""
    for line in lines.split(b"\n")[:-1]:
        if len(line) > MAX_RECORD_BYTES:
            yield from pending.problem(_too_long())
        else:
            yield from pending.add(line + b"\n", at)
        at += len(line) + 1


def _too_long() -> str:
    return (
        f"the line is longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB; "
        "a run record should be far smaller: check the export is NDJSON (one record per line)"
    )


def _read_json(path: Path) -> Iterator[tuple]:
    if path.name.lower().endswith(".gz"):
        parts: list[bytes] = []
        with gzip.open(path, "rb") as stream:
            blocks = _GzipBlocks(stream)
            try:
                while block := blocks.read(READ_BYTES):
                    parts.append(block)
            except _GZIP_ERRORS as error:  # the document is cut short: no record of it loads
                line = sum(part.count(b"\n") for part in parts) + 1  # the first not read whole
                yield (
                    "line",
                    line,
                    RecordProblem(_gzip_corrupt_message(error), source=str(path), line=line),
                )
                return
        content = b"".join(parts)
    else:
        with open(path, "rb") as stream:
            content = stream.read()
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
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
        line, column, why = _where_json_fails(error, content)
        yield (
            "line",
            line,
            RecordProblem(
                f"not valid JSON at column {column} ({why}); fix the file",
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


def _where_json_fails(error: orjson.JSONDecodeError, text: bytes) -> tuple[int, int, str]:
    """Where `text` stops being JSON, as 1-based line and column (in characters, as an
    editor counts them), and why. orjson's `pos` counts characters, not bytes (so a byte
    count of the text before it is off wherever the text is not ASCII), and on text that
    is not UTF-8 it points nowhere. The error path only."""
    if not error.doc and text:  # orjson decoded nothing: the text is not UTF-8
        try:
            text.decode()
        except UnicodeDecodeError as bad:
            start = bad.start
            line_start = text.rfind(b"\n", 0, start) + 1
            return (
                text.count(b"\n", 0, start) + 1,
                len(text[line_start:start].decode()) + 1,
                f"byte 0x{text[start]:02x} is not UTF-8 text",
            )
    return error.lineno, error.colno, error.msg


def _read_parquet(path: Path) -> Iterator[tuple]:
    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        yield (
            "row",
            1,
            RecordProblem(f"not a readable Parquet file ({error})", source=source, line=1),
        )
        return
    checked = [  # the columns whose values may be ones JSON cannot hold
        index
        for index, column in enumerate(parquet.schema_arrow)
        if _may_hold_non_json(column.type)
        and not (column.name in _JSON_COLUMNS and _is_binary(column.type))  # JSON text
    ]
    batches = parquet.iter_batches(batch_size=2048)
    number = 0
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as error:  # a damaged page, wherever it is
            where = f"after row {number}" if number else "from its first row"
            raise SourceError(
                f"cannot read {source!r} {where} ({str(error).rstrip('.')}); the file is "
                "damaged: export it again"
            ) from None
        if batch is None:
            break
        suspects = _suspect_rows(batch, checked) if checked else ()
        for index, row in enumerate(batch.to_pylist()):
            number += 1
            found = _first_non_json(row) if index in suspects else None
            if found is None:
                yield "row", number, _from_parquet_row(row)
            else:
                run_id = row.get("runId")
                yield (
                    "row",
                    number,
                    RecordProblem(
                        found[1],
                        source=source,
                        line=number,
                        run_id=run_id if isinstance(run_id, str) else None,
                        field=found[0],
                    ),
                )
    if number == 0:
        yield "row", 1, RecordProblem("the file holds no rows", source=source, line=1)


_JSON_COLUMNS = frozenset(OBJECT_SECTIONS + ("history", "assets"))

_NOT_JSON = {
    Decimal: "a decimal is not a JSON value; cast the column to double or string",
    bytes: "binary data is not a JSON value; cast the column to string (UTF-8 text)",
    timedelta: "a duration is not a JSON value; cast the column to a number (of seconds, "
    "say) or a string",
}
"""What to do about the Python values of Parquet columns that JSON cannot hold."""


def _never_json(kind: pa.DataType) -> bool:
    """Whether the values of an Arrow type are ones JSON cannot hold (see _NOT_JSON)."""
    return pa.types.is_decimal(kind) or pa.types.is_duration(kind) or _is_binary(kind)


def _is_binary(kind: pa.DataType) -> bool:
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or str(kind) == "binary_view"
    )


def _may_hold_non_json(kind: pa.DataType) -> bool:
    """Whether values of an Arrow type may hold what JSON cannot: a value of a type
    `_never_json`, or a float that is NaN or infinite."""
    if pa.types.is_floating(kind) or _never_json(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_may_hold_non_json(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _may_hold_non_json(kind.key_type) or _may_hold_non_json(kind.item_type)
    if isinstance(kind, pa.ListType | pa.LargeListType | pa.FixedSizeListType):
        return _may_hold_non_json(kind.value_type)
    if pa.types.is_dictionary(kind):
        return _may_hold_non_json(kind.value_type)
    return pa.types.is_nested(kind)  # another nested type (a list view): look at its rows


def _suspect_rows(batch: pa.RecordBatch, checked: list[int]) -> frozenset[int]:
    """The indexes of the rows of `batch` whose `checked` columns hold a value JSON cannot
    (or may: `_first_non_json` decides), found column-wise in Arrow so that a valid row
    costs no Python."""
    mask = np.zeros(batch.num_rows, dtype=bool)
    for index in checked:
        mask |= _suspect_mask(batch.column(index))
    return frozenset(np.flatnonzero(mask).tolist())


def _suspect_mask(array: pa.Array) -> np.ndarray:
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _suspect_mask(array.dictionary_decode())
    if pa.types.is_floating(kind):
        if kind == pa.float16():
            array = array.cast(pa.float32())
        return pc.invert(pc.is_finite(array)).fill_null(False).to_numpy(zero_copy_only=False)
    if _never_json(kind):
        return array.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_struct(kind):  # flatten() gives the fields null where the struct is
        mask = np.zeros(len(array), dtype=bool)
        for child in array.flatten():
            if _may_hold_non_json(child.type):
                mask |= _suspect_mask(child)
        return mask
    if pa.types.is_fixed_size_list(kind):
        array = array.cast(pa.large_list(kind.value_field))
    if isinstance(array, pa.ListArray | pa.LargeListArray):  # a map too
        offsets = array.offsets.to_numpy()
        start = offsets[0]
        inner = _suspect_mask(array.values.slice(start, offsets[-1] - start))
        rows = np.searchsorted(offsets, np.flatnonzero(inner) + start, side="right") - 1
        mask = np.zeros(len(array), dtype=bool)
        mask[rows] = True
        return mask & array.is_valid().to_numpy(zero_copy_only=False)
    return array.is_valid().to_numpy(zero_copy_only=False)


def _first_non_json(row: dict) -> tuple[str, str] | None:
    """The path of the first value of a Parquet row that JSON cannot hold, and what to do
    about it; None when there is none. Walks only the rows `_suspect_rows` finds."""
    stack = [
        (value, join_path("", key))
        for key, value in reversed(row.items())
        if not (key in _JSON_COLUMNS and isinstance(value, bytes))  # JSON text: parsed later
    ]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((child, join_path(path, key)) for key, child in reversed(value.items()))
        elif isinstance(value, list | tuple):  # a map's entries are (key, value) tuples
            stack.extend((value[i], join_path(path, i)) for i in reversed(range(len(value))))
        elif isinstance(value, float | np.floating):
            if not math.isfinite(value):
                return path, f"{value!r} is not a JSON number; use null or a finite number"
        else:
            for kind, advice in _NOT_JSON.items():
                if isinstance(value, kind):
                    return path, advice
    return None


def _from_parquet_row(row: dict) -> dict:
    """Parquet rows hold nested fields as JSON text or as structs; timestamps as datetimes.

    A null field of a struct is left out: Parquet cannot tell a key that is missing from
    one that is null, and most structs are written from records that lacked the key.
    """
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


def _record_json(record: dict) -> tuple[bytes, bool]:
    """The JSON text the content hash covers, and whether orjson wrote it (the stdlib
    writes records holding integers beyond 64 bits)."""
    try:
        return orjson.dumps(record), True
    except TypeError:
        return dumps(record).encode(), False


def _digest(text: bytes) -> str:
    """The content hash of a normalised record's JSON text: equal digests, identical records."""
    return hashlib.blake2b(text, digest_size=16).hexdigest()


_PARAMETERS, _CONTEXT, _OUTPUT, _TRIGGER, _HISTORY = (
    f',"{key}":'.encode() for key in (*OBJECT_SECTIONS, "history")
)
"""`,"parameters":` ... `,"history":`: where each object section (and the key after the
last one) starts in a normalised record's JSON text."""


def section_texts(text: bytes) -> tuple[bytes, ...] | None:
    """The JSON text of parameters, context, output and triggerPayload cut out of `text`,
    orjson's text of a normalised record (keys in normal order); None when a nested key
    of one of those names could make the cut ambiguous.

    A key such as `,"context":` cannot occur inside a JSON string (its quote would be
    escaped), so it is a key of some object. The top-level keys come in normal order, so
    each cut is sound when its key occurs once in the text left after the cut before it
    (and `,"parameters":` once before `,"context":`). Five splits of a shrinking text:
    ~0.7 us a record less than one regex split of all of it.
    """
    head_rest = text.split(_CONTEXT)
    if len(head_rest) != 2:
        return None
    head = head_rest[0].split(_PARAMETERS)
    if len(head) != 2:
        return None
    context_rest = head_rest[1].split(_OUTPUT)
    if len(context_rest) != 2:
        return None
    output_rest = context_rest[1].split(_TRIGGER)
    if len(output_rest) != 2:
        return None
    trigger_rest = output_rest[1].split(_HISTORY)
    if len(trigger_rest) != 2:
        return None
    return head[1], context_rest[0], output_rest[0], trigger_rest[0]


def value_type(value: Any) -> str:
    """The JSON type of a leaf as stored in run_fields.value_type ("null", "boolean",
    "integer", "float", "string", "object" or "array"); subclasses built in Python, such
    as numpy.float64 or an IntEnum, count as the JSON type they are written as."""
    kind = _VALUE_TYPES.get(type(value))
    if kind is not None:
        return kind
    for base, name in _VALUE_TYPES.items():  # bool before int
        if isinstance(value, base):
            return name
    return type(value).__name__


@dataclass
class Batch:
    """What `build_batch` made of a chunk of records: staged Parquet files for the store.

    `files` maps each table to the Parquet file holding the chunk's rows for it (empty when
    no record needs writing); the runs file also says where each run was read (the columns
    `STAGED_WHERE`), so the store can settle runs repeated across batches in one query.
    `seen` is a Parquet file (columns `SEEN_COLUMNS`, which the runs file has too) of the
    runs left out because the store holds them already (`known`), so repeats of them later
    in the load are still settled (None when there are none). `problems` lists the rejected
    records as (RecordProblem, is_duplicate) — problems, not exceptions, so a batch built in
    a worker process pickles cleanly. `skipped` counts the records repeated identically
    within the chunk or already stored.
    """

    files: dict[str, str]
    problems: list[tuple[RecordProblem, bool]]
    skipped: int = 0
    seen: str | None = None


STAGED_WHERE = ("_unit", "_number")
"""Extra columns of a staged runs file: where each run was read (not stored)."""
SEEN_COLUMNS = ("run_id", "content_hash", "source", *STAGED_WHERE)
"""The columns of a batch's `seen` file; its runs file has them too."""


def known_key(run_id: str, digest: str) -> bytes:
    """The 16-byte key of a stored run and its content: md5(run_id || content_hash), the
    same bytes DuckDB's `unhex(md5(run_id || content_hash))` gives (the digest has a
    fixed length, so the pair is recoverable from the text)."""
    return hashlib.md5((run_id + digest).encode()).digest()


_KNOWN: dict[str, Any] = {}
"""Sorted arrays of known keys by file, loaded once per process (a worker builds many
batches)."""


def forget_known() -> None:
    """Drop the known keys this process loaded (the store calls it when a load ends)."""
    _KNOWN.clear()


def _known_keys(path: str) -> Any:
    keys = _KNOWN.get(path)
    if keys is None:
        column = pq.read_table(path).column(0).combine_chunks().cast(pa.binary(16))
        keys = np.sort(np.frombuffer(column.buffers()[1], dtype="S16")[: len(column)])
        _KNOWN.clear()  # one load at a time
        _KNOWN[path] = keys
    return keys


def build_batch(
    chunk: Chunk,
    check_json: bool = False,
    staging: str = ".",
    number: int = 0,
    known: str | None = None,
) -> Batch:
    """Parse, validate and normalise a chunk of records (see `Chunk`) and stage its rows as
    Parquet files `{table}-{number}.parquet` in the `staging` directory.

    Runs in this process or in a worker process (so the store's process neither converts
    nor writes the rows). Records repeated within the chunk are skipped when identical and
    rejected when their content differs. `known` is a Parquet file of the
    `known_key`s of the runs the store holds: those records are checked and hashed but
    not converted, only listed in the batch's `seen` file (reloading an export takes
    about half as long as loading it).
    """
    source, unit, numbers, records = chunk
    if type(records) is Span:  # NDJSON lines by position in their file
        records = records.read()
    elif type(records) is bytes:  # NDJSON lines as read
        records = records.split(b"\n")
        records.pop()  # after the last newline
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived containers: GC passes would cost ~40 %
    try:
        problems: list[tuple[RecordProblem, bool]] = []
        seen: dict[str, tuple[str, int]] = {}
        skipped = 0
        accepted: list[tuple] = []  # (line, record, is_normal, digest, sections)
        for line, raw in zip(numbers, records, strict=True):
            if type(raw) is bytes:
                try:
                    raw = orjson.loads(raw)
                except orjson.JSONDecodeError as error:
                    if not raw.strip():
                        continue  # a blank line
                    _, column, why = _where_json_fails(error, raw)
                    raw = RecordProblem(
                        f"not valid JSON at column {column} ({why}); fix or remove this line",
                        source=source,
                        line=line,
                    )
            if isinstance(raw, RecordProblem):
                raw.unit = unit
                problems.append((raw, False))
                continue
            try:
                record = normalize_record(
                    raw, source=source, line=line, check_json=check_json, copy=False
                )
            except InvalidRunRecord as error:
                error.problem.unit = unit
                problems.append((error.problem, False))
                continue
            text, by_orjson = _record_json(record)
            digest = _digest(text)
            run_id = record["runId"]
            first = seen.get(run_id)
            if first is not None:
                if first[0] == digest:
                    skipped += 1
                else:
                    problems.append((duplicate_problem(run_id, source, unit, line, first[1]), True))
                continue
            seen[run_id] = (digest, line)
            sections = section_texts(text) if by_orjson else None
            accepted.append((line, record, record is raw, digest, sections))
        stored = _stored(accepted, known)
        rows = RowBatch(unit)
        for (line, record, is_normal, digest, sections), in_store in zip(
            accepted, stored, strict=True
        ):
            if not in_store:
                rows.add(record, digest, source, line, is_normal=is_normal, sections=sections)
        files = {}
        written = rows.count
        if written:
            for name, table in rows.tables().items():
                path = os.path.join(staging, f"{name}-{number:06d}.parquet")
                pq.write_table(table, path, compression="none", write_statistics=False)
                files[name] = path
        rows.release()
        seen_path = None
        if written < len(accepted):
            listed = [entry for entry, in_store in zip(accepted, stored, strict=True) if in_store]
            seen_path = os.path.join(staging, f"seen-{number:06d}.parquet")
            pq.write_table(_seen_table(listed, source, unit), seen_path, compression="none")
        return Batch(files, problems, skipped + len(accepted) - written, seen_path)
    finally:
        if collecting:
            gc.enable()


def _stored(accepted: list[tuple], known: str | None) -> list[bool]:
    """Which accepted records the store holds already with the same content."""
    if known is None or not accepted:
        return [False] * len(accepted)
    keys = np.array([known_key(entry[1]["runId"], entry[3]) for entry in accepted], dtype="S16")
    stored = _known_keys(known)  # sorted once per process: a batch costs k log n, not a sort
    at = np.minimum(np.searchsorted(stored, keys), len(stored) - 1)
    return (stored[at] == keys).tolist() if len(stored) else [False] * len(accepted)


def _seen_table(listed: list[tuple], source: str, unit: str) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array([entry[1]["runId"] for entry in listed], pa.string()),
            pa.array([entry[3] for entry in listed], pa.string()),
            pa.array(repeat(source, len(listed)), pa.string()),
            pa.array(repeat(unit, len(listed)), pa.string()),
            pa.array([entry[0] for entry in listed], pa.int64()),
        ],
        names=list(SEEN_COLUMNS),
    )


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


_TIMESTAMP = pa.timestamp("us", tz="UTC")


class RowBatch:
    """The rows a chunk of normalised records puts in the four tables, built column-wise.

    `add` keeps the record and writes its run_fields leaves into flat lists; `tables` turns
    everything into Arrow in one pass per column, with C-level maps and pyarrow's own
    dict conversion instead of a Python loop per row.
    """

    def __init__(self, unit: str = "record") -> None:
        self.unit = unit
        self.records: list[dict] = []
        self.digests: list[str] = []
        self.sources: list[str] = []
        self.numbers: list[int] = []
        self.field_counts: list[int] = []  # per record, the leaves of each FIELD_SECTIONS
        self.field_paths: list[str] = []
        self.field_values: list[Any] = []
        self.events_may_have_extra = False
        self.sections: list[tuple[bytes, ...] | None] = []
        self._add_leaves = leaf_adder(self.field_paths, self.field_values)
        self._flattened: tuple[dict[bytes, tuple[list, list]], ...] = tuple(
            {} for _ in FIELD_SECTIONS
        )
        self._memo_hits = [0] * len(FIELD_SECTIONS)

    @property
    def count(self) -> int:
        """How many records the batch holds."""
        return len(self.records)

    def add(
        self,
        record: dict,
        digest: str,
        source: str,
        number: int = 0,
        *,
        is_normal: bool = False,
        sections: tuple[bytes, ...] | None = None,
    ) -> None:
        """Add the rows of one record, read at `number` (line, record or row) of `source`.

        `is_normal` says the record passed `model.is_normal`, so its events hold no
        unknown keys; `sections` is its parameters, context, output and triggerPayload as
        JSON text when known already (see `section_texts`).
        """
        if not is_normal:
            self.events_may_have_extra = True
        self.sections.append(sections)
        self.records.append(record)
        self.digests.append(digest)
        self.sources.append(source)
        self.numbers.append(number)
        paths, values, counts = self.field_paths, self.field_values, self.field_counts
        for index, section in enumerate(FIELD_SECTIONS):
            leaves = record[section]
            if not leaves:
                counts.append(0)  # an empty section has no fields
                continue
            before = len(paths)
            memo = self._flattened[index]
            if (
                sections is None
                or len(memo) > _MEMO_TRIAL + _MEMO_HIT_RATIO * self._memo_hits[index]
            ):
                self._add_leaves(leaves, section)  # a section that rarely repeats: no memo
            else:  # runs of a workflow mostly share their parameters: flatten each text once
                flattened = memo.get(sections[index])
                if flattened is None:
                    self._add_leaves(leaves, section)
                    memo[sections[index]] = (paths[before:], values[before:])
                else:
                    self._memo_hits[index] += 1
                    paths.extend(flattened[0])
                    values.extend(flattened[1])
            counts.append(len(paths) - before)

    def release(self) -> None:
        """Let go of the rows. The leaf adder's closures form a reference cycle that holds
        the leaf lists until a full garbage collection, which a worker that builds batch
        after batch reaches rarely: emptied here, a worker's memory stays flat (it grew by
        ~4 MiB per batch, to ~550 MiB over a million runs)."""
        for rows in (self.records, self.digests, self.sources, self.numbers, self.sections):
            rows.clear()
        for rows in (self.field_counts, self.field_paths):
            rows.clear()
        self.field_values.clear()
        for flattened in self._flattened:
            flattened.clear()
        self._memo_hits = [0] * len(FIELD_SECTIONS)

    def tables(self) -> dict[str, pa.Table]:
        """Arrow tables for runs, run_events, asset_snapshots and run_fields."""
        runs = self._runs()
        return {
            "runs": runs,
            "run_events": self._events(),
            "asset_snapshots": self._assets(),
            "run_fields": self._fields(runs.column("run_id").combine_chunks()),
        }

    def _fields(self, run_ids: pa.Array) -> pa.Table:
        # run_id and section repeat for every leaf: dictionary arrays built from the leaf
        # counts (numpy), rather than a Python list with one item per leaf each
        counts = np.array(self.field_counts, dtype=np.int64)
        per_run = counts.reshape(-1, len(FIELD_SECTIONS)).sum(axis=1)
        run_index = np.repeat(np.arange(len(per_run), dtype=np.int32), per_run)
        section_index = np.repeat(
            np.tile(np.arange(len(FIELD_SECTIONS), dtype=np.int8), len(per_run)), counts
        )
        return pa.Table.from_arrays(
            [
                pa.DictionaryArray.from_arrays(run_index, run_ids),
                pa.DictionaryArray.from_arrays(section_index, _FIELD_SECTION_NAMES),
                pa.array(self.field_paths, pa.string()),
                _leaf_texts(self.field_values),
                _value_types(self.field_values),
            ],
            names=list(FIELD_COLUMNS),
        )

    def _runs(self) -> pa.Table:
        records = self.records
        scalars = pa.array(records, _RUN_SCALARS)
        columns = [
            _timestamps(column) if name in _RUN_TIME_COLUMNS else column
            for name, column in zip(RUN_COLUMNS, scalars.flatten(), strict=False)
        ]
        known = None not in self.sections
        for index, key in enumerate(OBJECT_SECTIONS):
            if known:
                texts = list(map(itemgetter(index), self.sections))
            else:
                texts = [
                    dumps(record[key]) if sections is None else sections[index]
                    for record, sections in zip(records, self.sections, strict=True)
                ]
            columns.append(pa.array(texts, pa.string()))
        extras = [
            dumps(extra_of(record)) if len(record) > len(NORMAL_KEYS) else None
            for record in records
        ]
        columns.append(pa.array(extras, pa.string()))
        columns.append(pa.array(self.digests, pa.string()))
        columns.append(pa.array(self.sources, pa.string()))
        columns.append(pa.array(repeat(self.unit, len(records)), pa.string()))
        columns.append(pa.array(self.numbers, pa.int64()))
        return pa.Table.from_arrays(columns, names=[*RUN_COLUMNS, *STAGED_WHERE])

    def _events(self) -> pa.Table:
        histories = list(map(itemgetter("history"), self.records))
        counts = list(map(len, histories))
        events = list(chain.from_iterable(histories))
        run_ids = chain.from_iterable(map(repeat, map(itemgetter("runId"), self.records), counts))
        scalars = pa.array(events, _EVENT_SCALARS)
        seq, at, status, step, attempt, message = scalars.flatten()
        if not self.events_may_have_extra or all(map(_EVENT_KNOWN.issuperset, events)):
            extras = pa.nulls(len(events), pa.string())
        else:
            extras = pa.array(
                [
                    None
                    if _EVENT_KNOWN.issuperset(event)
                    else dumps({k: v for k, v in event.items() if k not in _EVENT_KNOWN})
                    for event in events
                ],
                pa.string(),
            )
        columns = [
            pa.array(list(run_ids), pa.string()),
            pa.array(list(chain.from_iterable(map(range, counts))), pa.int32()),
            seq,
            _timestamps(at),
            status,
            step,
            attempt,
            message,
            extras,
        ]
        return pa.Table.from_arrays(columns, names=list(EVENT_COLUMNS))

    def _assets(self) -> pa.Table:
        rows = []
        for record in self.records:
            run_id = record["runId"]
            for position, asset in enumerate(record["assets"]):
                freshness = asset.get("freshness")
                payload = asset.get("payload")
                known = freshness or {}
                lag = known.get("maxLagMinutes")
                unknown = {k: v for k, v in asset.items() if k not in _ASSET_KNOWN}
                rows.append(
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
        columns = zip(*rows, strict=True) if rows else ([] for _ in ASSET_COLUMNS)
        arrays = []
        for name, values in zip(ASSET_COLUMNS, columns, strict=True):
            array = pa.array(values, _ARROW_TYPES.get(name, pa.string()))
            arrays.append(_timestamps(array) if name in _ASSET_TIME_COLUMNS else array)
        return pa.Table.from_arrays(arrays, names=list(ASSET_COLUMNS))


def leaf_adder(paths: list[str], values: list[Any]):
    """A function `add(section, prefix)` that appends the leaves of a non-empty object to
    `paths` and `values`, exactly as `paths.flatten(section, prefix)` lists them.

    The loader's hot path (~20 leaves per run): no dict is built, object keys map to their
    path text through a shared cache, and the recursion lives in closures over the two
    `append` methods.
    """
    add_path, add_value, segments, indexes = paths.append, values.append, _SEGMENTS, _INDEXES

    def walk_object(item: dict, path: str) -> None:
        for key, value in item.items():
            kind = type(value)
            if kind is dict:
                if value:
                    walk_object(value, path + segments[key])
                    continue
            elif kind is list and value:
                walk_list(value, path + segments[key])
                continue
            add_path(path + segments[key])
            add_value(value)

    def walk_list(item: list, path: str) -> None:
        for index, value in enumerate(item):
            kind = type(value)
            if kind is dict:
                if value:
                    walk_object(value, path + indexes[index])
                    continue
            elif kind is list and value:
                walk_list(value, path + indexes[index])
                continue
            add_path(path + indexes[index])
            add_value(value)

    def add(section: dict, prefix: str) -> None:
        before = len(paths)
        for _attempt in range(2):
            try:
                walk_object(section, prefix)
                return
            except KeyError:  # a key seen for the first time: learn the section's keys, redo
                del paths[before:], values[before:]
                if not _learn_keys(section):
                    break
            except (IndexError, RecursionError):  # a long list, or nested beyond the stack
                del paths[before:], values[before:]
                break
        leaves = flatten(section, prefix)  # the general way (raises on a non-string key)
        paths.extend(leaves)
        values.extend(leaves.values())

    return add


_MEMO_TRIAL = 200
_MEMO_HIT_RATIO = 8
"""RowBatch memoises a section's leaves by its text until it has stored more than
_MEMO_TRIAL texts and more than _MEMO_HIT_RATIO per repeat found: a section that differs in
almost every run (a run's context or output) is then flattened directly, without copying
its leaves into the memo (~0.1 s a core per 100k runs)."""


_SEGMENTS: dict[str, str] = {}
"""Path text of the object keys seen so far (keys repeat across runs); bounded."""
_MAX_SEGMENTS = 65536
_INDEXES = tuple(f"[{index}]" for index in range(256))


def _learn_keys(value: Any) -> bool:
    """Add the path text of every string key inside `value` to `_SEGMENTS`; False when
    that is not possible (the cache is full, or a key is not a string)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return False
                if key not in _SEGMENTS:
                    if len(_SEGMENTS) >= _MAX_SEGMENTS:
                        return False
                    _SEGMENTS[key] = key_segment(key)
                stack.append(child)
        elif type(item) is list:
            stack.extend(item)
    return True


def _leaf_texts(leaves: list[Any]) -> pa.Array:
    """JSON text of each leaf (a scalar, {} or []) as an Arrow string array.

    One orjson call for all leaves, indented so that each leaf sits on its own line, then
    split and trimmed in Arrow: ~3x faster than one orjson call per leaf.
    """
    try:
        text = orjson.dumps(leaves, option=orjson.OPT_INDENT_2)
    except TypeError:  # an integer beyond 64 bits
        return pa.array(list(map(dumps, leaves)), pa.string())
    lines = pc.split_pattern(pa.array([text], pa.binary()), b"\n").flatten()
    if len(lines) != len(leaves) + 2:  # a leaf spanning lines (a non-empty dict subclass)
        return pa.array(list(map(dumps, leaves)), pa.string())
    # each line is "  <leaf>," (no comma after the last); a leaf never starts with a space
    # and a leaf ending in "," is a string, so ends in '"' first
    return pc.utf8_trim(lines.slice(1, len(leaves)).cast(pa.string()), " ,")


def _value_types(values: list[Any]) -> pa.Array:
    """run_fields.value_type of each leaf, as a dictionary array."""
    try:
        codes = list(map(_VALUE_TYPE_CODES.__getitem__, map(type, values)))
    except KeyError:  # a subclass of a JSON type, from records built in Python
        return pa.array(list(map(value_type, values)), pa.string()).dictionary_encode()
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), _VALUE_TYPE_NAMES)


def _timestamps(strings: pa.Array) -> pa.Array:
    return strings.cast(_TIMESTAMP)


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
_VALUE_TYPE_CODES = {kind: code for code, kind in enumerate(_VALUE_TYPES)}
_VALUE_TYPE_NAMES = pa.array(list(_VALUE_TYPES.values()), pa.string())
_FIELD_SECTION_NAMES = pa.array(FIELD_SECTIONS, pa.string())


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

_RUN_TIME_COLUMNS = ("created_at", "started_at", "finished_at")
_ASSET_TIME_COLUMNS = ("materialized_at", "last_updated")
_RUN_SCALARS = pa.struct([(key, pa.string()) for key in NORMAL_KEYS[:9]])
"""The record keys of runs' first nine columns (strings and timestamp strings)."""
_EVENT_SCALARS = pa.struct(
    [
        ("seq", pa.int64()),
        ("at", pa.string()),
        ("status", pa.string()),
        ("step", pa.string()),
        ("attempt", pa.int64()),
        ("message", pa.string()),
    ]
)

_ARROW_TYPES = {
    "position": pa.int32(),
    "max_lag_minutes": pa.float64(),
    "stale_flag": pa.bool_(),
}

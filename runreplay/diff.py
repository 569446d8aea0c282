"""RunDiff: how two runs differ — field changes, aligned histories, asset deltas, stale warnings.

    >>> from runreplay.diff import diff_runs
    >>> run_diff = diff_runs(base_run, compare_run, ignore=["context.host"])  # doctest: +SKIP
    >>> run_diff.fields                   # one row per changed leaf       # doctest: +SKIP
    >>> print(run_diff.summary)                                            # doctest: +SKIP

`diff_runs` is a pure function over two run records (docs/ARCHITECTURE.md, "Diff semantics"); `diff_stored` adds what
only a store knows (volatile paths, stale assets). Rendering lives in runreplay.report.

Fields
    Sections parameters, context, output and triggerPayload are flattened to leaves with
    the one path syntax of runreplay.paths (`parameters.model.depth`); section "run" holds
    the run's own fields status, runKey, partitionKey, replayOf and duration (seconds from
    startedAt to finishedAt), plus any unknown top-level keys. A run field that is null
    counts as absent. Each side is flattened once and the two leaf dicts are compared, so
    a change is always reported at a leaf (a scalar, an empty object or an empty list):
    `added`, `removed`, `changed` (same JSON type) or `type_changed` (1, 1.0, "1", true
    and null are values of five different types). An object that replaces a scalar shows
    as the scalar removed and the object's leaves added; this keeps every row a leaf and
    makes the changes a patch: applying them to the base gives the compare run exactly
    (object key order aside; tests/test_diff.py holds such a patch function).

Tolerance
    With `rtol`/`atol` two numbers are equal when |a - b| <= max(rtol * max(|a|, |b|),
    atol) (symmetric, like math.isclose). It applies when at least one of them is a float:
    integers are counts and compare exactly, and an integer against a float within
    tolerance is equal because serialisers drop a trailing ".0" (JavaScript writes 1.0 as
    1). Without a tolerance, 1 against 1.0 is a type change.

Lists and keyed paths
    A list of objects that share an id-like key — the first of `id`, `name`, `key`,
    `assetKey` that every element holds with a unique string or integer value, or the key
    given for the list's path in `list_keys={glob: key}` (None: always positional) — is
    matched by that key, and its elements get keyed path segments:
    `parameters.steps[name="load"].retries`. The keyed form is part of the one path
    syntax (runreplay.paths parses, formats and globs it, `[*]` matches it), names the
    element wherever it sits, and is what patches and ignore globs use. Every row also
    carries `base_path` / `compare_path`: the positional path of the leaf in each run
    (None on the side without it), the form run_fields and volatile paths use, and the
    position where a patch inserts an added element. Keyed matching needs both sides to
    qualify with the same key and the elements both lists hold to keep their relative
    order; otherwise the list is compared by position, so a reorder shows as changes
    rather than disappearing. Inserting one element therefore reports that element's
    leaves as added and nothing else.

History
    The two event sequences are aligned on (step, status) tokens with a global
    Needleman-Wunsch alignment: events pair only when their steps agree, scoring 1 for the
    step, +2 for the same status and +1 for the same attempt, and a gap costs 1, so an
    extra retry shows as one-sided rows instead of shifting every later event. Common
    prefix and suffix are matched first; when what is left spans more than 250,000 event
    pairs (about 500 x 500) it is aligned with difflib.SequenceMatcher instead. Rows are
    `same` (step, status and attempt agree; messages may differ), `differs` (paired,
    something differs), `only_base`, `only_compare`; the first divergence is the first
    row that is not `same`, with each run's next event from there. A step's attempt count is its highest attempt number (or its RUNNING
    events when no attempt is given); a step's retry path is its (status, attempt)
    sequence, and steps whose paths differ while one run retried them are listed in
    `retry_paths_differ`.

Assets
    Assets pair by assetKey (the nth snapshot of a key with the nth). Each gets added,
    removed, payload_changed (payload or other content; wins when both changed),
    freshness_changed (freshness or materializedAt) or unchanged, with its field changes
    (paths like `assets[assetKey="warehouse/orders"].payload.rows`).

Volatile paths are learned from a store (`volatile_paths`): leaves whose value changes
between almost every pair of consecutive runs of a workflow. Rows on such paths are kept
and marked `volatile`; `RunDiff.without_volatile()` or `diff_stored(hide_volatile=True)`
drop them.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from runreplay import fieldstats
from runreplay.errors import RunReplayError
from runreplay.model import (
    KNOWN_KEYS,
    RUN_FIELDS,
    SECTIONS,
    VOLATILE_MIN_PAIRS,
    VOLATILE_RECENT_RUNS,
    VOLATILE_THRESHOLD,
    describe_event,
    format_timestamp,
    normalize_record,
    parse_timestamp,
)
from runreplay.paths import (
    Keyed,
    compile_glob,
    join,
    key_segment,
    keyed_segment,
    matches,
    matches_exactly,
    parse_path,
)

if TYPE_CHECKING:
    from runreplay.protocols import RunStore

CHANGE_KINDS = ("added", "removed", "changed", "type_changed")
ASSET_CHANGES = ("added", "removed", "payload_changed", "freshness_changed", "unchanged")
HISTORY_OPS = ("same", "differs", "only_base", "only_compare")
ID_KEYS = ("id", "name", "key", "assetKey")
"""Keys that make a list of objects keyed, in order of preference."""

FIELD_COLUMNS = (
    "section", "path", "change", "before", "after", "volatile", "base_path", "compare_path",
)  # fmt: skip
HISTORY_SIDE_COLUMNS = ("seq", "step", "status", "attempt", "at", "message")
HISTORY_COLUMNS = (
    tuple(f"base_{name}" for name in HISTORY_SIDE_COLUMNS)
    + ("op",)
    + tuple(f"compare_{name}" for name in HISTORY_SIDE_COLUMNS)
)
ASSET_COLUMNS = ("asset_key", "change", "payload_changed", "freshness_changed", "changes")
ATTEMPT_COLUMNS = ("step", "base_attempts", "compare_attempts")

_MISSING = object()
_NUMBERS = (int, float)
_FRESHNESS_PARTS = (".freshness", ".materializedAt")
_ALIGN_MAX_CELLS = 250_000
_GAP = -1
_PADDED_NUMBER = re.compile(r"(?<=[\[=])(\d+)(?=\])")


# -- the result ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RunDiff:
    """The difference between a base run and a compare run (docs/ARCHITECTURE.md, "Diff semantics").

    The stored attributes are the JSON forms of `to_dict()` (camelCase keys); the
    DataFrames `fields`, `history`, `attempts` and `assets` are built from them on first
    use. Build one with `diff_runs`, `diff_stored` / `Store.diff`, or `RunDiff.from_dict`.
    """

    base_run: dict
    compare_run: dict
    field_changes: list[dict]
    alignment: list[dict]
    attempt_counts: list[dict]
    retry_paths_differ: list[str]
    asset_deltas: list[dict]
    stale_warnings: list[dict]
    options: dict = field(default_factory=dict)

    # -- DataFrames ------------------------------------------------------------------

    @cached_property
    def fields(self) -> pd.DataFrame:
        """One row per changed leaf: section, path, change, before, after, volatile,
        base_path, compare_path (object columns except the boolean `volatile`)."""
        return _fields_frame(self.field_changes)

    @cached_property
    def history(self) -> pd.DataFrame:
        """The aligned histories: base_seq, base_step, base_status, base_attempt, base_at,
        base_message, op, compare_seq, ... compare_message; one row per aligned pair."""
        return _history_frame(self.alignment)

    @cached_property
    def attempts(self) -> pd.DataFrame:
        """Per step: step, base_attempts, compare_attempts (0 where the run lacks it)."""
        return pd.DataFrame(
            columns=list(ATTEMPT_COLUMNS),
            data={
                "step": pd.Series([row["step"] for row in self.attempt_counts], dtype=object),
                "base_attempts": pd.Series(
                    [row["base"] for row in self.attempt_counts], dtype="int64"
                ),
                "compare_attempts": pd.Series(
                    [row["compareTo"] for row in self.attempt_counts], dtype="int64"
                ),
            },
        )

    @cached_property
    def assets(self) -> pd.DataFrame:
        """Per asset key: asset_key, change, payload_changed, freshness_changed, changes
        (a list of {path, change, before, after})."""
        deltas = self.asset_deltas
        return pd.DataFrame(
            columns=list(ASSET_COLUMNS),
            data={
                "asset_key": pd.Series([d["assetKey"] for d in deltas], dtype=object),
                "change": pd.Series([d["change"] for d in deltas], dtype=object),
                "payload_changed": pd.Series([d["payloadChanged"] for d in deltas], dtype=bool),
                "freshness_changed": pd.Series([d["freshnessChanged"] for d in deltas], dtype=bool),
                "changes": pd.Series([d["changes"] for d in deltas], dtype=object),
            },
        )

    # -- derived facts ---------------------------------------------------------------

    @property
    def first_divergence(self) -> dict | None:
        """Where the histories first part: {row, op, base, compareTo, description}, or None.

        `base` / `compareTo` are each run's first event at or after that row: what each run
        did at the point they part (None when a run has no event left).
        """
        return _first_divergence(self.alignment)

    @property
    def is_empty(self) -> bool:
        """True when no field, history or asset difference was found."""
        return (
            not self.field_changes
            and all(row["op"] == "same" for row in self.alignment)
            and all(delta["change"] == "unchanged" for delta in self.asset_deltas)
        )

    @property
    def summary(self) -> str:
        """One readable line: counts per section and kind, first divergence, stale count."""
        return _summary(self)

    def without_volatile(self) -> RunDiff:
        """The same diff without the field changes on volatile paths."""
        kept = [row for row in self.field_changes if not row["volatile"]]
        if len(kept) == len(self.field_changes):
            return self
        return replace(self, field_changes=kept)

    # -- export ----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The API's diff JSON (docs/ARCHITECTURE.md, "The core API") as plain Python values, keys in a stable order."""
        return {
            "runs": {"base": self.base_run, "compareTo": self.compare_run},
            "history": {
                "alignment": self.alignment,
                "firstDivergence": self.first_divergence,
                "attempts": self.attempt_counts,
                "retryPathsDiffer": self.retry_paths_differ,
            },
            "fieldChanges": self.field_changes,
            "assetDeltas": self.asset_deltas,
            "staleWarnings": self.stale_warnings,
            "summary": self.summary,
            "options": self.options,
        }

    def to_json(self, indent: int | None = None) -> str:
        """`to_dict()` as JSON text; the same diff always gives the same text.

        Raises RunReplayError when a value is NaN or infinite (JSON has no such number).
        """
        try:
            return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)
        except ValueError:
            paths = [
                row["path"]
                for row in self.field_changes
                if any(
                    isinstance(row[side], float) and not math.isfinite(row[side])
                    for side in ("before", "after")
                )
            ]
            where = f" at {', '.join(paths)}" if paths else ""
            raise RunReplayError(
                f"the diff holds NaN or infinity{where}, which JSON cannot represent; replace "
                "them with null or a finite number (a Store refuses such records when loading)"
            ) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunDiff:
        """Rebuild a RunDiff from `to_dict()` output or the API's diff JSON (its inverse).

        Raises RunReplayError naming the first missing or malformed part.
        """
        if not isinstance(data, Mapping):
            raise RunReplayError(f"a diff must be a JSON object, got {type(data).__name__}")
        runs = _part(data, "runs", Mapping)
        history = _part(data, "history", Mapping)
        return cls(
            base_run=dict(_part(runs, "base", Mapping, "runs")),
            compare_run=dict(_part(runs, "compareTo", Mapping, "runs")),
            field_changes=[_field_change_from(row) for row in _part(data, "fieldChanges", list)],
            alignment=[
                _alignment_row_from(row) for row in _part(history, "alignment", list, "history")
            ],
            attempt_counts=[
                _attempt_count_from(row) for row in _part(history, "attempts", list, "history")
            ],
            retry_paths_differ=list(_part(history, "retryPathsDiffer", list, "history")),
            asset_deltas=[_asset_delta_from(row) for row in _part(data, "assetDeltas", list)],
            stale_warnings=[_stale_warning(row) for row in _part(data, "staleWarnings", list)],
            options=dict(data.get("options") or {}),
        )

    def to_markdown(self, *, show_volatile: bool = True) -> str:
        """GitHub-flavoured Markdown tables, ready to paste into an incident."""
        from runreplay.report import to_markdown

        return to_markdown(self, show_volatile=show_volatile)

    def to_html(self, path: Any = None, *, show_volatile: bool = True) -> str:
        """One self-contained HTML page; also written to `path` when given."""
        from runreplay.report import to_html

        return to_html(self, path, show_volatile=show_volatile)

    def _repr_html_(self) -> str:
        from runreplay.report import to_html_fragment

        return to_html_fragment(self)

    def __repr__(self) -> str:
        return f"<RunDiff {self.summary}>"


def _part(data: Mapping, key: str, kind: type, where: str = "") -> Any:
    value = data.get(key, _MISSING)
    name = f"{where}.{key}" if where else key
    if value is _MISSING or not isinstance(value, kind):
        expected = "an object" if kind is Mapping else "a list"
        raise RunReplayError(f"the diff JSON lacks {name!r} ({expected}); is it a runreplay diff?")
    return value


# -- diff_runs -------------------------------------------------------------------------


def diff_runs(
    base: Mapping[str, Any],
    compare: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
    list_keys: Mapping[str, str | None] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
    volatile: Iterable[str] = frozenset(),
    stale_warnings: Iterable[Mapping[str, Any]] | None = None,
) -> RunDiff:
    """Compare two run records (raw or normalised) field by field, event by event, asset by asset.

    `ignore`: path globs to leave out (`context.host`, `*.timestamp`, `output.metrics.*`).
    `list_keys`: {list path glob: key or None} to choose how lists of objects match.
    `rtol` / `atol`: numeric tolerance (see the module docstring). `volatile`: positional
    paths to mark volatile (from `volatile_paths`). `stale_warnings`: the base run's stale
    assets, as dicts or the rows of `Store.stale_assets` (see `stale_warnings_from`).

    >>> diff_runs(run_a, run_b, rtol=1e-6).fields  # doctest: +SKIP
    """
    if rtol < 0 or atol < 0 or not (math.isfinite(rtol) and math.isfinite(atol)):
        raise RunReplayError(f"rtol and atol must be finite numbers >= 0, got {rtol!r}, {atol!r}")
    ignore = tuple(ignore)
    for pattern in ignore:
        compile_glob(pattern)  # a bad glob fails here, naming itself
    list_keys = dict(list_keys or {})
    for pattern in list_keys:
        compile_glob(pattern)
    base_run = normalize_record(base)
    compare_run = normalize_record(compare)
    comparer = _Comparer(list_keys, float(rtol), float(atol))
    volatile = frozenset(volatile)

    field_changes: list[dict] = []
    for section in SECTIONS:
        if section == "run":
            before, after, prefix = _run_fields(base_run), _run_fields(compare_run), ""
        else:
            before, after, prefix = base_run[section], compare_run[section], section
        rows = comparer.compare(before, after, prefix)
        for path, change, old, new, base_path, compare_path in rows:
            if ignore and _ignored(ignore, path, base_path, compare_path):
                continue
            field_changes.append(
                {
                    "section": section,
                    "path": path,
                    "change": change,
                    "before": old,
                    "after": new,
                    "volatile": bool(volatile)
                    and (path in volatile or base_path in volatile or compare_path in volatile),
                    "basePath": base_path,
                    "comparePath": compare_path,
                }
            )

    alignment = align_histories(base_run["history"], compare_run["history"])
    attempt_counts, retry_steps = _attempts_and_retries(base_run["history"], compare_run["history"])
    return RunDiff(
        base_run=base_run,
        compare_run=compare_run,
        field_changes=field_changes,
        alignment=alignment,
        attempt_counts=attempt_counts,
        retry_paths_differ=retry_steps,
        asset_deltas=_asset_deltas(base_run["assets"], compare_run["assets"], comparer, ignore),
        stale_warnings=[_stale_warning(row) for row in stale_warnings or ()],
        options={
            "ignore": list(ignore),
            "listKeys": list_keys,
            "rtol": rtol,
            "atol": atol,
        },
    )


def _ignored(
    ignore: tuple[str, ...], path: str, base_path: str | None, compare_path: str | None
) -> bool:
    return (
        matches(path, ignore)
        or (base_path is not None and base_path != path and matches(base_path, ignore))
        or (compare_path is not None and compare_path != path and matches(compare_path, ignore))
    )


def _run_fields(run: dict) -> dict:
    """The run's own fields as one object; null fields are left out (absent)."""
    fields = {key: run[key] for key in RUN_FIELDS[:-1] if run[key] is not None}
    if run["startedAt"] and run["finishedAt"]:
        elapsed = parse_timestamp(run["finishedAt"]) - parse_timestamp(run["startedAt"])
        fields["duration"] = elapsed.total_seconds()
    for key, value in run.items():
        if key not in KNOWN_KEYS and key not in fields:
            fields[key] = value
    return fields


# -- field comparison ------------------------------------------------------------------


class _Comparer:
    """Flattens both sides once (keyed lists reconciled) and compares the leaf dicts."""

    def __init__(self, list_keys: dict[str, str | None], rtol: float, atol: float):
        self.list_keys = list_keys
        self.rtol = rtol
        self.atol = atol
        self.tolerant = rtol > 0 or atol > 0
        self._candidates: dict[str, tuple[str, ...]] = {}

    def candidates(self, path: str) -> tuple[str, ...]:
        """The keys a list at `path` may be matched by, in order of preference."""
        found = self._candidates.get(path)
        if found is None:
            found = ID_KEYS
            for pattern, key in self.list_keys.items():
                if matches_exactly(path, (pattern,)):
                    found = (key,) if key else ()
                    break
            self._candidates[path] = found
        return found

    def compare(
        self,
        before: Any,
        after: Any,
        prefix: str,
        base_prefix: str | None = None,
        compare_prefix: str | None = None,
    ) -> list[tuple]:
        """Rows (path, change, before, after, base_path, compare_path), sorted by path.

        `base_prefix` / `compare_prefix`: the positional form of `prefix` in each run.
        """
        forced: dict[str, str | None] = {}
        while True:
            base_leaves, base_lists = self._flatten(before, prefix, forced)
            compare_leaves, compare_lists = self._flatten(after, prefix, forced)
            conflicts = self._conflicts(base_lists, compare_lists, forced)
            if not conflicts:
                break
            forced.update(conflicts)
        changes = self._changes(base_leaves, compare_leaves)
        if not changes:
            return []
        if not (base_lists or compare_lists) and base_prefix is None and compare_prefix is None:
            rows = [
                (path, change, old, new, None if change == "added" else path,
                 None if change == "removed" else path)
                for path, change, old, new in changes
            ]  # fmt: skip
        else:
            base_positions = _Positions(base_lists, prefix, base_prefix)
            compare_positions = _Positions(compare_lists, prefix, compare_prefix)
            rows = [
                (
                    path, change, old, new,
                    None if change == "added" else base_positions.of(path),
                    None if change == "removed" else compare_positions.of(path),
                )
                for path, change, old, new in changes
            ]  # fmt: skip
        rows.sort(key=_path_order)
        return rows

    def _flatten(
        self, value: Any, prefix: str, forced: dict[str, str | None]
    ) -> tuple[dict[str, Any], dict[str, tuple[str | None, list]]]:
        """Leaves of `value` by path, and every non-empty list by path with its key.

        The hot loop of a diff: leaves are written as their parent is walked (only
        non-empty containers go on the stack) and key segments come from a dict cache.
        """
        leaves: dict[str, Any] = {}
        lists: dict[str, tuple[str | None, list]] = {}
        kind = type(value)
        if not ((kind is dict or kind is list) and value):
            if not (kind is dict and not value):  # an empty section holds no fields
                leaves[prefix] = value
            return leaves, lists
        segments = _KEY_SEGMENTS
        positions = _POSITION_SEGMENTS
        stack: list[tuple[str, Any]] = [(prefix, value)]
        pop, push = stack.pop, stack.append
        while stack:
            path, item = pop()
            if type(item) is dict:
                for key, child in item.items():
                    segment = segments.get(key) if path else None
                    if segment is None:
                        segment = _key_segment(key, path)
                    kind = type(child)
                    if (kind is dict or kind is list) and child:
                        push((path + segment, child))
                    else:
                        leaves[path + segment] = child
                continue
            key = forced[path] if path in forced else self._list_key(path, item)
            lists[path] = (key, item)
            if key is None:
                for index, child in enumerate(item):
                    segment = positions[index] if index < _POSITION_CACHE else f"[{index}]"
                    kind = type(child)
                    if (kind is dict or kind is list) and child:
                        push((path + segment, child))
                    else:
                        leaves[path + segment] = child
            else:
                for element in item:
                    push((path + keyed_segment(key, element[key]), element))
        return leaves, lists

    def _list_key(self, path: str, items: list) -> str | None:
        if type(items[0]) is not dict:
            return None
        for key in self.candidates(path):
            if _keyable(items, key):
                return key
        return None

    def _conflicts(self, base_lists: dict, compare_lists: dict, forced: dict) -> dict:
        """Lists at the same path whose keys or element order disagree: the key both accept."""
        conflicts: dict[str, str | None] = {}
        for path in base_lists.keys() & compare_lists.keys():
            if path in forced:
                continue
            base_key, base_items = base_lists[path]
            compare_key, compare_items = compare_lists[path]
            if base_key is None and compare_key is None:
                continue
            if base_key == compare_key and _same_order(base_items, compare_items, base_key):
                continue
            conflicts[path] = next(
                (
                    key
                    for key in self.candidates(path)
                    if _keyable(base_items, key)
                    and _keyable(compare_items, key)
                    and _same_order(base_items, compare_items, key)
                ),
                None,
            )
        return conflicts

    def _changes(self, before: dict[str, Any], after: dict[str, Any]) -> list[tuple]:
        changes: list[tuple] = []
        append = changes.append
        missing = _MISSING
        get = after.get
        tolerant = self.tolerant
        for path, old in before.items():
            new = get(path, missing)
            if new is old:
                continue
            if new is missing:
                append((path, "removed", old, None))
                continue
            old_kind = type(old)
            if old_kind is type(new):
                if old == new or (tolerant and old_kind is float and self._close(old, new)):
                    continue
                append((path, "changed", old, new))
            elif (
                tolerant
                and old_kind in _NUMBERS
                and type(new) in _NUMBERS
                and self._close(old, new)
            ):
                continue
            else:
                append((path, "type_changed", old, new))
        if len(after) != len(before) or changes:
            for path in after.keys() - before.keys():
                append((path, "added", None, after[path]))
        return changes

    def _close(self, old: float, new: float) -> bool:
        try:
            return abs(old - new) <= max(self.rtol * max(abs(old), abs(new)), self.atol)
        except OverflowError:
            return False


_KEY_SEGMENTS: dict[str, str] = {}
"""`.key` or `["odd key"]` by key: the segment a key adds after a non-empty path."""
_KEY_SEGMENTS_MAX = 1 << 20
_POSITION_CACHE = 4096
_POSITION_SEGMENTS = tuple(f"[{index}]" for index in range(_POSITION_CACHE))


def _key_segment(key: Any, path: str) -> str:
    if type(key) is not str:
        raise RunReplayError(f"object key {key!r} at {path!r} is not a string")
    if not path:
        return key_segment(key, True)
    if len(_KEY_SEGMENTS) >= _KEY_SEGMENTS_MAX:
        _KEY_SEGMENTS.clear()
    segment = _KEY_SEGMENTS[key] = key_segment(key)
    return segment


def _keyable(items: list, key: str) -> bool:
    """Every element is an object holding `key` with a unique string or integer value."""
    seen = set()
    for element in items:
        if type(element) is not dict:
            return False
        value = element.get(key, _MISSING)
        kind = type(value)
        if (kind is not str and kind is not int) or value in seen:
            return False
        seen.add(value)
    return True


def _same_order(base_items: list, compare_items: list, key: str) -> bool:
    """The elements both lists hold (by key) appear in the same relative order."""
    base_values = [element[key] for element in base_items]
    compare_values = [element[key] for element in compare_items]
    if base_values == compare_values:
        return True
    in_base, in_compare = set(base_values), set(compare_values)
    return [value for value in base_values if value in in_compare] == [
        value for value in compare_values if value in in_base
    ]


class _Positions:
    """Turns a keyed path into the positional path of one run (as run_fields stores it)."""

    def __init__(
        self, lists: dict[str, tuple[str | None, list]], prefix: str, positional_prefix: str | None
    ):
        self.lists = lists
        self.prefix = prefix
        self.positional_prefix = prefix if positional_prefix is None else positional_prefix
        self.skip = len(parse_path(prefix)) if prefix else 0
        self.indexes: dict[str, dict] = {}

    def of(self, path: str) -> str:
        rest = path[len(self.prefix) :]
        if "=" not in rest:
            return self.positional_prefix + rest
        segments = parse_path(path)[self.skip :]
        if not any(isinstance(segment, Keyed) for segment in segments):
            return self.positional_prefix + rest
        keyed_prefix, positional = self.prefix, self.positional_prefix
        for segment in segments:
            if isinstance(segment, Keyed):
                index = self.indexes.get(keyed_prefix)
                if index is None:
                    key, items = self.lists[keyed_prefix]
                    index = self.indexes[keyed_prefix] = {
                        element[key]: number for number, element in enumerate(items)
                    }
                positional = join(positional, index[segment.value])
            else:
                positional = join(positional, segment)
            keyed_prefix = join(keyed_prefix, segment)
        return positional


def _path_order(row: tuple) -> str:
    """Sort rows by path, list positions and integer keys in numeric order."""
    return _PADDED_NUMBER.sub(lambda number: number.group(1).zfill(12), row[0])


# -- history ---------------------------------------------------------------------------


def _event_json(event: Mapping[str, Any] | None) -> dict | None:
    if event is None:
        return None
    return {
        "seq": event.get("seq"),
        "at": event.get("at"),
        "status": event.get("status"),
        "step": event.get("step"),
        "attempt": event.get("attempt"),
        "message": event.get("message"),
    }


def _same_event(base_event: Mapping, compare_event: Mapping) -> bool:
    return (
        base_event.get("step") == compare_event.get("step")
        and base_event["status"] == compare_event["status"]
        and base_event.get("attempt") == compare_event.get("attempt")
    )


def _pair_score(base_event: Mapping, compare_event: Mapping) -> int | None:
    if base_event.get("step") != compare_event.get("step"):
        return None
    return (
        1
        + 2 * (base_event["status"] == compare_event["status"])
        + (base_event.get("attempt") == compare_event.get("attempt"))
    )


def align_histories(base_events: list[Mapping], compare_events: list[Mapping]) -> list[dict]:
    """Align two event lists on (step, status) (see the module docstring).

    Returns rows {"op", "base", "compareTo"} with each side's event (seq, at, status, step,
    attempt, message) or None.
    """
    start = 0
    limit = min(len(base_events), len(compare_events))
    while start < limit and _same_event(base_events[start], compare_events[start]):
        start += 1
    base_end, compare_end = len(base_events), len(compare_events)
    while (
        base_end > start
        and compare_end > start
        and _same_event(base_events[base_end - 1], compare_events[compare_end - 1])
    ):
        base_end -= 1
        compare_end -= 1
    middle_base = base_events[start:base_end]
    middle_compare = compare_events[start:compare_end]
    if len(middle_base) * len(middle_compare) <= _ALIGN_MAX_CELLS:
        middle = _needleman_wunsch(middle_base, middle_compare)
    else:
        middle = _sequence_matcher(middle_base, middle_compare)
    pairs = (
        list(zip(base_events[:start], compare_events[:start], strict=True))
        + middle
        + list(zip(base_events[base_end:], compare_events[compare_end:], strict=True))
    )
    rows = []
    for base_event, compare_event in pairs:
        if base_event is None:
            op = "only_compare"
        elif compare_event is None:
            op = "only_base"
        else:
            op = "same" if _same_event(base_event, compare_event) else "differs"
        rows.append(
            {"op": op, "base": _event_json(base_event), "compareTo": _event_json(compare_event)}
        )
    return rows


def _needleman_wunsch(base_events: list, compare_events: list) -> list[tuple]:
    rows, cols = len(base_events), len(compare_events)
    if not rows or not cols:
        return [(event, None) for event in base_events] + [
            (None, event) for event in compare_events
        ]
    # score[i][j]: best score aligning base[:i] with compare[:j]; move: 0 diagonal, 1 base
    # event alone (only_base), 2 compare event alone (only_compare)
    score = [[0] * (cols + 1) for _ in range(rows + 1)]
    move = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        score[i][0] = i * _GAP
        move[i][0] = 1
    for j in range(1, cols + 1):
        score[0][j] = j * _GAP
        move[0][j] = 2
    for i in range(1, rows + 1):
        base_event = base_events[i - 1]
        previous, current, current_move = score[i - 1], score[i], move[i]
        for j in range(1, cols + 1):
            pair = _pair_score(base_event, compare_events[j - 1])
            # ties prefer a pair, then a compare event alone: tracing back from the end,
            # that puts a run of base-only events before the compare-only ones
            best, best_move = previous[j] + _GAP, 1
            if current[j - 1] + _GAP >= best:
                best, best_move = current[j - 1] + _GAP, 2
            if pair is not None and previous[j - 1] + pair >= best:
                best, best_move = previous[j - 1] + pair, 0
            current[j], current_move[j] = best, best_move
    pairs: list[tuple] = []
    i, j = rows, cols
    while i or j:
        step = move[i][j]
        if step == 0:
            pairs.append((base_events[i - 1], compare_events[j - 1]))
            i, j = i - 1, j - 1
        elif step == 1:
            pairs.append((base_events[i - 1], None))
            i -= 1
        else:
            pairs.append((None, compare_events[j - 1]))
            j -= 1
    pairs.reverse()
    return pairs


def _sequence_matcher(base_events: list, compare_events: list) -> list[tuple]:
    def token(event: Mapping) -> tuple:
        return (event.get("step"), event["status"], event.get("attempt"))

    matcher = difflib.SequenceMatcher(
        None, [token(e) for e in base_events], [token(e) for e in compare_events], autojunk=False
    )
    pairs: list[tuple] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.extend(zip(base_events[i1:i2], compare_events[j1:j2], strict=True))
        else:
            pairs.extend((event, None) for event in base_events[i1:i2])
            pairs.extend((None, event) for event in compare_events[j1:j2])
    return pairs


def _first_divergence(alignment: list[dict]) -> dict | None:
    for row_number, row in enumerate(alignment):
        if row["op"] == "same":
            continue
        base_event = compare_event = None
        for later in alignment[row_number:]:
            if base_event is None:
                base_event = later["base"]
            if compare_event is None:
                compare_event = later["compareTo"]
            if base_event is not None and compare_event is not None:
                break
        return {
            "row": row_number,
            "op": row["op"],
            "base": base_event,
            "compareTo": compare_event,
            "description": (
                f"base {describe_event(base_event)} vs compare {describe_event(compare_event)}"
            ),
        }
    return None


def _step_attempts(events: list[Mapping]) -> dict[str, int]:
    highest: dict[str, int] = {}
    running: dict[str, int] = {}
    for event in events:
        step = event.get("step")
        if step is None:
            continue
        attempt = event.get("attempt")
        if attempt is not None:
            highest[step] = max(highest.get(step, 0), attempt)
        else:
            highest.setdefault(step, 0)
        if event["status"] == "RUNNING":
            running[step] = running.get(step, 0) + 1
    return {step: top or max(running.get(step, 0), 1) for step, top in highest.items()}


def _retry_paths(events: list[Mapping]) -> dict[str, tuple]:
    paths: dict[str, list] = {}
    for event in events:
        step = event.get("step")
        if step is not None:
            paths.setdefault(step, []).append((event["status"], event.get("attempt")))
    return {step: tuple(path) for step, path in paths.items()}


def _attempts_and_retries(base_events: list, compare_events: list) -> tuple[list[dict], list[str]]:
    base_attempts, compare_attempts = _step_attempts(base_events), _step_attempts(compare_events)
    steps = list(base_attempts) + [step for step in compare_attempts if step not in base_attempts]
    counts = [
        {
            "step": step,
            "base": base_attempts.get(step, 0),
            "compareTo": compare_attempts.get(step, 0),
        }
        for step in steps
    ]
    base_paths, compare_paths = _retry_paths(base_events), _retry_paths(compare_events)
    differ = []
    for step in steps:
        base_path, compare_path = base_paths.get(step, ()), compare_paths.get(step, ())
        retried = (
            base_attempts.get(step, 0) > 1
            or compare_attempts.get(step, 0) > 1
            or any(status == "RETRYING" for status, _ in base_path + compare_path)
        )
        if retried and base_path != compare_path:
            differ.append(step)
    return counts, differ


# -- assets ----------------------------------------------------------------------------


def _asset_deltas(
    base_assets: list[dict], compare_assets: list[dict], comparer: _Comparer, ignore: tuple
) -> list[dict]:
    def by_key(assets: list[dict]) -> dict[tuple[str, int], tuple[int, dict]]:
        indexed: dict[tuple[str, int], tuple[int, dict]] = {}
        seen: dict[str, int] = {}
        for position, asset in enumerate(assets):
            key = asset["assetKey"]
            nth = seen.get(key, 0)
            seen[key] = nth + 1
            indexed[(key, nth)] = (position, asset)
        return indexed

    base_index, compare_index = by_key(base_assets), by_key(compare_assets)
    order = list(base_index) + [key for key in compare_index if key not in base_index]
    deltas = []
    for asset_key, nth in order:
        base_entry = base_index.get((asset_key, nth))
        compare_entry = compare_index.get((asset_key, nth))
        if nth == 0:
            prefix = "assets" + keyed_segment("assetKey", asset_key)
        else:  # a repeated key: name the snapshot by its position
            prefix = f"assets[{(base_entry or compare_entry)[0]}]"
        before = _asset_body(base_entry)
        after = _asset_body(compare_entry)
        changes = [
            {"path": path, "change": change, "before": old, "after": new}
            for path, change, old, new, base_path, compare_path in comparer.compare(
                before,
                after,
                prefix,
                None if base_entry is None else f"assets[{base_entry[0]}]",
                None if compare_entry is None else f"assets[{compare_entry[0]}]",
            )
            if not (ignore and _ignored(ignore, path, base_path, compare_path))
        ]
        payload_changed = freshness_changed = False
        for change in changes:
            if _is_freshness(change["path"], prefix):
                freshness_changed = True
            else:
                payload_changed = True
        if base_entry is None:
            kind = "added"
        elif compare_entry is None:
            kind = "removed"
        elif payload_changed:
            kind = "payload_changed"
        elif freshness_changed:
            kind = "freshness_changed"
        else:
            kind = "unchanged"
        deltas.append(
            {
                "assetKey": asset_key,
                "change": kind,
                "payloadChanged": payload_changed,
                "freshnessChanged": freshness_changed,
                "changes": changes,
            }
        )
    return deltas


def _asset_body(entry: tuple[int, dict] | None) -> dict:
    if entry is None:
        return {}
    return {key: value for key, value in entry[1].items() if key != "assetKey"}


def _is_freshness(path: str, prefix: str) -> bool:
    rest = path[len(prefix) :]
    return any(
        rest == part or rest.startswith((part + ".", part + "[")) for part in _FRESHNESS_PARTS
    )


# -- stale warnings --------------------------------------------------------------------


def _stale_warning(row: Mapping[str, Any]) -> dict:
    """{assetKey, lastUpdated, maxLagMinutes, reason} from camelCase or store-column keys."""

    def pick(*names: str) -> Any:
        for name in names:
            value = row.get(name)
            if value is None or value is pd.NaT:  # NaT: a freshness report without lastUpdated
                continue
            if not (isinstance(value, float) and math.isnan(value)):
                return value
        return None

    asset_key = pick("assetKey", "asset_key")
    if not isinstance(asset_key, str):
        raise RunReplayError(f"a stale warning needs an assetKey, got {dict(row)!r}")
    last_updated = pick("lastUpdated", "last_updated")
    if last_updated is not None and not isinstance(last_updated, str):
        last_updated = format_timestamp(pd.Timestamp(last_updated).to_pydatetime())
    lag = pick("maxLagMinutes", "max_lag_minutes")
    if isinstance(lag, float) and lag.is_integer():
        lag = int(lag)
    elif lag is not None and not isinstance(lag, int | float):
        lag = float(lag)
    reason = pick("reason")
    return {
        "assetKey": asset_key,
        "lastUpdated": last_updated,
        "maxLagMinutes": lag,
        "reason": reason if reason is not None else "stale",
    }


def stale_warnings_from(frame: pd.DataFrame) -> list[dict]:
    """Stale warnings from `Store.stale_assets(...)` rows (asset_key, last_updated, ...)."""
    return [_stale_warning(row) for row in frame.to_dict("records")]


# -- DataFrames and JSON rows ----------------------------------------------------------


def _fields_frame(field_changes: list[dict]) -> pd.DataFrame:
    def column(name: str) -> list:
        return [row[name] for row in field_changes]

    return pd.DataFrame(
        columns=list(FIELD_COLUMNS),
        data={
            "section": pd.Series(column("section"), dtype=object),
            "path": pd.Series(column("path"), dtype=object),
            "change": pd.Series(column("change"), dtype=object),
            "before": pd.Series(column("before"), dtype=object),
            "after": pd.Series(column("after"), dtype=object),
            "volatile": pd.Series(column("volatile"), dtype=bool),
            "base_path": pd.Series(column("basePath"), dtype=object),
            "compare_path": pd.Series(column("comparePath"), dtype=object),
        },
    )


def _history_frame(alignment: list[dict]) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {}
    for side, name in (("base", "base"), ("compareTo", "compare")):
        events = [row[side] or {} for row in alignment]
        for key in HISTORY_SIDE_COLUMNS:
            values = [event.get(key) for event in events]
            if key in ("seq", "attempt"):
                series = pd.Series(values, dtype="Int64")
            elif key == "at":
                series = pd.Series(
                    pd.to_datetime(values, utc=True, format="ISO8601"), dtype="datetime64[us, UTC]"
                )
            else:
                series = pd.Series(values, dtype=object)
            columns[f"{name}_{key}"] = series
        if name == "base":
            columns["op"] = pd.Series([row["op"] for row in alignment], dtype=object)
    return pd.DataFrame(columns, columns=list(HISTORY_COLUMNS))


def _field_change_from(row: Mapping[str, Any]) -> dict:
    try:
        change = {
            "section": row["section"],
            "path": row["path"],
            "change": row["change"],
            "before": row.get("before"),
            "after": row.get("after"),
            "volatile": bool(row.get("volatile", False)),
            "basePath": row.get("basePath"),
            "comparePath": row.get("comparePath"),
        }
    except (KeyError, TypeError, AttributeError):
        raise RunReplayError(
            f"a fieldChanges entry needs section, path and change: {row!r}"
        ) from None
    if change["change"] not in CHANGE_KINDS:
        raise RunReplayError(f"unknown change kind {change['change']!r} in fieldChanges")
    return change


def _attempt_count_from(row: Mapping[str, Any]) -> dict:
    try:
        return {"step": row["step"], "base": int(row["base"]), "compareTo": int(row["compareTo"])}
    except (KeyError, TypeError, ValueError):
        raise RunReplayError(
            f"a history attempts entry needs step, base, compareTo: {row!r}"
        ) from None


def _alignment_row_from(row: Mapping[str, Any]) -> dict:
    if (
        not isinstance(row, Mapping)
        or row.get("op") not in HISTORY_OPS
        or not all(isinstance(row.get(side), Mapping | None) for side in ("base", "compareTo"))
    ):
        raise RunReplayError(
            f"a history alignment row needs op in {HISTORY_OPS} and base / compareTo events "
            f"(objects or null): {row!r}"
        )
    return {
        "op": row["op"],
        "base": _event_json(row.get("base")),
        "compareTo": _event_json(row.get("compareTo")),
    }


def _asset_delta_from(row: Mapping[str, Any]) -> dict:
    if not isinstance(row, Mapping) or row.get("change") not in ASSET_CHANGES:
        raise RunReplayError(f"an assetDeltas entry needs change in {ASSET_CHANGES}: {row!r}")
    return {
        "assetKey": row["assetKey"],
        "change": row["change"],
        "payloadChanged": bool(row.get("payloadChanged", False)),
        "freshnessChanged": bool(row.get("freshnessChanged", False)),
        "changes": [
            {
                "path": change["path"],
                "change": change["change"],
                "before": change.get("before"),
                "after": change.get("after"),
            }
            for change in row.get("changes") or ()
        ],
    }


# -- summary ---------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _summary(run_diff: RunDiff) -> str:
    parts = []
    rows = run_diff.field_changes
    if rows:
        counts: dict[str, dict[str, int]] = {}
        volatile = 0
        for row in rows:
            per_kind = counts.setdefault(row["section"], {})
            per_kind[row["change"]] = per_kind.get(row["change"], 0) + 1
            volatile += row["volatile"]
        sections = [
            f"{section} "
            + ", ".join(
                f"{counts[section][kind]} {kind.replace('_', ' ')}"
                for kind in CHANGE_KINDS
                if kind in counts[section]
            )
            for section in SECTIONS
            if section in counts
        ]
        text = f"{_plural(len(rows), 'field change')} ({'; '.join(sections)})"
        if volatile:
            text += f", {volatile} volatile"
        parts.append(text)
    else:
        parts.append("no field changes")
    divergence = run_diff.first_divergence
    if divergence is not None:
        parts.append(f"history diverges at row {divergence['row']}: {divergence['description']}")
    elif run_diff.alignment:
        parts.append("histories match")
    if run_diff.retry_paths_differ:
        parts.append(f"retry paths differ in {', '.join(run_diff.retry_paths_differ)}")
    asset_counts: dict[str, int] = {}
    for delta in run_diff.asset_deltas:
        asset_counts[delta["change"]] = asset_counts.get(delta["change"], 0) + 1
    changed_assets = [
        f"{asset_counts[kind]} {kind.replace('_', ' ')}"
        for kind in ASSET_CHANGES[:-1]
        if kind in asset_counts
    ]
    if changed_assets:
        parts.append(f"assets: {', '.join(changed_assets)}")
    elif run_diff.asset_deltas:
        parts.append("assets unchanged")
    if run_diff.stale_warnings:
        keys = ", ".join(warning["assetKey"] for warning in run_diff.stale_warnings)
        parts.append(f"{_plural(len(run_diff.stale_warnings), 'stale asset')} ({keys})")
    base_id = run_diff.base_run.get("runId", "base")
    compare_id = run_diff.compare_run.get("runId", "compare")
    return f"{base_id} → {compare_id}: " + "; ".join(parts)


# -- store integration -----------------------------------------------------------------


def volatile_paths(
    store: RunStore,
    workflow_id: str,
    threshold: float = VOLATILE_THRESHOLD,
    *,
    min_pairs: int = VOLATILE_MIN_PAIRS,
    recent: int | None = VOLATILE_RECENT_RUNS,
) -> set[str]:
    """Paths whose value changes between consecutive runs of a workflow in >= `threshold` of pairs.

    Runs are ordered by createdAt; a pair counts for a path when both runs hold it. A path
    needs at least `min_pairs` such pairs. Only the workflow's `recent` newest runs count
    (None: all of them), so the cost stays flat at millions of runs. Paths are positional
    (as in run_fields); run fields (status, runKey, partitionKey, replayOf, duration) are
    included.
    """
    if not 0 < threshold <= 1:
        raise RunReplayError(f"threshold must be in (0, 1], got {threshold!r}")
    if min_pairs < 1:
        raise RunReplayError(f"min_pairs must be >= 1, got {min_pairs!r}")
    if recent is not None and (isinstance(recent, bool) or not isinstance(recent, int)):
        raise RunReplayError(f"recent must be a number of runs or None, got {recent!r}")
    if recent is not None and recent < 2:
        raise RunReplayError(f"recent must be at least 2 runs (one pair), got {recent!r}")
    return fieldstats.volatile_paths(store.connection, workflow_id, threshold, min_pairs, recent)


def diff_stored(
    store: RunStore,
    base_run_id: str,
    compare_run_id: str,
    *,
    now: Any = None,
    hide_volatile: bool = False,
    volatile_threshold: float = VOLATILE_THRESHOLD,
    volatile: Iterable[str] | None = None,
    stale_warnings: list[dict[str, Any]] | None = None,
    **options: Any,
) -> RunDiff:
    """Diff two stored runs: volatile paths learned from the base run's workflow, stale
    warnings for the base run's assets at `now` (default: the current time).

    A caller that diffs many pairs (the compare panel) passes `volatile` and
    `stale_warnings` it computed once, so each further diff costs two run reads. `options`
    go to `diff_runs` (ignore, list_keys, rtol, atol). Raises RunNotFound for an unknown
    run id.
    """
    base_run = store.run(base_run_id)
    compare_run = store.run(compare_run_id)
    if volatile is None:
        volatile = volatile_paths(store, base_run["workflowId"], volatile_threshold)
    warnings = (
        stale_warnings
        if stale_warnings is not None
        else stale_warnings_from(store.stale_assets(base_run_id, now))
    )
    run_diff = diff_runs(
        base_run, compare_run, volatile=volatile, stale_warnings=warnings, **options
    )
    return run_diff.without_volatile() if hide_volatile else run_diff

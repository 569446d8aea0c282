"""diff_runs / RunDiff: field changes, keyed lists, tolerance, histories, assets, JSON, the store."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runreplay
from runreplay.diff import (
    FIELD_COLUMNS,
    HISTORY_COLUMNS,
    RunDiff,
    align_histories,
    diff_runs,
    diff_stored,
    stale_warnings_from,
    volatile_paths,
)
from runreplay.errors import InvalidPath, InvalidRunRecord, RunNotFound, RunReplayError
from runreplay.paths import Keyed, parse_path
from tests.conftest import SAMPLE, make_record
from tests.strategies import json_keys, json_scalars, nested, same_json

OBJECT_SECTIONS = ("parameters", "context", "output", "triggerPayload")


def changes(run_diff: RunDiff, section: str | None = None) -> list[tuple]:
    """(section, path, change, before, after) of every field change, optionally of one section."""
    return [
        (row["section"], row["path"], row["change"], row["before"], row["after"])
        for row in run_diff.field_changes
        if section is None or row["section"] == section
    ]


def event(seq, status, step=None, attempt=None, message=None, minute=0):
    out = {"seq": seq, "at": f"2026-11-20T01:{minute + seq:02d}:00Z", "status": status}
    if step is not None:
        out["step"] = step
    if attempt is not None:
        out["attempt"] = attempt
    if message is not None:
        out["message"] = message
    return out


# -- change kinds per section ----------------------------------------------------------


@pytest.mark.parametrize("section", OBJECT_SECTIONS)
@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, ("b", "added", None, 2)),
        ({"a": 1, "b": 2}, {"a": 1}, ("b", "removed", 2, None)),
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, ("b", "changed", 2, 3)),
        ({"a": 1, "b": 2}, {"a": 1, "b": "2"}, ("b", "type_changed", 2, "2")),
    ],
    ids=["added", "removed", "changed", "type_changed"],
)
def test_each_change_kind_in_each_section(section, before, after, expected):
    run_diff = diff_runs(
        make_record("a", **{section: before}), make_record("b", **{section: after})
    )
    path, change, old, new = expected
    assert changes(run_diff) == [(section, f"{section}.{path}", change, old, new)]
    assert list(run_diff.fields.columns) == list(FIELD_COLUMNS)
    row = run_diff.fields.iloc[0]
    assert (row["section"], row["change"], bool(row["volatile"])) == (section, change, False)


@pytest.mark.parametrize(
    ("field", "before", "after", "change"),
    [
        ("status", "SUCCEEDED", "FAILED", "changed"),
        ("runKey", "nightly-etl:2026-11-20", "nightly-etl:2026-11-21", "changed"),
        ("partitionKey", "2026-11-20", None, "removed"),
        ("replayOf", None, "run-000001", "added"),
    ],
)
def test_run_fields_form_the_run_section(field, before, after, change):
    run_diff = diff_runs(make_record("a", **{field: before}), make_record("b", **{field: after}))
    assert changes(run_diff) == [("run", field, change, before, after)]


def test_duration_is_compared_in_seconds():
    base = make_record("a", startedAt="2026-11-20T01:00:00Z", finishedAt="2026-11-20T01:10:00Z")
    slower = make_record("b", startedAt="2026-11-20T01:00:00Z", finishedAt="2026-11-20T01:12:30Z")
    assert changes(diff_runs(base, slower)) == [("run", "duration", "changed", 600.0, 750.0)]
    assert changes(diff_runs(base, slower, rtol=0.3)) == []
    no_finish = make_record("c", finishedAt=None)
    assert changes(diff_runs(base, no_finish)) == [("run", "duration", "removed", 600.0, None)]


def test_unknown_top_level_keys_are_compared_too():
    run_diff = diff_runs(
        make_record("a", team={"owner": "ana"}), make_record("b", team={"owner": "bo"})
    )
    assert changes(run_diff) == [("run", "team.owner", "changed", "ana", "bo")]


def test_identical_runs_have_an_empty_diff():
    run_diff = diff_runs(make_record("a"), make_record("b"))
    assert run_diff.field_changes == []
    assert run_diff.fields.empty
    assert run_diff.first_divergence is None
    assert run_diff.is_empty
    assert run_diff.summary == "a → b: no field changes; histories match; assets unchanged"


# -- values: types, tolerance, quoting, empties, depth ---------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (1, 1.0),
        (1, "1"),
        (1, True),
        (1.0, "1"),
        (True, "true"),
        (None, 0),
        (0, False),
        ({}, []),
        ([], None),
        ("", None),
    ],
)
def test_values_of_different_types_are_type_changes(before, after):
    run_diff = diff_runs(
        make_record("a", output={"v": before}), make_record("b", output={"v": after})
    )
    ((_, path, change, old, new),) = changes(run_diff)
    assert (path, change) == ("output.v", "type_changed")
    assert type(old) is type(before) and type(new) is type(after)
    mirrored = diff_runs(
        make_record("b", output={"v": after}), make_record("a", output={"v": before})
    )
    assert changes(mirrored)[0][2] == "type_changed"


@pytest.mark.parametrize(("before", "after"), [(1, 2), ("a", "b"), (True, False), (0.5, 0.25)])
def test_values_of_the_same_type_are_changes(before, after):
    run_diff = diff_runs(
        make_record("a", output={"v": before}), make_record("b", output={"v": after})
    )
    assert changes(run_diff) == [("output", "output.v", "changed", before, after)]


@pytest.mark.parametrize(
    ("before", "after", "options", "expected"),
    [
        (1.0, 1.0005, {"rtol": 1e-3}, None),
        (1.0, 1.01, {"rtol": 1e-3}, "changed"),
        (0.001, 0.005, {"atol": 0.01}, None),
        (0.001, 0.05, {"atol": 0.01}, "changed"),
        (1000.0, 1000.4, {"rtol": 1e-9, "atol": 0.5}, None),
        (100, 101, {"rtol": 0.1}, "changed"),  # integers are counts: exact
        (1, 1.0, {}, "type_changed"),
        (1, 1.0, {"rtol": 1e-9}, None),  # a serialiser dropped the ".0"
        (1, 1.5, {"rtol": 1e-9}, "type_changed"),
        (True, 1.0, {"atol": 1.0}, "type_changed"),  # booleans are never numbers
        (0.1 + 0.2, 0.3, {}, "changed"),
        (0.1 + 0.2, 0.3, {"rtol": 1e-12}, None),
    ],
)
def test_tolerance_applies_to_floats(before, after, options, expected):
    run_diff = diff_runs(
        make_record("a", output={"m": before}), make_record("b", output={"m": after}), **options
    )
    assert [row["change"] for row in run_diff.field_changes] == ([expected] if expected else [])


@pytest.mark.parametrize("options", [{"rtol": -1e-3}, {"atol": -1.0}, {"rtol": float("nan")}])
def test_negative_or_nan_tolerance_is_refused(options):
    with pytest.raises(RunReplayError, match="rtol and atol"):
        diff_runs(make_record("a"), make_record("b"), **options)


def test_odd_keys_are_quoted_in_paths():
    base = {"p@10": 0.4, "a.b": 1, "": 2, 'say "hi"': 3, "名前": 4, "x y": {"[0]": 5}}
    compare = {
        key: (value + 1 if isinstance(value, int | float) else value) for key, value in base.items()
    }
    compare["x y"] = {"[0]": 6}
    run_diff = diff_runs(make_record("a", output=base), make_record("b", output=compare))
    paths = [row["path"] for row in run_diff.field_changes]
    assert set(paths) == {
        'output["p@10"]',
        'output["a.b"]',
        'output[""]',
        r'output["say \"hi\""]',
        'output["名前"]',
        'output["x y"]["[0]"]',
    }
    for path in paths:
        assert parse_path(path)[0] == "output"


def test_empty_sections_and_containers():
    assert changes(
        diff_runs(make_record("a", parameters={}), make_record("b", parameters={"a": 1}))
    ) == [("parameters", "parameters.a", "added", None, 1)]
    assert (
        changes(diff_runs(make_record("a", parameters=None), make_record("b", parameters={}))) == []
    )
    # an empty object is a leaf: filling it removes that leaf and adds the new ones
    assert changes(
        diff_runs(
            make_record("a", parameters={"m": {}}), make_record("b", parameters={"m": {"d": 6}})
        )
    ) == [
        ("parameters", "parameters.m", "removed", {}, None),
        ("parameters", "parameters.m.d", "added", None, 6),
    ]


def test_null_is_a_value_not_an_absence():
    assert changes(
        diff_runs(make_record("a", context={"h": None}), make_record("b", context={}))
    ) == [("context", "context.h", "removed", None, None)]
    assert (
        changes(
            diff_runs(make_record("a", context={"h": None}), make_record("b", context={"h": None}))
        )
        == []
    )


def test_scalar_replaced_by_an_object_is_a_removal_and_leaf_additions():
    run_diff = diff_runs(
        make_record("a", output={"x": 1}), make_record("b", output={"x": {"y": 2, "z": []}})
    )
    assert changes(run_diff) == [
        ("output", "output.x", "removed", 1, None),
        ("output", "output.x.y", "added", None, 2),
        ("output", "output.x.z", "added", None, []),
    ]


def test_depth_1000_diffs_without_recursion():
    deep = nested(1000, "mixed")
    run_diff = diff_runs(
        make_record("a", parameters={"deep": deep}), make_record("b", parameters={"deep": deep})
    )
    assert run_diff.field_changes == []
    different = nested(1000, "dict")
    other = nested(1000, "dict", bottom="changed bottom")
    run_diff = diff_runs(make_record("a", parameters=different), make_record("b", parameters=other))
    ((_, path, change, old, new),) = changes(run_diff)
    assert (change, old, new) == ("changed", "bottom", "changed bottom")
    assert len(parse_path(path)) == 1001


def test_paths_sort_list_positions_numerically():
    run_diff = diff_runs(
        make_record("a", output={"xs": list(range(12))}),
        make_record("b", output={"xs": [value + 1 for value in range(12)]}),
    )
    assert [row["path"] for row in run_diff.field_changes] == [f"output.xs[{i}]" for i in range(12)]


# -- lists -----------------------------------------------------------------------------

STEPS = [
    {"name": "extract", "retries": 2},
    {"name": "transform", "retries": 0},
    {"name": "load", "retries": 1},
]


def test_keyed_list_insertion_reports_one_addition():
    inserted = [STEPS[0], {"name": "validate", "retries": 0}, *STEPS[1:]]
    run_diff = diff_runs(
        make_record("a", parameters={"steps": STEPS}),
        make_record("b", parameters={"steps": inserted}),
    )
    assert [(row["path"], row["change"], row["after"]) for row in run_diff.field_changes] == [
        ('parameters.steps[name="validate"].name', "added", "validate"),
        ('parameters.steps[name="validate"].retries', "added", 0),
    ]
    assert [row["comparePath"] for row in run_diff.field_changes] == [
        "parameters.steps[1].name",
        "parameters.steps[1].retries",
    ]
    assert {row["basePath"] for row in run_diff.field_changes} == {None}


def test_keyed_elements_keep_their_paths_when_positions_shift():
    inserted = [{"name": "prepare", "retries": 0}, *copy.deepcopy(STEPS)]
    inserted[3]["retries"] = 5  # load
    run_diff = diff_runs(
        make_record("a", parameters={"steps": STEPS}),
        make_record("b", parameters={"steps": inserted}),
    )
    (load,) = [row for row in run_diff.field_changes if row["change"] == "changed"]
    assert load["path"] == 'parameters.steps[name="load"].retries'
    assert (load["basePath"], load["comparePath"]) == (
        "parameters.steps[2].retries",
        "parameters.steps[3].retries",
    )
    assert (load["before"], load["after"]) == (1, 5)


def test_positional_lists_compare_by_index():
    run_diff = diff_runs(
        make_record("a", parameters={"xs": ["a", "b", "c"]}),
        make_record("b", parameters={"xs": ["z", "a", "b", "c"]}),
    )
    assert changes(run_diff) == [
        ("parameters", "parameters.xs[0]", "changed", "a", "z"),
        ("parameters", "parameters.xs[1]", "changed", "b", "a"),
        ("parameters", "parameters.xs[2]", "changed", "c", "b"),
        ("parameters", "parameters.xs[3]", "added", None, "c"),
    ]


@pytest.mark.parametrize(
    ("key", "elements"),
    [
        ("id", [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]),  # names repeat: id wins anyway
        ("name", [{"name": "a", "v": 1}, {"name": "b", "v": 2}]),
        ("key", [{"key": "a", "v": 1}, {"key": "b", "v": 2}]),
        ("assetKey", [{"assetKey": "w/a", "v": 1}, {"assetKey": "w/b", "v": 2}]),
    ],
)
def test_id_like_keys_make_lists_keyed(key, elements):
    extra = {key: 99 if key == "id" else "new", "v": 0} if key != "id" else {"id": 99, "name": "z"}
    run_diff = diff_runs(
        make_record("a", output={"items": elements}),
        make_record("b", output={"items": [extra, *elements]}),
    )
    assert {row["change"] for row in run_diff.field_changes} == {"added"}
    assert all(isinstance(parse_path(row["path"])[2], Keyed) for row in run_diff.field_changes)
    assert {parse_path(row["path"])[2].key for row in run_diff.field_changes} == {key}


def test_list_keys_configures_the_key_per_path():
    base = [{"stepId": "s1", "v": 1}, {"stepId": "s2", "v": 2}]
    compare = [{"stepId": "s0", "v": 0}, *base]
    keyed = diff_runs(
        make_record("a", parameters={"plan": base}),
        make_record("b", parameters={"plan": compare}),
        list_keys={"parameters.plan": "stepId"},
    )
    assert [row["path"] for row in keyed.field_changes] == [
        'parameters.plan[stepId="s0"].stepId',
        'parameters.plan[stepId="s0"].v',
    ]
    positional = diff_runs(
        make_record("a", parameters={"steps": STEPS}),
        make_record("b", parameters={"steps": [STEPS[1], STEPS[2]]}),
        list_keys={"parameters.steps": None},
    )
    assert all("=" not in row["path"] for row in positional.field_changes)
    # both remaining elements shifted: four leaves changed, the last element's two removed
    assert [row["change"] for row in positional.field_changes] == ["changed"] * 4 + ["removed"] * 2


@pytest.mark.parametrize(
    ("base", "compare"),
    [
        ([{"id": 1, "v": 1}, {"id": 2, "v": 2}], [{"id": 2, "v": 2}, {"id": 1, "v": 1}]),  # reorder
        (
            [{"id": 1, "v": 1}, {"id": 1, "v": 2}],
            [{"id": 1, "v": 1}, {"id": 1, "v": 3}],
        ),  # duplicate ids
        ([{"id": 1, "v": 1}, {"v": 2}], [{"id": 1, "v": 1}, {"v": 3}]),  # an element without id
        ([{"id": 1.5, "v": 1}], [{"id": 1.5, "v": 2}]),  # a float is not an id
    ],
    ids=["reordered", "duplicate-ids", "missing-id", "float-id"],
)
def test_lists_that_cannot_be_keyed_are_positional(base, compare):
    run_diff = diff_runs(
        make_record("a", output={"items": base}), make_record("b", output={"items": compare})
    )
    assert run_diff.field_changes
    assert all("=" not in row["path"] for row in run_diff.field_changes)


def test_changing_an_elements_key_is_a_removal_and_an_addition():
    run_diff = diff_runs(
        make_record("a", output={"items": [{"id": 1, "v": 1}, {"id": 2, "v": 2}]}),
        make_record("b", output={"items": [{"id": 1, "v": 1}, {"id": 3, "v": 2}]}),
    )
    assert [(row["path"], row["change"]) for row in run_diff.field_changes] == [
        ("output.items[id=2].id", "removed"),
        ("output.items[id=2].v", "removed"),
        ("output.items[id=3].id", "added"),
        ("output.items[id=3].v", "added"),
    ]


def test_nested_keyed_lists():
    base = [{"name": "a", "tasks": [{"id": 1, "t": 1}, {"id": 2, "t": 2}]}]
    compare = [
        {"name": "z"},
        {"name": "a", "tasks": [{"id": 0, "t": 0}, {"id": 1, "t": 1}, {"id": 2, "t": 3}]},
    ]
    run_diff = diff_runs(
        make_record("a", parameters={"stages": base}),
        make_record("b", parameters={"stages": compare}),
    )
    assert [(row["path"], row["change"], row["comparePath"]) for row in run_diff.field_changes] == [
        ('parameters.stages[name="a"].tasks[id=0].id', "added", "parameters.stages[1].tasks[0].id"),
        ('parameters.stages[name="a"].tasks[id=0].t', "added", "parameters.stages[1].tasks[0].t"),
        ('parameters.stages[name="a"].tasks[id=2].t', "changed", "parameters.stages[1].tasks[2].t"),
        ('parameters.stages[name="z"].name', "added", "parameters.stages[0].name"),
    ]


# -- ignore and volatile ---------------------------------------------------------------


def test_ignore_globs_remove_paths():
    base = make_record(
        "a",
        context={"host": "w1", "image": "etl:1"},
        output={"metrics": {"auc": 0.9, "p@10": 0.4}, "timestamp": "t1", "n": 1},
        parameters={"steps": STEPS},
    )
    changed_steps = copy.deepcopy(STEPS)
    changed_steps[0]["retries"] = 9
    compare = make_record(
        "b",
        context={"host": "w2", "image": "etl:2"},
        output={"metrics": {"auc": 0.8, "p@10": 0.3}, "timestamp": "t2", "n": 2},
        parameters={"steps": changed_steps},
    )
    everything = {row["path"] for row in diff_runs(base, compare).field_changes}
    assert len(everything) == 7
    kept = diff_runs(base, compare, ignore=["context.host", "*.timestamp", "output.metrics.*"])
    assert {row["path"] for row in kept.field_changes} == {
        "context.image",
        "output.n",
        'parameters.steps[name="extract"].retries',
    }
    assert diff_runs(base, compare, ignore=["parameters.steps[*].retries"]).fields.path.tolist() == [
        "context.host", "context.image", "output.metrics.auc", 'output.metrics["p@10"]',
        "output.n", "output.timestamp",
    ]  # fmt: skip
    by_position = diff_runs(base, compare, ignore=["parameters.steps[0]"])
    assert not any(row["section"] == "parameters" for row in by_position.field_changes)


def test_bad_ignore_glob_raises_invalid_path():
    with pytest.raises(InvalidPath, match="at character"):
        diff_runs(make_record("a"), make_record("b"), ignore=["context..host"])


def test_invalid_records_are_refused():
    with pytest.raises(InvalidRunRecord, match="status"):
        diff_runs(make_record("a"), make_record("b", status="BROKEN"))


def test_volatile_paths_are_marked_and_can_be_dropped():
    base = make_record("a", context={"host": "w1", "image": "etl:1"}, parameters={"steps": STEPS})
    shifted = [{"name": "prepare", "retries": 0}, {**STEPS[0], "retries": 7}, *STEPS[1:]]
    compare = make_record(
        "b", context={"host": "w2", "image": "etl:2"}, parameters={"steps": shifted}
    )
    run_diff = diff_runs(base, compare, volatile={"context.host", "parameters.steps[0].retries"})
    flags = {row["path"]: row["volatile"] for row in run_diff.field_changes}
    assert flags == {
        "context.host": True,
        "context.image": False,
        'parameters.steps[name="extract"].retries': True,  # base position 0
        'parameters.steps[name="prepare"].name': False,
        'parameters.steps[name="prepare"].retries': True,  # compare position 0
    }
    assert run_diff.fields.volatile.tolist() == list(flags.values())
    quiet = run_diff.without_volatile()
    assert [row["path"] for row in quiet.field_changes] == [
        'parameters.steps[name="prepare"].name',
        "context.image",
    ]
    assert "volatile" in run_diff.summary and "volatile" not in quiet.summary


# -- hypothesis: empty, patch, mirror --------------------------------------------------

keyed_elements = st.fixed_dictionaries(
    {"id": st.integers(0, 5)}, optional={"v": json_scalars, "name": st.sampled_from(["a", "b"])}
)
values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(json_keys, children, max_size=4),
        st.lists(keyed_elements, max_size=5),
        st.lists(
            st.fixed_dictionaries({"name": st.sampled_from("abcdef"), "x": children}), max_size=4
        ),
    ),
    max_leaves=20,
)
sections = st.fixed_dictionaries(
    {name: st.dictionaries(json_keys, values, max_size=4) for name in OBJECT_SECTIONS}
)


@st.composite
def variant(draw, value):
    """A value like `value`: leaves changed, keys added and removed, elements inserted and dropped."""
    roll = draw(st.integers(0, 19))
    if roll == 0:
        return draw(values)
    if type(value) is dict:
        out = {}
        for key, child in value.items():
            action = draw(st.integers(0, 9))
            if action == 0:
                continue
            out[key] = draw(variant(child)) if action < 5 else child
        if draw(st.integers(0, 3)) == 0:
            out[draw(json_keys)] = draw(values)
        return out
    if type(value) is list:
        out = [
            draw(variant(child)) if draw(st.booleans()) else child
            for child in value
            if draw(st.integers(0, 5))
        ]
        if draw(st.integers(0, 2)) == 0:
            out.insert(draw(st.integers(0, len(out))), draw(st.one_of(keyed_elements, values)))
        return out
    return draw(json_scalars) if roll < 6 else value


@st.composite
def section_pairs(draw):
    base = draw(sections)
    if draw(st.integers(0, 4)) == 0:
        return base, draw(sections)  # unrelated runs
    compare = {}
    for name in OBJECT_SECTIONS:
        section = draw(variant(base[name]))
        compare[name] = section if type(section) is dict else {}
    return base, compare


_HOLE = object()


def _find(items: list, segment: Keyed):
    for element in items:
        held = element.get(segment.key, _HOLE)
        if type(held) is type(segment.value) and held == segment.value:
            return element
    raise AssertionError(f"no element {segment} in {items!r}")


def _child(parent, segment):
    return _find(parent, segment) if isinstance(segment, Keyed) else parent[segment]


def apply_changes(document: dict, field_changes: list[dict]) -> dict:
    """Patch `document` with a diff's field changes (the test's own, independent patch).

    Changes and removals first (removal deletes a leaf and prunes the objects, keyed elements
    and lists it leaves empty; an emptied positional element becomes a hole), then additions
    in the compare run's positional order (inserting keyed elements where the compare run has
    them), then trailing holes go.
    """
    document = copy.deepcopy(document)
    for row in field_changes:
        if row["change"] in ("changed", "type_changed"):
            *parents, last = parse_path(row["path"])
            target = document
            for segment in parents:
                target = _child(target, segment)
            target[last] = row["after"]
    removals = []  # resolved before any removal: a keyed element may lose its key leaf first
    for row in field_changes:
        if row["change"] == "removed":
            chain = [document]
            segments = parse_path(row["path"])
            for segment in segments[:-1]:
                chain.append(_child(chain[-1], segment))
            removals.append((chain, segments))
    for chain, segments in removals:
        for depth in range(len(segments) - 1, -1, -1):
            parent, segment = chain[depth], segments[depth]
            if isinstance(segment, int):
                parent[segment] = _HOLE
                if any(element is not _HOLE for element in parent):
                    break
                continue  # a list of holes only is empty: its parent loses it
            if isinstance(segment, Keyed):  # find the emptied element by identity
                del parent[next(i for i, e in enumerate(parent) if e is chain[depth + 1])]
            else:
                del parent[segment]
            if parent or depth == 0:
                break
    added = [row for row in field_changes if row["change"] == "added"]
    added.sort(
        key=lambda row: [
            (0, s) if isinstance(s, str) else (1, s) for s in parse_path(row["comparePath"])
        ]
    )
    for row in added:
        segments, positions = parse_path(row["path"]), parse_path(row["comparePath"])
        target = document
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            fresh = row["after"] if last else ({} if isinstance(segments[depth + 1], str) else [])
            # a container of the other kind was emptied by the removals: replace it
            if isinstance(segment, str):
                if last or type(target.get(segment)) is not type(fresh):
                    target[segment] = fresh
                target = target[segment]
            elif isinstance(segment, int):
                if segment == len(target):
                    target.append(fresh)
                elif last or type(target[segment]) is not type(fresh):
                    target[segment] = fresh
                target = target[segment]
            else:
                found = next(
                    (
                        e
                        for e in target
                        if e.get(segment.key, _HOLE) == segment.value
                        and type(e.get(segment.key)) is type(segment.value)
                    ),
                    None,
                )
                if found is None:  # a new element, holding its key from the start
                    found = {segment.key: segment.value}
                    target.insert(positions[depth], found)
                target = found
    _strip_holes(document)
    return document


def _strip_holes(value) -> bool:
    """Drop trailing holes; True when that emptied `value` (so its parent drops it too)."""
    if type(value) is list:
        # emptied keyed elements go wherever they are; a correct diff only leaves holes and
        # emptied positional elements at the end of a list
        kept = [child for child in value if child is _HOLE or not _strip_holes(child)]
        emptied = len(kept) < len(value) or (bool(kept) and kept[-1] is _HOLE)
        while kept and kept[-1] is _HOLE:
            kept.pop()
        assert _HOLE not in kept, "a hole inside a list: positions would shift"
        value[:] = kept
        return emptied and not value
    if type(value) is dict:
        emptied = [key for key, child in value.items() if _strip_holes(child)]
        for key in emptied:
            del value[key]
        return bool(emptied) and not value
    return False


def _mirror(row: dict) -> tuple:
    swap = {"added": "removed", "removed": "added"}
    return (
        row["section"], row["path"], swap.get(row["change"], row["change"]),
        json.dumps(row["after"]), json.dumps(row["before"]), row["comparePath"], row["basePath"],
    )  # fmt: skip


def _row(row: dict) -> tuple:
    return (
        row["section"], row["path"], row["change"], json.dumps(row["before"]),
        json.dumps(row["after"]), row["basePath"], row["comparePath"],
    )  # fmt: skip


def _pair(pair):
    base, compare = pair
    return make_record("a", **base), make_record("b", **compare)


@given(sections)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_diff_of_a_run_with_itself_is_empty(base):
    record = make_record("a", **base)
    run_diff = diff_runs(record, copy.deepcopy(record))
    assert run_diff.field_changes == []
    assert run_diff.is_empty


@given(section_pairs())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_applying_the_changes_to_base_gives_compare(pair):
    base, compare = pair
    run_diff = diff_runs(*_pair(pair))
    rows = [row for row in run_diff.field_changes if row["section"] != "run"]
    patched = apply_changes(base, rows)
    for name in OBJECT_SECTIONS:
        patched.setdefault(name, {})
    assert same_json(_sorted_keys(patched), _sorted_keys(compare))


def _sorted_keys(value):
    """The value with object keys sorted (a diff says nothing about key order)."""
    if type(value) is dict:
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if type(value) is list:
        return [_sorted_keys(item) for item in value]
    return value


@given(section_pairs())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_diff_of_b_a_mirrors_diff_of_a_b(pair):
    base, compare = _pair(pair)
    forward = diff_runs(base, compare)
    backward = diff_runs(compare, base)
    assert sorted(map(_mirror, forward.field_changes)) == sorted(map(_row, backward.field_changes))


@given(section_pairs(), st.floats(0, 0.5), st.floats(0, 2))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_tolerant_diff_of_b_a_mirrors_diff_of_a_b(pair, rtol, atol):
    base, compare = _pair(pair)
    forward = diff_runs(base, compare, rtol=rtol, atol=atol)
    backward = diff_runs(compare, base, rtol=rtol, atol=atol)
    assert sorted(map(_mirror, forward.field_changes)) == sorted(map(_row, backward.field_changes))


# -- history ---------------------------------------------------------------------------

RETRIED = [
    event(0, "QUEUED"),
    event(1, "RUNNING", "extract", 1),
    event(2, "RETRYING", "extract", 1, "connection reset by worker-7"),
    event(3, "RUNNING", "extract", 2),
    event(4, "RUNNING", "transform", 1),
    event(5, "RUNNING", "load", 1),
    event(6, "SUCCEEDED"),
]
CLEAN = [
    event(0, "QUEUED"),
    event(1, "RUNNING", "extract", 1),
    event(2, "RUNNING", "transform", 1),
    event(3, "RUNNING", "load", 1),
    event(4, "SUCCEEDED"),
]


def test_extra_retry_is_aligned_not_shifted():
    run_diff = diff_runs(make_record("a", history=RETRIED), make_record("b", history=CLEAN))
    history = run_diff.history
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert history.op.tolist() == ["same", "same", "only_base", "only_base", "same", "same", "same"]
    assert history.base_seq.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert history.compare_seq.tolist() == [0, 1, pd.NA, pd.NA, 2, 3, 4]
    assert history.compare_step.tolist() == [None, "extract", None, None, "transform", "load", None]
    assert str(history.base_at.dtype) == "datetime64[us, UTC]"
    assert history.base_at[2] == pd.Timestamp("2026-11-20T01:02:00Z")
    divergence = run_diff.first_divergence
    assert divergence["row"] == 2 and divergence["op"] == "only_base"
    assert (divergence["base"]["status"], divergence["base"]["seq"]) == ("RETRYING", 2)
    assert divergence["base"]["message"] == "connection reset by worker-7"
    assert (divergence["compareTo"]["step"], divergence["compareTo"]["seq"]) == ("transform", 2)
    assert run_diff.attempts.to_dict("records") == [
        {"step": "extract", "base_attempts": 2, "compare_attempts": 1},
        {"step": "transform", "base_attempts": 1, "compare_attempts": 1},
        {"step": "load", "base_attempts": 1, "compare_attempts": 1},
    ]
    assert run_diff.retry_paths_differ == ["extract"]
    assert "history diverges at row 2" in run_diff.summary
    assert "retry paths differ in extract" in run_diff.summary


def test_retry_paths_diverging_at_a_known_event():
    base = [
        event(0, "QUEUED"),
        event(1, "RUNNING", "load", 1),
        event(2, "RETRYING", "load", 1, "timeout"),
        event(3, "RUNNING", "load", 2),
        event(4, "RETRYING", "load", 2, "timeout"),
        event(5, "RUNNING", "load", 3),
        event(6, "FAILED", "load", 3, "timeout"),
    ]
    compare = base[:4] + [event(4, "SUCCEEDED", "load", 2), event(5, "SUCCEEDED")]
    run_diff = diff_runs(make_record("a", history=base), make_record("b", history=compare))
    ops = run_diff.history.op.tolist()
    assert ops[:4] == ["same"] * 4
    assert run_diff.first_divergence["row"] == 4
    assert run_diff.first_divergence["base"]["seq"] == 4
    assert run_diff.first_divergence["compareTo"]["status"] == "SUCCEEDED"
    assert run_diff.history.op[4] == "differs"  # load attempt 2: RETRYING vs SUCCEEDED
    assert (run_diff.history.base_status[4], run_diff.history.compare_status[4]) == (
        "RETRYING",
        "SUCCEEDED",
    )
    assert run_diff.attempts.set_index("step").loc["load"].tolist() == [3, 2]
    assert run_diff.retry_paths_differ == ["load"]


def test_align_histories_pairs_same_step_events_only():
    base = [event(0, "RUNNING", "a", 1), event(1, "FAILED", "a", 1)]
    compare = [event(0, "RUNNING", "a", 1), event(1, "RUNNING", "b", 1), event(2, "SUCCEEDED")]
    rows = align_histories(base, compare)
    assert [
        (row["op"], (row["base"] or {}).get("seq"), (row["compareTo"] or {}).get("seq"))
        for row in rows
    ] == [
        ("same", 0, 0),
        ("only_base", 1, None),
        ("only_compare", None, 1),
        ("only_compare", None, 2),
    ]


def test_messages_do_not_make_events_differ():
    base = [event(0, "RETRYING", "a", 1, "timeout after 30.2 s")]
    compare = [event(0, "RETRYING", "a", 1, "timeout after 31.7 s")]
    run_diff = diff_runs(make_record("a", history=base), make_record("b", history=compare))
    assert run_diff.history.op.tolist() == ["same"]
    assert run_diff.history.compare_message.tolist() == ["timeout after 31.7 s"]


def test_long_histories_align_through_the_fallback():
    base = [event(i, "RUNNING", f"a{i}", 1) for i in range(600)]
    compare = [event(i, "RUNNING", f"b{i}", 1) for i in range(600)]
    rows = align_histories(base, compare)
    assert len(rows) == 1200
    assert {row["op"] for row in rows} == {"only_base", "only_compare"}


def test_histories_without_events():
    run_diff = diff_runs(make_record("a", history=[]), make_record("b", history=CLEAN))
    assert run_diff.history.op.tolist() == ["only_compare"] * 5
    assert run_diff.first_divergence["base"] is None
    assert run_diff.history.base_seq.isna().all()


# -- assets ----------------------------------------------------------------------------


def asset(key, rows=100, updated="2026-11-20T01:09:00Z", stale=False, **extra):
    """An asset snapshot; stale=None leaves the flag out (then the age decides)."""
    freshness = {"lastUpdated": updated, "maxLagMinutes": 1440}
    if stale is not None:
        freshness["stale"] = stale
    return {
        "assetKey": key,
        "materializedAt": updated,
        "payload": {"rows": rows, "schemaHash": "ab12"},
        "freshness": freshness,
        **extra,
    }


def test_asset_deltas_per_key():
    base = [asset("w/same"), asset("w/rows"), asset("w/fresh"), asset("w/gone"), asset("w/both")]
    compare = [
        asset("w/same"),
        asset("w/rows", rows=200),
        asset("w/fresh", updated="2026-11-21T01:09:00Z"),
        asset("w/both", rows=1, stale=True),
        asset("w/new"),
    ]
    run_diff = diff_runs(make_record("a", assets=base), make_record("b", assets=compare))
    frame = run_diff.assets.set_index("asset_key")
    assert frame.change.to_dict() == {
        "w/same": "unchanged",
        "w/rows": "payload_changed",
        "w/fresh": "freshness_changed",
        "w/gone": "removed",
        "w/both": "payload_changed",
        "w/new": "added",
    }
    assert frame.loc["w/both", ["payload_changed", "freshness_changed"]].tolist() == [True, True]
    assert frame.loc["w/rows", "changes"] == [
        {
            "path": 'assets[assetKey="w/rows"].payload.rows',
            "change": "changed",
            "before": 100,
            "after": 200,
        }
    ]
    assert [change["path"] for change in frame.loc["w/fresh", "changes"]] == [
        'assets[assetKey="w/fresh"].freshness.lastUpdated',
        'assets[assetKey="w/fresh"].materializedAt',
    ]
    assert len(frame.loc["w/new", "changes"]) == 6
    assert {change["change"] for change in frame.loc["w/gone", "changes"]} == {"removed"}
    assert "assets: 1 added, 1 removed, 2 payload changed, 1 freshness changed" in run_diff.summary


def test_asset_changes_respect_ignore():
    base = [asset("w/fresh")]
    compare = [asset("w/fresh", updated="2026-11-21T01:09:00Z")]
    run_diff = diff_runs(
        make_record("a", assets=base),
        make_record("b", assets=compare),
        ignore=["**.lastUpdated", "**.materializedAt"],
    )
    assert run_diff.asset_deltas[0]["change"] == "unchanged"
    assert run_diff.asset_deltas[0]["changes"] == []


def test_stale_warnings_are_normalised():
    warnings = [
        {
            "asset_key": "w/a",
            "last_updated": pd.Timestamp("2026-11-20T01:09:00Z"),
            "max_lag_minutes": 1440.0,
            "reason": "flagged stale by its current freshness",
            "is_stale": True,
        },
        {
            "assetKey": "w/b",
            "lastUpdated": "2026-11-18T00:00:00Z",
            "maxLagMinutes": 90.5,
            "reason": "old",
        },
    ]
    run_diff = diff_runs(make_record("a"), make_record("b"), stale_warnings=warnings)
    assert run_diff.stale_warnings == [
        {
            "assetKey": "w/a",
            "lastUpdated": "2026-11-20T01:09:00Z",
            "maxLagMinutes": 1440,
            "reason": "flagged stale by its current freshness",
        },
        {
            "assetKey": "w/b",
            "lastUpdated": "2026-11-18T00:00:00Z",
            "maxLagMinutes": 90.5,
            "reason": "old",
        },
    ]
    assert run_diff.summary.endswith("2 stale assets (w/a, w/b)")
    with pytest.raises(RunReplayError, match="assetKey"):
        diff_runs(make_record("a"), make_record("b"), stale_warnings=[{"reason": "x"}])


# -- JSON ------------------------------------------------------------------------------


def _rich_pair():
    shifted = [{"name": "prepare", "retries": 0}, {**STEPS[0], "retries": 7}, *STEPS[1:]]
    base = make_record(
        "run-a",
        history=RETRIED,
        parameters={"steps": STEPS, "n": 1},
        assets=[asset("w/a"), asset("w/b")],
    )
    compare = make_record(
        "run-b",
        status="FAILED",
        history=CLEAN,
        parameters={"steps": shifted, "n": "1"},
        output={},
        assets=[asset("w/a", rows=5)],
    )
    warnings = [
        {
            "assetKey": "w/a",
            "lastUpdated": "2026-11-20T01:09:00Z",
            "maxLagMinutes": 1440,
            "reason": "flagged",
        }
    ]
    return diff_runs(
        base,
        compare,
        volatile={"parameters.n"},
        stale_warnings=warnings,
        ignore=["context.host"],
        rtol=1e-6,
    )


def test_to_dict_has_the_api_shape():
    data = _rich_pair().to_dict()
    assert list(data) == [
        "runs",
        "history",
        "fieldChanges",
        "assetDeltas",
        "staleWarnings",
        "summary",
        "options",
    ]
    assert list(data["runs"]) == ["base", "compareTo"]
    assert data["runs"]["base"]["runId"] == "run-a"
    assert list(data["history"]) == ["alignment", "firstDivergence", "attempts", "retryPathsDiffer"]
    assert list(data["fieldChanges"][0]) == [
        "section",
        "path",
        "change",
        "before",
        "after",
        "volatile",
        "basePath",
        "comparePath",
    ]
    assert list(data["history"]["alignment"][0]) == ["op", "base", "compareTo"]
    assert list(data["history"]["alignment"][0]["base"]) == [
        "seq",
        "at",
        "status",
        "step",
        "attempt",
        "message",
    ]
    assert list(data["assetDeltas"][0]) == [
        "assetKey",
        "change",
        "payloadChanged",
        "freshnessChanged",
        "changes",
    ]
    assert data["options"] == {
        "ignore": ["context.host"],
        "listKeys": {},
        "rtol": 1e-6,
        "atol": 0.0,
    }


def test_to_json_gives_the_same_bytes_for_the_same_diff():
    first, second = _rich_pair().to_json(), _rich_pair().to_json()
    assert first == second
    assert first.encode() == second.encode()
    assert json.loads(first) == _rich_pair().to_dict()
    assert _rich_pair().to_json(indent=2) == _rich_pair().to_json(indent=2)


def test_from_dict_inverts_to_dict():
    original = _rich_pair()
    for data in (original.to_dict(), json.loads(original.to_json())):
        rebuilt = RunDiff.from_dict(data)
        assert rebuilt.to_dict() == original.to_dict()
        assert rebuilt.to_json() == original.to_json()
        for name in ("fields", "history", "attempts", "assets"):
            pd.testing.assert_frame_equal(getattr(rebuilt, name), getattr(original, name))
        assert rebuilt.first_divergence == original.first_divergence
        assert rebuilt.summary == original.summary


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("runs"), "'runs'"),
        (lambda d: d["runs"].pop("compareTo"), "runs.compareTo"),
        (lambda d: d["history"].pop("alignment"), "history.alignment"),
        (lambda d: d.__setitem__("fieldChanges", {}), "'fieldChanges'"),
        (lambda d: d["fieldChanges"][0].__setitem__("change", "exploded"), "exploded"),
        (lambda d: d["history"]["alignment"][0].__setitem__("op", "?"), "op in"),
        (lambda d: d["assetDeltas"][0].pop("change"), "assetDeltas"),
    ],
)
def test_from_dict_names_what_is_malformed(mutate, message):
    data = json.loads(_rich_pair().to_json())
    mutate(data)
    with pytest.raises(RunReplayError, match=message):
        RunDiff.from_dict(data)


# -- the store -------------------------------------------------------------------------


def _series(count: int, workflow: str = "nightly-etl", **per_run):
    """`count` runs a day apart; per_run[name](i) gives a section or field for run i."""
    records = []
    for i in range(count):
        day = f"2026-11-{i + 1:02d}"
        record = make_record(
            f"{workflow}-{i:03d}",
            workflowId=workflow,
            runKey=f"{workflow}:{day}",
            partitionKey=day,
            createdAt=f"{day}T01:00:00Z",
            startedAt=f"{day}T01:00:05Z",
            finishedAt=f"{day}T01:{10 + i % 7:02d}:00Z",
        )
        for name, make in per_run.items():
            record[name] = make(i)
        records.append(record)
    return records


def _flaky_parameters(i):
    return {"batchSize": 500, "since": f"2026-11-{i + 1:02d}", "flag": i % 5 < 2, "steps": STEPS}


def _hosts(i):
    return {"host": f"worker-{i % 3}", "image": "etl:1"}


@pytest.fixture
def series_store(tmp_path):
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(_series(10, parameters=_flaky_parameters, context=_hosts))
        store.load_records(
            _series(10, workflow="other", context=lambda i: {"host": "same", "image": f"v{i}"})
        )
        yield store


def test_volatile_paths_learns_paths_that_change_run_to_run(series_store):
    volatile = volatile_paths(series_store, "nightly-etl")
    assert {"context.host", "parameters.since", "runKey", "partitionKey", "duration"} <= volatile
    assert "parameters.batchSize" not in volatile
    assert "parameters.flag" not in volatile  # changes in 3 of 9 pairs
    assert "context.image" not in volatile
    assert "parameters.steps[0].name" not in volatile
    assert "status" not in volatile
    assert "parameters.flag" in volatile_paths(series_store, "nightly-etl", threshold=0.3)
    other = volatile_paths(series_store, "other")
    assert "context.image" in other and "context.host" not in other


def test_volatile_paths_needs_enough_pairs(tmp_path):
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(_series(3, context=_hosts))
        assert volatile_paths(store, "nightly-etl") == set()  # only 2 pairs
        assert "context.host" in volatile_paths(store, "nightly-etl", min_pairs=2)
        assert volatile_paths(store, "no-such-workflow") == set()
        with pytest.raises(RunReplayError, match="threshold"):
            volatile_paths(store, "nightly-etl", threshold=0)


def test_volatile_paths_learn_from_the_newest_runs(tmp_path):
    """The host is fixed for 20 runs, then changes in every one of the last 10: volatile in
    the newest 10 runs (9 of 9 pairs), not over the whole history (10 of 29)."""

    def context(i):
        return {"host": "worker-1" if i < 20 else f"worker-{i}"}

    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(_series(30, context=context))
        assert "context.host" in volatile_paths(store, "nightly-etl", recent=10)
        assert "context.host" in store.volatile_paths("nightly-etl", recent=10)
        assert "context.host" not in volatile_paths(store, "nightly-etl", recent=None)
        assert "context.host" not in volatile_paths(store, "nightly-etl", recent=13)  # 10 of 12
        assert "context.host" not in volatile_paths(store, "nightly-etl")  # default 10,000
        with pytest.raises(RunReplayError, match="recent must be at least 2"):
            volatile_paths(store, "nightly-etl", recent=1)


def test_volatile_paths_counts_only_consecutive_runs_holding_the_path(tmp_path):
    def parameters(i):
        return {"sometimes": f"v{i}"} if i % 2 else {}

    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(_series(10, parameters=parameters))
        assert "parameters.sometimes" not in volatile_paths(store, "nightly-etl", min_pairs=1)


def test_diff_stored_marks_volatile_and_warns_about_stale_assets(series_store):
    stale_record = make_record(
        "nightly-etl-900",
        createdAt="2026-11-21T01:00:00Z",
        assets=[asset("warehouse/orders", updated="2026-11-21T01:09:00Z", stale=None)],
    )
    series_store.load_records([stale_record])
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    run_diff = diff_stored(series_store, "nightly-etl-900", "nightly-etl-003", now=now)
    flags = {row["path"]: row["volatile"] for row in run_diff.field_changes}
    assert flags["context.host"] is True
    assert flags["parameters.since"] is True
    assert flags["context.image"] is False  # etl:1.4.2 vs etl:1, the same in the series
    assert "parameters.batchSize" not in flags
    (warning,) = run_diff.stale_warnings
    assert warning["assetKey"] == "warehouse/orders"
    assert warning["maxLagMinutes"] == 1440
    assert warning["lastUpdated"] == "2026-11-21T01:09:00Z"
    assert "more than maxLagMinutes" in warning["reason"]
    fresh = diff_stored(
        series_store,
        "nightly-etl-900",
        "nightly-etl-003",
        now=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
    )
    assert fresh.stale_warnings == []
    hidden = diff_stored(
        series_store, "nightly-etl-900", "nightly-etl-003", now=now, hide_volatile=True
    )
    assert not any(row["volatile"] for row in hidden.field_changes)
    assert {row["path"] for row in hidden.field_changes} == {
        path for path, is_volatile in flags.items() if not is_volatile
    }


def test_diff_stored_passes_options_and_names_unknown_runs(series_store):
    run_diff = diff_stored(series_store, "nightly-etl-000", "nightly-etl-001", ignore=["context.*"])
    assert not any(row["section"] == "context" for row in run_diff.field_changes)
    with pytest.raises(RunNotFound, match="run-missing"):
        diff_stored(series_store, "nightly-etl-000", "run-missing")


def test_stale_warnings_from_a_store_frame(series_store):
    series_store.load_records(
        [
            make_record(
                "nightly-etl-901",
                createdAt="2026-11-25T01:00:00Z",
                assets=[asset("w/x", stale=True)],
            )
        ]
    )
    warnings = stale_warnings_from(
        series_store.stale_assets("nightly-etl-901", now="2026-11-25T02:00:00Z")
    )
    assert warnings == [
        {
            "assetKey": "w/x",
            "lastUpdated": "2026-11-20T01:09:00Z",
            "maxLagMinutes": 1440,
            "reason": "flagged stale by its current freshness",
        }
    ]


# -- the sample's planted stories ------------------------------------------------------


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    if not SAMPLE.exists():
        pytest.fail(
            f"the committed sample {SAMPLE} is missing; run python -m runreplay.sample data"
        )
    with runreplay.open(tmp_path_factory.mktemp("sample") / "s.duckdb") as store:
        store.load(SAMPLE)
        yield store


def test_sample_batch_size_is_the_one_parameter_that_matters(sample_store):
    run_diff = diff_stored(sample_store, "run-000345", "run-000347")
    parameters = [row for row in run_diff.field_changes if row["section"] == "parameters"]
    assert [(row["path"], row["before"], row["after"], row["volatile"]) for row in parameters] == [
        ("parameters.batchSize", 500, 5000, False),
        ("parameters.source.since", "2026-10-11", "2026-10-12", True),
    ]
    assert run_diff.base_run["status"] == "SUCCEEDED" and run_diff.compare_run["status"] == "FAILED"
    assert run_diff.first_divergence["compareTo"]["step"] == "load"
    assert run_diff.first_divergence["compareTo"]["status"] == "RETRYING"
    assert run_diff.retry_paths_differ == ["load"]
    volatile = {row["path"] for row in run_diff.field_changes if row["volatile"]}
    assert {"context.host", "context.traceId", "output.durationSeconds"} <= volatile


def test_sample_replay_shows_the_retry_path_divergence(sample_store):
    run_diff = diff_stored(sample_store, "run-000298", "run-000300")
    assert [row for row in run_diff.field_changes if row["section"] == "parameters"] == []
    divergence = run_diff.first_divergence
    assert (divergence["base"]["step"], divergence["base"]["status"]) == ("extract", "RETRYING")
    assert divergence["base"]["message"] == "connection reset by worker-7"
    assert divergence["compareTo"]["step"] == "transform"
    assert run_diff.retry_paths_differ == ["extract"]
    assert run_diff.attempts.set_index("step").loc["extract"].tolist() == [2, 1]
    assert run_diff.history.op.tolist().count("only_base") == 2
    replay_of = [row for row in run_diff.field_changes if row["path"] == "replayOf"]
    assert [(row["change"], row["after"]) for row in replay_of] == [("added", "run-000298")]


def test_sample_stale_warehouse_orders_is_warned(sample_store):
    run_diff = diff_stored(sample_store, "run-000345", "run-000347")
    assert [warning["assetKey"] for warning in run_diff.stale_warnings] == ["warehouse/orders"]
    assert run_diff.stale_warnings[0]["reason"] == "flagged stale by its current freshness"
    assert "1 stale asset (warehouse/orders)" in run_diff.summary
    ml = diff_stored(sample_store, "run-000322", "run-000324")
    assert ml.stale_warnings == []
    image = [row for row in ml.field_changes if row["path"] == "context.image"]
    assert [(row["before"], row["after"], row["volatile"]) for row in image] == [
        ("trainer:2.3.0", "trainer:2.4.0", False)
    ]

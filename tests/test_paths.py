"""Paths: the one syntax, flatten / unflatten round trips, keyed segments, globs, parse errors."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runreplay.errors import InvalidPath
from runreplay.paths import (
    Keyed,
    flatten,
    format_path,
    join,
    keyed_segment,
    matches,
    matches_exactly,
    parse_path,
    unflatten,
)
from tests.strategies import ODD_KEYS, json_keys, json_values, nested, same_json

# -- the syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segments", "text"),
    [
        (("parameters", "model", "depth"), "parameters.model.depth"),
        (("output", "metrics", "p@10"), 'output.metrics["p@10"]'),
        (("parameters", "steps", 2, "name"), "parameters.steps[2].name"),
        (("a.b",), '["a.b"]'),
        (("a", ""), 'a[""]'),
        (("a", 'say "hi"'), r'a["say \"hi\""]'),
        (("a", "名前"), 'a["名前"]'),
        (("a", "line\nbreak"), r'a["line\nbreak"]'),
        ((0, "x"), "[0].x"),
        (("a-b", "_c"), "a-b._c"),
        (("steps", Keyed("name", "load"), "retries"), 'steps[name="load"].retries'),
        (("steps", Keyed("id", 7)), "steps[id=7]"),
        (("steps", Keyed("id", -3)), "steps[id=-3]"),
        (("steps", Keyed("step id", "x]")), 'steps["step id"="x]"]'),
    ],
)
def test_format_and_parse_are_inverse(segments, text):
    assert format_path(segments) == text
    assert parse_path(text) == segments


def test_keyed_segment_rejects_values_that_are_not_ids():
    with pytest.raises(InvalidPath, match="string or an integer"):
        keyed_segment("id", 1.5)
    with pytest.raises(InvalidPath, match="string or an integer"):
        keyed_segment("id", True)


def test_join_appends_keys_positions_and_keyed_segments():
    assert join("", "parameters") == "parameters"
    assert join("parameters", "p@10") == 'parameters["p@10"]'
    assert join("steps", 3) == "steps[3]"
    assert join("steps", Keyed("name", "load")) == 'steps[name="load"]'


segments = st.one_of(
    json_keys,
    st.integers(min_value=0, max_value=10**6),
    st.builds(Keyed, json_keys, st.one_of(json_keys, st.integers(-(10**6), 10**6))),
)


@given(st.lists(segments, min_size=1, max_size=6))
def test_any_segments_format_and_parse_back(path_segments):
    assert parse_path(format_path(path_segments)) == tuple(path_segments)


# -- flatten / unflatten ---------------------------------------------------------------


@given(json_values)
@settings(max_examples=300)
def test_unflatten_inverts_flatten_for_any_json(value):
    leaves = flatten(value)
    assert same_json(unflatten(leaves), value)
    for path in leaves:
        assert format_path(parse_path(path)) == path


@given(st.dictionaries(json_keys, json_values, min_size=1, max_size=4))
def test_flatten_with_a_prefix_roots_every_path_under_it(value):
    leaves = flatten(value, "parameters")
    assert all(path.startswith(("parameters.", "parameters[")) for path in leaves)
    assert same_json(unflatten(leaves), {"parameters": value})


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_round_trip(key):
    value = {"outer": {key: {key: [1, {key: None}]}}}
    leaves = flatten(value)
    assert len(leaves) == 2
    assert same_json(unflatten(leaves), value)


def test_empty_containers_are_leaves():
    assert flatten({"a": {}, "b": [], "c": [{}], "d": None}) == {
        "a": {},
        "b": [],
        "c[0]": {},
        "d": None,
    }
    assert flatten({}) == {"": {}}
    assert unflatten({"": []}) == []


@pytest.mark.parametrize("kind", ["dict", "list", "mixed"])
def test_depth_1000_round_trips_without_recursion(kind):
    value = nested(1000, kind)
    leaves = flatten(value, "parameters")
    assert len(leaves) == 1
    (path,) = leaves
    assert len(parse_path(path)) == 1001
    rebuilt = unflatten(leaves)["parameters"]
    assert same_json(rebuilt, value)
    # json.dumps and == recurse in C; give them room to confirm the comparison independently
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        assert json.dumps(rebuilt) == json.dumps(value)
    finally:
        sys.setrecursionlimit(limit)


def test_flatten_rejects_non_string_keys():
    with pytest.raises(InvalidPath, match="not a string"):
        flatten({"a": {1: "x"}})


def test_unflatten_builds_keyed_elements_in_first_seen_order():
    leaves = {
        'steps[name="load"].name': "load",
        'steps[name="load"].retries': 1,
        'steps[name="extract"].name': "extract",
        'steps[name="load"].tags': [],
    }
    assert unflatten(leaves) == {
        "steps": [{"name": "load", "retries": 1, "tags": []}, {"name": "extract"}]
    }


@pytest.mark.parametrize(
    ("leaves", "message"),
    [
        ({"a": 1, "a.b": 2}, "conflicts"),
        ({"a.b": 2, "a": 1}, "conflicts"),
        ({"a[0]": 1, "a[2]": 3}, "gap"),
        ({"a[0]": 1, "a.b": 2}, "conflicts"),
        ({"a": {}, "a.b": 1}, "empty container"),
        ({"": 1, "a": 2}, "root path"),
        ({"a[id=1].id": 1, "a[1].id": 2}, "mixes keyed and positional"),
        ({"a[0].id": 1, "a[id=2].id": 2}, "mixes keyed and positional"),
        ({"a[id=1].x": 1}, "does not hold 'id'"),
        ({"a[id=1].id": "1"}, "does not hold 'id'"),
        ({"a[id=1]": 1}, "must be an object"),
    ],
)
def test_unflatten_rejects_conflicting_paths(leaves, message):
    with pytest.raises(InvalidPath, match=message):
        unflatten(leaves)


# -- parse errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "position"),
    [
        (".a", 0),
        ("a..b", 2),
        ("a.", 2),
        ("a b", 1),
        ("a[", 1),
        ("a[x]", 1),
        ("a[-1]", 1),
        ('a["open', 1),
        ('a["bad \\q escape"]', 1),
        ("a[id=]", 1),
        ("a[id=1.5]", 1),
        ("a[id=007]", 1),
        ("a.b@c", 3),
    ],
)
def test_parse_errors_name_the_position(path, position):
    with pytest.raises(InvalidPath, match=f"at character {position}:") as raised:
        parse_path(path)
    assert repr(path) in str(raised.value)


# -- globs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("context.host", "context.host", True),
        ("context.host", "context.host.name", True),
        ("context.host", 'context.host["a b"]', True),
        ("context.host", "context.hostname", False),
        ("context.host", "context", False),
        ("*.timestamp", "output.timestamp", True),
        ("*.timestamp", "output.a.timestamp", False),
        ("**.timestamp", "output.a.timestamp", True),
        ("**.timestamp", "output.a.timestamps", False),
        ("output.metrics.*", "output.metrics.auc", True),
        ("output.metrics.*", 'output.metrics["p@10"]', True),
        ("output.metrics.*", "output.metrics", False),
        ("output.metric_*", "output.metric_auc", True),
        ("output.metric_*", "output.metrics", False),
        ('output.metrics["p@*"]', 'output.metrics["p@10"]', True),
        ('output.metrics["p@*"]', "output.metrics.p", False),
        ("parameters.steps[*].name", "parameters.steps[2].name", True),
        ("parameters.steps[*].name", 'parameters.steps[name="load"].name', True),
        ("parameters.steps[*].name", "parameters.steps[id=-4].name", True),
        ("parameters.steps[*].name", "parameters.steps.x.name", False),
        ("parameters.steps[1]", "parameters.steps[1].name", True),
        ("parameters.steps[1]", "parameters.steps[10].name", False),
        ('parameters.steps[name="load"]', 'parameters.steps[name="load"].retries', True),
        ('parameters.steps[name="load"]', 'parameters.steps[name="loader"].retries', False),
        ("**", "anything.at[3].all", True),
        ("status", "status", True),
        ("status", "statusCode", False),
    ],
)
def test_glob_semantics(pattern, path, expected):
    assert matches(path, [pattern]) is expected


def test_matches_exactly_ignores_ancestors():
    assert matches_exactly("parameters.steps", ["parameters.steps"])
    assert not matches_exactly("parameters.steps[0].subs", ["parameters.steps"])
    assert matches_exactly('parameters.steps[name="a"].subs', ["parameters.steps[*].subs"])


@pytest.mark.parametrize("pattern", ["", ".a", "a..b", "a["])
def test_bad_globs_raise_invalid_path(pattern):
    with pytest.raises(InvalidPath):
        matches("a.b", [pattern])

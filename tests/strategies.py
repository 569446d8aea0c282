"""Hypothesis strategies and helpers shared by the path and diff tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ODD_KEYS = (
    "", ".", "a.b", "[0]", "[", "]", '"', "'", "a b", " ", "ü", "名前", "p@10", "x]",
    '["', "\\", "-", "_a", "0", "1e3", "id=1", '[name="x"]', "\n", "*", "**", "?",
)  # fmt: skip

json_keys = st.one_of(st.sampled_from(ODD_KEYS), st.text(max_size=6))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4)
    ),
    max_leaves=25,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=5)


def same_json(left: Any, right: Any) -> bool:
    """Type-strict equality of two JSON values without recursion (1 != 1.0 != True)."""
    stack = [(left, right)]
    while stack:
        a, b = stack.pop()
        if type(a) is not type(b):
            return False
        if type(a) is dict:
            if list(a) != list(b):
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif type(a) is list:
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif a != b:
            return False
    return True


def nested(depth: int, kind: str = "dict", bottom: Any = "bottom") -> Any:
    """A value nested `depth` levels deep: dicts, lists, or both alternating."""
    value: Any = bottom
    for level in range(depth):
        use_list = kind == "list" or (kind == "mixed" and level % 2)
        value = [value] if use_list else {f"k{level % 3}": value}
    return value

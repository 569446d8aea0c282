"""One path syntax for JSON leaves: flatten / unflatten, parse / format, and path globs.

A path names one leaf inside a JSON value::

    parameters.model.depth          keys that are identifiers follow a dot
    output.metrics["p@10"]          any other key is a JSON string in brackets
    parameters.steps[2].name        list positions are integers in brackets
    parameters.steps[name="load"]   a list element found by the value of its key

The first segment has no leading dot. A scalar, an empty object and an empty list are
leaves; the root leaf has the empty path "". `flatten` and `unflatten` are exact inverses
for any JSON value, and neither recurses, so depth is bounded only by memory.

The keyed form `[key=value]` (key bare or quoted as above, value a JSON string or integer)
names the element of a list of objects whose `key` holds `value`. Diffs use it for lists
matched by an id-like key (see runreplay.diff), so a path stays valid when elements are
inserted before it. `flatten` writes positions only; `unflatten` also accepts keyed
segments and builds those elements in the order it first sees them.

Globs (for `ignore=`) use the same syntax plus wildcards: `*` is one whole segment (a key,
a position or a keyed element), `**` any number of segments, `[*]` any position or keyed
element, and `*` / `?` inside a key match within that key (`output.metric_*`). A glob
matches a path when it matches the path or one of its ancestors, so `context.host` also
covers `context.host.name` (`matches_exactly` asks for the path itself).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from runreplay.errors import InvalidPath


class Keyed(NamedTuple):
    """A keyed list segment, `[name="load"]`: the element whose `key` holds `value`."""

    key: str
    value: str | int

    def __str__(self) -> str:
        return keyed_segment(self.key, self.value)


Segment = str | int | Keyed

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_BARE_GLOB = re.compile(r"[A-Za-z0-9_*?-]+")
_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r'\["((?:[^"\\]|\\.)*)"\]')
_KEYED = re.compile(
    r'\[(?:([A-Za-z_][A-Za-z0-9_-]*)|"((?:[^"\\]|\\.)*)")=(?:"((?:[^"\\]|\\.)*)"|(-?(?:0|[1-9]\d*)))\]'
)
_HOLE = object()


@lru_cache(maxsize=65536)
def key_segment(key: str, first: bool = False) -> str:
    """The text a key adds to a path: `.key`, `key` when first, or `["k e y"]`."""
    if _IDENTIFIER.match(key):
        return key if first else "." + key
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


@lru_cache(maxsize=65536, typed=True)  # typed: 1 and True must not share an entry
def keyed_segment(key: str, value: str | int) -> str:
    """The text of a keyed list segment: `[name="load"]`, `[id=7]`, `["step id"="x"]`."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidPath(f"a keyed segment's value must be a string or an integer, got {value!r}")
    name = key if _IDENTIFIER.match(key) else json.dumps(key, ensure_ascii=False)
    return f"[{name}={json.dumps(value, ensure_ascii=False)}]"


def format_path(segments: Iterable[Segment]) -> str:
    """Join segments into a path: `format_path(["output", "metrics", "p@10"])`."""
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, Keyed):
            parts.append(keyed_segment(segment.key, segment.value))
            continue
        if isinstance(segment, bool) or not isinstance(segment, str | int):
            raise InvalidPath(f"path segment {segment!r} must be a string key or an integer")
        if isinstance(segment, int):
            if segment < 0:
                raise InvalidPath(f"list position {segment} must be >= 0")
            parts.append(f"[{segment}]")
        else:
            parts.append(key_segment(segment, not parts))
    return "".join(parts)


def join(path: str, segment: Segment) -> str:
    """Append one segment to an already formatted path."""
    if isinstance(segment, Keyed):
        return path + keyed_segment(segment.key, segment.value)
    if isinstance(segment, int):
        return f"{path}[{segment}]"
    return path + key_segment(segment, path == "")


@lru_cache(maxsize=65536)
def parse_path(path: str) -> tuple[Segment, ...]:
    """Split a path into its segments; raises InvalidPath saying where it stops parsing."""
    return tuple(_tokens(path, glob=False))


def _tokens(path: str, *, glob: bool) -> Iterable[Segment]:
    bare = _BARE_GLOB if glob else _BARE
    position = 0
    while position < len(path):
        char = path[position]
        if char == "[":
            index = _INDEX.match(path, position)
            if index:
                yield int(index.group(1))
                position = index.end()
                continue
            if glob and path.startswith("[*]", position):
                yield _AnyIndex
                position += 3
                continue
            keyed = _KEYED.match(path, position)
            if keyed:
                bare_key, quoted_key, text, number = keyed.groups()
                key = bare_key if bare_key is not None else _unquote(path, position, quoted_key)
                value = _unquote(path, position, text) if text is not None else int(number)
                yield Keyed(key, value)
                position = keyed.end()
                continue
            quoted = _QUOTED.match(path, position)
            if not quoted:
                raise _bad(path, position, 'expected [<integer>], ["<key>"] or [<key>=<value>]')
            yield _unquote(path, position, quoted.group(1))
            position = quoted.end()
            continue
        if char == ".":
            if position == 0:
                raise _bad(path, position, "a path does not start with '.'")
            position += 1
        match = bare.match(path, position)
        if not match:
            raise _bad(path, position, 'expected a key; quote other keys as ["..."]')
        yield match.group(0)
        position = match.end()


def _unquote(path: str, position: int, text: str) -> str:
    try:
        return json.loads('"' + text + '"')
    except ValueError:
        raise _bad(path, position, "the quoted key is not a valid JSON string") from None


def _bad(path: str, position: int, what: str) -> InvalidPath:
    return InvalidPath(f"cannot parse path {path!r} at character {position}: {what}")


class _AnyIndex:
    """Glob token `[*]`: any list position."""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Map every leaf of a JSON value to its path.

    >>> flatten({"model": {"depth": 6}, "tags": [], "p@10": 0.4}, "parameters")
    {'parameters.model.depth': 6, 'parameters.tags': [], 'parameters["p@10"]': 0.4}
    """
    leaves: dict[str, Any] = {}
    stack: list[tuple[str, Any]] = [(prefix, value)]
    pop, push = stack.pop, stack.append
    while stack:
        path, item = pop()
        if type(item) is dict and item:
            first = path == ""
            for key in reversed(item):
                if isinstance(key, str):
                    push((path + key_segment(key, first), item[key]))
                else:
                    raise InvalidPath(f"object key {key!r} at {path!r} is not a string")
        elif type(item) is list and item:
            for index in range(len(item) - 1, -1, -1):
                push((f"{path}[{index}]", item[index]))
        else:
            leaves[path] = item
    return leaves


def unflatten(leaves: Mapping[str, Any]) -> Any:
    """Rebuild the JSON value from `{path: leaf}`; the exact inverse of `flatten`.

    Keyed segments (`[name="load"]`) build list elements in the order the paths first name
    them; each such element must hold its key with that value. Raises InvalidPath when paths
    conflict (a leaf and a child of it), list positions leave gaps, or one list mixes keyed
    and positional elements. An empty mapping gives an empty object.
    """
    if "" in leaves:
        if len(leaves) > 1:
            raise InvalidPath("the root path '' is a leaf, so no other path can be given")
        return leaves[""]
    root: Any = {}
    keyed: dict[int, dict[Keyed, Any]] = {}
    for number, (path, leaf) in enumerate(leaves.items()):
        segments = parse_path(path)
        if number == 0 and not isinstance(segments[0], str):
            root = []
        parent: Any = root
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            child = leaf if last else ({} if isinstance(segments[depth + 1], str) else [])
            parent = _place(parent, segment, child, last, path, keyed)
    _check_no_holes(root)
    for elements in keyed.values():
        for segment, element in elements.items():
            held = element.get(segment.key, _HOLE)
            if type(held) is not type(segment.value) or held != segment.value:
                raise InvalidPath(
                    f"the list element {segment} does not hold {segment.key!r} = "
                    f"{segment.value!r}; give the path ...{segment}.{segment.key} too"
                )
    return root


def _place(parent: Any, segment: Segment, child: Any, last: bool, path: str, keyed: dict) -> Any:
    if isinstance(segment, Keyed):
        if not isinstance(parent, list):
            raise InvalidPath(
                f"path {path!r} finds a list element where another path has an object"
            )
        elements = keyed.get(id(parent))
        if elements is None:
            if parent:
                raise InvalidPath(f"path {path!r} mixes keyed and positional elements of one list")
            elements = keyed[id(parent)] = {}
        existing = elements.get(segment, _HOLE)
        if existing is _HOLE:
            if last or type(child) is not dict:
                raise InvalidPath(
                    f"path {path!r}: the keyed list element {segment} must be an object "
                    f"holding {segment.key!r}"
                )
            parent.append(child)
            elements[segment] = child
            return child
    elif isinstance(segment, int):
        if not isinstance(parent, list):
            raise InvalidPath(f"path {path!r} indexes a list where another path has an object")
        if id(parent) in keyed:
            raise InvalidPath(f"path {path!r} mixes keyed and positional elements of one list")
        if segment >= len(parent):
            parent.extend([_HOLE] * (segment + 1 - len(parent)))
        existing = parent[segment]
        if existing is _HOLE:
            parent[segment] = child
            return child
    else:
        if not isinstance(parent, dict):
            raise InvalidPath(f"path {path!r} names a key where another path has a list")
        existing = parent.get(segment, _HOLE)
        if existing is _HOLE:
            parent[segment] = child
            return child
    if last or not isinstance(existing, dict | list) or type(existing) is not type(child):
        raise InvalidPath(f"path {path!r} conflicts with another path that holds a leaf there")
    if not existing:
        # an empty container is itself a leaf and cannot also have children
        raise InvalidPath(f"path {path!r} goes inside an empty container that is a leaf")
    return existing


def _check_no_holes(root: Any) -> None:
    stack = [root]
    while stack:
        item = stack.pop()
        if type(item) is list:
            if any(child is _HOLE for child in item):
                raise InvalidPath("list positions leave a gap; give every position 0..n-1")
            stack.extend(item)
        elif type(item) is dict:
            stack.extend(item.values())


_STRING = r'"(?:[^"\\]|\\.)*"'
_ELEMENT = rf"\[(?:\d+|(?:[A-Za-z_][A-Za-z0-9_-]*|{_STRING})=(?:{_STRING}|-?\d+))\]"
_ONE_SEGMENT = rf"(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[{_STRING}\]|{_ELEMENT})"


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a path glob into a regex over `_anchored(path)` (see the module docstring)."""
    if not pattern:
        raise InvalidPath("an empty glob matches nothing; give a path such as context.host")
    parts = []
    for token in _tokens(pattern, glob=True):
        if token is _AnyIndex:
            parts.append(_ELEMENT)
        elif isinstance(token, Keyed):
            parts.append(re.escape(str(token)))
        elif isinstance(token, int):
            parts.append(rf"\[{token}\]")
        elif token == "**":
            parts.append(_ONE_SEGMENT + "*")
        elif token == "*":
            parts.append(_ONE_SEGMENT)
        elif "*" in token or "?" in token:
            bare = re.escape(token).replace(r"\*", "[A-Za-z0-9_-]*").replace(r"\?", "[A-Za-z0-9_-]")
            quoted = (
                re.escape(token)
                .replace(r"\*", r'(?:[^"\\]|\\.)*')
                .replace(r"\?", r'(?:[^"\\]|\\.)')
            )
            parts.append(rf'(?:\.{bare}|\["{quoted}"\])')
        else:
            parts.append(re.escape(_anchored(key_segment(token))))
    return re.compile("".join(parts) + r"(?=$|[.\[])")


def _anchored(path: str) -> str:
    """Give the first key a leading dot so every segment starts with '.' or '['."""
    return path if not path or path[0] in ".[" else "." + path


def matches(path: str, patterns: Iterable[str]) -> bool:
    """True when any glob in `patterns` matches `path` or one of its ancestors."""
    anchored = _anchored(path)
    return any(compile_glob(pattern).match(anchored) for pattern in patterns)


def matches_exactly(path: str, patterns: Iterable[str]) -> bool:
    """True when a glob in `patterns` matches `path` itself (an ancestor is not enough)."""
    anchored = _anchored(path)
    return any(compile_glob(pattern).fullmatch(anchored) for pattern in patterns)

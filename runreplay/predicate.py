"""Run predicates such as `output.metrics.auc < 0.9`: a small safe parser that compiles to DuckDB SQL.

    >>> failing = compile_predicate("status in ('FAILED', 'CANCELED') or output.metrics.auc < 0.9")
    >>> failing.condition   # SQL over `runs r` and failing.joins; literals are bound parameters
    ... # doctest: +SKIP

Bisect and drift call a run "failing" when such a predicate holds (default
`status == 'FAILED'`). The text is tokenized and parsed here, never evaluated: no Python
`eval`, no SQL text from the user reaches DuckDB (names map to fixed columns, paths and
literals are bound as parameters).

Grammar (keywords are case-insensitive; Python's `True`/`False`/`None` work too)::

    predicate  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" predicate ")" | comparison
    comparison := name op literal | literal op name
                | name ["not"] "in" "(" literal ("," literal)* ")"
                | name "is" ["not"] "null"
                | name                              a boolean field that is true
    op         := "==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    name       := status | runKey | partitionKey | replayOf | duration
                | a path under parameters, context or output (runreplay.paths syntax:
                  output.metrics.auc, output.metrics["p@10"], parameters.steps[2].name)
    literal    := number | 'text' | "text" | true | false | null

Semantics: numbers compare as numbers (1 == 1.0), text as text, booleans only with == and
!=. A comparison on a path the run lacks, or holds as another JSON type, is false (so
`output.metrics.auc < 0.9` does not call a run without an AUC failing, and neither does
`!=` or `not in`); `not` negates a whole condition; `x is null` holds when the path is
missing or JSON null. `duration` is finishedAt - startedAt in seconds. A predicate that
does not parse raises InvalidPredicate naming the expression and the character position.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from runreplay.errors import InvalidPath, InvalidPredicate
from runreplay.model import FIELD_SECTIONS, STATUSES
from runreplay.paths import format_path, parse_path

DEFAULT_FAILING = "status == 'FAILED'"
"""The failing predicate when none is given."""

RUN_NAMES: dict[str, tuple[str, str]] = {
    "status": ("{r}.status", "text"),
    "runKey": ("{r}.run_key", "text"),
    "partitionKey": ("{r}.partition_key", "text"),
    "replayOf": ("{r}.replay_of", "text"),
    "duration": ("epoch({r}.finished_at - {r}.started_at)", "number"),
}
"""Names of a run's own columns a predicate may use: SQL template and kind."""

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "none", "true", "false"}
_OPERATORS = {
    "==": "=", "=": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*
        (?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*)
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Token:
    kind: str  # op, punct, number, string, name, keyword, end
    text: str
    value: Any
    start: int


@dataclass(frozen=True)
class Predicate:
    """A compiled run predicate: `condition` is SQL that is never NULL.

    Use it as `SELECT ... FROM runs r {joins} WHERE ...` with `params` bound; every path
    the predicate reads is one LEFT JOIN of run_fields (one row per run and path).
    """

    expression: str
    condition: str
    joins: str
    params: dict[str, Any]
    paths: tuple[str, ...]


def compile_predicate(
    expression: str | None, *, runs_alias: str = "r", prefix: str = "failing"
) -> Predicate:
    """Parse `expression` (None: `status == 'FAILED'`) into SQL over `runs {runs_alias}`.

    `prefix` names the joined aliases and parameters, so two predicates can share a query.
    Raises InvalidPredicate naming the expression and the position where parsing stopped.
    """
    if expression is None:
        expression = DEFAULT_FAILING
    if not isinstance(expression, str):
        raise InvalidPredicate(
            repr(expression), 0, f"a predicate is text such as {DEFAULT_FAILING!r}"
        )
    parser = _Parser(expression, runs_alias, prefix)
    condition = parser.parse()
    joins = " ".join(
        f"LEFT JOIN run_fields {alias} ON {alias}.run_id = {runs_alias}.run_id "
        f"AND {alias}.path = ${alias}_path"
        for alias in parser.aliases.values()
    )
    params = dict(parser.params)
    for path, alias in parser.aliases.items():
        params[f"{alias}_path"] = path
    return Predicate(expression, condition, joins, params, tuple(parser.aliases))


def tokenize(expression: str) -> list[Token]:
    """The tokens of a predicate, ending with an `end` token; raises InvalidPredicate."""
    tokens = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            _refuse_bare_key(expression, position, tokens)
            char = expression[position]
            what = (
                "a string that is not closed; end it with the same quote"
                if char in "'\""
                else f"unexpected character {char!r}"
            )
            raise InvalidPredicate(expression, position, what)
        kind = match.lastgroup
        text = match.group()
        if kind == "number":
            value: Any = float(text) if any(c in text for c in ".eE") else int(text)
        elif kind == "string":
            value = _ESCAPE.sub(r"\1", text[1:-1])
        elif kind == "name" and text.lower() in _KEYWORDS:
            kind, value = "keyword", text.lower()
        else:
            value = text
        if kind != "space":
            tokens.append(Token(kind, text, value, position))
        position = match.end()
    tokens.append(Token("end", "", None, len(expression)))
    return tokens


_KEY_END = re.compile(r"""[\s.\[\]()',"=!<>]""")


def _refuse_bare_key(expression: str, position: int, tokens: list[Token]) -> None:
    """Raise InvalidPredicate at a dotted key that is not an identifier (`output.größe`,
    `output.metrics.p@10`), with the bracket form that names it; return otherwise."""
    name = tokens[-1] if tokens else None
    if name is None or name.kind != "name" or name.start + len(name.text) != position:
        return
    if expression[position] == ".":
        start = position + 1
    elif name.text.endswith("]") or "." not in name.text:
        return
    else:
        start = name.start + name.text.rindex(".") + 1
    end = _KEY_END.search(expression, start)
    key = expression[start : end.start() if end else len(expression)]
    if not key:
        return
    bracketed = f"{expression[name.start : start - 1]}[{json.dumps(key, ensure_ascii=False)}]"
    raise InvalidPredicate(
        expression,
        start,
        f"the key {key!r} is not an identifier (ASCII letters, digits, _ and -); "
        f"write it in brackets: {bracketed}",
    )


@dataclass(frozen=True)
class _Name:
    text: str
    start: int
    path: str | None  # a run_fields path, or None for a run column
    column: str | None = None
    kind: str | None = None  # "text" or "number" for run columns


@dataclass(frozen=True)
class _Literal:
    value: Any
    start: int

    @property
    def kind(self) -> str:
        if self.value is None:
            return "null"
        if isinstance(self.value, bool):
            return "boolean"
        if isinstance(self.value, int | float):
            return "number"
        return "text"


class _Parser:
    """Recursive descent over the tokens; builds the SQL condition as it goes."""

    def __init__(self, expression: str, runs_alias: str, prefix: str):
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0
        self.runs_alias = runs_alias
        self.prefix = prefix
        self.aliases: dict[str, str] = {}
        self.params: dict[str, Any] = {}

    # -- token helpers ---------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def is_keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.value in words

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def fail(self, what: str, token: Token | None = None) -> InvalidPredicate:
        token = token or self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return InvalidPredicate(self.expression, token.start, f"{what}, found {found}")

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}_{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    # -- grammar ---------------------------------------------------------------------

    def parse(self) -> str:
        if self.token.kind == "end":
            raise InvalidPredicate(
                self.expression, 0, f"the predicate is empty; write one such as {DEFAULT_FAILING!r}"
            )
        condition = self.parse_or()
        if self.token.kind != "end":
            raise self.fail("expected 'and', 'or' or the end of the predicate")
        return condition

    def parse_or(self) -> str:
        parts = [self.parse_and()]
        while self.is_keyword("or"):
            self.advance()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def parse_and(self) -> str:
        parts = [self.parse_not()]
        while self.is_keyword("and"):
            self.advance()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def parse_not(self) -> str:
        if self.is_keyword("not"):
            self.advance()
            return f"(NOT {self.parse_not()})"
        if self.token.kind == "punct" and self.token.text == "(":
            opening = self.advance()
            condition = self.parse_or()
            if not (self.token.kind == "punct" and self.token.text == ")"):
                raise self.fail(f"expected ')' to close the '(' at character {opening.start}")
            self.advance()
            return condition
        return self.parse_comparison()

    def parse_comparison(self) -> str:
        left = self.parse_operand()
        if self.token.kind == "op":
            operator_token = self.advance()
            operator = _OPERATORS[operator_token.text]
            right = self.parse_operand()
            if isinstance(left, _Literal) and isinstance(right, _Name):
                left, right, operator = right, left, _FLIPPED[operator]
            if isinstance(left, _Literal):
                raise InvalidPredicate(
                    self.expression,
                    left.start,
                    "compare a name (status, a path such as output.metrics.auc) with a "
                    "value; this compares two values",
                )
            if isinstance(right, _Name):
                raise InvalidPredicate(
                    self.expression,
                    right.start,
                    f"compare {left.text} with a value (a number, 'text', true, false or "
                    "null), not with another name",
                )
            return self.compare(left, operator, right, operator_token)
        if isinstance(left, _Literal):
            raise self.fail(
                "expected a comparison such as status == 'FAILED' or output.metrics.auc < 0.9"
            )
        if self.is_keyword("not", "in"):
            negated = self.advance().value == "not"
            if negated:
                if not self.is_keyword("in"):
                    raise self.fail(f"expected 'in' after '{left.text} not'")
                self.advance()
            return self.membership(left, negated)
        if self.is_keyword("is"):
            self.advance()
            negated = self.is_keyword("not")
            if negated:
                self.advance()
            if not self.is_keyword("null", "none"):
                raise self.fail(f"expected 'null' after '{left.text} is'")
            self.advance()
            test = self.null_test(left)
            return f"(NOT {test})" if negated else test
        if left.path is None:
            raise self.fail(
                f"expected a comparison after {left.text} (==, !=, <, <=, >, >=, in, is null)"
            )
        return f"coalesce({self.accessor(left, 'boolean')}, false)"

    def parse_operand(self) -> _Name | _Literal:
        token = self.token
        if token.kind in ("number", "string"):
            self.advance()
            return _Literal(token.value, token.start)
        if token.kind == "keyword" and token.value in ("null", "none", "true", "false"):
            self.advance()
            return _Literal(
                {"null": None, "none": None, "true": True, "false": False}[token.value], token.start
            )
        if token.kind == "name":
            self.advance()
            return self.name(token)
        raise self.fail(
            "expected a name (status, output.metrics.auc, ...) or a value "
            "(a number, 'text', true, false, null)"
        )

    def name(self, token: Token) -> _Name:
        text = token.text
        if text in RUN_NAMES:
            template, kind = RUN_NAMES[text]
            return _Name(text, token.start, None, template.format(r=self.runs_alias), kind)
        try:
            segments = parse_path(text)
        except InvalidPath as error:
            raise InvalidPredicate(
                self.expression, token.start, f"{text!r} is not a path: {error}"
            ) from None
        if segments[0] not in FIELD_SECTIONS:
            raise InvalidPredicate(
                self.expression,
                token.start,
                f"unknown name {segments[0]!r}; use {', '.join(RUN_NAMES)} or a path under "
                f"{', '.join(FIELD_SECTIONS)} (such as output.metrics.auc)",
            )
        if len(segments) == 1:
            raise InvalidPredicate(
                self.expression,
                token.start,
                f"{text!r} is a whole section; name a leaf inside it, such as {text}.<key>",
            )
        return _Name(text, token.start, format_path(segments))

    # -- SQL -------------------------------------------------------------------------

    def alias(self, path: str) -> str:
        if path not in self.aliases:
            self.aliases[path] = f"{self.prefix}_f{len(self.aliases)}"
        return self.aliases[path]

    def accessor(self, name: _Name, kind: str) -> str:
        """SQL for the name's value as `kind` (number, text, boolean); NULL when it is not."""
        if name.path is None:
            return name.column
        alias = self.alias(name.path)
        if kind == "number":
            return (
                f"(CASE WHEN {alias}.value_type IN ('integer', 'float') "
                f"THEN CAST({alias}.value AS DOUBLE) END)"
            )
        if kind == "text":
            return f"(CASE WHEN {alias}.value_type = 'string' THEN {alias}.value ->> '$' END)"
        return (
            f"(CASE WHEN {alias}.value_type = 'boolean' "
            f"THEN CAST({alias}.value AS VARCHAR) = 'true' END)"
        )

    def null_test(self, name: _Name) -> str:
        if name.path is None:
            return f"({name.column} IS NULL)"
        alias = self.alias(name.path)
        return f"({alias}.value_type IS NULL OR {alias}.value_type = 'null')"

    def check_kind(self, name: _Name, literal: _Literal) -> None:
        if name.path is not None:
            return
        if literal.kind != name.kind:
            shown = json.dumps(literal.value)
            raise InvalidPredicate(
                self.expression,
                literal.start,
                f"{name.text} is {'a number' if name.kind == 'number' else 'text'}; "
                f"{shown} cannot be compared with it"
                + (" (quote text: 'FAILED')" if name.kind == "text" else ""),
            )
        if name.text == "status" and literal.value not in STATUSES:
            raise InvalidPredicate(
                self.expression,
                literal.start,
                f"{literal.value!r} is not a run status; use one of {', '.join(STATUSES)}",
            )

    def compare(self, name: _Name, operator: str, literal: _Literal, operator_token: Token) -> str:
        if literal.kind == "null":
            if operator not in ("=", "<>"):
                raise InvalidPredicate(
                    self.expression, operator_token.start, "null compares only with == or !="
                )
            test = self.null_test(name)
            return test if operator == "=" else f"(NOT {test})"
        if literal.kind == "boolean" and operator not in ("=", "<>"):
            raise InvalidPredicate(
                self.expression, operator_token.start, "true and false compare only with == or !="
            )
        self.check_kind(name, literal)
        value = self.accessor(name, literal.kind)
        return f"coalesce({value} {operator} {self.bind(literal.value)}, false)"

    def membership(self, name: _Name, negated: bool) -> str:
        if not (self.token.kind == "punct" and self.token.text == "("):
            raise self.fail("expected '(' and a list of values after 'in'")
        self.advance()
        literals: list[_Literal] = []
        while True:
            operand = self.parse_operand()
            if isinstance(operand, _Name):
                raise InvalidPredicate(
                    self.expression, operand.start, "the list after 'in' holds values, not names"
                )
            if operand.kind in ("null",):
                raise InvalidPredicate(
                    self.expression,
                    operand.start,
                    "use 'is null' rather than null inside 'in (...)'",
                )
            if literals and operand.kind != literals[0].kind:
                raise InvalidPredicate(
                    self.expression,
                    operand.start,
                    f"the values after 'in' mix {literals[0].kind} and {operand.kind}; "
                    "use one kind",
                )
            self.check_kind(name, operand)
            literals.append(operand)
            if self.token.kind == "punct" and self.token.text == ",":
                self.advance()
                if self.token.kind == "punct" and self.token.text == ")":
                    break
                continue
            if self.token.kind == "punct" and self.token.text == ")":
                break
            raise self.fail("expected ',' or ')' in the list after 'in'")
        self.advance()
        value = self.accessor(name, literals[0].kind)
        values = ", ".join(self.bind(literal.value) for literal in literals)
        return f"coalesce({value} {'NOT IN' if negated else 'IN'} ({values}), false)"

"""compile_predicate: which runs a failing predicate selects, and how bad predicates are refused."""

from __future__ import annotations

import pytest

import runreplay
from runreplay.errors import InvalidPredicate
from runreplay.predicate import compile_predicate, tokenize

RUNS = {
    # run id: (status, output, parameters, duration seconds)
    "r1": ("SUCCEEDED", {"metrics": {"auc": 0.91, "p@10": 0.4}}, {"dryRun": False}, 60),
    "r2": ("SUCCEEDED", {"metrics": {"auc": 0.86, "p@10": 0.3}}, {"dryRun": True}, 600),
    "r3": ("FAILED", {"error": "timeout"}, {"dryRun": False}, 30),
    "r4": ("CANCELED", {"metrics": {"auc": "0.5"}}, {}, 5),  # a string, not a number
    "r5": ("SUCCEEDED", {"metrics": {"auc": 1}, "error": None}, {"dryRun": "true"}, 100),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    records = []
    for number, (run_id, (status, output, parameters, seconds)) in enumerate(RUNS.items()):
        records.append(
            {
                "runId": run_id,
                "workflowId": "w",
                "status": status,
                "createdAt": f"2026-01-01T0{number}:00:00Z",
                "startedAt": f"2026-01-01T0{number}:00:00Z",
                "finishedAt": f"2026-01-01T0{number}:{seconds // 60:02d}:{seconds % 60:02d}Z",
                "parameters": parameters,
                "output": output,
            }
        )
    with runreplay.open(tmp_path_factory.mktemp("predicate") / "s.duckdb") as opened:
        opened.load_records(records)
        yield opened


def selected(store, expression: str) -> set[str]:
    predicate = compile_predicate(expression)
    rows = store.connection.execute(
        f"SELECT r.run_id FROM runs r {predicate.joins} WHERE {predicate.condition}",
        predicate.params,
    ).fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (None, {"r3"}),
        ("status == 'FAILED'", {"r3"}),
        ("status = 'FAILED'", {"r3"}),
        ("status in ('FAILED', 'CANCELED')", {"r3", "r4"}),
        ("status not in ('FAILED', 'CANCELED',)", {"r1", "r2", "r5"}),
        ("output.metrics.auc < 0.9", {"r2"}),  # missing or a string is not < 0.9
        ("0.9 > output.metrics.auc", {"r2"}),
        ("output.metrics.auc >= 1.0", {"r5"}),  # 1 and 1.0 compare as numbers
        ("output.metrics.auc != 0.91", {"r2", "r5"}),  # a missing path is not != either
        ("not (output.metrics.auc < 0.9)", {"r1", "r3", "r4", "r5"}),
        ("output.metrics.auc == '0.5'", {"r4"}),
        ('output.metrics["p@10"] <= 0.3', {"r2"}),
        ("output.error is null", {"r1", "r2", "r4", "r5"}),  # JSON null counts as null
        ("output.error is not null", {"r3"}),
        ("output.error == null", {"r1", "r2", "r4", "r5"}),
        ("parameters.dryRun", {"r2"}),  # a boolean field alone: true, not "true"
        ("parameters.dryRun == false", {"r1", "r3"}),
        ("duration > 120", {"r2"}),
        ("status == 'SUCCEEDED' and (output.metrics.auc < 0.9 or parameters.dryRun)", {"r2"}),
        ("STATUS == 'FAILED' OR output.metrics.auc < 0.9", set()),  # names are case-sensitive
    ],
)
def test_predicate_selects_the_runs_it_describes(store, expression, expected):
    if expression is not None and expression.startswith("STATUS"):
        with pytest.raises(InvalidPredicate, match="unknown name 'STATUS'"):
            compile_predicate(expression)
        return
    assert selected(store, expression) == expected


def test_predicate_binds_literals_and_paths_as_parameters():
    predicate = compile_predicate("output.metrics.auc < 0.9 or status == 'FAILED'")
    assert "0.9" not in predicate.condition and "FAILED" not in predicate.condition
    assert "output.metrics" not in predicate.condition + predicate.joins
    assert set(predicate.params.values()) == {0.9, "FAILED", "output.metrics.auc"}
    sneaky = compile_predicate('output.note == "\'); DROP TABLE runs; --"')
    assert "DROP" not in sneaky.condition and "DROP" not in sneaky.joins
    assert "'); DROP TABLE runs; --" in sneaky.params.values()


def test_tokenize_reads_paths_strings_numbers_and_keywords():
    tokens = tokenize('output.metrics["p@10"] >= -1.5e2 AND x.y in (\'a\\\'b\', "c")')
    assert [(token.kind, token.value) for token in tokens] == [
        ("name", 'output.metrics["p@10"]'),
        ("op", ">="),
        ("number", -150.0),
        ("keyword", "and"),
        ("name", "x.y"),
        ("keyword", "in"),
        ("punct", "("),
        ("string", "a'b"),
        ("punct", ","),
        ("string", "c"),
        ("punct", ")"),
        ("end", None),
    ]


@pytest.mark.parametrize(
    ("expression", "position", "says"),
    [
        ("", 0, "the predicate is empty"),
        ("output.metrics.auc <", 20, "expected a name"),
        ("output.metrics.auc < 0.9 0.8", 25, "expected 'and', 'or'"),
        ("status == 1", 10, "status is text"),
        ("duration > '5'", 11, "duration is a number"),
        ("status == 'DONE'", 10, "'DONE' is not a run status"),
        ("output == 1", 0, "a whole section"),
        ("foo.bar == 1", 0, "unknown name 'foo'"),
        ("output.x in (1, 'a')", 16, "mix number and text"),
        ("output.x in 1", 12, "expected '('"),
        ("output.x in (null)", 13, "use 'is null'"),
        ("output.x < null", 9, "null compares only with == or !="),
        ("output.x > true", 9, "true and false compare only"),
        ("output.x is 3", 12, "expected 'null'"),
        ("output.x == output.y", 12, "not with another name"),
        ("1 == 2", 0, "this compares two values"),
        ("(status == 'FAILED'", 19, "expected ')'"),
        ("output.x == 'open", 12, "not closed"),
        ("output.x @ 3", 9, "unexpected character '@'"),
        ("status", 6, "expected a comparison after status"),
        ("output..x == 1", 6, "unexpected character '.'"),
    ],
)
def test_bad_predicate_names_the_expression_and_position(expression, position, says):
    with pytest.raises(InvalidPredicate) as raised:
        compile_predicate(expression)
    error = raised.value
    assert (error.expression, error.position) == (expression, position)
    assert says in str(error)
    assert repr(expression) in str(error)
    assert str(error).splitlines()[-1] == "    " + " " * position + "^"


@pytest.mark.parametrize(
    ("expression", "position", "bracketed"),
    [
        ("parameters.ünï == 1", 11, 'parameters["ünï"]'),
        ("output.metrics.größe > 2", 15, 'output.metrics["größe"]'),
    ],
)
def test_a_key_that_is_not_an_identifier_is_pointed_at_with_the_bracket_form(
    expression, position, bracketed
):
    with pytest.raises(InvalidPredicate) as raised:
        compile_predicate(expression)
    error = raised.value
    assert error.position == position
    assert f"write it in brackets: {bracketed}" in str(error)
    compile_predicate(expression.replace(expression.split()[0], bracketed))


def test_predicate_must_be_text():
    with pytest.raises(InvalidPredicate, match="a predicate is text"):
        compile_predicate(0.9)  # type: ignore[arg-type]

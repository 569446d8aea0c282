"""Schemathesis against the live server's /openapi.json: no 5xx, no response off its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# known runs, so generated requests also reach the 200 / 202 / 409 paths, not only 404
KNOWN_RUNS = ("run-000345", "run-000347", "run-000349", "run-000403")
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 30, schemathesis.GenerationMode.NEGATIVE: 15}


def _strategies(operation, mode):
    strategies = [operation.as_strategy(generation_mode=mode)]
    if "{runId}" in operation.path:
        known = [
            operation.as_strategy(
                generation_mode=mode,
                path_parameters={"runId": run_id},
                query={"compareTo": compare_to} if operation.path.endswith("/diff") else None,
            )
            for run_id in KNOWN_RUNS
            for compare_to in ("run-000298", "run-000403")
        ]
        strategies.append(st.one_of(known))
    return st.one_of(strategies)


@pytest.mark.slow
def test_generated_requests_get_documented_answers(live_server):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    headers = live_server.headers()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    for mode, examples in EXAMPLES.items():
        for operation in operations:
            if mode is schemathesis.GenerationMode.NEGATIVE and operation.path == "/health":
                continue  # nothing in it to make invalid

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=_strategies(operation, mode))
            def check(case):
                if case.operation.path != "/health":
                    case.headers = {**(case.headers or {}), **headers}
                case.call_and_validate(checks=CHECKS, timeout=10)

            check()

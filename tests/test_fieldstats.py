"""fieldstats: consecutive-run pair statistics and volatile paths, the SQL diff and drift share."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runreplay
from runreplay.diff import volatile_paths as diff_volatile_paths
from runreplay.fieldstats import Scope, is_volatile, pair_stats, path_stats, volatile_paths
from runreplay.predicate import compile_predicate
from tests.conftest import SAMPLE

START = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    with runreplay.open(tmp_path_factory.mktemp("sample") / "s.duckdb") as store:
        store.load(SAMPLE)
        yield store


@pytest.mark.parametrize("workflow_id", ["nightly-etl", "ml-train", "hourly-sync"])
def test_volatile_paths_of_the_sample_are_the_planted_noise(sample_store, workflow_id):
    found = volatile_paths(sample_store.connection, workflow_id)
    assert {"context.host", "context.traceId", "output.durationSeconds", "duration"} <= found
    assert {"runKey", "partitionKey"} <= found  # one per schedule tick
    assert not {"parameters.batchSize", "context.image", "status"} & found
    assert found == diff_volatile_paths(sample_store, workflow_id)


@pytest.mark.parametrize(
    ("pairs", "changed", "expected"),
    [(2, 2, False), (3, 3, True), (10, 9, True), (10, 8, False), (0, 0, False)],
)
def test_is_volatile_needs_enough_pairs_and_a_high_changed_share(pairs, changed, expected):
    assert bool(is_volatile(pairs, changed)) is expected


def test_path_stats_and_pair_stats_count_presence_and_changes(tmp_path):
    values = ["a", "a", None, "b", "b", "b"]  # absent in the third run
    records = [
        {
            "runId": f"r{index}",
            "workflowId": "w",
            "status": "FAILED" if index >= 3 else "SUCCEEDED",
            "createdAt": stamp(index),
            "parameters": {} if value is None else {"v": value},
        }
        for index, value in enumerate(values)
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        scope = Scope("w", failing=compile_predicate(None))
        stats = path_stats(store.connection, scope).set_index("path").loc["parameters.v"]
        pairs = pair_stats(store.connection, scope, ["parameters.v"]).iloc[0]
    assert (stats["present"], stats["failed_present"], stats["single_value"]) == (5, 3, False)
    assert stats["section"] == "parameters"
    # pairs: r0-r1 (same) and r3-r4, r4-r5 (same); changes: removed at r2, added at r3
    assert (pairs["pairs"], pairs["changed_pairs"], pairs["changes"]) == (3, 0, 2)
    assert (pairs["first_change_run_id"], pairs["last_change_run_id"]) == ("r2", "r3")


RUN_SHAPES = st.tuples(
    st.integers(min_value=0, max_value=6),  # createdAt hour: ties happen
    st.sampled_from(["SUCCEEDED", "FAILED", "CANCELED"]),
    st.sampled_from([None, "p1", "p2"]),  # partitionKey
    st.sampled_from([None, 30, 60]),  # duration seconds
    st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from([1, 1.0, "1", True, None])),
)


@pytest.fixture(scope="module")
def shared_store():
    with runreplay.open(":memory:") as store:
        yield store, itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RUN_SHAPES, min_size=1, max_size=14), st.sampled_from([0.5, 0.9, 1.0]))
def test_volatile_paths_equal_the_diff_definition(shared_store, runs, threshold):
    store, numbers = shared_store
    workflow_id = f"w{next(numbers)}"
    records = []
    for index, (hour, status, partition, seconds, parameters) in enumerate(runs):
        item = {
            "runId": f"{workflow_id}-{index:02d}",
            "workflowId": workflow_id,
            "status": status,
            "createdAt": stamp(hour),
            "partitionKey": partition,
            "parameters": parameters,
        }
        if seconds is not None:
            item["startedAt"] = stamp(hour)
            item["finishedAt"] = stamp(hour + seconds / 3600)
        records.append(item)
    store.load_records(records)
    ours = volatile_paths(store.connection, workflow_id, threshold, min_pairs=2)
    assert ours == diff_volatile_paths(store, workflow_id, threshold, min_pairs=2)

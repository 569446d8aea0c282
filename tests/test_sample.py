"""The sample generator: deterministic, valid records, and every planted story where promised."""

from __future__ import annotations

import gzip
import itertools
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runreplay import sample
from runreplay.model import normalize_record

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / sample.SAMPLE_FILE
DATA_README = ROOT / "data" / "README.md"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def dumped(records) -> list[bytes]:
    return [orjson.dumps(record) for record in records]


def scheduled(records: list[dict], workflow_id: str) -> list[dict]:
    """The workflow's scheduled runs (not replays), in createdAt order."""
    return [r for r in records if r["workflowId"] == workflow_id and r["replayOf"] is None]


def events(record: dict) -> list[tuple]:
    return [
        (e["status"], e.get("step"), e.get("attempt"), e.get("message")) for e in record["history"]
    ]


def story_ids(records: list[dict]) -> dict[str, str]:
    """The run ids data/README.md points a notebook at, found from the records themselves."""
    by_id = {r["runId"]: r for r in records}
    nightly = scheduled(records, "nightly-etl")
    ml = scheduled(records, "ml-train")
    replays = [r for r in records if r["replayOf"] is not None]
    (pair_replay,) = [
        r for r in replays if r["workflowId"] == "nightly-etl" and r["status"] == "SUCCEEDED"
    ]
    (failed_replay,) = [
        r for r in replays if r["workflowId"] == "nightly-etl" and r["status"] == "FAILED"
    ]
    # hourly-sync's first FAILED run is replayed, when one failed at all
    sync_replays = [r for r in replays if r["workflowId"] == "hourly-sync"]
    assert len(sync_replays) <= 1
    orders = [
        (asset["materializedAt"], r["runId"])
        for r in records
        for asset in r["assets"]
        if asset["assetKey"] == "warehouse/orders"
    ]
    ids = {
        "last_good": [r for r in nightly if r["parameters"]["batchSize"] == 500][-1]["runId"],
        "first_bad": [r for r in nightly if r["parameters"]["batchSize"] == 5000][0]["runId"],
        "last_old_image": [r for r in ml if r["context"]["image"] == sample.OLD_IMAGE][-1]["runId"],
        "first_new_image": [r for r in ml if r["context"]["image"] == sample.NEW_IMAGE][0]["runId"],
        "flaky_original": by_id[pair_replay["replayOf"]]["runId"],
        "flaky_replay": pair_replay["runId"],
        "failed_original": failed_replay["replayOf"],
        "failed_replay": failed_replay["runId"],
        "stale_orders": max(orders)[1],
    }
    for sync_replay in sync_replays:
        ids["sync_original"] = sync_replay["replayOf"]
        ids["sync_replay"] = sync_replay["runId"]
    return ids


@pytest.fixture(scope="module")
def committed() -> list[dict]:
    if not COMMITTED.exists():
        pytest.fail(f"{COMMITTED} is missing; run python -m runreplay.sample data")
    return [orjson.loads(line) for line in COMMITTED.read_bytes().splitlines()]


# --- determinism, ids, validity -----------------------------------------------------------


def test_generate_gives_identical_records_for_identical_arguments():
    first = dumped(sample.generate(runs_per_workflow=40, extra_parameters=12))
    second = dumped(sample.generate(runs_per_workflow=40, extra_parameters=12))
    assert first == second
    assert len(first) >= 3 * 40 + 2  # plus the replays


def test_generate_differs_between_seeds():
    one = dumped(sample.generate(runs_per_workflow=10, seed=1))
    two = dumped(sample.generate(runs_per_workflow=10, seed=2))
    assert one != two


def test_run_ids_are_sequential_in_created_at_order():
    records = list(sample.generate(runs_per_workflow=50))
    assert [r["runId"] for r in records] == [f"run-{n:06d}" for n in range(1, len(records) + 1)]
    created = [r["createdAt"] for r in records]
    assert created == sorted(created)
    assert created[0] == "2026-08-01T00:15:00Z"  # hourly-sync's first tick after start


def test_runs_per_workflow_can_differ_per_workflow():
    counts = {"nightly-etl": 12, "hourly-sync": 5}
    records = list(sample.generate(workflows=tuple(counts), runs_per_workflow=counts))
    for workflow_id, count in counts.items():
        assert len(scheduled(records, workflow_id)) == count
    assert {r["workflowId"] for r in records} == set(counts)


@settings(max_examples=30, deadline=None)
@given(
    workflows=st.lists(st.sampled_from(sample.WORKFLOWS), min_size=1, max_size=3, unique=True),
    runs=st.integers(0, 15),
    seed=st.integers(0, 2**32),
    extra=st.integers(0, 25),
)
def test_every_generated_record_is_valid_and_already_normalised(workflows, runs, seed, extra):
    for record in sample.generate(tuple(workflows), runs, seed=seed, extra_parameters=extra):
        assert normalize_record(record, check_json=True) == record


def test_every_timestamp_is_whole_second_utc():
    for record in sample.generate(runs_per_workflow=30):
        stamps = [record["createdAt"], record["startedAt"], record["finishedAt"]]
        stamps += [event["at"] for event in record["history"]]
        for asset in record["assets"]:
            stamps += [asset["materializedAt"], asset["freshness"]["lastUpdated"]]
        assert all(TIMESTAMP.match(stamp) for stamp in stamps), record["runId"]
        assert stamps[0] <= stamps[1] <= stamps[2]


def test_history_starts_queued_and_ends_in_the_run_status():
    for record in sample.generate(runs_per_workflow=60):
        history = record["history"]
        assert [event["seq"] for event in history] == list(range(len(history)))
        assert history[0] == {"seq": 0, "at": record["createdAt"], "status": "QUEUED"}
        assert history[-1]["status"] == record["status"]
        assert history[-1]["at"] == record["finishedAt"]


def test_generate_is_a_lazy_stream():
    records = sample.generate(workflows=("hourly-sync",), runs_per_workflow=10**7)
    first_three = list(itertools.islice(records, 3))
    assert [r["runId"] for r in first_three] == ["run-000001", "run-000002", "run-000003"]


def test_start_with_an_offset_gives_utc_created_at_and_partition():
    (record,) = sample.generate(("nightly-etl",), 1, start="2030-01-01T00:00:00+02:00")
    assert record["createdAt"] == "2029-12-31T23:00:00Z"
    assert record["partitionKey"] == "2029-12-31"
    assert record["runKey"] == "nightly-etl:2029-12-31"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"workflows": ("nightly-etl", "weekly-report")}, "unknown sample workflow"),
        ({"runs_per_workflow": -1}, "must be an integer >= 0"),
        ({"extra_parameters": -2}, "extra_parameters must be an integer >= 0"),
        ({"start": "2026-08-01T00:00:00"}, "has no time zone"),
        ({"start": "yesterday"}, "ISO 8601 timestamp"),
        ({"workflows": ("ml-train",), "runs_per_workflow": 3_000_000}, "past the year 9999"),
    ],
)
def test_generate_rejects_bad_arguments_up_front(arguments, message):
    with pytest.raises(ValueError, match=message):
        sample.generate(**arguments)


# --- extra parameters ---------------------------------------------------------------------


def tuning_leaves(record: dict) -> dict[str, object]:
    tuning = record["parameters"]["tuning"]
    return {
        f"{group}.{key}": value for group, leaves in tuning.items() for key, value in leaves.items()
    }


def test_extra_parameters_add_that_many_mixed_leaves_under_tuning():
    records = list(sample.generate(runs_per_workflow=5, extra_parameters=37))
    for record in records:
        leaves = tuning_leaves(record)
        assert len(leaves) == 37
        assert {type(value) for value in leaves.values()} == {int, float, str}
    assert "tuning" not in next(sample.generate(runs_per_workflow=1))["parameters"]


def test_extra_parameters_mostly_stay_constant_and_a_few_drift():
    runs = scheduled(list(sample.generate(("ml-train",), 400, extra_parameters=40)), "ml-train")
    leaves = [tuning_leaves(r) for r in runs]
    ever_changed = {
        path
        for before, after in itertools.pairwise(leaves)
        for path in before
        if before[path] != after[path]
    }
    assert 1 <= len(ever_changed) <= 4  # of 40
    changes_per_run = [
        sum(before[path] != after[path] for path in before)
        for before, after in itertools.pairwise(leaves)
    ]
    assert max(changes_per_run) <= 2
    assert changes_per_run.count(0) >= 0.8 * len(changes_per_run)


# --- the planted stories, in the committed sample and at other sizes ----------------------


@pytest.fixture(
    scope="module",
    params=["committed", 20, 57, 300],
    ids=lambda p: f"{p}" if p == "committed" else f"{p}-runs",
)
def records(request, committed) -> list[dict]:
    """The committed sample, and fresh samples of other sizes: the stories scale with them."""
    if request.param == "committed":
        return committed
    return list(sample.generate(runs_per_workflow=request.param))


def test_batch_size_change_point_turns_nightly_etl_into_load_timeouts(records):
    nightly = scheduled(records, "nightly-etl")
    change = sample.change_index(len(nightly))
    assert [r["parameters"]["batchSize"] for r in nightly] == [500] * change + [5000] * (
        len(nightly) - change
    )
    assert {r["status"] for r in nightly[:change]} == {"SUCCEEDED"}
    for record in nightly[change:]:
        assert record["status"] == "FAILED"
        assert events(record)[-4:] == [
            ("RUNNING", "load", 1, None),
            ("RETRYING", "load", 1, "timeout writing batch"),
            ("RUNNING", "load", 2, None),
            ("FAILED", "load", 2, "timeout writing batch"),
        ]
        assert record["assets"] == []
        assert record["output"]["error"] == "timeout writing batch"


def test_nightly_etl_parameters_carry_nested_objects_and_a_keyed_step_list(records):
    parameters = scheduled(records, "nightly-etl")[0]["parameters"]
    assert parameters["source"]["table"] == "orders"
    assert [step["name"] for step in parameters["steps"]] == ["extract", "transform", "load"]


def test_image_change_drops_auc_and_every_ml_train_run_succeeds(records):
    ml = scheduled(records, "ml-train")
    change = sample.change_index(len(ml))
    images = [r["context"]["image"] for r in ml]
    assert images == ["trainer:2.3.0"] * change + ["trainer:2.4.0"] * (len(ml) - change)
    for record in ml:
        metrics = record["output"]["metrics"]
        expected = 0.91 if record["context"]["image"] == "trainer:2.3.0" else 0.86
        assert metrics["auc"] == pytest.approx(expected, abs=0.005 + 1e-9)
        assert "p@10" in metrics
        assert record["status"] == "SUCCEEDED"
        assert record["assets"][0]["payload"]["auc"] == metrics["auc"]


def test_flaky_host_run_and_its_replay_diverge_only_in_the_retry_path(records):
    ids = story_ids(records)
    by_id = {r["runId"]: r for r in records}
    original, replay = by_id[ids["flaky_original"]], by_id[ids["flaky_replay"]]
    assert original["context"]["host"] == "worker-7"
    assert replay["context"]["host"] != "worker-7"
    assert ("RETRYING", "extract", 1, "connection reset by worker-7") in events(original)
    assert not [e for e in events(replay) if e[0] == "RETRYING"]
    assert original["status"] == replay["status"] == "SUCCEEDED"
    assert (replay["runKey"], replay["partitionKey"]) == (
        original["runKey"],
        original["partitionKey"],
    )
    assert replay["parameters"] == original["parameters"]
    assert replay["triggerPayload"]["source"] == "replay"
    assert original["createdAt"] < by_id[ids["last_good"]]["createdAt"]


def test_replay_of_the_first_bad_run_fails_again(records):
    ids = story_ids(records)
    by_id = {r["runId"]: r for r in records}
    assert ids["failed_original"] == ids["first_bad"]
    replay = by_id[ids["failed_replay"]]
    assert replay["status"] == "FAILED"
    assert replay["triggerPayload"] == {"source": "replay", "requestedBy": "bob"}
    assert events(replay)[-1] == ("FAILED", "load", 2, "timeout writing batch")


def test_newest_orders_snapshot_is_stale_and_every_other_snapshot_fresh(records):
    ids = story_ids(records)
    assert ids["stale_orders"] == ids["last_good"]
    flags = {
        (r["runId"], asset["assetKey"]): asset["freshness"]["stale"]
        for r in records
        for asset in r["assets"]
    }
    assert [key for key, stale in flags.items() if stale] == [
        (ids["last_good"], "warehouse/orders")
    ]
    assert {key[1] for key in flags} == {
        "warehouse/orders",
        "warehouse/order_items",
        "models/churn",
    }


def test_failed_and_canceled_runs_materialize_no_assets(records):
    for record in records:
        if record["status"] != "SUCCEEDED":
            assert record["assets"] == []


@pytest.mark.parametrize("workflow_id", sample.WORKFLOWS)
def test_host_trace_id_and_duration_change_between_consecutive_runs(records, workflow_id):
    pairs = list(itertools.pairwise(scheduled(records, workflow_id)))
    for before, after in pairs:
        assert before["context"]["host"] != after["context"]["host"]
        assert before["context"]["traceId"] != after["context"]["traceId"]
    same_duration = [
        a for a, b in pairs if a["output"]["durationSeconds"] == b["output"]["durationSeconds"]
    ]
    assert len(same_duration) <= len(pairs) // 20


def test_hourly_sync_mostly_succeeds_with_no_planted_change(committed):
    hourly = scheduled(committed, "hourly-sync")
    statuses = [r["status"] for r in hourly]
    assert statuses.count("SUCCEEDED") >= 0.9 * len(hourly)
    assert {"FAILED", "CANCELED"} <= set(statuses)
    assert len({orjson.dumps(r["parameters"]) for r in hourly}) == 1
    assert len({r["context"]["image"] for r in hourly}) == 1


def test_committed_sample_holds_three_replays(committed):
    replays = [r for r in committed if r["replayOf"] is not None]
    assert [r["workflowId"] for r in replays] == ["hourly-sync", "nightly-etl", "nightly-etl"]


# --- simulate: replays reproduce outcomes -------------------------------------------------


def inputs(record: dict) -> tuple:
    return record["workflowId"], record["parameters"], record["context"], record["createdAt"]


def test_simulate_reproduces_every_committed_run_except_the_planted_stale_flag(committed):
    ids = story_ids(committed)
    for record in committed:
        run = sample.simulate(*inputs(record))
        if record["runId"] == ids["stale_orders"]:
            run["assets"][0]["freshness"]["stale"] = True
        assert run == {key: record[key] for key in run}, record["runId"]


def test_replaying_the_last_good_run_succeeds_and_the_first_bad_fails_again(committed):
    ids = story_ids(committed)
    by_id = {r["runId"]: r for r in committed}
    for run_id, expected in [(ids["last_good"], "SUCCEEDED"), (ids["first_bad"], "FAILED")]:
        workflow_id, parameters, context, _ = inputs(by_id[run_id])
        replayed = sample.simulate(workflow_id, parameters, context, "2027-03-01T12:34:56Z")
        assert replayed["status"] == expected


@settings(max_examples=60, deadline=None)
@given(
    batch_size=st.sampled_from([500, 5000]),
    host=st.sampled_from(sample.HOSTS),
    trace_id=st.text("0123456789abcdef", min_size=16, max_size=16),
    created=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_nightly_etl_outcome_depends_only_on_batch_size(batch_size, host, trace_id, created):
    steps = [{"name": "extract", "retries": 2}, {"name": "load", "retries": 1}]
    parameters = {"batchSize": batch_size, "steps": steps}
    context = {"image": "etl:1.4.2", "host": host, "traceId": trace_id}
    run = sample.simulate("nightly-etl", parameters, context, created.isoformat() + "Z")
    assert run["status"] == ("SUCCEEDED" if batch_size == 500 else "FAILED")
    assert run["startedAt"] <= run["finishedAt"]


def test_simulate_treats_equal_instants_in_any_zone_alike():
    parameters, context = {"batchSize": 500}, {"host": "worker-1"}
    utc = sample.simulate("nightly-etl", parameters, context, "2026-11-20T01:00:00Z")
    offset = sample.simulate("nightly-etl", parameters, context, "2026-11-20T03:00:00+02:00")
    assert utc == offset


def test_simulate_runs_unknown_workflows_through_their_listed_steps():
    parameters = {"steps": [{"name": "a"}, {"name": "b", "retries": 3}]}
    run = sample.simulate("adhoc", parameters, {}, "2026-11-20T01:00:00Z")
    assert run["status"] == "SUCCEEDED"
    assert [e[1] for e in events(run)] == [None, "a", "b", None]
    assert run["assets"] == []


def test_simulate_does_not_change_its_inputs():
    parameters = {"batchSize": 5000, "steps": [{"name": "load", "retries": 1}]}
    context = {"host": "worker-7"}
    before = orjson.dumps([parameters, context])
    sample.simulate("nightly-etl", parameters, context, "2026-11-20T01:00:00Z")
    assert orjson.dumps([parameters, context]) == before


def test_simulate_caps_retries_from_edited_parameters():
    parameters = {"batchSize": 5000, "steps": [{"name": "load", "retries": 10**9}]}
    run = sample.simulate("nightly-etl", parameters, {}, "2026-11-20T01:00:00Z")
    assert run["status"] == "FAILED"
    assert run["history"][-1]["attempt"] == 11


# --- writing and the committed sample -----------------------------------------------------


def test_committed_sample_equals_a_fresh_write(tmp_path):
    written = sample.write_sample_data(tmp_path / "fresh")
    assert written == tmp_path / "fresh" / "runs.ndjson"
    assert COMMITTED.read_bytes() == written.read_bytes(), (
        "data/runs.ndjson is stale; run python -m runreplay.sample data"
    )
    assert COMMITTED.stat().st_size < 3 * 1024 * 1024


def test_data_readme_names_every_story_run_id(committed):
    readme = DATA_README.read_text("utf-8")
    missing = {
        story: run_id for story, run_id in story_ids(committed).items() if run_id not in readme
    }
    assert not missing, f"data/README.md does not mention {missing}"
    assert "python -m runreplay.sample data" in readme


def test_write_ndjson_counts_records_and_gzips_deterministically(tmp_path):
    records = list(sample.generate(runs_per_workflow=3))
    plain = tmp_path / "runs.ndjson"
    assert sample.write_ndjson(plain, records) == len(records)
    assert [orjson.loads(line) for line in plain.read_bytes().splitlines()] == records
    first, second = tmp_path / "a.ndjson.gz", tmp_path / "b.ndjson.gz"
    assert sample.write_ndjson(first, iter(records)) == len(records)
    sample.write_ndjson(second, records)
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()) == plain.read_bytes()


def test_write_ndjson_leaves_no_file_when_the_records_fail(tmp_path):
    def broken():
        yield from sample.generate(runs_per_workflow=1)
        raise RuntimeError("source went away")

    target = tmp_path / "runs.ndjson"
    with pytest.raises(RuntimeError, match="source went away"):
        sample.write_ndjson(target, broken())
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_writes_the_sample(tmp_path, capsys):
    sample.main([str(tmp_path / "out")])
    assert (tmp_path / "out" / "runs.ndjson").read_bytes() == COMMITTED.read_bytes()
    assert capsys.readouterr().out.startswith(
        f"wrote {len(COMMITTED.read_bytes().splitlines())} runs"
    )


def test_the_sample_module_is_reachable_from_the_package_as_the_readme_writes_it():
    # `import runreplay` then `runreplay.sample.generate(...)` raised AttributeError
    code = (
        "import runreplay, sys; assert 'runreplay.sample' not in sys.modules; "
        "print(sum(1 for _ in runreplay.sample.generate(runs_per_workflow=2)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == sum(1 for _ in sample.generate(runs_per_workflow=2)) > 0

"""The store: round trips, queries, staleness, versions and the one-writer lock."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runreplay
from runreplay.errors import RunNotFound, RunReplayError, StoreLocked, StoreVersionError
from runreplay.model import STATUSES, normalize_record
from tests.conftest import make_record
from tests.strategies import json_objects as json_object
from tests.strategies import json_values as json_value

# -- round trips -----------------------------------------------------------------------

timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
).map(lambda moment: moment.isoformat())
events = st.lists(
    st.fixed_dictionaries(
        {"seq": st.integers(0, 10**6), "at": timestamps, "status": st.sampled_from(STATUSES)},
        optional={
            "step": st.text(max_size=5),
            "attempt": st.integers(1, 9),
            "message": st.text(max_size=10),
        },
    ),
    max_size=4,
)
assets = st.lists(
    st.fixed_dictionaries(
        {"assetKey": st.text(min_size=1, max_size=8)},
        optional={
            "materializedAt": timestamps,
            "payload": json_object,
            "freshness": st.fixed_dictionaries(
                {},
                optional={
                    "lastUpdated": timestamps,
                    "maxLagMinutes": st.integers(0, 10**5),
                    "stale": st.booleans(),
                },
            ),
        },
    ),
    max_size=3,
)
records = st.fixed_dictionaries(
    {
        "runId": st.text(min_size=1, max_size=12),
        "workflowId": st.text(min_size=1, max_size=12),
        "status": st.sampled_from(STATUSES),
        "createdAt": timestamps,
    },
    optional={
        "runKey": st.none() | st.text(max_size=10),
        "partitionKey": st.none() | st.text(max_size=10),
        "startedAt": st.none() | timestamps,
        "replayOf": st.none() | st.text(max_size=10),
        "parameters": json_object,
        "context": json_object,
        "output": json_object,
        "triggerPayload": json_object,
        "history": events,
        "assets": assets,
        "tenant": json_value,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=records)
def test_any_valid_record_round_trips(store, record):
    store.load_records([record], replace=True)
    stored = store.run(record["runId"])
    assert orjson.dumps(stored) == orjson.dumps(normalize_record(record))


def test_every_sample_record_round_trips(store, sample_path):
    result = store.load(sample_path)
    assert result.runs > 300 and not result.errors
    for raw in sample_path.read_bytes().splitlines():
        record = orjson.loads(raw)
        assert store.run(record["runId"]) == record


# -- queries ---------------------------------------------------------------------------


@pytest.fixture
def loaded(store):
    store.load_records(
        [
            make_record("run-1", createdAt="2026-11-18T01:00:00Z"),
            make_record("run-2", createdAt="2026-11-19T01:00:00Z", status="FAILED"),
            make_record("run-3", createdAt="2026-11-20T01:00:00Z", workflowId="ml-train"),
        ]
    )
    return store


def test_runs_are_newest_first_and_filtered(loaded):
    assert list(loaded.runs()["run_id"]) == ["run-3", "run-2", "run-1"]
    assert list(loaded.runs(workflow="nightly-etl")["run_id"]) == ["run-2", "run-1"]
    assert list(loaded.runs(status="failed")["run_id"]) == ["run-2"]
    assert list(
        loaded.runs(since="2026-11-19T00:00:00Z", until="2026-11-20T00:00:00Z")["run_id"]
    ) == ["run-2"]
    assert list(loaded.runs(limit=1)["run_id"]) == ["run-3"]
    assert loaded.runs()["duration_seconds"].tolist() == [595.0] * 3
    assert str(loaded.runs()["created_at"].dtype) == "datetime64[us, UTC]"


def test_workflows_count_runs_by_status(loaded):
    frame = loaded.workflows().set_index("workflow_id")
    assert frame.loc["nightly-etl", "runs"] == 2
    assert frame.loc["nightly-etl", "failed"] == 1 and frame.loc["nightly-etl", "succeeded"] == 1
    assert str(frame.loc["nightly-etl", "last_run"]) == "2026-11-19 01:00:00+00:00"


def test_unknown_run_says_how_to_find_runs(loaded):
    with pytest.raises(RunNotFound, match=r"run 'run-9' is not in the store .*Store.runs\(\)"):
        loaded.run("run-9")


def test_sql_escape_hatch_binds_parameters(loaded):
    assert loaded.sql("SELECT count(*) AS n FROM runs WHERE status = ?", ["FAILED"])["n"][0] == 1


def _asset(key, last_updated, lag=60, stale=None, materialized=None):
    freshness = {"lastUpdated": last_updated, "maxLagMinutes": lag}
    if stale is not None:
        freshness["stale"] = stale
    return {"assetKey": key, "materializedAt": materialized or last_updated, "freshness": freshness}


def test_staleness_uses_the_newest_snapshot_and_an_injected_now(store):
    store.load_records(
        [
            make_record("old", createdAt="2026-11-18T00:00:00Z", assets=[
                _asset("flagged", "2026-11-18T00:00:00Z", stale=False),
                _asset("lagging", "2026-11-18T00:00:00Z"),
                _asset("refreshed", "2026-11-18T00:00:00Z"),
            ]),
            make_record("new", createdAt="2026-11-20T00:00:00Z", assets=[
                _asset("flagged", "2026-11-20T00:00:00Z", stale=True),
                _asset("refreshed", "2026-11-20T00:00:00Z"),
            ]),
        ]
    )  # fmt: skip
    now = "2026-11-20T00:30:00Z"
    state = store.asset_state(now=now).set_index("asset_key")
    assert state.loc["flagged", "current_run_id"] == "new"
    assert state["is_stale"].to_dict() == {"flagged": True, "lagging": True, "refreshed": False}
    assert "flagged stale" in state.loc["flagged", "reason"]
    assert "more than maxLagMinutes 60" in state.loc["lagging", "reason"]
    # the old run's own snapshot said stale=False: the current state is what counts
    assert list(store.stale_assets("old", now=now)["asset_key"]) == ["flagged", "lagging"]
    assert list(store.stale_assets("new", now=now)["asset_key"]) == ["flagged"]
    assert list(store.stale_assets("old", now="2026-11-18T00:30:00Z")["asset_key"]) == ["flagged"]
    with pytest.raises(RunNotFound):
        store.stale_assets("nope", now=now)


# -- versions, read-only and locks -----------------------------------------------------


def test_store_records_its_schema_version(tmp_path):
    path = tmp_path / "s.duckdb"
    with runreplay.open(path) as store:
        assert store.schema_version == runreplay.store.SCHEMA_VERSION
    with runreplay.open(path, read_only=True) as store:
        assert store.counts()["runs"] == 0


class _Unwritable:
    """A schema version that cannot be written (str() fails), so a new store's creation
    fails after its tables are made and before its meta rows are: a stand-in for a
    Ctrl-C or a kill landing there."""

    def __str__(self) -> str:
        raise RuntimeError("stopped while the store was being made")


def test_a_new_store_is_made_in_one_transaction(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    monkeypatch.setattr(runreplay.store, "SCHEMA_VERSION", _Unwritable())
    with pytest.raises(RuntimeError, match="stopped while"):
        runreplay.open(path)
    monkeypatch.undo()
    # without the transaction the file kept tables but no schema version, and every later
    # open refused it as "not a runreplay store"
    with runreplay.open(path) as store:
        assert store.schema_version == runreplay.store.SCHEMA_VERSION
        assert store.counts()["runs"] == 0


def test_a_newer_store_fails_clearly(tmp_path):
    path = tmp_path / "s.duckdb"
    with runreplay.open(path) as store:
        store.connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreVersionError, match="schema version 99, newer .* upgrade runreplay"):
        runreplay.open(path)


def test_an_older_store_without_migration_fails_clearly(tmp_path):
    path = tmp_path / "s.duckdb"
    with runreplay.open(path) as store:
        store.connection.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(StoreVersionError, match="no migration to 1"):
        runreplay.open(path)


def test_a_foreign_duckdb_file_is_not_taken_over(tmp_path):
    import duckdb

    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(StoreVersionError, match="not a runreplay store"):
        runreplay.open(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("export.ndjson", b'{"runId": "r1"}\n'),
        ("export.json", b'[{"runId": "r1"}]'),
        ("export.parquet", b"PAR1" + bytes(16) + b"PAR1"),
        ("table.csv", b"run_id,status\nr1,FAILED\n"),
        ("other.sqlite", b"SQLite format 3\x00" + bytes(100)),
        ("notes.txt", b"hello"),
        ("empty.duckdb", b""),
    ],
)
def test_a_file_that_is_not_a_duckdb_store_is_refused_and_left_alone(tmp_path, name, content):
    # DuckDB itself attaches an existing CSV, JSON or Parquet file as an in-memory database:
    # a load would report success and keep nothing
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RunReplayError, match="it is not a DuckDB file") as raised:
        runreplay.open(path)
    assert str(path) in str(raised.value)
    assert ("runreplay load" in str(raised.value)) == name.startswith("export")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_new_store_named_like_an_export_or_a_directory_is_refused(tmp_path):
    with pytest.raises(RunReplayError, match="name the store file e.g. runs.duckdb"):
        runreplay.open(tmp_path / "runs.ndjson")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RunReplayError, match="it is a directory"):
        runreplay.open(tmp_path)
    with runreplay.open(tmp_path / "runs.ndjson.duckdb") as store:  # a store's own name
        store.load_records([make_record()])
    with runreplay.open(tmp_path / "runs.ndjson.duckdb", read_only=True) as store:
        assert len(store.runs()) == 1


@pytest.mark.parametrize(
    "meta",
    [
        ["CREATE TABLE meta (key VARCHAR, value VARCHAR)", "INSERT INTO meta VALUES ('app', 'dbt')"],
        ["CREATE TABLE meta (key VARCHAR, value VARCHAR)",
         "INSERT INTO meta VALUES ('schema_version', 'abc'), ('created_by', 'runreplay 0.1')"],
        ["CREATE TABLE meta (id INTEGER, note VARCHAR)"],
        ["CREATE TABLE meta (key VARCHAR, value VARCHAR)",
         "INSERT INTO meta VALUES ('schema_version', '1'), ('created_by', 'other 2.0')"],
    ],
)  # fmt: skip
def test_another_programs_meta_table_is_not_taken_for_a_store(tmp_path, meta):
    import duckdb

    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        for statement in meta:
            con.execute(statement)
    for read_only in (True, False):
        with pytest.raises(StoreVersionError, match="not a runreplay store .*another program's"):
            runreplay.open(path, read_only=read_only)
    with duckdb.connect(str(path)) as con:  # untouched, and not left attached
        assert [row[0] for row in con.execute("SHOW TABLES").fetchall()] == ["meta"]


def test_an_empty_duckdb_file_read_only_says_to_load_first(tmp_path):
    import duckdb

    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(StoreVersionError, match="empty DuckDB file.*runreplay load SOURCES"):
        runreplay.open(path, read_only=True)
    with runreplay.open(path) as store:  # opened for writing, it becomes a store
        assert store.counts()["runs"] == 0


def test_read_only_store_refuses_to_load(tmp_path):
    path = tmp_path / "s.duckdb"
    runreplay.open(path).close()
    with (
        runreplay.open(path, read_only=True) as store,
        pytest.raises(RunReplayError, match="read-only"),
    ):
        store.load_records([make_record()])
    with pytest.raises(RunReplayError, match="does not exist"):
        runreplay.open(tmp_path / "missing.duckdb", read_only=True)
    with pytest.raises(RunReplayError, match="in-memory store cannot be opened read-only"):
        runreplay.open(":memory:", read_only=True)


def test_second_process_gets_a_clear_lock_error(tmp_path):
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, runreplay
            store = runreplay.open({str(path)!r})
            print("open", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLocked) as raised:
            runreplay.open(path)
        message = str(raised.value)
        assert "in use by another process" in message and "read_only=True" in message
        assert "Conflicting lock" not in message and "--read-only" not in message
        with pytest.raises(StoreLocked) as raised:
            runreplay.open(path, read_only=True)
        message = str(raised.value)
        assert "open for writing in another process" in message and "--api URL" in message
        assert "read_only=True" not in message  # the advice it already followed
    finally:
        holder.communicate("done\n", timeout=30)
    with runreplay.open(path) as store:  # the lock is gone with the other process
        assert store.counts()["runs"] == 0


def test_load_records_keeps_each_record_as_it_was_yielded(store):
    # a generator that reuses one dict (and one nested dict) between yields
    def reused():
        record = make_record("r0", parameters={"batch": {"size": 0}})
        for index in range(7):
            record["runId"] = f"r{index}"
            record["parameters"]["batch"]["size"] = index
            record["history"].append({"seq": index, "at": record["createdAt"], "status": "RUNNING"})
            yield record

    result = store.load_records(reused())
    assert (result.runs, result.skipped) == (7, 0)
    for index in range(7):
        run = store.run(f"r{index}")
        assert run["parameters"] == {"batch": {"size": index}}
        assert [event["seq"] for event in run["history"]][-1] == index
        assert len(run["history"]) == len(make_record()["history"]) + index + 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda store: store.runs(limit=-1), "limit must be a whole number >= 0"),
        (lambda store: store.runs(limit=2.5), "limit must be a whole number >= 0"),
        (lambda store: store.runs(status=3), "status must be a string, got 3"),
        (lambda store: store.runs(workflow=["a"]), "workflow must be a string"),
        (lambda store: store.run(5), "a run id is a string, got int 5"),
        (lambda store: store.has_run(None), "a run id is a string, got NoneType"),
        (lambda store: store.stale_assets(5), "a run id is a string"),
        (lambda store: store.diff("r1", 5), "a run id is a string"),
    ],
)
def test_bad_query_arguments_say_what_to_pass(store, call, message):
    store.load_records([make_record("r1")])
    with pytest.raises(RunReplayError, match=message):
        call(store)


@pytest.mark.parametrize("given", [make_record(), "runId", b"{}"])
def test_load_records_of_one_record_says_to_pass_a_list(store, given):
    with pytest.raises(RunReplayError, match=r"an iterable of records .*pass \[record\]"):
        store.load_records(given)
    assert store.counts()["runs"] == 0


def test_runs_limit_takes_numpy_integers_and_zero(store):
    import numpy as np

    store.load_records([make_record(f"r{index}") for index in range(3)])
    assert len(store.runs(limit=np.int64(2))) == 2
    assert store.runs(limit=0).empty
    assert len(store.runs(limit=10**20)) == 3  # beyond DuckDB's BIGINT: every run


def test_a_store_open_twice_in_one_process_says_to_reuse_or_close_it(tmp_path):
    # what re-running a notebook cell that opens the store does
    path = tmp_path / "s.duckdb"
    first = runreplay.open(path)
    first.load_records([make_record("r1")])
    for read_only in (False, True):
        with pytest.raises(StoreLocked, match="open already in this process.*store.close"):
            runreplay.open(path, read_only=read_only)
    assert first.counts()["runs"] == 1  # the first store still works
    first.close()
    with runreplay.open(path) as again:
        assert again.counts()["runs"] == 1


def test_a_replay_that_produced_nothing_yet_has_its_originals_stale_assets(store):
    now = "2026-11-20T02:00:00Z"
    stale = [_asset("orders", "2026-11-18T00:00:00Z", stale=True)]
    store.load_records(
        [
            make_record("original", createdAt="2026-11-18T00:00:00Z", assets=stale),
            make_record("replay", status="QUEUED", replayOf="original", assets=[]),
            make_record("replay-of-replay", status="QUEUED", replayOf="replay", assets=[]),
            make_record("failed", status="FAILED", assets=[]),  # produced nothing, replays none
            make_record("loop-a", replayOf="loop-b", assets=[]),  # a cycle ends
            make_record("loop-b", replayOf="loop-a", assets=[]),
            make_record("gone", replayOf="not-in-the-store", assets=[]),
            make_record(  # its own (fresh) assets count, not its original's
                "rerun", replayOf="original", assets=[_asset("models/churn", now, stale=False)]
            ),
        ]
    )
    for run_id in ("original", "replay", "replay-of-replay"):
        assert list(store.stale_assets(run_id, now=now)["asset_key"]) == ["orders"], run_id
    for run_id in ("failed", "loop-a", "gone", "rerun"):
        assert store.stale_assets(run_id, now=now).empty, run_id


def test_reported_freshness_overrides_older_snapshots(store):
    store.load_records(
        [make_record("r", createdAt="2026-11-20T00:00:00Z", assets=[
            _asset("orders", "2026-11-20T00:00:00Z", stale=False)])]
    )  # fmt: skip
    now = "2026-11-20T02:00:00Z"
    assert store.stale_assets("r", now=now).empty
    store.report_freshness(
        "orders", stale=True, reported_at="2026-11-20T01:00:00Z", reported_by="op"
    )
    stale = store.stale_assets("r", now=now)
    assert list(stale["asset_key"]) == ["orders"] and stale["current_run_id"].isna().all()
    store.report_freshness(
        "orders",
        last_updated="2026-11-20T01:30:00Z",
        max_lag_minutes=60,
        reported_at="2026-11-20T01:30:00Z",
    )
    assert store.stale_assets("r", now=now).empty
    assert list(store.stale_assets("r", now="2026-11-20T03:00:00Z")["asset_key"]) == ["orders"]


def test_a_huge_max_lag_never_breaks_the_staleness_query(store):
    store.load_records([make_record("r", assets=[_asset("a", "2026-11-19T00:00:00Z", lag=1e300)])])
    assert store.stale_assets("r", now="2026-11-20T00:00:00Z").empty
    store.report_freshness("a", last_updated="2000-01-01T00:00:00Z", max_lag_minutes=1e300)
    assert not store.asset_state(now="2026-11-20T00:00:00Z")["is_stale"].any()


def test_the_store_keeps_small_row_groups_every_time_it_opens(tmp_path):
    """ROW_GROUP_SIZE is an ATTACH option, not kept in the file: each open passes it, so a
    checkpoint after reopening keeps the groups small; spills go next to the file."""
    from runreplay import store as store_module

    path = tmp_path / "s.duckdb"
    rows = 2 * store_module.ROW_GROUP_SIZE + 10  # one default DuckDB row group would hold it
    with runreplay.open(path) as store:
        store.connection.execute(f"CREATE TABLE scratch AS SELECT range AS i FROM range({rows})")
    with runreplay.open(path) as store:
        store.connection.execute("INSERT INTO scratch SELECT range FROM range(10)")
        store.connection.execute("CHECKPOINT")
        groups = store.sql(
            "SELECT count(DISTINCT row_group_id) AS n FROM pragma_storage_info('scratch')"
        )
        assert groups["n"][0] == 3
        spill = store.sql("SELECT current_setting('temp_directory') AS directory")
        assert spill["directory"][0] == f"{path}.tmp"
    with runreplay.open(path, read_only=True) as store:
        assert store.sql("SELECT count(*) AS n FROM scratch")["n"][0] == rows + 10


# -- a killed load leaves nothing running ----------------------------------------------

KILLED_LOAD = """
import sys, time
import runreplay
from runreplay import store as store_module

batches = store_module._batches


def stalled(*args, **kwargs):  # three batches (workers built two), then hang as if slow
    for number, batch in enumerate(batches(*args, **kwargs)):
        yield batch
        if number == 2:
            print("working", flush=True)
            time.sleep(600)


store_module._batches = stalled
store = runreplay.open(sys.argv[1])
store.load(sys.argv[2], workers=2, progress=False)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid)]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_load_leaves_no_worker_running_and_its_staging_is_swept(tmp_path, monkeypatch):
    """Workers come from the fork server and held their own task queue open: when the
    loading process was SIGKILLed they waited forever, keeping the fork server alive."""
    from runreplay import sample

    source = tmp_path / "runs.ndjson"
    sample.write_ndjson(source, sample.generate(runs_per_workflow=7000, seed=3))
    temp = tmp_path / "tmp"
    temp.mkdir()
    (tmp_path / "killed.py").write_text(KILLED_LOAD)
    load = subprocess.Popen(
        [sys.executable, "killed.py", str(tmp_path / "s.duckdb"), str(source)],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    try:
        assert load.stdout.readline().strip() == "working"
        spawned = _children(load.pid)
        spawned += [worker for server in spawned for worker in _children(server)]
        assert len(spawned) >= 3  # the fork server (and resource tracker) and 2 workers
        load.kill()
        load.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _running(spawned) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _running(spawned) == []
    finally:
        load.kill()
    staging = [path.name for path in temp.glob("runreplay-load-*")]
    assert [name.split("-")[2] for name in staging] == [str(load.pid)]  # never removed
    (temp / "runreplay-load-notes").mkdir()  # not a staging directory: left alone
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with runreplay.open(tmp_path / "next.duckdb") as store:
        store.load_records([make_record()])
    assert [path.name for path in temp.glob("runreplay-load-*")] == ["runreplay-load-notes"]

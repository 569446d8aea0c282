"""The `runreplay` command, run through its real console-script entry point."""

from __future__ import annotations

import signal
import subprocess
import time

import orjson
import pytest

from tests.conftest import RUNREPLAY_BIN, make_record


def run_cli(*args, env, cwd=None, input=None):
    return subprocess.run(
        [str(RUNREPLAY_BIN), *map(str, args)],
        capture_output=True, text=True, env=env, cwd=cwd, input=input, timeout=120,
    )  # fmt: skip


@pytest.fixture
def export(tmp_path):
    path = tmp_path / "runs.ndjson"
    path.write_bytes(
        orjson.dumps(make_record("run-1", createdAt="2026-11-19T01:00:00Z"))
        + b"\n"
        + orjson.dumps(make_record("run-2", status="FAILED"))
        + b"\n"
    )
    return path


def test_load_then_list_runs_as_json(tmp_path, export, cli_env):
    db = tmp_path / "s.duckdb"
    loaded = run_cli("load", export, "--db", db, env=cli_env)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 2 run(s)" in loaded.stdout
    listed = run_cli("runs", "--db", db, "--format", "json", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    rows = orjson.loads(listed.stdout)
    assert [row["run_id"] for row in rows] == ["run-2", "run-1"]
    assert rows[1]["created_at"] == "2026-11-19T01:00:00Z"
    failed = run_cli("runs", "--db", db, "--status", "failed", "--format", "csv", env=cli_env)
    assert (
        failed.stdout.splitlines()[0].startswith("run_id,") and len(failed.stdout.splitlines()) == 2
    )


def test_an_export_given_as_the_store_is_refused_and_left_alone(tmp_path, export, cli_env):
    # DuckDB would attach the export as an in-memory database: "loaded 2 run(s)", then nothing
    before = export.read_bytes()
    for command in (["load", export], ["runs"], ["diff", "run-1", "run-2"]):
        result = run_cli(*command, "--db", export, env=cli_env)
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr
        assert "it is not a DuckDB file" in result.stderr and "runreplay load" in result.stderr
    assert export.read_bytes() == before


def test_workflows_table(tmp_path, export, cli_env):
    db = tmp_path / "s.duckdb"
    run_cli("load", export, "--db", db, env=cli_env)
    shown = run_cli("workflows", "--db", db, env=cli_env)
    assert shown.returncode == 0
    assert "nightly-etl" in shown.stdout and "failed" in shown.stdout


def test_bad_record_prints_one_line_and_exits_1(tmp_path, cli_env):
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(orjson.dumps(make_record("run-1", status="DONE")) + b"\n")
    result = run_cli("load", bad, "--db", tmp_path / "s.duckdb", env=cli_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: ") and "bad.ndjson line 1" in result.stderr
    assert "'status'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_skip_bad_loads_the_rest(tmp_path, export, cli_env):
    mixed = tmp_path / "mixed.ndjson"
    mixed.write_bytes(export.read_bytes() + b"{oops\n")
    result = run_cli("load", mixed, "--db", tmp_path / "s.duckdb", "--skip-bad", env=cli_env)
    assert result.returncode == 0
    assert "loaded 2 run(s)" in result.stdout and "mixed.ndjson line 3" in result.stderr


def test_usage_errors_exit_2(tmp_path, cli_env):
    assert run_cli("load", env=cli_env).returncode == 2
    assert run_cli("runs", "--limit", "0", env=cli_env).returncode == 2
    assert run_cli("frobnicate", env=cli_env).returncode == 2


def test_missing_store_is_a_clear_error(tmp_path, cli_env):
    result = run_cli("runs", "--db", tmp_path / "none.duckdb", env=cli_env)
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_schema_prints_the_json_schema(cli_env):
    result = run_cli("schema", env=cli_env)
    schema = orjson.loads(result.stdout)
    assert schema["required"] == ["runId", "workflowId", "status", "createdAt"]


def test_sample_writes_loadable_ndjson(tmp_path, cli_env):
    out = tmp_path / "sample.ndjson.gz"
    written = run_cli("sample", "--runs", "20", "--seed", "3", "-o", out, env=cli_env)
    assert written.returncode == 0, written.stderr
    loaded = run_cli("load", out, "--db", tmp_path / "s.duckdb", env=cli_env)
    assert loaded.returncode == 0, loaded.stderr
    count = int(written.stdout.split()[1])
    assert f"loaded {count} run(s)" in loaded.stdout


def test_diff_of_the_planted_regression(tmp_path, sample_path, cli_env):
    db = tmp_path / "s.duckdb"
    assert run_cli("load", sample_path, "--db", db, env=cli_env).returncode == 0
    text = run_cli("diff", "run-000345", "run-000347", "--db", db, env=cli_env)
    assert text.returncode == 0, text.stderr
    assert "parameters.batchSize: 500 → 5000" in text.stdout
    assert "\x1b[" not in text.stdout  # piped output is plain
    assert "STALE warehouse/orders" in text.stdout
    out = tmp_path / "diff.json"
    written = run_cli(
        "diff", "run-000345", "run-000347", "--db", db, "--format", "json", "-o", out, env=cli_env
    )
    assert written.returncode == 0, written.stderr
    report = orjson.loads(out.read_bytes())
    changes = {row["path"]: row for row in report["fieldChanges"]}
    assert changes["parameters.batchSize"]["after"] == 5000
    assert [w["assetKey"] for w in report["staleWarnings"]] == ["warehouse/orders"]


def test_diff_of_an_unknown_run_names_it(tmp_path, sample_path, cli_env):
    db = tmp_path / "s.duckdb"
    run_cli("load", sample_path, "--db", db, env=cli_env)
    result = run_cli("diff", "run-000345", "run-999999", "--db", db, env=cli_env)
    assert (
        result.returncode == 1
        and "run-999999" in result.stderr
        and "Traceback" not in result.stderr
    )


# -- drift and bisect ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    """The committed sample loaded once through the CLI (commands below only read it)."""
    from tests.conftest import SAMPLE

    db = tmp_path_factory.mktemp("drift") / "s.duckdb"
    loaded = subprocess.run(
        [str(RUNREPLAY_BIN), "load", str(SAMPLE), "--db", str(db)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    return db


def test_drift_ranks_the_planted_parameter_first(sample_db, cli_env):
    result = run_cli("drift", "nightly-etl", "--db", sample_db, env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nightly-etl: 122 runs, 49 failing")
    rows = result.stdout.split("path ", 1)[1].splitlines()[1:]
    assert rows[0].split()[0] == "parameters.batchSize"
    assert "volatile path(s) hidden" in result.stdout and "\x1b[" not in result.stdout
    shown = run_cli("drift", "nightly-etl", "--db", sample_db, "--show-volatile", env=cli_env)
    assert "context.traceId (volatile)" in shown.stdout


def test_drift_json_to_a_file_and_window(tmp_path, sample_db, cli_env):
    out = tmp_path / "drift.json"
    result = run_cli("drift", "ml-train", "--db", sample_db, "--since", "2026-10-01",
                     "--format", "json", "-o", out, env=cli_env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = orjson.loads(out.read_bytes())
    assert report["workflowId"] == "ml-train" and report["since"] == "2026-10-01T00:00:00Z"
    assert report["runs"] == 39  # ml-train runs on or after October 1st in the sample
    assert result.stdout == "" and f"wrote {out}" in result.stderr


def test_drift_with_an_output_predicate_names_the_image(sample_db, cli_env):
    result = run_cli("drift", "ml-train", "--db", sample_db, "--section", "context",
                     "--failing", "output.metrics.auc < 0.9", "--format", "json", env=cli_env)  # fmt: skip
    report = orjson.loads(result.stdout)
    assert report["failed"] == 40 and report["topSuspect"] == "context.image"
    assert {row["path"].split(".")[0] for row in report["fields"]} == {"context"}


def test_drift_all_is_one_row_per_workflow(sample_db, cli_env):
    text = run_cli("drift", "--all", "--db", sample_db, env=cli_env)
    assert text.returncode == 0, text.stderr
    lines = [line.split() for line in text.stdout.splitlines()]
    nightly = next(line for line in lines if line and line[0] == "nightly-etl")
    assert nightly[1:3] == ["122", "49"] and "parameters.batchSize" in nightly
    markdown = run_cli("drift", "--all", "--db", sample_db, "--format", "markdown", env=cli_env)
    assert "| nightly-etl |" in markdown.stdout.replace("`", "")
    rows = orjson.loads(
        run_cli("drift", "--all", "--db", sample_db, "--format", "json", env=cli_env).stdout
    )
    assert sorted(row["workflowId"] for row in rows) == ["hourly-sync", "ml-train", "nightly-etl"]


def test_drift_all_takes_a_date_without_a_zone_as_utc(sample_db, cli_env):
    for fmt in ("text", "markdown", "json", "html"):
        naive = run_cli(
            "drift", "--all", "--since", "2026-10-01", "--until", "2026-10-20", "--db", sample_db,
            "--format", fmt, env=cli_env,
        )  # fmt: skip
        zoned = run_cli(
            "drift", "--all", "--since", "2026-10-01T00:00:00Z", "--until", "2026-10-20T00:00Z",
            "--db", sample_db, "--format", fmt, env=cli_env,
        )  # fmt: skip
        assert naive.returncode == 0 and "Traceback" not in naive.stderr, naive.stderr
        assert naive.stdout == zoned.stdout


@pytest.mark.parametrize("command", ["diff", "drift", "sample"])
def test_an_output_file_that_cannot_be_written_is_one_line(sample_db, tmp_path, cli_env, command):
    target = tmp_path / "missing" / "report.out"
    args = {
        "diff": ("diff", "run-000345", "run-000347", "--db", sample_db, "--format", "html"),
        "drift": ("drift", "nightly-etl", "--db", sample_db),
        "sample": ("sample", "--runs", "2"),
    }[command]
    result = run_cli(*args, "-o", target, env=cli_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot write '{target}': No such file or directory" in result.stderr
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", ["sample", "drift"])
def test_an_empty_output_name_is_a_usage_error(sample_db, tmp_path, cli_env, command):
    args = ("sample", "--runs", "1") if command == "sample" else ("drift", "nightly-etl", "--db")
    if command == "drift":
        args += (sample_db,)
    result = run_cli(*args, "-o", "", env=cli_env, cwd=tmp_path)
    assert result.returncode == 2 and "an empty file name" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_drift_needs_a_workflow_or_all(sample_db, cli_env):
    assert run_cli("drift", "--db", sample_db, env=cli_env).returncode == 2
    both = run_cli("drift", "nightly-etl", "--all", "--db", sample_db, env=cli_env)
    assert both.returncode == 2 and "not both" in both.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("drift", "nope"), "'nope'"),
        (("bisect", "ml-train"), "no run of 'ml-train' is failing"),
        (("bisect", "nightly-etl", "--bad", "run-999999"), "run-999999"),
        (("bisect", "nightly-etl", "--since", "2026-10-12"), "start the window earlier"),
        (
            ("bisect", "nightly-etl", "--since", "2026-10-12", "--good", "run-000345"),
            "'run-000345' was created outside the window",
        ),
    ],
)
def test_drift_and_bisect_errors_are_one_clear_message(sample_db, cli_env, args, named):
    result = run_cli(*args, "--db", sample_db, env=cli_env)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: ") and named in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("drift", "ml-train", "--failing", "output.auc <<< 1"), "output.auc <<< 1"),
        (("bisect", "ml-train", "--failing", "nonsense"), "unknown name 'nonsense'"),
        (("diff", "run-000345", "run-000347", "--ignore", "["), "cannot parse path '['"),
        (("drift", "ml-train", "--ignore", "context.[x"), "cannot parse path"),
    ],
)
def test_a_bad_predicate_or_glob_is_a_usage_error(sample_db, cli_env, args, says):
    result = run_cli(*args, "--db", sample_db, env=cli_env)
    assert result.returncode == 2, result.stdout
    assert says in result.stderr and "Traceback" not in result.stderr


def test_sample_naming_a_workflow_twice_is_a_usage_error(tmp_path, cli_env):
    result = run_cli(
        "sample", "--runs", "1", "-w", "nightly-etl", "-w", "nightly-etl", "-o",
        tmp_path / "s.ndjson", env=cli_env,
    )  # fmt: skip
    assert result.returncode == 2 and "names a workflow twice" in result.stderr
    assert not (tmp_path / "s.ndjson").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("runs", "--since", "yesterday"),
        ("runs", "--until", "2026-13-45"),
        ("drift", "ml-train", "--since", "2026-13-01"),
        ("drift", "--all", "--until", "soon"),
        ("bisect", "ml-train", "--since", "last week"),
    ],
)
def test_a_bad_time_is_a_usage_error(sample_db, cli_env, args):
    result = run_cli(*args, "--db", sample_db, env=cli_env)
    assert result.returncode == 2, result.stdout
    assert "is not an ISO 8601 time" in result.stderr and "2026-10-12" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args", [("drift", "nightly-etl"), ("drift", "--all"), ("bisect", "nightly-etl")]
)
def test_a_window_that_ends_before_it_starts_is_a_usage_error(sample_db, cli_env, args):
    result = run_cli(
        *args, "--since", "2026-10-20", "--until", "2026-10-01", "--db", sample_db, env=cli_env
    )
    assert result.returncode == 2, result.stdout
    assert "--since (2026-10-20T00:00:00Z) must be before --until (2026-10-01T00:00:00Z)" in (
        result.stderr
    )


def test_a_failed_first_load_leaves_no_store_behind(tmp_path, cli_env):
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(orjson.dumps(make_record("run-1", status="DONE")) + b"\n")
    result = run_cli("load", bad, "--db", tmp_path / "new.duckdb", env=cli_env)
    assert result.returncode == 1 and "status" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.ndjson"]
    good = tmp_path / "good.ndjson"
    good.write_bytes(orjson.dumps(make_record("run-2")) + b"\n")
    assert run_cli("load", good, "--db", tmp_path / "old.duckdb", env=cli_env).returncode == 0
    again = run_cli("load", bad, "--db", tmp_path / "old.duckdb", env=cli_env)
    assert again.returncode == 1 and (tmp_path / "old.duckdb").exists()  # a store it held
    listed = run_cli("runs", "--db", tmp_path / "old.duckdb", "--format", "json", env=cli_env)
    assert [row["run_id"] for row in orjson.loads(listed.stdout)] == ["run-2"]


def test_bisect_finds_the_planted_regression(sample_db, cli_env):
    result = run_cli("bisect", "nightly-etl", "--db", sample_db, env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["good", "run-000345", "SUCCEEDED"]
    assert lines[2].split()[:3] == ["bad", "run-000347", "FAILED"]
    first_suspect = next(line for line in lines if line.strip().startswith("1 "))
    assert first_suspect.split()[1] == "parameters.batchSize" and "500 → 5000" in first_suspect
    assert "parameters.batchSize: 500 → 5000" in result.stdout  # the pair's diff follows


def test_bisect_within_a_window(sample_db, cli_env):
    result = run_cli("bisect", "nightly-etl", "--db", sample_db, "--since", "2026-10-11",
                     "--until", "2026-10-13", "--format", "json", env=cli_env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = orjson.loads(result.stdout)
    assert (found["good"]["runId"], found["bad"]["runId"]) == ("run-000345", "run-000347")


def test_bisect_with_failing_expression_as_json(sample_db, cli_env):
    result = run_cli("bisect", "ml-train", "--db", sample_db,
                     "--failing", "output.metrics.auc < 0.9", "--format", "json", env=cli_env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = orjson.loads(result.stdout)
    assert (found["good"]["runId"], found["bad"]["runId"]) == ("run-000322", "run-000324")
    assert found["suspects"][0]["path"] == "context.image"
    assert found["runDiff"]["runs"]["base"]["runId"] == "run-000322"


def test_sigterm_stops_a_load_cleanly(tmp_path, cli_env):
    """`kill PID` ends `runreplay load` as Ctrl-C does: staged files removed, nothing
    written, no traceback (Python's default for SIGTERM left the staging behind)."""
    from runreplay import sample

    source = tmp_path / "runs.ndjson"
    sample.write_ndjson(source, sample.generate(runs_per_workflow=12000, seed=3))
    temp = tmp_path / "tmp"
    temp.mkdir()
    load = subprocess.Popen(
        [str(RUNREPLAY_BIN), "load", source, "--db", tmp_path / "s.duckdb", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**cli_env, "TMPDIR": str(temp)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(temp.glob("runreplay-load-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(temp.glob("runreplay-load-*")), "the load never started staging"
        load.send_signal(signal.SIGTERM)
        out, err = load.communicate(timeout=60)
    finally:
        load.kill()
    assert "Traceback" not in err, err
    assert load.returncode == 128 + signal.SIGTERM or (load.returncode == 1 and "Aborted!" in err)
    assert list(temp.glob("runreplay-load-*")) == []
    assert not (tmp_path / "s.duckdb").exists()  # the load created it: nothing is left


def test_a_duckdb_query_stopped_by_ctrl_c_aborts_like_any_ctrl_c():
    # DuckDB's client raises RuntimeError("Query interrupted") for a query Ctrl-C stopped:
    # the CLI printed its traceback; as a KeyboardInterrupt, click prints "Aborted!"
    from runreplay.cli.common import fail_cleanly

    def interrupted_query() -> None:
        raise RuntimeError("Query interrupted")

    def broken_query() -> None:
        raise RuntimeError("something else")

    with pytest.raises(KeyboardInterrupt):
        fail_cleanly(interrupted_query)()
    with pytest.raises(RuntimeError, match="something else"):
        fail_cleanly(broken_query)()

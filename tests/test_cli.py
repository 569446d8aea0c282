"""The `runreplay` command, run through its real console-script entry point."""

from __future__ import annotations

import subprocess

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

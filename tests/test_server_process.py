"""`runreplay serve` as a real process (SIGKILL and restart, tokens) and the API commands."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import RUNREPLAY_BIN, SAMPLE

LAST_GOOD, FIRST_BAD = "run-000345", "run-000347"
TOKENS_ENV = "alice:alice-process-token-1"
ALICE = {"Authorization": "Bearer alice-process-token-1"}
FINISHED = ("SUCCEEDED", "FAILED", "CANCELED")


class ServeProcess:
    """`runreplay serve` in a subprocess; `url` once it announced that it listens."""

    def __init__(self, args: list[str], env: dict[str, str], timeout: float = 30):
        self.process = subprocess.Popen(
            [str(RUNREPLAY_BIN), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            bufsize=0,  # unbuffered: select() on the pipe must see every line
        )
        self.output = ""
        deadline = time.monotonic() + timeout
        while "runreplay core API on" not in self.output:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise AssertionError(f"serve did not start:\n{self.output}")
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                line = self.process.stdout.readline().decode()
                self.output += line
        self.url = re.search(r"on (http://127\.0\.0\.1:\d+)", self.output).group(1)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> str:
        """Stop gracefully (SIGTERM) and return everything it printed."""
        self.process.send_signal(signal.SIGTERM)
        rest, _ = self.process.communicate(timeout=15)
        self.output += rest.decode()
        return self.output


@pytest.fixture
def serve_env(cli_env):
    env = dict(cli_env)
    env["RUNREPLAY_TOKENS"] = TOKENS_ENV
    for name in ("RUNREPLAY_API_URL", "RUNREPLAY_TOKEN", "RUNREPLAY_SERVER_DB"):
        env.pop(name, None)
    return env


def _get(url: str, path: str) -> dict:
    response = requests.get(url + path, headers=ALICE, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_keeps_every_acknowledged_replay(tmp_path, serve_env):
    db = tmp_path / "server.duckdb"
    args = ["--db", str(db), "--load", str(SAMPLE), "--execute", "--event-delay", "0.1"]
    server = ServeProcess(args, serve_env)
    acknowledged: dict[str, dict] = {}
    try:
        for index in range(6):
            run_id = FIRST_BAD if index % 2 else LAST_GOOD
            body = {"allowStaleAssets": True} if index % 3 == 0 else {}
            headers = {**ALICE, "Idempotency-Key": f"key-{index}"}
            response = requests.post(
                f"{server.url}/workflow-runs/{run_id}/replay",
                json=body,
                headers=headers,
                timeout=10,
            )
            assert response.status_code in (202, 409)
            if response.status_code == 202:
                acknowledged[response.json()["run"]["runId"]] = response.json()["run"]
        deadline = time.monotonic() + 10
        while _get(server.url, f"/workflow-runs/{next(iter(acknowledged))}")["status"] == "QUEUED":
            assert time.monotonic() < deadline, "the executor never started a run"
            time.sleep(0.02)
        audit_before = _get(server.url, "/audit")["audit"]
        statuses = [
            _get(server.url, f"/workflow-runs/{run_id}")["status"] for run_id in acknowledged
        ]
        server.kill()  # SIGKILL while the executor is in the middle of a run
    finally:
        server.kill()

    assert len(audit_before) == 6 and len(acknowledged) >= 3
    assert {"RUNNING", "RETRYING"} & set(statuses) and "QUEUED" in statuses, statuses
    restarted = ServeProcess(args, serve_env)
    try:
        assert _get(restarted.url, "/audit")["audit"] == audit_before
        for run_id, queued in acknowledged.items():
            stored = _get(restarted.url, f"/workflow-runs/{run_id}")
            for key in ("runKey", "partitionKey", "parameters", "triggerPayload", "replayOf"):
                assert stored[key] == queued[key]
        # the restarted executor finishes what the killed one left, from its start
        deadline = time.monotonic() + 30
        while True:
            statuses = {
                run_id: _get(restarted.url, f"/workflow-runs/{run_id}")["status"]
                for run_id in acknowledged
            }
            if all(status in FINISHED for status in statuses.values()):
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.1)
        for run_id, status in statuses.items():
            expected = "FAILED" if acknowledged[run_id]["replayOf"] == FIRST_BAD else "SUCCEEDED"
            assert status == expected, run_id
        # a repeat of an acknowledged request after the crash still gets its first answer
        response = requests.post(
            f"{restarted.url}/workflow-runs/{FIRST_BAD}/replay",
            json={},
            headers={**ALICE, "Idempotency-Key": "key-1"},
            timeout=10,
        )
        assert response.json()["run"]["runId"] in acknowledged
        assert len(_get(restarted.url, "/audit")["audit"]) == 7
    finally:
        restarted.terminate()


@pytest.mark.slow
def test_serve_generates_a_private_token_once_and_reuses_it(tmp_path, serve_env):
    env = {k: v for k, v in serve_env.items() if k != "RUNREPLAY_TOKENS"}
    db = tmp_path / "server.duckdb"
    first = ServeProcess(["--db", str(db)], env)
    url = first.url
    token_file = Path(f"{db}.tokens")
    token = token_file.read_text().strip().splitlines()[-1].split(":", 1)[1]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{url}/audit", headers=headers, timeout=10).status_code == 200
    printed = first.terminate()
    assert printed.count(token) == 1  # shown once, at generation, never in a log line
    assert "127.0.0.1" in printed and "GET /audit 200" in printed

    second = ServeProcess(["--db", str(db)], env)
    assert requests.get(f"{second.url}/audit", headers=headers, timeout=10).status_code == 200
    assert token not in second.terminate()


def test_serve_refuses_a_missing_token_file(tmp_path, serve_env):
    result = subprocess.run(
        [str(RUNREPLAY_BIN), "serve", "--db", str(tmp_path / "s.duckdb"), "--token-file",
         str(tmp_path / "absent")],
        capture_output=True, text=True, env=serve_env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot read token file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "host, says",
    [
        ("256.1.1.1", "cannot resolve host '256.1.1.1': "),
        ("nonexistent.invalid", "cannot resolve host 'nonexistent.invalid': "),
        ("a" * 64 + ".example", "cannot resolve host 'aaaa"),  # a label too long for IDNA
        ("192.0.2.1", "choose a --host that is an address of this machine"),  # TEST-NET-1
    ],
)
def test_serve_refuses_a_host_it_cannot_listen_on_in_one_line(tmp_path, serve_env, host, says):
    result = subprocess.run(
        [str(RUNREPLAY_BIN), "serve", "--db", str(tmp_path / "s.duckdb"), "--host", host,
         "--port", "0"],
        capture_output=True, text=True, env=serve_env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "gaierror" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert errors[0] == result.stderr.splitlines()[-1]
    assert "runreplay core API on" not in result.stdout


def test_ctrl_c_stops_serve_cleanly_with_status_0(tmp_path, serve_env):
    server = subprocess.Popen(
        [str(RUNREPLAY_BIN), "serve", "--db", str(tmp_path / "s.duckdb"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=serve_env,
    )  # fmt: skip
    try:
        assert server.stdout.readline().startswith("runreplay core API on http://127.0.0.1:")
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == "stopped" and "Aborted" not in err and "Traceback" not in err


def test_serve_refuses_a_taken_port_before_writing_a_token(tmp_path, serve_env):
    env = {key: value for key, value in serve_env.items() if key != "RUNREPLAY_TOKENS"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(RUNREPLAY_BIN), "serve", "--db", str(tmp_path / "s.duckdb"),
             "--port", str(port), "--load", str(SAMPLE)],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.tokens")) and not (tmp_path / "s.duckdb").exists()


def test_serve_prints_a_pasteable_export_that_reads_the_token_file(tmp_path, serve_env):
    env = {key: value for key, value in serve_env.items() if key != "RUNREPLAY_TOKENS"}
    db = tmp_path / "s.duckdb"
    server = subprocess.Popen(
        [str(RUNREPLAY_BIN), "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = ""
        while "export RUNREPLAY_API_URL" not in line:
            line = server.stdout.readline()
            assert line, server.stderr.read()
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    finally:
        server.kill()
    command = line.split("for the command line: ", 1)[1].strip()
    token = subprocess.run(
        ["bash", "-c", f'{command}; printf %s "$RUNREPLAY_TOKEN"'],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = (tmp_path / "s.duckdb.tokens").read_text().splitlines()
    stored = next(line for line in lines if line and not line.startswith("#"))
    assert token and stored.endswith(":" + token)
    assert token not in line  # the command reads the file; the token is not printed


@pytest.mark.parametrize("where", ["missing directory", "not a store"])
def test_serve_with_a_bad_db_fails_before_making_a_token(tmp_path, serve_env, where):
    db = tmp_path / "missing" / "s.duckdb"
    if where == "not a store":
        db = tmp_path / "notes.duckdb"
        db.write_text("not a database")
    env = {key: value for key, value in serve_env.items() if key != "RUNREPLAY_TOKENS"}
    result = subprocess.run(
        [str(RUNREPLAY_BIN), "serve", "--db", str(db), "--port", "0"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: cannot open store"), result.stderr
    assert "generated a token" not in result.stdout
    assert not list(tmp_path.rglob("*.tokens"))


# -- runreplay replay / audit against a live server ------------------------------------------


def _cli(live_server, *args, env, stdin=subprocess.DEVNULL):
    env = {**env, "RUNREPLAY_API_URL": live_server.url, "RUNREPLAY_TOKEN": "bob-secret-token-0002"}
    return subprocess.run(
        [str(RUNREPLAY_BIN), *args], capture_output=True, text=True, env=env, stdin=stdin,
        timeout=60,
    )  # fmt: skip


def test_cli_replay_exits_3_with_the_stale_list_without_a_terminal(live_server, cli_env):
    result = _cli(live_server, "replay", LAST_GOOD, env=cli_env)
    assert result.returncode == 3
    assert "warehouse/orders" in result.stderr and "flagged stale" in result.stderr
    assert "--yes" in result.stderr
    assert live_server.count("SELECT count(*) FROM replay_queue") == 0
    assert live_server.count("SELECT count(*) FROM audit WHERE outcome = 'stale_assets'") == 1


def test_cli_replay_yes_confirms_and_enqueues(live_server, cli_env):
    result = _cli(live_server, "replay", LAST_GOOD, "--yes", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert re.search(r"enqueued run-\w+ \(replay of run-000345", result.stdout)
    outcomes = live_server.count("SELECT list(outcome ORDER BY id) FROM audit")
    assert outcomes == ["stale_assets", "enqueued"]


@pytest.mark.parametrize("key", ["nightly-fix-42", "k" * 250])
def test_cli_replay_confirms_a_stale_refusal_under_the_same_idempotency_key(
    live_server, cli_env, key
):
    """After a refusal with --idempotency-key K, the advice (--allow-stale-assets) must work
    with the same K: it sends the confirmed key, as --yes does, within 255 characters."""
    refused = _cli(live_server, "replay", LAST_GOOD, "--idempotency-key", key, env=cli_env)
    assert refused.returncode == 3 and "--allow-stale-assets" in refused.stderr
    confirmed = _cli(
        live_server, "replay", LAST_GOOD, "--idempotency-key", key, "--allow-stale-assets",
        env=cli_env,
    )  # fmt: skip
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.startswith("enqueued ")
    again = _cli(live_server, "replay", LAST_GOOD, "--idempotency-key", key, "--yes", env=cli_env)
    assert again.returncode == 0 and again.stdout == confirmed.stdout  # the same replay
    assert live_server.count("SELECT count(*) FROM replay_queue") == 1


def test_cli_replay_of_a_fresh_run_enqueues_at_once(live_server, cli_env):
    result = _cli(live_server, "replay", FIRST_BAD, env=cli_env)
    assert result.returncode == 0 and "enqueued" in result.stdout
    assert "stale" not in result.stderr


def test_cli_replay_asks_on_a_terminal(live_server, cli_env):
    env = {
        **cli_env,
        "RUNREPLAY_API_URL": live_server.url,
        "RUNREPLAY_TOKEN": "bob-secret-token-0002",
    }
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [str(RUNREPLAY_BIN), "replay", LAST_GOOD],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"Replay anyway" not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([primary], [], [], 0.2)[0]:
                seen += os.read(primary, 4096)
        assert b"warehouse/orders" in seen
        os.write(primary, b"y\n")
        while process.poll() is None or select.select([primary], [], [], 0.1)[0]:
            assert time.monotonic() < deadline, seen
            try:
                if select.select([primary], [], [], 0.1)[0]:
                    seen += os.read(primary, 4096)
            except OSError:  # the terminal closed with the process
                break
        assert process.wait(10) == 0, seen
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    assert b"enqueued run-" in seen


def test_cli_replay_of_an_unknown_run_fails_cleanly(live_server, cli_env):
    result = _cli(live_server, "replay", "run-999999", env=cli_env)
    assert result.returncode == 1
    assert "run-999999" in result.stderr and "Traceback" not in result.stderr


def test_cli_audit_lists_the_rows(live_server, cli_env):
    _cli(live_server, "replay", LAST_GOOD, env=cli_env)
    _cli(live_server, "replay", FIRST_BAD, env=cli_env)
    result = _cli(live_server, "audit", "--format", "csv", env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("id,at,actor,outcome,statusCode,runId,newRunId")
    assert len(lines) == 3 and ",bob,stale_assets,409," in lines[1] and ",enqueued,202," in lines[2]
    only = _cli(live_server, "audit", "--run", FIRST_BAD, "--format", "json", env=cli_env)
    assert '"runId":"run-000347"' in only.stdout and "run-000345" not in only.stdout


def test_cli_without_a_server_says_what_to_do(cli_env, tmp_path):
    env = {**cli_env, "RUNREPLAY_API_URL": "http://127.0.0.1:9", "RUNREPLAY_TOKEN": "x" * 10}
    result = subprocess.run(
        [str(RUNREPLAY_BIN), "audit"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1 and "runreplay serve" in result.stderr

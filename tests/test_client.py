"""CoreAPI against a real server, and its retries against a tiny faulty HTTP server."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import runreplay
from runreplay.client import CoreAPI, ReplayResult, sync
from runreplay.diff import RunDiff, diff_stored
from runreplay.errors import (
    ApiError,
    ApiUnavailable,
    BadRequest,
    NotFound,
    RunReplayError,
    ServerError,
    Unauthorized,
)
from tests.conftest import FIXED_NOW, SAMPLE, make_record

LAST_GOOD, FIRST_BAD, ML_RUN = "run-000345", "run-000347", "run-000403"


@pytest.fixture
def api(live_server):
    with CoreAPI(live_server.url, token=live_server.tokens["alice"], retries=0) as client:
        yield client


# -- against the reference server --------------------------------------------------------


def test_replay_returns_an_enqueued_result_with_the_new_run(api, live_server):
    result = api.replay(FIRST_BAD)
    assert isinstance(result, ReplayResult)
    assert result.status == "enqueued" and result.enqueued
    assert result.run["replayOf"] == FIRST_BAD and result.run["status"] == "QUEUED"
    assert result.run_id == result.run["runId"]
    assert result.stale_assets == [] and not result.repeated
    assert uuid.UUID(result.idempotency_key)  # generated when not given
    (row,) = api.audit(FIRST_BAD)
    assert row["id"] == result.audit_id and row["idempotencyKey"] == result.idempotency_key


def test_stale_refusal_is_a_result_not_an_exception(api):
    result = api.replay(LAST_GOOD)
    assert result.status == "stale_assets" and not result.enqueued
    assert result.run is None and result.run_id is None
    assert [asset["assetKey"] for asset in result.stale_assets] == ["warehouse/orders"]
    assert "allowStaleAssets" in result.message
    confirmed = api.replay(LAST_GOOD, allow_stale_assets=True)
    assert confirmed.status == "enqueued"
    assert [row["outcome"] for row in api.audit(LAST_GOOD)] == ["stale_assets", "enqueued"]


def test_replay_with_a_given_key_is_idempotent(api):
    first = api.replay(FIRST_BAD, idempotency_key="notebook-1")
    again = api.replay(FIRST_BAD, idempotency_key="notebook-1")
    assert again.repeated and again.run == first.run and again.audit_id == first.audit_id


def test_diff_gives_the_same_run_diff_as_a_local_diff(api):
    remote = api.diff(LAST_GOOD, FIRST_BAD)
    assert isinstance(remote, RunDiff)
    with runreplay.open(":memory:") as store:
        store.load(SAMPLE)
        local = diff_stored(store, LAST_GOOD, FIRST_BAD, now=FIXED_NOW)
    assert remote.to_dict() == local.to_dict()
    assert remote.summary == local.summary
    assert remote.fields.equals(local.fields)


@pytest.mark.parametrize("run_id", ["odd/run/2", "odd/run/2/diff", "odd/run/2/replay"])
def test_run_ids_with_slashes_work_end_to_end(api, live_server, run_id):
    other = "odd/run/2/replay" if run_id == "odd/run/2" else "odd/run/2"
    with live_server.database.lock:  # assets=[]: never stale, so the replay is enqueued
        live_server.database.store.load_records(
            [make_record(run_id, assets=[]), make_record(other, assets=[])]
        )
    assert api.run(run_id)["runId"] == run_id
    run_diff = api.diff(run_id, other)
    assert (run_diff.base_run["runId"], run_diff.compare_run["runId"]) == (run_id, other)
    result = api.replay(run_id)
    assert result.enqueued and result.run["replayOf"] == run_id
    assert [row["runId"] for row in api.audit(run_id)] == [run_id]
    with pytest.raises(NotFound) as caught:
        api.diff("odd/no/such", run_id)
    assert "'odd/no/such'" in caught.value.message


@pytest.mark.parametrize(
    "call, error_class, status, code",
    [
        (lambda api: api.run("run-999999"), NotFound, 404, "run_not_found"),
        (lambda api: api.diff(LAST_GOOD, ML_RUN), BadRequest, 400, "workflow_mismatch"),
        (lambda api: api.replay("run-999999"), NotFound, 404, "run_not_found"),
        (lambda api: api.runs(status="DONE"), BadRequest, 400, "bad_request"),
    ],
)
def test_errors_carry_the_status_code_and_the_servers_code_and_message(
    api, call, error_class, status, code
):
    with pytest.raises(error_class) as caught:
        call(api)
    error = caught.value
    assert isinstance(error, ApiError) and isinstance(error, RunReplayError)
    assert (error.status_code, error.code) == (status, code)
    assert error.message and error.message in str(error)


def test_a_wrong_token_is_unauthorized_and_never_shown(live_server, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-token-123"
    api = CoreAPI(live_server.url, token=secret, retries=0)
    with pytest.raises(Unauthorized) as caught:
        api.runs()
    assert caught.value.status_code == 401 and "RUNREPLAY_TOKEN" in str(caught.value)
    assert "--token on the command line" in str(caught.value)
    for text in (repr(api), str(api), str(caught.value), repr(caught.value), caplog.text):
        assert secret not in text
    assert repr(api) == f"<CoreAPI '{live_server.url}' token=set>"
    assert secret not in repr(api.session.auth)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:abc", "Port could not be cast"),
        ("http://127.0.0.1:99999", "Port out of range"),
        ("http://", "no host"),
        ("http://:80", "no host"),
        ("http://exa mple.com", "it holds a space"),
        ("http://[::1", "Invalid IPv6 URL"),
    ],
)
def test_a_url_requests_cannot_send_to_is_refused_up_front(url, problem):
    # requests raised InvalidURL (a traceback from the CLI) at the first call
    with pytest.raises(RunReplayError, match=f"the API URL .* is not valid \\({problem}"):
        CoreAPI(url)


def test_defaults_come_from_the_environment(live_server, monkeypatch):
    monkeypatch.setenv("RUNREPLAY_API_URL", live_server.url + "/")
    monkeypatch.setenv("RUNREPLAY_TOKEN", live_server.tokens["bob"])
    api = CoreAPI()
    assert api.base_url == live_server.url
    assert api.health()["status"] == "ok"
    api.replay(FIRST_BAD)
    assert api.audit()[0]["actor"] == "bob"


def test_runs_follow_pages_and_filters(api, live_server):
    every = api.runs(limit=None)
    assert len(every) == 423
    assert [run["runId"] for run in api.runs(limit=7)] == [run["runId"] for run in every[:7]]
    ml_train = api.runs(workflow="ml-train", status="succeeded", limit=None)
    assert len(ml_train) == 100 and {run["workflowId"] for run in ml_train} == {"ml-train"}
    recent = api.runs(since="2026-11-20T00:00:00Z", limit=None)
    assert recent and all(run["createdAt"] >= "2026-11-20" for run in recent)
    assert api.run(LAST_GOOD) == every[[r["runId"] for r in every].index(LAST_GOOD)]


def test_report_freshness_changes_the_servers_answer(api):
    state = api.report_freshness("warehouse/orders", stale=False)
    assert state["assetKey"] == "warehouse/orders" and state["isStale"] is False
    assert api.replay(LAST_GOOD).status == "enqueued"


def test_sync_pulls_runs_into_a_store_idempotently(api, tmp_path):
    with runreplay.open(tmp_path / "analysis.duckdb") as store:
        first = sync(store, api, page_size=100)
        assert (first.runs, first.skipped) == (423, 0)
        again = sync(store, api, page_size=100)
        assert (again.runs, again.skipped, again.replaced) == (0, 423, 0)
        new_run = api.replay(FIRST_BAD).run
        third = sync(store, api, workflow="nightly-etl", since="2026-11-30T00:00:00Z")
        assert third.runs == 1
        assert store.run(new_run["runId"]) == new_run
        assert store.counts()["runs"] == 424


# -- transport: retries against a tiny faulty server ----------------------------------------


class _Scripted:
    """A local HTTP server answering from a script of (status, body, headers) per request."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                index = min(len(outer.requests), len(outer.script)) - 1
                status, body, headers = outer.script[index]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


UNAVAILABLE = (503, {"error": {"code": "unavailable", "message": "warming up"}}, {})
HEALTHY = (200, {"status": "ok", "version": "x", "executor": False}, {})
ENQUEUED = (202, {"status": "enqueued", "run": {"runId": "run-new"}, "auditId": 7}, {})


def test_get_retries_503_with_backoff_then_succeeds():
    with _Scripted([UNAVAILABLE, UNAVAILABLE, HEALTHY]) as fake:
        api = CoreAPI(fake.url, token="t0ken-secret", retries=3, backoff=0.05)
        started = time.monotonic()
        assert api.health()["status"] == "ok"
        elapsed = time.monotonic() - started
    assert len(fake.requests) == 3
    assert 0.05 <= elapsed < 2  # two waits of 0.025-0.05 s and 0.05-0.1 s


@pytest.mark.parametrize("status", [502, 503, 504])
def test_get_gives_up_after_its_retries_with_api_unavailable(status):
    with _Scripted([(status, {"error": {"code": "x", "message": "down"}}, {})]) as fake:
        api = CoreAPI(fake.url, retries=2, backoff=0.01)
        with pytest.raises(ApiUnavailable) as caught:
            api.runs()
    assert len(fake.requests) == 3
    assert caught.value.status_code == status and caught.value.message == "down"


def test_retry_after_is_honoured():
    waiting = (503, {}, {"Retry-After": "0.3"})
    with _Scripted([waiting, HEALTHY]) as fake:
        started = time.monotonic()
        CoreAPI(fake.url, retries=1, backoff=0.001).health()
        assert time.monotonic() - started >= 0.3


def test_a_500_is_a_server_error_and_not_retried():
    failing = (500, {"error": {"code": "internal_error", "message": "boom"}}, {})
    with _Scripted([failing, HEALTHY]) as fake, pytest.raises(ServerError) as caught:
        CoreAPI(fake.url, retries=3, backoff=0.01).health()
    assert len(fake.requests) == 1 and caught.value.code == "internal_error"


def test_a_non_json_error_body_still_gives_a_clear_error():
    with _Scripted([(404, "<html>nope</html>", {})]) as fake, pytest.raises(NotFound) as caught:
        CoreAPI(fake.url, retries=0).run("run-1")
    assert caught.value.code is None and "404" in str(caught.value)


def test_replay_always_sends_an_idempotency_key_and_retries_with_the_same_one():
    with _Scripted([UNAVAILABLE, ENQUEUED]) as fake:
        result = CoreAPI(fake.url, token="t0ken-secret", retries=2, backoff=0.01).replay("run-1")
    keys = [request["headers"]["Idempotency-Key"] for request in fake.requests]
    assert len(keys) == 2 and keys[0] == keys[1] == result.idempotency_key
    assert uuid.UUID(keys[0]).version == 4
    assert [json.loads(request["body"]) for request in fake.requests] == [{}, {}]
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer t0ken-secret"
    assert result.run_id == "run-new" and result.audit_id == 7


def test_allow_stale_assets_is_sent_in_the_body():
    with _Scripted([ENQUEUED]) as fake:
        CoreAPI(fake.url, retries=0).replay("run-1", allow_stale_assets=True, idempotency_key="k")
    assert json.loads(fake.requests[0]["body"]) == {"allowStaleAssets": True}
    assert fake.requests[0]["headers"]["Idempotency-Key"] == "k"


def test_connection_refused_is_retried_then_api_unavailable():
    with _Scripted([HEALTHY]) as fake:
        url = fake.url  # the port is free again once the server has closed
    api = CoreAPI(url, retries=2, backoff=0.01, timeout=2)
    started = time.monotonic()
    with pytest.raises(ApiUnavailable) as caught:
        api.health()
    assert time.monotonic() - started < 5
    assert caught.value.status_code is None and "runreplay serve" in str(caught.value)


def test_a_slow_server_times_out_with_api_unavailable():
    gate = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            gate.wait(5)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        api = CoreAPI(f"http://127.0.0.1:{httpd.server_address[1]}", timeout=0.3, retries=0)
        with pytest.raises(ApiUnavailable, match="did not answer within 0.3 s"):
            api.health()
    finally:
        gate.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"base_url": "127.0.0.1:8765"}, "http://"), ({"retries": -1}, "retries")],
)
def test_bad_client_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(RunReplayError, match=message):
        CoreAPI(**kwargs)

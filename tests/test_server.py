"""The reference core API over real sockets: routes, errors, the stale guard, replays, audit."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import requests

import runreplay
from runreplay.diff import diff_stored
from runreplay.model import dumps
from tests.conftest import FIXED_NOW, SAMPLE, make_record, start_server

LAST_GOOD = "run-000345"  # nightly-etl; produced warehouse/orders, whose current state is stale
FIRST_BAD = "run-000347"  # nightly-etl; failed, produced no assets
REPLAY_OF_FIRST_BAD = "run-000349"
ML_RUN = "run-000403"  # ml-train; produced models/churn (fresh)
SAMPLE_RUNS = 423

ROUTES = [
    ("GET", "/workflow-runs", None),
    ("GET", f"/workflow-runs/{LAST_GOOD}", None),
    ("GET", f"/workflow-runs/{LAST_GOOD}/diff?compareTo={FIRST_BAD}", None),
    ("POST", f"/workflow-runs/{FIRST_BAD}/replay", {}),
    ("GET", "/audit", None),
    ("PUT", "/assets/warehouse/orders/freshness", {"stale": False}),
]


_SENT = threading.Lock()


def count_replay_request(server):
    with _SENT:
        server.sent_replays += 1


@pytest.fixture(autouse=True)
def audit_rows_equal_replay_requests(request):
    """After every test on `live_server`: one audit row per replay request it sent."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("live_server")  # set up first, so torn down after this
    yield
    assert server.count("SELECT count(*) FROM audit") == server.sent_replays


def replay(
    server, run_id, body=None, *, key=None, operator="alice", data=None,
    content_type="application/json",
):  # fmt: skip
    """POST a replay: `body` as JSON, or the raw bytes `data` sent with `content_type`."""
    count_replay_request(server)
    headers = server.headers(operator)
    if key is not None:
        headers["Idempotency-Key"] = key
    if data is not None:
        if content_type is not None:
            headers["Content-Type"] = content_type
        return requests.post(
            f"{server.url}/workflow-runs/{run_id}/replay", data=data, headers=headers, timeout=10
        )
    return requests.post(
        f"{server.url}/workflow-runs/{run_id}/replay", json=body, headers=headers, timeout=10
    )


def get(server, path, **params):
    return requests.get(f"{server.url}{path}", params=params, headers=server.headers(), timeout=10)


def audit_rows(server, run_id=None):
    params = {"runId": run_id} if run_id else {}
    return get(server, "/audit", **params).json()["audit"]


def run_count(server):
    return server.count("SELECT count(*) FROM runs")


def server_log_lines(caplog, count, timeout=5.0):
    """The server's request-log lines, once `count` have come (a line follows its response)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "runreplay.server"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    for leak in ("Traceback", "pydantic", "'loc'", "errors.pydantic.dev", 'File "'):
        assert leak not in response.text
    return body["error"]["message"]


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    with runreplay.open(tmp_path_factory.mktemp("local") / "local.duckdb") as store:
        store.load(SAMPLE)
        yield store


SLASHED_IDS = ("odd/run/2", "odd/run/2/diff", "odd/run/2/replay")
"""runIds with "/" in them (the record schema allows any string); no assets, so never stale."""


@pytest.fixture
def slashed_runs(live_server):
    """live_server, also holding runs whose runIds contain "/" (SLASHED_IDS)."""
    with live_server.database.lock:
        live_server.database.store.load_records(
            [make_record(run_id, assets=[]) for run_id in SLASHED_IDS]
        )
    return live_server


def encoded(run_id):
    return quote(run_id, safe="")


# -- health, auth, logs ------------------------------------------------------------------


def test_health_answers_without_a_token(live_server):
    response = requests.get(f"{live_server.url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": runreplay.__version__, "executor": False}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-known-token", "Basic YWxpY2U6eA==", "Bearer ", "alice-secret-token-0001"],
)
def test_every_route_but_health_refuses_a_missing_or_wrong_token(live_server, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in ROUTES:
        if path.endswith("/replay"):
            count_replay_request(live_server)
        response = requests.request(
            method, f"{live_server.url}{path}", json=body, headers=headers, timeout=10
        )
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert run_count(live_server) == SAMPLE_RUNS
    assert live_server.count("SELECT count(*) FROM asset_freshness") == 0


def test_unauthorized_replays_are_audited_without_an_actor(live_server):
    count_replay_request(live_server)
    requests.post(f"{live_server.url}/workflow-runs/{FIRST_BAD}/replay", json={}, timeout=10)
    (row,) = audit_rows(live_server)
    assert (row["actor"], row["outcome"], row["statusCode"]) == (None, "rejected", 401)


def test_each_request_logs_one_line_and_never_a_token(live_server, caplog):
    caplog.set_level(logging.DEBUG)
    get(live_server, f"/workflow-runs/{LAST_GOOD}")
    replay(live_server, FIRST_BAD, {}, key="k-log")
    requests.get(
        f"{live_server.url}/audit",
        headers={"Authorization": "Bearer wrong-token-secret-99"},
        timeout=10,
    )
    requests.get(f"{live_server.url}/workflow-runs?token=query-secret-xyz", timeout=10)
    lines = server_log_lines(caplog, 4)
    assert f"GET /workflow-runs/{LAST_GOOD} 200" in lines[0] and lines[0].endswith("actor=alice")
    assert f"POST /workflow-runs/{FIRST_BAD}/replay 202" in lines[1]
    assert "GET /audit 401" in lines[2] and lines[2].endswith("actor=-")
    assert "GET /workflow-runs 401" in lines[3]
    assert len(lines) == 4
    assert all(" ms " not in line and "ms actor=" in line for line in lines)
    server_side = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("urllib3")  # the test's own HTTP client, not the server
    )
    assert "runreplay.server" in {r.name for r in caplog.records}
    for secret in (*live_server.tokens.values(), "wrong-token-secret-99", "query-secret-xyz"):
        assert secret not in server_side


def test_a_path_cannot_forge_a_log_line(live_server, caplog):
    caplog.set_level(logging.INFO, logger="runreplay.server")
    requests.get(f"{live_server.url}/nope%0AGET%20/audit%20200%201.0ms%20actor=alice", timeout=10)
    (line,) = server_log_lines(caplog, 1)
    assert "\n" not in line and line.startswith("GET /nope%0AGET%20/audit")


# -- runs --------------------------------------------------------------------------------


def test_get_run_returns_the_stored_record(live_server, sample_store):
    response = get(live_server, f"/workflow-runs/{LAST_GOOD}")
    assert response.status_code == 200
    assert response.json() == sample_store.run(LAST_GOOD)


def test_get_unknown_run_is_404_naming_it(live_server):
    message = assert_error(get(live_server, "/workflow-runs/run-999999"), 404, "run_not_found")
    assert "run-999999" in message


def test_list_runs_pages_through_every_run_newest_first(live_server, sample_store):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = get(live_server, "/workflow-runs", **params).json()
        assert page["total"] == SAMPLE_RUNS
        seen += [run["runId"] for run in page["runs"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == list(sample_store.runs()["run_id"])


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"workflowId": "ml-train"}, {"workflow_id": "ml-train"}),
        ({"status": "FAILED"}, {"status": "FAILED"}),
        ({"since": "2026-11-01T00:00:00Z"}, {"since": "2026-11-01T00:00:00Z"}),
        (
            {"workflowId": "nightly-etl", "until": "2026-10-12T00:00:00Z"},
            {"workflow_id": "nightly-etl", "until": "2026-10-12T00:00:00Z"},
        ),
    ],
)
def test_list_runs_filters_like_the_store(live_server, sample_store, params, expected):
    page = get(live_server, "/workflow-runs", limit=1000, **params).json()
    frame = sample_store.runs(
        workflow=expected.get("workflow_id"),
        status=expected.get("status"),
        since=expected.get("since"),
        until=expected.get("until"),
    )
    assert [run["runId"] for run in page["runs"]] == list(frame["run_id"])
    assert page["total"] == len(frame) and page["nextCursor"] is None


@pytest.mark.parametrize(
    "params, code",
    [
        ({"limit": "0"}, "bad_request"),
        ({"limit": "many"}, "bad_request"),
        ({"limit": "1001"}, "bad_request"),
        ({"status": "DONE"}, "bad_request"),
        ({"since": "yesterday"}, "bad_request"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
    ],
)
def test_list_runs_rejects_bad_queries_with_400(live_server, params, code):
    assert_error(get(live_server, "/workflow-runs", **params), 400, code)


# -- diff --------------------------------------------------------------------------------


def test_diff_route_returns_the_local_diff(live_server, sample_store):
    response = get(live_server, f"/workflow-runs/{LAST_GOOD}/diff", compareTo=FIRST_BAD)
    assert response.status_code == 200
    local = diff_stored(sample_store, LAST_GOOD, FIRST_BAD, now=FIXED_NOW).to_dict()
    assert response.json() == local
    assert [w["assetKey"] for w in response.json()["staleWarnings"]] == ["warehouse/orders"]


def test_diff_route_passes_ignore_and_hide_volatile(live_server, sample_store):
    response = get(
        live_server,
        f"/workflow-runs/{LAST_GOOD}/diff",
        compareTo=FIRST_BAD,
        ignore=["parameters.source.*"],
        hideVolatile="true",
    )
    local = diff_stored(
        sample_store,
        LAST_GOOD,
        FIRST_BAD,
        now=FIXED_NOW,
        hide_volatile=True,
        ignore=["parameters.source.*"],
    )
    assert response.json() == local.to_dict()
    paths = [change["path"] for change in response.json()["fieldChanges"]]
    assert "parameters.batchSize" in paths and "parameters.source.since" not in paths


def test_diff_without_compare_to_is_400(live_server):
    message = assert_error(get(live_server, f"/workflow-runs/{LAST_GOOD}/diff"), 400, "bad_request")
    assert "compareTo" in message


@pytest.mark.parametrize(
    "query, says",
    [
        ("compareTo=", "must name a run"),
        (f"compareTo={FIRST_BAD}&compareTo={REPLAY_OF_FIRST_BAD}", "give it once"),
        (f"compareTo=&compareTo={FIRST_BAD}", "give it once"),
    ],
)
def test_diff_refuses_an_empty_or_repeated_compare_to_with_400(live_server, query, says):
    response = requests.get(
        f"{live_server.url}/workflow-runs/{LAST_GOOD}/diff?{query}",
        headers=live_server.headers(),
        timeout=10,
    )
    message = assert_error(response, 400, "bad_request")
    assert "compareTo" in message and says in message


@pytest.mark.parametrize("base, compare", [("run-999999", FIRST_BAD), (LAST_GOOD, "run-999999")])
def test_diff_with_an_unknown_run_is_404_naming_it(live_server, base, compare):
    response = get(live_server, f"/workflow-runs/{base}/diff", compareTo=compare)
    assert "run-999999" in assert_error(response, 404, "run_not_found")


def test_diff_of_two_workflows_is_400_workflow_mismatch(live_server):
    response = get(live_server, f"/workflow-runs/{LAST_GOOD}/diff", compareTo=ML_RUN)
    message = assert_error(response, 400, "workflow_mismatch")
    assert "nightly-etl" in message and "ml-train" in message


# -- replay: the stale guard ---------------------------------------------------------------


def test_replaying_a_queued_replay_warns_about_its_originals_stale_assets(live_server):
    # the new run has produced nothing yet: its assets are its original's, stale ones
    first = replay(live_server, LAST_GOOD, {"allowStaleAssets": True})
    assert first.status_code == 202
    queued = first.json()["run"]["runId"]
    refused = replay(live_server, queued, {})
    assert refused.status_code == 409
    assert [asset["assetKey"] for asset in refused.json()["staleAssets"]] == ["warehouse/orders"]
    diff = get(live_server, f"/workflow-runs/{queued}/diff", compareTo=LAST_GOOD).json()
    assert [warning["assetKey"] for warning in diff["staleWarnings"]] == ["warehouse/orders"]
    assert replay(live_server, queued, {"allowStaleAssets": True}).status_code == 202


def test_stale_flow_refuses_then_enqueues_on_confirmation(live_server):
    refused = replay(live_server, LAST_GOOD, {})
    assert refused.status_code == 409
    body = refused.json()
    assert body["status"] == "stale_assets"
    assert body["staleAssets"] == [
        {
            "assetKey": "warehouse/orders",
            "lastUpdated": "2026-10-11T01:15:22Z",
            "maxLagMinutes": 1440,
            "reason": "flagged stale by its current freshness",
        }
    ]
    assert "allowStaleAssets" in body["message"]
    assert body["error"]["code"] == "stale_assets"
    assert run_count(live_server) == SAMPLE_RUNS
    assert live_server.count("SELECT count(*) FROM replay_queue") == 0

    accepted = replay(live_server, LAST_GOOD, {"allowStaleAssets": True})
    assert accepted.status_code == 202
    assert run_count(live_server) == SAMPLE_RUNS + 1
    rows = audit_rows(live_server)
    assert [(r["outcome"], r["statusCode"], r["allowStaleAssets"]) for r in rows] == [
        ("stale_assets", 409, False),
        ("enqueued", 202, True),
    ]
    assert rows[0]["staleAssetKeys"] == rows[1]["staleAssetKeys"] == ["warehouse/orders"]
    assert rows[0]["id"] == body["auditId"] and rows[1]["id"] == accepted.json()["auditId"]
    assert rows[1]["newRunId"] == accepted.json()["run"]["runId"]
    assert all(row["actor"] == "alice" for row in rows)


def test_replay_of_a_run_without_stale_assets_is_enqueued_directly(live_server):
    response = replay(live_server, FIRST_BAD, {})
    assert response.status_code == 202
    assert response.json()["status"] == "enqueued"


def test_marking_the_asset_fresh_lets_the_replay_through(live_server):
    response = requests.put(
        f"{live_server.url}/assets/warehouse/orders/freshness",
        json={"stale": False},
        headers=live_server.headers(),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["isStale"] is False and response.json()["stale"] is False
    assert replay(live_server, LAST_GOOD, {}).status_code == 202


def test_marking_an_asset_stale_makes_its_runs_refuse(live_server):
    assert replay(live_server, ML_RUN, {}).status_code == 202
    response = requests.put(
        f"{live_server.url}/assets/models%2Fchurn/freshness",
        json={"stale": True},
        headers=live_server.headers("bob"),
        timeout=10,
    )
    assert response.json()["isStale"] is True
    assert response.json()["reason"] == "flagged stale by its current freshness"
    refused = replay(live_server, ML_RUN, {})
    assert refused.status_code == 409
    assert [a["assetKey"] for a in refused.json()["staleAssets"]] == ["models/churn"]


@pytest.mark.parametrize("lag_minutes, is_stale", [(60, True), (180, False)])
def test_lag_rule_uses_the_server_clock(live_server, lag_minutes, is_stale):
    two_hours_ago = (FIXED_NOW - timedelta(hours=2)).isoformat()
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        json={"lastUpdated": two_hours_ago, "maxLagMinutes": lag_minutes},
        headers=live_server.headers(),
        timeout=10,
    )
    assert response.json()["isStale"] is is_stale
    assert replay(live_server, ML_RUN, {}).status_code == (409 if is_stale else 202)


@pytest.mark.parametrize(
    "body",
    [{}, {"stale": "yes"}, {"stale": True, "color": "red"}, {"stale": None}, [True]],
)
def test_freshness_rejects_bad_bodies_with_400(live_server, body):
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        json=body,
        headers=live_server.headers(),
        timeout=10,
    )
    assert_error(response, 400, response.json()["error"]["code"])
    assert response.json()["error"]["code"] in ("bad_request", "invalid_body")


def test_freshness_without_stale_or_last_updated_says_what_it_accepts(live_server):
    url = f"{live_server.url}/assets/models/churn/freshness"
    refused = requests.put(
        url, json={"maxLagMinutes": 5}, headers=live_server.headers(), timeout=10
    )
    message = assert_error(refused, 400, "invalid_body")
    assert message.startswith('give "stale" (true or false), "lastUpdated", or both;')
    assert '"maxLagMinutes" is optional' in message
    # what the message promises: lastUpdated alone is accepted
    alone = {"lastUpdated": "2026-11-30T00:00:00Z"}
    response = requests.put(url, json=alone, headers=live_server.headers(), timeout=10)
    assert response.status_code == 200, response.text
    assert (response.json()["lastUpdated"], response.json()["maxLagMinutes"]) == (
        "2026-11-30T00:00:00Z",
        None,
    )


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "text/json", None]
)
def test_freshness_refuses_a_json_body_not_sent_as_json_with_415(live_server, content_type):
    headers = live_server.headers()
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        data=b'{"stale": true}',
        headers=headers,
        timeout=10,
    )
    message = assert_error(response, 415, "unsupported_media_type")
    assert "Content-Type: application/json" in message
    assert live_server.count("SELECT count(*) FROM asset_freshness") == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_freshness_accepts_json_content_types_with_parameters(live_server, content_type):
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        data=b'{"stale": true}',
        headers=live_server.headers(**{"Content-Type": content_type}),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["stale"] is True


def _chunked(total_bytes):
    """A body requests sends with Transfer-Encoding: chunked (no Content-Length)."""
    yield b'{"stale": true, "pad": "'
    for _ in range(total_bytes // 4096):
        yield b"x" * 4096
    yield b'"}'


def test_freshness_refuses_a_huge_chunked_body_with_413(live_server):
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        data=_chunked(100_000),
        headers=live_server.headers(**{"Content-Type": "application/json"}),
        timeout=10,
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert live_server.count("SELECT count(*) FROM asset_freshness") == 0


def test_freshness_accepts_a_chunked_body_under_the_limit(live_server):
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        data=iter([b'{"stale":', b" true}"]),
        headers=live_server.headers(**{"Content-Type": "application/json"}),
        timeout=10,
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 200, response.text
    assert response.json()["stale"] is True


def test_freshness_refuses_a_huge_body_with_413(live_server):
    response = requests.put(
        f"{live_server.url}/assets/models/churn/freshness",
        data=b'{"stale": true, "pad": "' + b"x" * 200_000 + b'"}',
        headers=live_server.headers(**{"Content-Type": "application/json"}),
        timeout=10,
    )
    assert_error(response, 413, "payload_too_large")
    assert live_server.count("SELECT count(*) FROM asset_freshness") == 0


# -- replay: the new run -------------------------------------------------------------------


def test_replay_copies_the_recorded_inputs_byte_for_byte(live_server):
    original = get(live_server, f"/workflow-runs/{FIRST_BAD}").json()
    new_run = replay(live_server, FIRST_BAD, {}).json()["run"]
    for key in ("runKey", "partitionKey", "parameters", "triggerPayload", "workflowId"):
        assert dumps(new_run[key]) == dumps(original[key]), key
    assert new_run["runId"] not in (FIRST_BAD, original["runId"])
    assert new_run["replayOf"] == FIRST_BAD
    assert new_run["status"] == "QUEUED"
    assert new_run["createdAt"] == "2026-12-01T00:00:00Z"
    assert new_run["history"] == [{"seq": 0, "at": "2026-12-01T00:00:00Z", "status": "QUEUED"}]
    assert new_run["context"] == {"image": "etl:1.4.2", "region": "eu-west-1"}
    stored = get(live_server, f"/workflow-runs/{new_run['runId']}")
    assert stored.json() == new_run


def test_replay_of_a_replay_replays_its_recorded_inputs(live_server):
    recorded = get(live_server, f"/workflow-runs/{REPLAY_OF_FIRST_BAD}").json()
    first = replay(live_server, REPLAY_OF_FIRST_BAD, {}).json()["run"]
    second = replay(live_server, first["runId"], {}).json()["run"]
    for new_run in (first, second):
        assert dumps(new_run["parameters"]) == dumps(recorded["parameters"])
        assert dumps(new_run["triggerPayload"]) == dumps(recorded["triggerPayload"])
        assert new_run["runKey"] == recorded["runKey"] == "nightly-etl:2026-10-12"
    assert recorded["triggerPayload"]["source"] == "replay"
    assert (first["replayOf"], second["replayOf"]) == (REPLAY_OF_FIRST_BAD, first["runId"])


def test_replay_of_an_unknown_run_is_404_and_audited(live_server):
    message = assert_error(replay(live_server, "run-999999", {}), 404, "run_not_found")
    assert "run-999999" in message
    (row,) = audit_rows(live_server, "run-999999")
    assert (row["outcome"], row["statusCode"], row["actor"]) == ("rejected", 404, "alice")


@pytest.mark.parametrize(
    "raw_body",
    [
        b"not json",
        b"[]",
        b'"allowStaleAssets"',
        b"null",
        b'{"allowStaleAssets": "true"}',
        b'{"allowStaleAssets": 1}',
        b'{"allowStaleAssets": null}',
        b'{"allowStaleAssets": true, "force": true}',
        b'{"parameters": {"batchSize": 1}}',
        b'{"allowStaleAssets": tru',
    ],
)
def test_replay_rejects_bad_bodies_with_400_and_audits_them(live_server, raw_body):
    response = replay(live_server, FIRST_BAD, data=raw_body)
    message = assert_error(response, 400, "invalid_body")
    assert '{"allowStaleAssets": true}' in message
    assert run_count(live_server) == SAMPLE_RUNS
    (row,) = audit_rows(live_server)
    assert (row["outcome"], row["statusCode"]) == ("rejected", 400)
    assert row["detail"].startswith("invalid_body")


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"])
def test_replay_accepts_an_empty_body_as_empty_object(live_server, content_type):
    # what `requests.post(url)` and `curl -X POST [-d '']` send: no body to misread
    response = replay(live_server, FIRST_BAD, data=b"", content_type=content_type)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json", None]
)
def test_replay_of_a_body_not_sent_as_json_is_415_and_audited(live_server, content_type):
    response = replay(
        live_server, FIRST_BAD, data=b'{"allowStaleAssets": true}', content_type=content_type
    )
    message = assert_error(response, 415, "unsupported_media_type")
    assert "Content-Type: application/json" in message
    assert run_count(live_server) == SAMPLE_RUNS
    (row,) = audit_rows(live_server)
    assert (row["outcome"], row["statusCode"], row["actor"]) == ("rejected", 415, "alice")
    assert row["detail"].startswith("unsupported_media_type")


def test_replay_checks_the_token_before_the_content_type(live_server):
    count_replay_request(live_server)
    response = requests.post(
        f"{live_server.url}/workflow-runs/{FIRST_BAD}/replay",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert_error(response, 401, "unauthorized")
    (row,) = audit_rows(live_server)
    assert (row["outcome"], row["statusCode"], row["actor"]) == ("rejected", 401, None)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_replay_accepts_json_content_types(live_server, content_type):
    response = replay(live_server, FIRST_BAD, data=b"{}", content_type=content_type)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "data",
    [b'{"allowStaleAssets": true' + b" " * 70_000, _chunked(100_000)],
    ids=["content-length", "chunked"],
)
def test_replay_refuses_a_huge_body_with_413(live_server, data):
    response = replay(live_server, FIRST_BAD, data=data)
    assert_error(response, 413, "payload_too_large")
    assert run_count(live_server) == SAMPLE_RUNS
    (row,) = audit_rows(live_server)
    assert (row["outcome"], row["statusCode"]) == ("rejected", 413)


# -- runIds with "/" ------------------------------------------------------------------------


def test_a_run_id_with_slashes_is_reachable_on_every_run_route(slashed_runs):
    path = f"/workflow-runs/{encoded('odd/run/2')}"
    assert get(slashed_runs, path).json()["runId"] == "odd/run/2"
    diff = get(slashed_runs, f"{path}/diff", compareTo="odd/run/2/replay")
    assert diff.status_code == 200, diff.text
    assert diff.json()["runs"]["base"]["runId"] == "odd/run/2"
    assert diff.json()["runs"]["compareTo"]["runId"] == "odd/run/2/replay"
    accepted = replay(slashed_runs, encoded("odd/run/2"), {})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["run"]["replayOf"] == "odd/run/2"
    (row,) = audit_rows(slashed_runs, "odd/run/2")
    assert (row["runId"], row["outcome"]) == ("odd/run/2", "enqueued")


@pytest.mark.parametrize(
    "path, run_id",
    [
        # a %2F belongs to the id ...
        ("/workflow-runs/odd%2Frun%2F2%2Fdiff", "odd/run/2/diff"),
        ("/workflow-runs/odd%2Frun%2F2%2Freplay", "odd/run/2/replay"),
        # ... and slashes sent as they are work too, up to a trailing /diff or /replay
        ("/workflow-runs/odd/run/2", "odd/run/2"),
        ("/workflow-runs/odd/run/2/replay", "odd/run/2/replay"),  # GET: no replay route
    ],
)
def test_get_of_a_run_id_ending_in_an_action_name_is_the_run(slashed_runs, path, run_id):
    response = get(slashed_runs, path)
    assert response.status_code == 200, response.text
    assert response.json()["runId"] == run_id


@pytest.mark.parametrize(
    "path, base",
    [
        ("/workflow-runs/odd%2Frun%2F2%2Fdiff/diff", "odd/run/2/diff"),
        ("/workflow-runs/odd/run/2/diff/diff", "odd/run/2/diff"),
        ("/workflow-runs/odd/run/2/diff", "odd/run/2"),  # a literal "/" before diff: the action
        ("/workflow-runs/odd%2Frun%2F2%2Freplay/diff", "odd/run/2/replay"),
    ],
)
def test_a_literal_trailing_diff_is_the_diff_action(slashed_runs, path, base):
    response = get(slashed_runs, path, compareTo="odd/run/2")
    assert response.status_code == 200, response.text
    assert response.json()["runs"]["base"]["runId"] == base


@pytest.mark.parametrize("run_id", ["odd/run/2/replay", "odd/run/2/diff"])
def test_replay_of_a_run_id_ending_in_an_action_name(slashed_runs, run_id):
    response = replay(slashed_runs, encoded(run_id), {})
    assert response.status_code == 202, response.text
    assert response.json()["run"]["replayOf"] == run_id
    assert [row["runId"] for row in audit_rows(slashed_runs)] == [run_id]


def test_post_to_the_run_record_of_an_id_ending_in_replay_is_no_replay(slashed_runs):
    response = requests.post(
        f"{slashed_runs.url}/workflow-runs/odd%2Frun%2F2%2Freplay",
        json={},
        headers=slashed_runs.headers(),
        timeout=10,
    )
    message = assert_error(response, 405, "method_not_allowed")
    assert "odd%2Frun%2F2%2Freplay" in message  # the path as sent
    assert audit_rows(slashed_runs) == [] and run_count(slashed_runs) == SAMPLE_RUNS + 3


def test_an_unknown_run_id_with_slashes_is_404_naming_it(slashed_runs):
    response = get(slashed_runs, f"/workflow-runs/{encoded('no/such/run')}/diff", compareTo="x")
    assert "'no/such/run'" in assert_error(response, 404, "run_not_found")


# -- Idempotency-Key -------------------------------------------------------------------------


def test_same_key_returns_the_first_answer_and_enqueues_nothing(live_server):
    first = replay(live_server, FIRST_BAD, {}, key="key-1")
    again = replay(live_server, FIRST_BAD, {}, key="key-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert run_count(live_server) == SAMPLE_RUNS + 1
    rows = audit_rows(live_server)
    assert [r["outcome"] for r in rows] == ["enqueued", "repeated"]
    assert rows[1]["newRunId"] == first.json()["run"]["runId"]


def test_same_key_repeats_a_stale_refusal(live_server):
    first = replay(live_server, LAST_GOOD, {}, key="key-stale")
    again = replay(live_server, LAST_GOOD, {}, key="key-stale")
    assert (first.status_code, again.status_code) == (409, 409)
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "run_id, body", [(FIRST_BAD, {"allowStaleAssets": True}), (REPLAY_OF_FIRST_BAD, {})]
)
def test_same_key_with_a_different_request_is_400(live_server, run_id, body):
    assert replay(live_server, FIRST_BAD, {}, key="key-2").status_code == 202
    assert_error(replay(live_server, run_id, body, key="key-2"), 400, "idempotency_key_reused")
    assert run_count(live_server) == SAMPLE_RUNS + 1
    assert len(audit_rows(live_server)) == 2


def test_keys_belong_to_their_operator(live_server):
    alice = replay(live_server, FIRST_BAD, {}, key="shared", operator="alice").json()
    bob = replay(live_server, FIRST_BAD, {}, key="shared", operator="bob").json()
    assert alice["run"]["runId"] != bob["run"]["runId"]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_malformed_idempotency_key_is_400(live_server, key):
    assert_error(replay(live_server, FIRST_BAD, {}, key=key), 400, "invalid_idempotency_key")


# -- concurrency ---------------------------------------------------------------------------


def _in_threads(count, action):
    barrier = threading.Barrier(count)
    results = [None] * count

    def work(index):
        barrier.wait(timeout=10)
        results[index] = action(index)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_twenty_threads_with_one_key_enqueue_one_run(live_server):
    responses = _in_threads(20, lambda i: replay(live_server, FIRST_BAD, {}, key="same-key"))
    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["run"]["runId"] for response in responses}) == 1
    assert run_count(live_server) == SAMPLE_RUNS + 1
    outcomes = sorted(row["outcome"] for row in audit_rows(live_server))
    assert outcomes == ["enqueued"] + ["repeated"] * 19


def test_twenty_threads_without_keys_enqueue_twenty_runs(live_server):
    responses = _in_threads(20, lambda i: replay(live_server, FIRST_BAD, {}))
    assert {response.status_code for response in responses} == {202}
    new_ids = {response.json()["run"]["runId"] for response in responses}
    assert len(new_ids) == 20
    assert run_count(live_server) == SAMPLE_RUNS + 20
    rows = audit_rows(live_server)
    assert len(rows) == 20 and {row["newRunId"] for row in rows} == new_ids
    assert live_server.count("SELECT count(*) FROM replay_queue") == 20


# -- audit ---------------------------------------------------------------------------------


def test_audit_filters_by_run_and_pages(live_server):
    replay(live_server, FIRST_BAD, {})
    new_id = replay(live_server, REPLAY_OF_FIRST_BAD, {}).json()["run"]["runId"]
    replay(live_server, LAST_GOOD, {})
    assert [r["runId"] for r in audit_rows(live_server, REPLAY_OF_FIRST_BAD)] == [
        REPLAY_OF_FIRST_BAD
    ]
    assert [r["newRunId"] for r in audit_rows(live_server, new_id)] == [new_id]
    first_page = get(live_server, "/audit", limit=2).json()
    assert [r["id"] for r in first_page["audit"]] == [1, 2] and first_page["nextAfterId"] == 2
    rest = get(live_server, "/audit", afterId=2).json()
    assert [r["id"] for r in rest["audit"]] == [3] and rest["nextAfterId"] is None


def test_audit_rows_are_never_changed_by_later_requests(live_server):
    replay(live_server, LAST_GOOD, {}, key="k")
    before = audit_rows(live_server)
    replay(live_server, LAST_GOOD, {}, key="k")
    replay(live_server, LAST_GOOD, {"allowStaleAssets": True})
    assert audit_rows(live_server)[: len(before)] == before


# -- errors --------------------------------------------------------------------------------


def test_unknown_route_and_method_use_the_error_shape(live_server):
    assert_error(requests.get(f"{live_server.url}/nope", timeout=10), 404, "not_found")
    response = requests.delete(f"{live_server.url}/health", timeout=10)
    assert_error(response, 405, "method_not_allowed")


def test_a_failure_mid_transaction_is_500_writes_nothing_and_is_audited(live_server, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    # fails inside the transaction, after the new run was loaded: all of it must roll back
    live_server.app.state.runreplay.replays._remember = broken
    with caplog.at_level(logging.ERROR, logger="runreplay.server"):
        response = replay(live_server, FIRST_BAD, {}, key="k-broken")
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "secret internal detail" in caplog.text  # the operator's log has it
    assert run_count(live_server) == SAMPLE_RUNS
    assert live_server.count("SELECT count(*) FROM replay_queue") == 0
    (row,) = audit_rows(live_server)
    assert (row["outcome"], row["statusCode"], row["newRunId"]) == ("failed", 500, None)
    assert row["detail"] == "internal_error: RuntimeError"


def test_openapi_documents_every_route_body_and_error(live_server):
    document = requests.get(f"{live_server.url}/openapi.json", timeout=10).json()
    assert set(document["paths"]) == {
        "/health",
        "/workflow-runs",
        "/workflow-runs/{runId}",
        "/workflow-runs/{runId}/diff",
        "/workflow-runs/{runId}/replay",
        "/audit",
        "/assets/{assetKey}/freshness",
    }
    text = dumps(document)
    assert "422" not in document["paths"]["/workflow-runs"]["get"]["responses"]
    assert "HTTPValidationError" not in text
    replay_operation = document["paths"]["/workflow-runs/{runId}/replay"]["post"]
    assert set(replay_operation["responses"]) == {"202", "400", "401", "404", "409", "413", "415"}
    freshness_operation = document["paths"]["/assets/{assetKey}/freshness"]["put"]
    assert {"400", "413", "415"} <= set(freshness_operation["responses"])
    (run_id,) = replay_operation["parameters"][:1]
    assert (run_id["name"], run_id["in"], run_id["required"]) == ("runId", "path", True)
    assert replay_operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReplayBody"
    }
    assert any(p["name"] == "Idempotency-Key" for p in replay_operation["parameters"])
    schemas = document["components"]["schemas"]
    assert schemas["ReplayBody"]["additionalProperties"] is False
    assert schemas["RunRecord"]["required"] == ["runId", "workflowId", "status", "createdAt"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path != "/health":
                assert "401" in operation["responses"], path
                assert "400" in operation["responses"], path


# -- the demo executor ---------------------------------------------------------------------


def _wait_for_final(server, run_id, timeout=15):
    deadline = time.monotonic() + timeout
    statuses = []
    while time.monotonic() < deadline:
        run = get(server, f"/workflow-runs/{run_id}").json()
        if not statuses or statuses[-1] != run["status"]:
            statuses.append(run["status"])
        if run["status"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run, statuses
        time.sleep(0.005)
    raise AssertionError(f"{run_id} did not finish within {timeout} s: {statuses}")


def test_demo_executor_reproduces_the_sample_stories(server_db):
    server = start_server(server_db, execute=True, event_delay=0.05)
    try:
        failing = replay(server, FIRST_BAD, {}).json()["run"]["runId"]
        run, statuses = _wait_for_final(server, failing)
        assert run["status"] == "FAILED"
        assert statuses[0] == "QUEUED" and "RUNNING" in statuses and "RETRYING" in statuses
        assert run["history"][-1]["step"] == "load"
        assert run["history"][-1]["message"] == "timeout writing batch"
        assert run["assets"] == [] and run["output"]["error"] == "timeout writing batch"

        good = replay(server, LAST_GOOD, {"allowStaleAssets": True}).json()["run"]["runId"]
        run, _ = _wait_for_final(server, good)
        assert run["status"] == "SUCCEEDED"
        assert run["parameters"]["batchSize"] == 500
        assert {asset["assetKey"] for asset in run["assets"]} == {
            "warehouse/orders",
            "warehouse/order_items",
        }
        # the successful replay rewrote warehouse/orders: the last good run is fresh again
        assert replay(server, LAST_GOOD, {}).status_code == 202
    finally:
        server.stop()


def test_demo_executor_resumes_queued_runs_after_a_restart(server_db):
    server = start_server(server_db)
    new_id = replay(server, FIRST_BAD, {}).json()["run"]["runId"]
    server.stop()
    assert new_id  # queued while no executor ran
    server = start_server(server_db, execute=True)
    try:
        run, _ = _wait_for_final(server, new_id)
        assert run["status"] == "FAILED"
    finally:
        server.stop()

"""ComparePanel driven from plain Python: pickers, tabs, toggles, banner, replay, export."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import runreplay
from runreplay.client import CoreAPI
from runreplay.widgets import NO_API_REASON, TAB_TITLES, ComparePanel
from tests.conftest import SAMPLE, TOKENS, make_record

LAST_GOOD, FIRST_BAD = "run-000345", "run-000347"


@pytest.fixture(scope="module")
def store_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("widgets") / "runs.duckdb"
    with runreplay.open(path) as template:
        template.load(SAMPLE)
    return path


@pytest.fixture
def sample_store(tmp_path, store_template):
    """The committed sample in a store file of this test's own."""
    path = tmp_path / "runs.duckdb"
    shutil.copyfile(store_template, path)
    with runreplay.open(path) as opened:
        yield opened


@pytest.fixture
def api(live_server):
    with CoreAPI(live_server.url, TOKENS["alice"], retries=0) as client:
        yield client


@pytest.fixture
def no_api_env(monkeypatch):
    monkeypatch.delenv("RUNREPLAY_API_URL", raising=False)
    monkeypatch.delenv("RUNREPLAY_TOKEN", raising=False)


class Later:
    """A `schedule` that keeps the callbacks, so a test decides when the toast hides."""

    def __init__(self):
        self.calls = []

    def __call__(self, seconds, callback):
        self.calls.append((seconds, callback))


@pytest.fixture
def unused_api():
    """A CoreAPI the test never calls (it only makes the panel's Replay button usable)."""
    with CoreAPI("http://127.0.0.1:9", "token", retries=0) as client:
        yield client


@pytest.fixture
def odd_server():
    """A core API stand-in that answers every POST with `odd_server.answer`:
    (status, content type, body) — for answers the reference server never gives."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, content_type, body = self.server.answer
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    thread.join(10)
    server.server_close()


def pick(search, picker, run_id):
    """What a user does: type part of the id, then click the run in the list."""
    search.value = run_id[-3:]
    assert run_id in [value for _, value in picker.options], picker.options
    picker.value = run_id


def rows(html, css_class):
    """The <tr> elements of `html` that carry `css_class`."""
    return [
        row
        for row in re.findall(r"<tr class=\"([^\"]*)\"[^>]*>(.*?)</tr>", html, re.S)
        if css_class in row[0].split()
    ]


def row_for(html, path):
    match = re.search(rf"<tr class=\"([^\"]*)\" data-path=\"{re.escape(path)}\">(.*?)</tr>", html)
    assert match, f"no row for {path}"
    return match.group(1).split(), match.group(2)


def shown(widget):
    return widget.layout.display != "none"


def regression_panel(store, **options):
    return ComparePanel(store, base=LAST_GOOD, compare=FIRST_BAD, **options)


# -- pickers -------------------------------------------------------------------------------


def test_panel_opens_on_the_two_newest_runs_of_the_newest_workflow(sample_store, no_api_env):
    panel = ComparePanel(sample_store)
    assert (panel.workflow, panel.base, panel.compare) == (
        "nightly-etl",
        "run-000422",
        "run-000423",
    )
    assert panel.run_diff.base_run["runId"] == "run-000422"
    assert set(panel.workflow_picker.options) == {"nightly-etl", "ml-train", "hourly-sync"}


def test_picker_labels_show_id_status_and_creation_time_newest_first(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    labels = [label for label, _ in panel.compare_picker.options]
    assert labels[0] == "run-000423 · FAILED · 2026-11-28 01:00"
    assert "run-000347 · FAILED · 2026-10-12 01:00" in labels
    listed = [value for _, value in panel.base_picker.options]
    assert listed == sorted(listed, reverse=True)


def test_pickers_list_the_newest_runs_and_keep_the_chosen_one(sample_store, no_api_env):
    panel = regression_panel(sample_store, choices=5)
    ids = [value for _, value in panel.compare_picker.options]
    assert ids == [FIRST_BAD, "run-000423", "run-000422", "run-000421", "run-000420", "run-000419"]
    assert panel.compare_picker.label == "run-000347 · FAILED · 2026-10-12 01:00"


def test_search_lists_the_runs_whose_id_matches(sample_store, no_api_env):
    panel = ComparePanel(sample_store, workflow="nightly-etl")
    panel.base_search.value = "34"
    ids = [value for _, value in panel.base_picker.options]
    assert "run-000345" in ids and "run-000347" in ids
    assert all("34" in run_id for run_id in ids)
    assert panel.base == "run-000422"  # searching alone changes no choice
    assert panel.base_picker.value is None  # the chosen run does not match: nothing selected
    assert panel.run_diff.base_run["runId"] == "run-000422"
    panel.base_search.value = ""
    assert panel.base_picker.value == "run-000422"


def test_choosing_runs_in_the_pickers_diffs_them(sample_store, no_api_env):
    panel = ComparePanel(sample_store, workflow="nightly-etl")
    pick(panel.base_search, panel.base_picker, LAST_GOOD)
    pick(panel.compare_search, panel.compare_picker, FIRST_BAD)
    assert panel.run_diff.base_run["runId"] == LAST_GOOD
    assert panel.run_diff.compare_run["runId"] == FIRST_BAD
    assert "run-000345" in panel.summary.value and "run-000347" in panel.summary.value


def test_compare_choices_are_limited_to_the_base_runs_workflow(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    panel.base = "run-000322"  # ml-train
    assert panel.workflow == "ml-train"
    workflows = {
        sample_store.run(run_id)["workflowId"] for _, run_id in panel.compare_picker.options
    }
    assert workflows == {"ml-train"}
    assert sample_store.run(panel.compare)["workflowId"] == "ml-train"


def test_compare_run_of_another_workflow_is_refused_with_a_message(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    panel.compare = "run-000322"
    assert "must belong to the base run&#39;s workflow" in panel.message.value
    assert panel.compare == FIRST_BAD


def test_changing_the_workflow_opens_its_two_newest_runs(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    panel.workflow_picker.value = "ml-train"
    newest = sample_store.runs(workflow="ml-train", limit=2)["run_id"].tolist()
    assert (panel.base, panel.compare) == (newest[1], newest[0])


def test_a_run_that_no_longer_exists_shows_a_message(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    for table in ("runs", "run_events", "asset_snapshots", "run_fields"):
        sample_store.sql(f"DELETE FROM {table} WHERE run_id = 'run-000423'")
    panel.compare_picker.value = "run-000423"  # still listed from before
    assert panel.run_diff is None
    assert "rr-error" in panel.message.value
    assert "run-000423 is not in the store" in panel.message.value
    assert "choose two runs" in panel.tab_contents["Parameters"].value
    panel.compare = FIRST_BAD
    assert panel.message.value == ""
    assert panel.run_diff.compare_run["runId"] == FIRST_BAD


def test_opening_on_an_unknown_run_shows_a_message(sample_store, no_api_env):
    panel = ComparePanel(sample_store, base="run-999999")
    assert panel.run_diff is None
    assert "run-999999 is not in the store" in panel.message.value


# -- tabs ----------------------------------------------------------------------------------


def test_parameters_tab_highlights_the_changed_parameter(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    classes, cells = row_for(panel.tab_contents["Parameters"].value, "parameters.batchSize")
    assert "rr-row-changed" in classes and "rr-volatile" not in classes
    assert re.findall(r"rr-value\">([^<]*)<", cells) == ["500", "5000"]
    assert panel.tabs.titles[0] == "Parameters (2)"


def test_tabs_hold_context_output_history_and_assets(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    contents = panel.tab_contents
    assert row_for(contents["Context"].value, "context.host")[0].count("rr-volatile") == 1
    added_classes, added_cells = row_for(contents["Output"].value, "output.error")
    assert "rr-row-added" in added_classes and "timeout writing batch" in added_cells
    history = contents["Status transitions"].value
    assert len(rows(history, "rr-first-divergence")) == 1
    assert "Retry paths differ</strong> in step(s): load" in history
    assert [cells for _, cells in rows(history, "rr-retry-differs")][0].startswith("<td>load</td>")
    classes, cells = row_for(history, "status")
    assert "rr-row-changed" in classes and "SUCCEEDED" in cells and "FAILED" in cells
    assets = contents["Assets"].value
    assert 'data-asset="warehouse/orders"' in assets
    assert "rr-asset-removed" in assets and "payload.rows" in assets
    assert panel.tabs.titles[4] == "Assets (2)"


def test_values_are_escaped_everywhere(tmp_path, no_api_env):
    with runreplay.open(tmp_path / "runs.duckdb") as store:
        script = "<script>alert('x')</script>"
        store.load_records(
            [
                make_record("run-000001"),
                make_record(
                    "run-000002",
                    createdAt="2026-11-21T01:00:00Z",
                    parameters={"batchSize": script, "<img src=x onerror=alert(1)>": 1},
                    history=[
                        {
                            "seq": 0,
                            "at": "2026-11-21T01:00:00Z",
                            "status": "QUEUED",
                            "message": "<b>bold</b>",
                        }
                    ],  # fmt: skip
                ),
            ]
        )
        panel = ComparePanel(store, base="run-000001", compare="run-000002")
        parameters = panel.tab_contents["Parameters"].value
        assert "<script>" not in parameters and "<img" not in parameters
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in parameters
        assert "&lt;img src=x onerror=alert(1)&gt;" in parameters
        history = panel.tab_contents["Status transitions"].value
        assert "<b>bold</b>" not in history and "&lt;b&gt;bold&lt;/b&gt;" in history


def test_bidi_overrides_and_control_characters_are_shown_escaped(tmp_path, no_api_env):
    # U+202E reverses the rest of the line it is on; control characters are invalid HTML
    with runreplay.open(tmp_path / "runs.duckdb") as store:
        store.load_records(
            [
                make_record("run-000001"),
                make_record(
                    "run-000002",
                    createdAt="2026-11-21T01:00:00Z",
                    parameters={"batch\u202eSize": "a\x1b[2Jb"},
                    history=[
                        {
                            "seq": 0,
                            "at": "2026-11-21T01:00:00Z",
                            "status": "QUEUED",
                            "message": "queued\u202e by cron",
                        }
                    ],  # fmt: skip
                ),
            ]
        )
        panel = ComparePanel(store, base="run-000001", compare="run-000002")
        shown = (
            panel.tab_contents["Parameters"].value + panel.tab_contents["Status transitions"].value
        )
        assert "\u202e" not in shown and "\x1b" not in shown
        assert "batch\\u202eSize" in shown and "queued\\u202e by cron" in shown


def test_only_differences_toggle_shows_unchanged_fields(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    assert not rows(panel.tab_contents["Parameters"].value, "rr-row-same")
    panel.only_differences.value = False
    parameters = panel.tab_contents["Parameters"].value
    same = rows(parameters, "rr-row-same")
    assert same and any("parameters.source.table" in cells for _, cells in same)
    assert "rr-row-changed" in row_for(parameters, "parameters.batchSize")[0]
    panel.only_differences.value = True
    assert not rows(panel.tab_contents["Parameters"].value, "rr-row-same")


def test_volatile_fields_are_dimmed_and_hidden_by_only_what_matters(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    assert "rr-volatile" in row_for(panel.tab_contents["Context"].value, "context.traceId")[0]
    panel.only_what_matters.value = True
    context = panel.tab_contents["Context"].value
    assert "context.traceId" not in context and "context.host" not in context
    assert "2 volatile change(s) hidden" in context
    assert "parameters.batchSize" in panel.tab_contents["Parameters"].value
    assert "parameters.source.since" not in panel.tab_contents["Parameters"].value
    assert panel.tabs.titles[1] == "Context"


# -- stale banner --------------------------------------------------------------------------


def test_stale_banner_lists_the_base_runs_stale_assets(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    assert shown(panel.banner) and "rr-stale-banner" in panel.banner._dom_classes
    assert "warehouse/orders" in panel.stale_banner.value
    assert "warehouse/order_items" not in panel.stale_banner.value
    assert not shown(panel.confirm_row)


def test_no_stale_banner_when_the_base_runs_assets_are_fresh(sample_store, no_api_env):
    panel = ComparePanel(sample_store, base="run-000322", compare="run-000324")
    assert not shown(panel.banner)
    assert panel.stale_banner.value == ""


# -- replay --------------------------------------------------------------------------------


def test_replay_refused_as_stale_then_confirmed_shows_a_toast(sample_store, api, live_server):
    later = Later()
    panel = regression_panel(sample_store, api=api, schedule=later)
    panel.replay_button.click()
    assert panel.last_replay.status == "stale_assets"
    assert shown(panel.banner) and shown(panel.confirm_row)
    assert "refused to replay run-000345" in panel.stale_banner.value
    assert "warehouse/orders" in panel.stale_banner.value
    assert not shown(panel.toast)
    assert live_server.count("SELECT count(*) FROM replay_queue") == 0

    panel.confirm_button.click()
    new_run_id = panel.last_replay.run_id
    assert panel.last_replay.status == "enqueued" and new_run_id
    assert shown(panel.toast) and "rr-toast" in panel.toast._dom_classes
    assert f'<code class="rr-toast-run-id">{new_run_id}</code>' in panel.toast.value
    assert not shown(panel.confirm_row)
    audit = api.audit(LAST_GOOD)
    assert [(row["outcome"], row["allowStaleAssets"]) for row in audit] == [
        ("stale_assets", False),
        ("enqueued", True),
    ]
    assert audit[-1]["newRunId"] == new_run_id

    [(seconds, hide)] = later.calls
    assert seconds == panel.toast_seconds
    hide()
    assert not shown(panel.toast) and panel.toast.value == ""


def test_cancel_closes_the_confirm_and_enqueues_nothing(sample_store, api, live_server):
    panel = regression_panel(sample_store, api=api)
    panel.replay_button.click()
    panel.cancel_button.click()
    assert not shown(panel.confirm_row)
    assert shown(panel.banner)  # the stale assets are still stale
    assert live_server.count("SELECT count(*) FROM replay_queue") == 0


def test_toast_hides_by_itself(sample_store, api):
    panel = ComparePanel(sample_store, api=api, base="run-000322", compare="run-000324")
    panel.toast_seconds = 0.05
    panel.replay_button.click()  # ml-train's assets are fresh: enqueued at once
    assert panel.last_replay.status == "enqueued" and shown(panel.toast)
    deadline = time.monotonic() + 5
    while shown(panel.toast) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not shown(panel.toast)


def test_replay_button_is_disabled_while_the_request_is_in_flight(sample_store, api):
    panel = regression_panel(sample_store, api=api)
    seen = []
    replay = api.replay

    def watched(*args, **kwargs):
        seen.append((panel.replay_button.disabled, panel.replay_button.description))
        return replay(*args, **kwargs)

    api.replay = watched
    panel.replay_button.click()
    panel.confirm_button.click()
    assert seen == [(True, "Replaying…"), (True, "Replaying…")]
    assert not panel.replay_button.disabled
    assert panel.replay_button.description == "Replay with prior inputs"


def test_api_error_shows_its_message_in_the_panel(sample_store, live_server):
    with CoreAPI(live_server.url, "not-a-known-token", retries=0) as wrong:
        panel = regression_panel(sample_store, api=wrong)
        panel.replay_button.click()
    assert panel.last_replay is None
    assert "rr-error" in panel.message.value
    assert "Replay of run-000345 failed" in panel.message.value
    assert "not known to this server" in panel.message.value
    assert not panel.replay_button.disabled
    assert "not-a-known-token" not in panel.message.value


def test_unknown_run_on_the_server_shows_the_servers_message(tmp_path, api):
    with runreplay.open(tmp_path / "runs.duckdb") as store:
        store.load_records(
            [make_record("run-900001"),
             make_record("run-900002", createdAt="2026-11-21T01:00:00Z")]
        )  # fmt: skip
        panel = ComparePanel(store, api=api, base="run-900001", compare="run-900002")
        panel.replay_button.click()
    assert "rr-error" in panel.message.value and "run-900001" in panel.message.value
    assert "404" in panel.message.value


def test_without_an_api_the_replay_button_is_disabled_and_says_why(sample_store, no_api_env):
    panel = regression_panel(sample_store)
    assert panel.api is None
    assert panel.replay_button.disabled
    assert "RUNREPLAY_API_URL" in panel.replay_button.tooltip
    assert "RUNREPLAY_API_URL" in panel.replay_reason.value
    assert panel.replay() is None
    assert NO_API_REASON in panel.message.value


def test_api_comes_from_the_environment(sample_store, live_server, monkeypatch):
    monkeypatch.setenv("RUNREPLAY_API_URL", live_server.url)
    monkeypatch.setenv("RUNREPLAY_TOKEN", TOKENS["bob"])
    panel = regression_panel(sample_store)
    assert panel.api.base_url == live_server.url
    assert not panel.replay_button.disabled
    panel.replay_button.click()
    assert panel.last_replay.status == "stale_assets"
    assert panel.api.audit(LAST_GOOD)[-1]["actor"] == "bob"


# -- export --------------------------------------------------------------------------------


def test_export_writes_the_report_and_links_it_relative_to_the_notebook(
    sample_store, tmp_path, monkeypatch, no_api_env
):
    notebook_dir = tmp_path / "notebooks"
    notebook_dir.mkdir()
    monkeypatch.chdir(notebook_dir)
    panel = regression_panel(sample_store, export_dir="reports")
    panel.export_button.click()
    report = notebook_dir / "reports" / "runreplay-diff-run-000345-run-000347.html"
    assert panel.exported.resolve() == report
    text = report.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>") and "parameters.batchSize" in text
    assert 'href="reports/runreplay-diff-run-000345-run-000347.html"' in panel.export_link.value
    assert str(tmp_path) not in panel.export_link.value
    assert "rr-export-link" in panel.export_link.value


def test_export_leaves_volatile_fields_out_when_only_what_matters(
    sample_store, tmp_path, no_api_env
):
    panel = regression_panel(sample_store, export_dir=tmp_path)
    panel.only_what_matters.value = True
    text = panel.export().read_text("utf-8")
    assert "parameters.batchSize" in text and "context.traceId" not in text


# -- QA defects ----------------------------------------------------------------------------


def test_base_of_a_workflow_loaded_after_the_panel_was_made_is_shown_and_replayed(tmp_path, api):
    records = [json.loads(line) for line in SAMPLE.read_text("utf-8").splitlines()]
    with runreplay.open(tmp_path / "runs.duckdb") as store:
        store.load_records([r for r in records if r["workflowId"] == "nightly-etl"])
        panel = regression_panel(store, api=api, schedule=Later())
        store.load_records([r for r in records if r["workflowId"] == "hourly-sync"])
        panel.base = "run-000001"
        assert (panel.workflow, panel.base) == ("hourly-sync", "run-000001")
        assert "hourly-sync" in panel.workflow_picker.options
        assert panel.base_picker.value == "run-000001"
        assert panel.run_diff.base_run["runId"] == "run-000001"
        assert "<code>run-000001</code>" in panel.summary.value
        panel.replay_button.click()
    assert [row["runId"] for row in api.audit()] == ["run-000001"]


def test_unknown_run_id_says_to_check_it_and_leaves_no_stale_state(sample_store, unused_api):
    panel = regression_panel(sample_store, api=unused_api)
    assert panel.tabs.titles[0] == "Parameters (2)" and not panel.replay_button.disabled
    panel.base = "run-00345"  # a typo
    assert "Run run-00345 is not in the store: check the id" in panel.message.value
    assert "removed" not in panel.message.value
    assert panel.tabs.titles == TAB_TITLES
    assert "choose two runs" in panel.tab_contents["Parameters"].value
    assert panel.replay_button.disabled and panel.export_button.disabled
    assert panel.base is None and panel.base_picker.value is None
    assert panel.replay() is None and "Choose two runs first" in panel.message.value
    panel.base_picker.value = LAST_GOOD  # the user clicks the run again
    assert panel.run_diff.base_run["runId"] == LAST_GOOD
    assert panel.message.value == "" and not panel.replay_button.disabled


ODD_ANSWERS = {
    "409 without staleAssets": (
        409,
        "application/json",
        json.dumps({"error": {"code": "conflict", "message": "a replay is already running"}}),
    ),
    "202 not JSON": (202, "text/plain", "Accepted"),
    "202 without run": (202, "application/json", json.dumps({"status": "enqueued"})),
}


@pytest.mark.parametrize("answer", ODD_ANSWERS.values(), ids=ODD_ANSWERS.keys())
def test_an_answer_outside_the_contract_ends_as_a_message(sample_store, odd_server, answer):
    odd_server.answer = answer
    with CoreAPI(odd_server.url, "token", retries=0) as odd:
        panel = regression_panel(sample_store, api=odd, schedule=Later())
        panel.replay_button.click()
    assert "rr-error" in panel.message.value
    assert "Replay of run-000345 failed" in panel.message.value
    assert panel.last_replay is None
    assert not shown(panel.confirm_row) and not shown(panel.toast)
    assert not panel.replay_button.disabled


def test_a_stale_refusal_without_optional_keys_still_opens_the_confirm(sample_store, odd_server):
    body = {"status": "stale_assets", "staleAssets": [{"assetKey": "warehouse/orders"}]}
    odd_server.answer = (409, "application/json", json.dumps(body))
    with CoreAPI(odd_server.url, "token", retries=0) as odd:
        panel = regression_panel(sample_store, api=odd)
        panel.replay_button.click()
    assert panel.last_replay.status == "stale_assets"
    assert shown(panel.confirm_row)
    assert "refused to replay run-000345: 1 of its assets is stale" in panel.stale_banner.value
    assert "<code>warehouse/orders</code>: stale (last updated never" in panel.stale_banner.value


def test_a_malformed_api_url_disables_replay_and_says_why(sample_store, monkeypatch):
    monkeypatch.setenv("RUNREPLAY_API_URL", "localhost:8765")
    panel = regression_panel(sample_store)
    assert panel.api is None and panel.replay_button.disabled
    assert "RUNREPLAY_API_URL is wrong" in panel.replay_reason.value
    assert "localhost:8765" in panel.replay_button.tooltip
    assert panel.run_diff is not None
    assert panel.replay() is None and "RUNREPLAY_API_URL is wrong" in panel.message.value


def test_unknown_workflow_is_a_message_not_an_exception(sample_store, no_api_env):
    panel = ComparePanel(sample_store, workflow="nightly_etl")
    assert "no workflow &#39;nightly_etl&#39; in the store; showing nightly-etl" in (
        panel.message.value
    )
    assert panel.workflow == "nightly-etl" and panel.run_diff is not None
    panel = regression_panel(sample_store)
    panel.workflow = "nightly_etl"
    assert "no workflow &#39;nightly_etl&#39;" in panel.message.value
    assert (panel.workflow, panel.base, panel.compare) == ("nightly-etl", LAST_GOOD, FIRST_BAD)


def test_a_stale_refusal_stays_when_a_toggle_redraws_the_tabs(sample_store, api):
    panel = regression_panel(sample_store, api=api)
    panel.replay_button.click()
    assert shown(panel.confirm_row)
    panel.only_differences.value = False
    panel.only_what_matters.value = True
    assert shown(panel.confirm_row)
    assert "refused to replay run-000345" in panel.stale_banner.value
    panel.cancel_button.click()
    assert not shown(panel.confirm_row)
    assert "refused" not in panel.stale_banner.value


def test_export_shows_only_its_last_outcome(sample_store, tmp_path, no_api_env):
    panel = regression_panel(sample_store, export_dir=tmp_path / "reports")
    assert panel.export() is not None and "rr-export-link" in panel.export_link.value
    (tmp_path / "a-file").write_text("not a folder")
    assert panel.export(tmp_path / "a-file" / "report.html") is None
    assert "Cannot write the report" in panel.export_link.value
    assert "rr-export-link" not in panel.export_link.value
    assert panel.export() is not None
    assert "Cannot write" not in panel.export_link.value
    assert "rr-export-link" in panel.export_link.value


def test_opening_on_runs_of_two_workflows_says_which_compare_run_is_shown(sample_store, no_api_env):
    panel = ComparePanel(sample_store, base=LAST_GOOD, compare="run-000001")  # hourly-sync
    assert (panel.workflow, panel.base) == ("nightly-etl", LAST_GOOD)
    assert panel.compare not in (None, "run-000001")
    message = panel.message.value
    assert "run-000001 is a run of hourly-sync, not of nightly-etl" in message
    assert f"{panel.compare} is shown instead" in message
    panel.refresh()  # the pair on show is kept
    assert panel.run_diff.compare_run["runId"] == panel.compare


def test_opening_on_a_compare_run_alone_uses_its_workflow(sample_store, no_api_env):
    panel = ComparePanel(sample_store, compare=FIRST_BAD)
    assert (panel.workflow, panel.base, panel.compare) == ("nightly-etl", LAST_GOOD, FIRST_BAD)
    assert panel.run_diff.compare_run["runId"] == FIRST_BAD

"""DriftPanel driven from plain Python: pickers, ranked table, chart, bisect, ComparePanel."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

import runreplay
from runreplay.client import CoreAPI
from runreplay.errors import RunReplayError
from runreplay.widgets import ComparePanel, DriftPanel
from tests.conftest import SAMPLE, make_record

LAST_GOOD, FIRST_BAD = "run-000345", "run-000347"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sample_store():
    """The committed sample in memory (the panel only reads)."""
    store = runreplay.open()
    store.load(SAMPLE, progress=False)
    yield store
    store.close()


@pytest.fixture
def counted(sample_store, monkeypatch):
    """The sample store, counting calls of Store.drift."""
    calls = []
    drift = sample_store.drift

    def counting(*args, **kwargs):
        calls.append((args, kwargs))
        return drift(*args, **kwargs)

    monkeypatch.setattr(sample_store, "drift", counting)
    return sample_store, calls


def table_paths(panel: DriftPanel) -> list[str]:
    """The drift table's rows, in the order shown."""
    return re.findall(r'<tr data-path="([^"]+)"', panel.table.value)


def chart(panel: DriftPanel) -> bytes:
    return bytes(panel.chart.value)


def message(panel: DriftPanel) -> str:
    return panel.message.value


def test_opens_on_the_workflow_with_most_failures_and_ranks_the_planted_cause(sample_store):
    panel = DriftPanel(sample_store)
    assert set(panel.workflow_picker.options) == {"nightly-etl", "hourly-sync", "ml-train"}
    assert panel.workflow == "nightly-etl"
    assert table_paths(panel)[0] == "parameters.batchSize"
    assert panel.report.top_suspect == "parameters.batchSize"
    assert panel.field == "parameters.batchSize"  # the chart starts on the top suspect
    assert chart(panel).startswith(PNG)
    assert "nightly-etl: 122 runs, 49 failing" in panel.table.value
    assert message(panel) == ""


def test_changing_the_workflow_recomputes_once(counted):
    store, calls = counted
    panel = DriftPanel(store, workflow="nightly-etl")
    assert len(calls) == 1
    panel.workflow = "ml-train"
    assert len(calls) == 2 and panel.report.workflow_id == "ml-train"
    assert "parameters.batchSize" not in table_paths(panel)
    assert panel.field in panel.report.fields["path"].tolist()


def test_choosing_a_field_redraws_the_chart_without_recomputing(counted):
    store, calls = counted
    panel = DriftPanel(store, workflow="nightly-etl")
    first = chart(panel)
    panel.field = "output.rowsWritten"
    assert chart(panel).startswith(PNG) and chart(panel) != first
    panel.show_volatile.value = True
    assert len(calls) == 1
    assert "context.traceId" in table_paths(panel)
    panel.show_volatile.value = False
    assert "context.traceId" not in table_paths(panel)


def test_time_window_days_are_inclusive(sample_store):
    panel = DriftPanel(sample_store, workflow="ml-train", since="2026-10-01")
    assert panel.since == datetime(2026, 10, 1, tzinfo=UTC) and panel.until is None
    assert panel.report.runs == 39  # ml-train runs on or after October 1st in the sample
    panel.until_picker.value = date(2026, 10, 1)
    assert panel.until == datetime(2026, 10, 2, tzinfo=UTC)
    assert panel.report.runs == 1
    panel.since_picker.value = None
    panel.until_picker.value = None
    assert panel.report.runs == 100


def test_workflow_window_and_api_are_the_positional_arguments(sample_store):
    with CoreAPI("http://127.0.0.1:9", "token", retries=0) as api:  # never called here
        panel = DriftPanel(sample_store, "nightly-etl", "2026-10-08", "2026-10-14", api)
        assert panel.workflow == "nightly-etl"
        assert (panel.report.runs, panel.report.failed) == (8, 4)  # Oct 8th to 14th inclusive
        assert panel.report.top_suspect == "parameters.batchSize"
        compare = panel.open_compare()
    assert compare.api is api and not compare.replay_button.disabled


def test_failing_predicate_finds_the_image_change(sample_store):
    panel = DriftPanel(sample_store, workflow="ml-train")
    assert panel.report.failed == 0
    panel.failing_box.value = "output.metrics.auc < 0.9"
    assert panel.report.failed == 40
    assert panel.report.top_suspect == "context.image" and panel.field == "context.image"
    found = panel.bisect()
    assert (found.good_run_id, found.bad_run_id) == ("run-000322", "run-000324")


def test_bisect_then_open_the_pair_in_a_compare_panel(sample_store):
    panel = DriftPanel(sample_store, workflow="nightly-etl")
    assert panel.open_compare_button.disabled
    panel.bisect_button.click()
    assert (panel.found.good_run_id, panel.found.bad_run_id) == (LAST_GOOD, FIRST_BAD)
    suspects = re.findall(r'<tr data-path="([^"]+)"', panel.bisect_result.value)
    assert suspects[0] == "parameters.batchSize"
    assert LAST_GOOD in panel.bisect_result.value and FIRST_BAD in panel.bisect_result.value
    assert not panel.open_compare_button.disabled
    panel.open_compare_button.click()
    compare = panel.compare_panel
    assert isinstance(compare, ComparePanel)
    assert (compare.base, compare.compare) == (LAST_GOOD, FIRST_BAD)
    assert panel.compare_box.children == (compare.widget,)
    assert "parameters.batchSize" in {row["path"] for row in compare.run_diff.field_changes}
    panel.workflow = "ml-train"  # a new choice clears the old pair
    assert panel.found is None and panel.compare_box.children == ()
    assert panel.open_compare_button.disabled


def test_bad_predicate_shows_a_banner_naming_it(sample_store):
    panel = DriftPanel(sample_store, workflow="nightly-etl")
    panel.failing_box.value = "output.metrics.auc <<< 0.9"
    assert 'class="rr-error"' in message(panel)
    assert "output.metrics.auc &lt;&lt;&lt; 0.9" in message(panel)
    assert panel.report is None and panel.table.value == "" and chart(panel) == b""
    assert panel.bisect() is None and "cannot use the predicate" in message(panel)
    panel.failing_box.value = ""
    assert message(panel) == "" and panel.report.failed == 49


def test_bisect_without_failing_runs_says_so(sample_store):
    panel = DriftPanel(sample_store, workflow="ml-train")
    assert panel.bisect() is None
    assert "no run of &#39;ml-train&#39; is failing" in message(panel)
    assert panel.open_compare_button.disabled and panel.open_compare() is None


def test_unknown_workflow_is_a_message_not_an_exception(sample_store):
    panel = DriftPanel(sample_store, workflow="nope")
    assert "no workflow &#39;nope&#39;" in message(panel) and panel.workflow == "nightly-etl"
    assert panel.report is not None
    panel.workflow = "also-nope"
    assert "also-nope" in message(panel) and panel.workflow == "nightly-etl"


def test_empty_store_says_to_load_runs():
    with runreplay.open() as empty:
        panel = DriftPanel(empty)
    assert "no runs yet" in message(panel) and panel.report is None
    assert panel.workflow_picker.options == ()


def test_values_are_shown_as_text(tmp_path):
    evil = "<script>alert(1)</script>"
    records = [
        make_record(
            f"run-{index:06d}",
            createdAt=f"2026-11-{index + 1:02d}T01:00:00Z",
            status="FAILED" if index >= 3 else "SUCCEEDED",
            parameters={"batchSize": 500, "mode": evil if index >= 3 else "safe"},
        )
        for index in range(6)
    ]
    with runreplay.open() as store:
        store.load_records(records)
        panel = DriftPanel(store)
        found = panel.bisect()
    assert panel.report.top_suspect == "parameters.mode" and found.top_suspect == "parameters.mode"
    for html in (panel.table.value, panel.bisect_result.value):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html


def test_bisect_searches_the_chosen_days(sample_store):
    """From the day of the first bad run on, every nightly-etl run in the window fails:
    bisect says the window must start earlier instead of reaching outside it."""
    panel = DriftPanel(sample_store, workflow="nightly-etl", since="2026-10-12")
    assert panel.bisect() is None
    assert "created since 2026-10-12T00:00:00Z" in message(panel)
    assert "start the window earlier" in message(panel)
    panel.since_picker.value = date(2026, 10, 11)
    assert (panel.bisect().good_run_id, panel.found.bad_run_id) == (LAST_GOOD, FIRST_BAD)


# -- QA defects ----------------------------------------------------------------------------


def test_open_compare_with_a_malformed_api_url_shows_the_pair_without_replay(
    sample_store, monkeypatch
):
    monkeypatch.setenv("RUNREPLAY_API_URL", "localhost:8765")
    panel = DriftPanel(sample_store, "nightly-etl")
    panel.bisect_button.click()
    panel.open_compare_button.click()
    compare = panel.compare_panel
    assert (compare.base, compare.compare) == (LAST_GOOD, FIRST_BAD)
    assert panel.compare_box.children == (compare.widget,)
    assert compare.replay_button.disabled
    assert "RUNREPLAY_API_URL is wrong" in compare.replay_reason.value


def test_empty_store_disables_bisect_and_compare():
    with runreplay.open() as empty:
        panel = DriftPanel(empty)
        assert panel.bisect_button.disabled and panel.open_compare_button.disabled
        with pytest.raises(RunReplayError, match="holds no runs yet"):
            panel.bisect()
        with pytest.raises(RunReplayError, match="holds no runs yet"):
            panel.open_compare()
        empty.load_records([make_record("run-000001")])
        panel.refresh()
        assert panel.workflow == "nightly-etl" and not panel.bisect_button.disabled


def test_the_last_possible_to_day_means_no_end(sample_store):
    panel = DriftPanel(sample_store, "nightly-etl")
    panel.until_picker.value = date(9999, 12, 31)
    assert panel.until is None
    assert message(panel) == "" and panel.report.runs == 122


def test_a_field_typo_message_goes_when_a_valid_field_is_chosen(sample_store):
    panel = DriftPanel(sample_store, "nightly-etl")
    panel.field = "parameters.batchsize"
    assert "&#39;parameters.batchsize&#39; is not among" in message(panel)
    panel.field = "context.host"
    assert panel.field == "context.host" and message(panel) == ""


def test_a_reversed_window_names_the_days_chosen(sample_store):
    panel = DriftPanel(sample_store, "nightly-etl")
    panel.since_picker.value = date(2026, 10, 2)
    panel.until_picker.value = date(2026, 10, 1)
    assert "From (2026-10-02) is after To (2026-10-01)" in message(panel)
    assert "2026-10-02T" not in message(panel) and panel.report is None
    assert panel.bisect() is None and "is after To (2026-10-01)" in message(panel)

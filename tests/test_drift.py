"""drift / DriftReport / drift_summary / bisect: change points, volatility, association, sample stories."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import html5lib
import matplotlib
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runreplay
from runreplay.diff import RunDiff, volatile_paths
from runreplay.drift import (
    CHANGE_COLUMNS,
    FIELD_COLUMNS,
    SUMMARY_COLUMNS,
    SUSPECT_COLUMNS,
    TIMELINE_COLUMNS,
    bisect,
    drift,
    drift_summary,
)
from runreplay.errors import InvalidPredicate, RunNotFound, RunReplayError
from runreplay.model import dumps
from runreplay.report import (
    render_bisect,
    render_drift,
    render_drift_summary,
)
from tests.conftest import SAMPLE

matplotlib.use("Agg")

START = datetime(2026, 1, 1, tzinfo=UTC)
FLIP_AT = 25  # etl: batchSize 500 -> 5000 at this run index, and the runs fail from it on
IMAGE_AT = 18  # train: context.image v1 -> v2 at this run index, and the AUC drops


def run_id(index: int) -> str:
    return f"run-{index + 1:04d}"


def record(
    index: int,
    workflow_id: str,
    status: str = "SUCCEEDED",
    *,
    parameters: dict | None = None,
    context: dict | None = None,
    output: dict | None = None,
    hours: float | None = None,
) -> dict:
    """A minimal valid run record, created `hours` (default: index) hours after START."""
    created = START + timedelta(hours=index if hours is None else hours)
    return {
        "runId": run_id(index),
        "workflowId": workflow_id,
        "status": status,
        "createdAt": created.isoformat().replace("+00:00", "Z"),
        "parameters": parameters or {},
        "context": context or {},
        "output": output or {},
    }


def etl_history(runs: int = 40, offset: int = 0) -> list[dict]:
    """batchSize flips at FLIP_AT and every run from it fails; host, traceId and the
    per-day parameter change in every run (volatile); mode never changes."""
    records = []
    for index in range(runs):
        bad = index >= FLIP_AT
        output = {"rows": 1000 + 37 * index}
        if bad:
            output["error"] = "timeout writing batch"
        records.append(
            record(
                offset + index,
                "etl",
                "FAILED" if bad else "SUCCEEDED",
                parameters={
                    "batchSize": 5000 if bad else 500,
                    "mode": "fast",
                    "day": f"2026-01-{index + 1:02d}",
                },
                context={"host": f"worker-{index % 5}", "traceId": f"{index * 7919:08x}"},
                output=output,
            )
        )
    return records


def train_history(runs: int = 30, offset: int = 0) -> list[dict]:
    """context.image flips at IMAGE_AT and output.metrics.auc drops from ~0.91 to ~0.86;
    every run succeeds; traceId is noise."""
    records = []
    for index in range(runs):
        new = index >= IMAGE_AT
        auc = (0.86 if new else 0.91) + ((index * 37) % 11 - 5) / 1000
        records.append(
            record(
                offset + index,
                "train",
                parameters={"depth": 6},
                context={"image": "v2" if new else "v1", "traceId": f"t{index}"},
                output={"metrics": {"auc": round(auc, 4)}},
                hours=offset + index + 0.5,
            )
        )
    return records


@pytest.fixture
def planted(tmp_path):
    """A store with the etl history (40 runs) and the train history (30 runs)."""
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(etl_history() + train_history(offset=40))
        yield store


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    with runreplay.open(tmp_path_factory.mktemp("sample") / "s.duckdb") as store:
        store.load(SAMPLE)
        yield store


def field(report, path: str) -> pd.Series:
    rows = report.fields[report.fields["path"] == path]
    assert len(rows) == 1, f"{path} not in report fields"
    return rows.iloc[0]


# -- change points -------------------------------------------------------------------


def test_drift_finds_the_flip_at_its_exact_run(planted):
    report = drift(planted, "etl")
    changes = report.changes("parameters.batchSize")
    assert list(changes.columns) == list(CHANGE_COLUMNS)
    assert changes[["run_id", "previous_run_id", "change", "before", "after"]].values.tolist() == [
        [run_id(FLIP_AT), run_id(FLIP_AT - 1), "changed", "500", "5000"]
    ]
    row = field(report, "parameters.batchSize")
    assert row["changes"] == 1
    assert row["first_change_run_id"] == row["last_change_run_id"] == run_id(FLIP_AT)
    assert row["first_change_at"] == pd.Timestamp(START + timedelta(hours=FLIP_AT))
    assert row["distinct_values"] == 2
    assert not row["volatile"]


def test_drift_counts_nothing_for_a_constant_path(planted):
    row = field(drift(planted, "etl"), "parameters.mode")
    assert row["changes"] == 0
    assert row["distinct_values"] == 1
    assert pd.isna(row["first_change_at"]) and row["first_change_run_id"] is None
    assert pd.isna(row["association"])


def test_drift_flags_noise_that_changes_every_run_as_volatile(planted):
    report = drift(planted, "etl")
    volatile = set(report.fields.loc[report.fields["volatile"], "path"])
    assert volatile == {"context.host", "context.traceId", "parameters.day", "output.rows"}
    assert field(report, "context.traceId")["changes"] == 39
    # volatile paths are ranked after every drifted path and carry no association
    order = report.fields["path"].tolist()
    assert order.index("parameters.batchSize") < min(order.index(path) for path in volatile)
    assert report.fields.loc[report.fields["volatile"], "association"].isna().all()


def test_drift_volatile_flags_agree_with_diff_volatile_paths(sample_store):
    for workflow_id in ("nightly-etl", "ml-train", "hourly-sync"):
        report = drift(sample_store, workflow_id)
        ours = set(report.fields.loc[report.fields["volatile"], "path"])
        theirs = volatile_paths(sample_store, workflow_id)
        assert ours == {path for path in theirs if path.split(".")[0] in report.sections}
        assert ours  # the sample has volatile noise in every workflow


def test_drift_reports_added_and_removed_paths_as_change_points(tmp_path):
    outputs = [{}, {"error": "x"}, {"error": "x"}, {}, {}, {"error": "y"}]
    records = [record(index, "w", output=value) for index, value in enumerate(outputs)]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        report = drift(store, "w")
        changes = report.changes("output.error")
    assert changes[["run_id", "change", "before", "after"]].values.tolist() == [
        [run_id(1), "added", None, '"x"'],
        [run_id(3), "removed", '"x"', None],
        [run_id(5), "added", None, '"y"'],
    ]
    row = field(report, "output.error")
    assert row["changes"] == 3
    assert row["missing_share"] == pytest.approx(3 / 6)
    assert row["first_change_run_id"] == run_id(1) and row["last_change_run_id"] == run_id(5)


def test_drift_tells_type_changes_from_value_changes(tmp_path):
    values = [1, 1, 1.0, "1", "1", True, None]
    records = [record(index, "w", parameters={"v": value}) for index, value in enumerate(values)]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        changes = drift(store, "w").changes("parameters.v")
    assert changes[["run_id", "change", "before", "after"]].values.tolist() == [
        [run_id(2), "type_changed", "1", "1.0"],
        [run_id(3), "type_changed", "1.0", '"1"'],
        [run_id(5), "type_changed", '"1"', "true"],
        [run_id(6), "type_changed", "true", "null"],
    ]


def test_drift_orders_runs_by_created_at_then_run_id(tmp_path):
    # loaded out of order, two runs share a createdAt: run-0002 sorts before run-0003
    records = [
        record(2, "w", parameters={"v": "c"}, hours=1),
        record(0, "w", parameters={"v": "a"}, hours=0),
        record(1, "w", parameters={"v": "b"}, hours=1),
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        changes = drift(store, "w").changes("parameters.v")
    assert changes[["run_id", "previous_run_id", "before", "after"]].values.tolist() == [
        [run_id(1), run_id(0), '"a"', '"b"'],
        [run_id(2), run_id(1), '"b"', '"c"'],
    ]


def test_drift_window_limits_the_runs_analysed(planted):
    since = START + timedelta(hours=FLIP_AT)
    report = drift(planted, "etl", since=since)
    assert report.runs == 40 - FLIP_AT
    assert report.failed == 40 - FLIP_AT
    assert field(report, "parameters.batchSize")["changes"] == 0
    until_report = drift(planted, "etl", until=since)
    assert until_report.runs == FLIP_AT and until_report.failed == 0
    with pytest.raises(RunReplayError, match="must be before until"):
        drift(planted, "etl", since=since, until=START)


def test_drift_sections_and_ignore_choose_the_paths(planted):
    report = drift(planted, "etl", sections=("parameters",), ignore=["parameters.day"])
    assert set(report.fields["path"]) == {"parameters.batchSize", "parameters.mode"}
    assert set(report.fields["section"]) == {"parameters"}
    with pytest.raises(RunReplayError, match="sections"):
        drift(planted, "etl", sections=("outputs",))


def test_changes_without_a_path_lists_every_non_volatile_change(planted):
    report = drift(planted, "etl")
    changes = report.changes()
    assert set(changes["path"]) == {"parameters.batchSize", "output.error"}
    assert (changes["run_id"] == run_id(FLIP_AT)).all()
    everything = report.changes(volatile=True)
    assert set(everything["path"]) > {"context.traceId", "parameters.batchSize"}
    assert everything["volatile"].sum() == len(everything) - 2


def test_changes_of_an_unknown_path_names_it_and_suggests(planted):
    with pytest.raises(
        RunReplayError, match=r"'parameters\.batchsize'.*did you mean 'parameters\.batchSize'"
    ):
        drift(planted, "etl").changes("parameters.batchsize")


def test_drift_of_an_unknown_workflow_says_which_exist(planted):
    with pytest.raises(RunReplayError, match="'etl2' has no runs.*did you mean 'etl'"):
        drift(planted, "etl2")


@pytest.mark.parametrize("workflow_id", [None, 5, ["etl"]])
def test_drift_and_bisect_of_a_workflow_id_that_is_not_text_say_so(planted, workflow_id):
    for analyse in (drift, bisect):
        with pytest.raises(RunReplayError, match=r"workflow id must be text such as 'nightly-etl'"):
            analyse(planted, workflow_id)


def test_drift_and_bisect_take_none_for_ignore_and_sections_as_the_defaults(planted):
    report = drift(planted, "etl", ignore=None, sections=None)
    assert report.sections == ("parameters", "context", "output") and report.ignore == ()
    found = bisect(planted, "etl", ignore=None, sections=None)
    assert found.sections == ("parameters", "context")
    assert found.top_suspect == "parameters.batchSize"


# -- association -------------------------------------------------------------------


def test_drift_association_counts_failures_with_and_without_the_value(planted):
    row = field(drift(planted, "etl"), "parameters.batchSize")
    assert row["associated_value"] == "5000"
    assert (row["runs_with"], row["failed_with"]) == (40 - FLIP_AT, 40 - FLIP_AT)
    assert row["failure_rate_with"] == 1.0 and row["failure_rate_without"] == 0.0
    assert row["risk_difference"] == 1.0 and row["association"] == pytest.approx(1.0)


def test_drift_association_of_an_absent_path_is_about_runs_without_it(tmp_path):
    # output.ok is missing exactly in the failing runs: absence is what goes with failing
    records = [
        record(index, "w", "FAILED" if index % 3 == 0 else "SUCCEEDED",
               output={} if index % 3 == 0 else {"ok": True})
        for index in range(12)
    ]  # fmt: skip
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        row = field(drift(store, "w"), "output.ok")
    assert row["associated_value"] is None
    assert (row["runs_with"], row["failed_with"]) == (4, 4)
    assert row["association"] == pytest.approx(1.0)


def test_drift_association_is_phi_of_the_two_by_two_table(tmp_path):
    # value "b" in 6 runs, 3 of them failing; 2 more failures among the other 6 runs
    statuses = ["FAILED", "FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED",
                "FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]  # fmt: skip
    records = [
        record(index, "w", status, parameters={"v": "b" if index < 6 else "a"})
        for index, status in enumerate(statuses)
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        row = field(drift(store, "w"), "parameters.v")
    a, b, c, d = 3, 3, 2, 4
    phi = (a * d - b * c) / ((a + b) * (c + d) * (a + c) * (b + d)) ** 0.5
    assert row["associated_value"] == '"b"'
    assert row["association"] == pytest.approx(phi)
    assert row["risk_difference"] == pytest.approx(3 / 6 - 2 / 6)


def test_drift_with_an_output_predicate_ties_the_metric_drop_to_the_image(planted):
    report = drift(planted, "train", failing="output.metrics.auc < 0.9")
    assert report.failed == 30 - IMAGE_AT
    image = field(report, "context.image")
    assert image["first_change_run_id"] == run_id(40 + IMAGE_AT)
    assert image["associated_value"] == '"v2"' and image["association"] == pytest.approx(1.0)
    assert field(report, "output.metrics.auc")["volatile"]
    assert report.top_suspect == "context.image"
    assert report.fields["path"].iloc[0] == "context.image"


def test_fields_frame_has_the_documented_columns_and_dtypes(planted):
    fields = drift(planted, "etl").fields
    assert list(fields.columns) == list(FIELD_COLUMNS)
    assert fields["volatile"].dtype == bool
    assert fields["changes"].dtype == "int64"
    assert str(fields["first_change_at"].dtype) == "datetime64[us, UTC]"


# -- timeline and plot -----------------------------------------------------------------


def test_timeline_has_one_row_per_run_with_typed_values(planted):
    report = drift(planted, "train", failing="output.metrics.auc < 0.9")
    timeline = report.timeline("output.metrics.auc")
    assert list(timeline.columns) == list(TIMELINE_COLUMNS)
    assert len(timeline) == 30 and timeline["present"].all()
    assert timeline["value"].dtype == float
    assert timeline["run_id"].tolist() == [run_id(40 + index) for index in range(30)]
    assert timeline["failing"].tolist() == [index >= IMAGE_AT for index in range(30)]
    image = report.timeline("context.image")
    assert image["value"].tolist() == ["v1"] * IMAGE_AT + ["v2"] * (30 - IMAGE_AT)


def test_timeline_marks_runs_without_the_path(planted):
    timeline = drift(planted, "etl").timeline("output.error")
    assert timeline["present"].tolist() == [index >= FLIP_AT for index in range(40)]
    assert timeline["value"].iloc[0] is None
    assert timeline["value"].iloc[-1] == "timeout writing batch"


@pytest.mark.parametrize("path", ["output.metrics.auc", "context.image"])
def test_plot_returns_a_figure_and_writes_png_and_svg(planted, tmp_path, path):
    from matplotlib.figure import Figure

    report = drift(planted, "train", failing="output.metrics.auc < 0.9")
    figure = report.plot(path, to=tmp_path / "chart.png")
    assert isinstance(figure, Figure)
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report.plot(path, to=tmp_path / "chart.svg")
    assert "<svg" in (tmp_path / "chart.svg").read_text()
    axis = figure.axes[0]
    assert path in axis.get_title(loc="left")
    assert len(axis.collections[0].get_offsets()) == 30  # one point per run


# -- bisect --------------------------------------------------------------------------


def test_bisect_finds_the_pair_and_ranks_the_planted_cause_first(planted):
    found = bisect(planted, "etl")
    assert (found.good_run_id, found.bad_run_id) == (run_id(FLIP_AT - 1), run_id(FLIP_AT))
    assert found.runs_between == 0
    suspects = found.suspects
    assert list(suspects.columns) == list(SUSPECT_COLUMNS)
    top = suspects.iloc[0]
    assert top["path"] == "parameters.batchSize" and found.top_suspect == top["path"]
    assert (top["before"], top["after"], top["change"]) == ("500", "5000", "changed")
    assert (top["runs_with"], top["failed_with"], top["runs_without"], top["failed_without"]) == (
        15, 15, 25, 0,
    )  # fmt: skip
    assert top["association"] == pytest.approx(1.0) and not top["volatile"]
    assert top["first_seen_run_id"] == run_id(FLIP_AT)
    # the noise that also changed between the pair ranks below, flagged volatile
    rest = suspects.iloc[1:]
    assert set(rest["path"]) == {"parameters.day", "context.host", "context.traceId"}
    assert rest["volatile"].all()
    assert suspects["rank"].tolist() == [1, 2, 3, 4]


def test_bisect_names_no_suspect_when_only_volatile_paths_differ(sample_store):
    # hourly-sync fails now and then with no input change: only its trace id and host differ
    found = sample_store.bisect("hourly-sync")
    assert not found.suspects.empty and found.suspects["volatile"].all()
    assert found.top_suspect is None
    assert "only volatile paths differ between them (" in found.summary
    assert "no suspect" in found.summary and "association" not in found.summary
    assert found.to_dict()["topSuspect"] is None


def test_bisect_returns_the_run_diff_of_the_pair(planted):
    found = bisect(planted, "etl")
    assert isinstance(found.run_diff, RunDiff)
    assert found.run_diff.base_run["runId"] == run_id(FLIP_AT - 1)
    assert found.run_diff.compare_run["runId"] == run_id(FLIP_AT)
    changed = {row["path"] for row in found.run_diff.field_changes}
    assert {"parameters.batchSize", "output.error"} <= changed


def test_bisect_with_an_output_predicate_names_the_context_change(planted):
    found = bisect(planted, "train", failing="output.metrics.auc < 0.9")
    assert (found.good_run_id, found.bad_run_id) == (
        run_id(40 + IMAGE_AT - 1),
        run_id(40 + IMAGE_AT),
    )
    assert found.bad_run["status"] == "SUCCEEDED" and found.bad_run["failing"]
    assert found.top_suspect == "context.image"
    assert found.suspects.iloc[0]["association"] == pytest.approx(1.0)


def test_bisect_outranks_a_coincidental_change_with_consistency(tmp_path):
    # "flag" changes at the same run as the cause but comes back before the failures stop
    records = []
    for index in range(30):
        bad = 10 <= index < 30
        flag = "on" if 10 <= index < 14 else "off"
        records.append(
            record(index, "w", "FAILED" if bad else "SUCCEEDED",
                   parameters={"retries": 0 if bad else 3, "flag": flag})
        )  # fmt: skip
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        found = bisect(store, "w")
    assert found.suspects["path"].tolist() == ["parameters.retries", "parameters.flag"]
    flag = found.suspects.iloc[1]
    assert (flag["runs_with"], flag["failed_with"]) == (4, 4)
    assert flag["association"] < found.suspects.iloc[0]["association"]


def test_bisect_uses_given_runs_and_finds_the_first_failure_after_good(planted):
    found = bisect(planted, "etl", good=run_id(10))
    assert (found.good_run_id, found.bad_run_id) == (run_id(10), run_id(FLIP_AT))
    assert found.runs_between == FLIP_AT - 11
    found = bisect(planted, "etl", bad=run_id(30))
    assert (found.good_run_id, found.bad_run_id) == (run_id(FLIP_AT - 1), run_id(30))
    found = bisect(planted, "etl", good=run_id(3), bad=run_id(35))
    assert (found.good_run_id, found.bad_run_id) == (run_id(3), run_id(35))


def _two_regressions() -> list[dict]:
    """Fails at 10-12 (retries 3 -> 0, then restored), again from 20 on (pool changes)."""
    records = []
    for index in range(30):
        first, second = 10 <= index < 13, index >= 20
        parameters = {"retries": 0 if first else 3, "pool": "small" if second else "large"}
        status = "FAILED" if first or second else "SUCCEEDED"
        records.append(record(index, "w", status, parameters=parameters))
    return records


def test_bisect_in_a_window_finds_the_later_regression(tmp_path):
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(_two_regressions())
        whole = bisect(store, "w")
        assert (whole.good_run_id, whole.bad_run_id) == (run_id(9), run_id(10))
        assert whole.top_suspect == "parameters.retries"
        since = START + timedelta(hours=15)
        recent = store.bisect("w", since=since.isoformat())
        assert (recent.good_run_id, recent.bad_run_id) == (run_id(19), run_id(20))
        assert recent.top_suspect == "parameters.pool"
        assert recent.runs == 15  # the window's runs
        until = START + timedelta(hours=20)
        with pytest.raises(RunReplayError, match=r"no run of 'w' created between .* is failing"):
            bisect(store, "w", since=since, until=until)
        with pytest.raises(RunReplayError, match=r"run 'run-0005' was created outside the window"):
            bisect(store, "w", good=run_id(4), since=since)
        with pytest.raises(RunReplayError, match="start the window earlier"):
            bisect(store, "w", since=START + timedelta(hours=21))
        with pytest.raises(RunReplayError, match="must be before until"):
            bisect(store, "w", since=until, until=since)


@pytest.mark.parametrize("unproven", ["QUEUED", "RUNNING", "RETRYING", "CANCELED"])
def test_bisect_takes_the_last_succeeded_run_as_good_not_one_without_an_outcome(tmp_path, unproven):
    # batchSize changes at run 2; runs 2 and 3 have not (or never) finished; run 4 fails
    statuses = ["SUCCEEDED", "SUCCEEDED", unproven, unproven, "FAILED"]
    records = [
        record(index, "w", status, parameters={"batchSize": 500 if index < 2 else 5000})
        for index, status in enumerate(statuses)
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        found = bisect(store, "w")
    assert (found.good_run_id, found.bad_run_id) == (run_id(1), run_id(4))
    assert found.runs_between == 2
    assert found.top_suspect == "parameters.batchSize"


def test_bisect_with_an_output_predicate_does_not_take_a_failed_run_as_good(tmp_path):
    # run 2 FAILED without an AUC: not "failing" by the AUC predicate, but not good either
    aucs = [0.91, 0.91, None, 0.85]
    records = [
        record(
            index,
            "w",
            "FAILED" if auc is None else "SUCCEEDED",
            context={"image": "v1" if index < 2 else "v2"},
            output={} if auc is None else {"metrics": {"auc": auc}},
        )
        for index, auc in enumerate(aucs)
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        found = bisect(store, "w", failing="output.metrics.auc < 0.9")
    assert (found.good_run_id, found.bad_run_id) == (run_id(1), run_id(3))
    assert found.top_suspect == "context.image"


def test_bisect_of_a_failing_first_run_says_no_run_precedes_it(tmp_path):
    records = [record(0, "w", "FAILED"), record(1, "w", "FAILED")]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        with pytest.raises(RunReplayError) as raised:
            bisect(store, "w")
    message = str(raised.value)
    assert "no run of 'w' precedes 'run-0001'" in message
    assert "every run" not in message


def test_bisect_without_a_succeeded_run_before_bad_counts_what_precedes_it(tmp_path):
    records = [record(0, "w", "CANCELED"), record(1, "w", "RUNNING"), record(2, "w", "FAILED")]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        with pytest.raises(RunReplayError) as raised:
            bisect(store, "w")
    message = str(raised.value)
    assert "none of the 2 runs of 'w' before 'run-0003' succeeded" in message
    assert "pass good=<run id> (--good)" in message


def test_window_errors_read_as_sentences_with_utc_times(planted):
    since, until = START + timedelta(hours=30), START + timedelta(hours=20)
    with pytest.raises(RunReplayError) as raised:
        drift(planted, "etl", since=since, until=until)
    assert str(raised.value).startswith(
        "since (2026-01-02T06:00:00Z) must be before until (2026-01-01T20:00:00Z)"
    )
    with pytest.raises(RunReplayError) as raised:
        bisect(planted, "etl", good=run_id(3), since=since)
    assert str(raised.value).startswith(
        "run 'run-0004' was created outside the window of runs created since 2026-01-02T06:00:00Z;"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"good": run_id(30), "bad": run_id(3)}, RunReplayError, "not older than the bad run"),
        ({"good": run_id(45)}, RunReplayError, "belongs to workflow 'train'"),
        ({"bad": "run-9999"}, RunNotFound, "'run-9999' is not in"),
        ({"failing": "status == 'CANCELED'"}, RunReplayError, "no run of 'etl' is failing"),
        ({"bad": run_id(0)}, RunReplayError, "no good run to compare with"),
        ({"good": run_id(30), "bad": run_id(30)}, RunReplayError, "good and bad are the same run"),
    ],
)
def test_bisect_explains_what_it_cannot_do(planted, kwargs, error, message):
    with pytest.raises(error, match=message):
        bisect(planted, "etl", **kwargs)


# -- the committed sample's stories ---------------------------------------------------


def test_sample_bisect_of_nightly_etl_names_batch_size_first(sample_store):
    found = bisect(sample_store, "nightly-etl")
    assert (found.good_run_id, found.bad_run_id) == ("run-000345", "run-000347")
    top = found.suspects.iloc[0]
    assert (top["path"], top["before"], top["after"]) == ("parameters.batchSize", "500", "5000")
    assert top["association"] == pytest.approx(1.0)
    noise = found.suspects.set_index("path")
    for path in ("parameters.source.since", "context.traceId", "context.host"):
        assert noise.loc[path, "volatile"]
        assert noise.loc[path, "association"] < 0.5


def test_sample_drift_of_ml_train_shows_the_image_change_and_the_auc_drop(sample_store):
    report = drift(sample_store, "ml-train", failing="output.metrics.auc < 0.9")
    image = field(report, "context.image")
    assert image["changes"] == 1 and image["first_change_run_id"] == "run-000324"
    assert image["associated_value"] == '"trainer:2.4.0"'
    assert (image["runs_with"], image["failed_with"]) == (40, 40)
    assert image["association"] == pytest.approx(1.0)
    assert report.top_suspect == "context.image"
    auc = report.timeline("output.metrics.auc").set_index("run_id")["value"]
    assert auc.loc[:"run-000322"].mean() == pytest.approx(0.91, abs=0.005)
    assert auc.loc["run-000324":].mean() == pytest.approx(0.86, abs=0.005)
    plain = drift(sample_store, "ml-train")
    assert plain.failed == 0 and plain.top_suspect is None
    assert plain.drifted["path"].tolist() == ["context.image"]


def test_sample_drift_summary_triages_every_workflow(sample_store):
    summary = drift_summary(sample_store)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["workflow_id"].tolist() == ["nightly-etl", "hourly-sync", "ml-train"]
    nightly = summary.iloc[0]
    assert (nightly["runs"], nightly["failed"]) == (122, 49)
    assert nightly["top_suspect"] == "parameters.batchSize"
    assert nightly["top_suspect_value"] == "5000"
    assert nightly["top_suspect_changed_at"] == pd.Timestamp("2026-10-12T01:00:00Z")
    assert summary.set_index("workflow_id").loc["ml-train", "top_suspect"] is None


# -- the property: changes() equals a straightforward pandas computation --------------

VALUES = st.sampled_from([None, True, 1, 1.0, 2, "1", "x", "long text", [], {}])
MISSING = object()


def pandas_changes(records: list[dict]) -> list[tuple]:
    """Change points the slow, obvious way: one column per path, sort, shift, compare."""
    rows = []
    for item in records:
        row = {"run_id": item["runId"], "created_at": item["createdAt"]}
        for key, value in item["parameters"].items():
            row[f"parameters.{key}"] = dumps(value)
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values(["created_at", "run_id"]).reset_index(drop=True)
    expected = []
    for path in [column for column in frame.columns if column.startswith("parameters.")]:
        values = frame[path].astype(object).where(frame[path].notna(), None)
        previous = values.shift(1)
        for position in range(1, len(frame)):
            before, after = previous.iloc[position], values.iloc[position]
            if before == after:
                continue
            if before is None:
                change = "added"
            elif after is None:
                change = "removed"
            elif type(json.loads(before)) is not type(json.loads(after)):
                change = "type_changed"
            else:
                change = "changed"
            expected.append(
                (position, path, frame["run_id"].iloc[position], frame["run_id"].iloc[position - 1],
                 change, before, after)
            )  # fmt: skip
    return [row[1:] for row in sorted(expected)]


@pytest.fixture(scope="module")
def shared_store():
    """One in-memory store for the property's examples: each loads its own workflow."""
    with runreplay.open(":memory:") as store:
        yield store, itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=8),  # hour: ties happen
            st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_changes_equal_a_straightforward_pandas_computation(shared_store, history):
    store, numbers = shared_store
    workflow_id = f"w{next(numbers)}"
    records = [
        {**record(index, workflow_id, parameters=parameters, hours=hour),
         "runId": f"{workflow_id}-{index:03d}"}
        for index, (hour, parameters) in enumerate(history)
    ]  # fmt: skip
    store.load_records(records)
    report = drift(store, workflow_id, sections=("parameters",))
    got = [
        (row.path, row.run_id, row.previous_run_id, row.change, row.before, row.after)
        for row in report.changes(volatile=True).itertuples()
    ]
    expected = pandas_changes(records)
    assert sorted(got) == sorted(expected)
    counts = report.fields.set_index("path")["changes"].to_dict()
    for path in counts:
        assert counts[path] == sum(1 for row in expected if row[0] == path)


# -- predicates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "position"),
    [
        ("output.metrics.auc <", 20),
        ("status == FAILED", 10),
        ("status = 'failed'", 9),
        ("output.metrics.auc < 0.9 and", 28),
        ("import os", 0),
        ("__import__('os').system('x')", 16),
        ("status == 'FAILED'; drop table runs", 18),
    ],
)
def test_bad_predicates_raise_a_clear_error_naming_the_expression(planted, expression, position):
    with pytest.raises(InvalidPredicate) as raised:
        bisect(planted, "etl", failing=expression)
    assert raised.value.expression == expression
    assert raised.value.position == position
    assert repr(expression) in str(raised.value)
    assert f"at character {position}" in str(raised.value)


# -- rendering -----------------------------------------------------------------------


def test_drift_report_renders_as_text_markdown_html_and_json(planted):
    report = drift(planted, "etl")
    text = render_drift(report, "text")
    assert text.splitlines()[0] == report.summary
    assert "parameters.batchSize" in text and "context.traceId" not in text
    assert "volatile path(s) hidden" in text
    markdown = report.to_markdown()
    assert "| `parameters.batchSize` | 1 |" in markdown
    html = report.to_html()
    html5lib.HTMLParser(strict=True).parse(html)
    assert "<code>parameters.batchSize</code>" in html
    assert "<code>context.traceId</code> (volatile)" in html
    data = json.loads(render_drift(report, "json"))
    assert data["topSuspect"] == "parameters.batchSize"
    first = data["fields"][0]
    assert (first["path"], first["associatedValue"], first["association"]) == (
        "parameters.batchSize", "5000", 1.0,
    )  # fmt: skip
    assert first["firstChangeAt"] == "2026-01-02T01:00:00Z"


def test_html_reports_escape_values(tmp_path):
    records = [
        record(index, "w", "FAILED" if index >= 3 else "SUCCEEDED",
               parameters={"note": "<script>alert(1)</script>" if index >= 3 else "ok"})
        for index in range(5)
    ]  # fmt: skip
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        html = drift(store, "w").to_html() + bisect(store, "w").to_html()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_bisect_renders_suspects_and_the_diff(planted, tmp_path):
    found = bisect(planted, "etl")
    text = render_bisect(found, "text")
    assert f"good  {run_id(FLIP_AT - 1)}" in text and f"bad   {run_id(FLIP_AT)}" in text
    assert "1  parameters.batchSize" in text and "15 / 15" in text
    assert "Diff good → bad" in text
    markdown = render_bisect(found, "markdown")
    assert "| 1 | `parameters.batchSize` | changed | `500` | `5000` | 15 / 15 |" in markdown
    assert "## Run diff:" in markdown
    found.to_html(tmp_path / "bisect.html")
    html5lib.HTMLParser(strict=True).parse((tmp_path / "bisect.html").read_text())
    data = json.loads(render_bisect(found, "json"))
    assert (
        data["good"]["runId"] == run_id(FLIP_AT - 1)
        and data["topSuspect"] == "parameters.batchSize"
    )
    assert data["runDiff"]["runs"]["compareTo"]["runId"] == run_id(FLIP_AT)


def test_drift_summary_renders_in_every_format(sample_store):
    summary = drift_summary(sample_store)
    text = render_drift_summary(summary, "text")
    assert "nightly-etl" in text and "parameters.batchSize = 5000" in text
    assert "| `nightly-etl` | 122 | 49 |" in render_drift_summary(summary, "markdown")
    html5lib.HTMLParser(strict=True).parse(render_drift_summary(summary, "html"))
    data = json.loads(render_drift_summary(summary, "json"))
    assert data[0]["topSuspect"] == "parameters.batchSize" and data[2]["topSuspect"] is None
    with pytest.raises(RunReplayError, match="unknown format"):
        render_drift_summary(summary, "yaml")


def python_field_stats(records: list[dict], path: str) -> dict:
    """One path's change points and best phi the plain way: a loop over sorted runs."""
    ordered = sorted(records, key=lambda item: (item["createdAt"], item["runId"]))
    key = path.split(".", 1)[1]
    values = [
        dumps(item["parameters"][key]) if key in item["parameters"] else MISSING for item in ordered
    ]
    failing = [item["status"] == "FAILED" for item in ordered]
    changed_at = [
        ordered[index]["runId"]
        for index in range(1, len(ordered))
        if values[index] != values[index - 1]
    ]
    runs, failed = len(ordered), sum(failing)
    best = math.nan
    for value in set(values):
        holds = [held == value for held in values]
        a = sum(h and f for h, f in zip(holds, failing, strict=True))
        b = sum(h and not f for h, f in zip(holds, failing, strict=True))
        c, d = failed - a, runs - failed - b
        denominator = math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
        if denominator:
            phi = (a * d - b * c) / denominator
            best = phi if math.isnan(best) else max(best, phi)
    return {"changes": changed_at, "association": best}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=6),  # hour: ties happen
            st.sampled_from(["SUCCEEDED", "FAILED", "CANCELED"]),
            st.sampled_from([MISSING, 1, 1.0, "1", 2, None]),
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=0, max_value=3),
)
def test_drift_changes_and_association_equal_a_plain_python_loop(shared_store, history, since):
    store, numbers = shared_store
    workflow_id = f"p{next(numbers)}"
    records = [
        {**record(index, workflow_id, status, hours=hour,
                  parameters={} if value is MISSING else {"v": value}),
         "runId": f"{workflow_id}-{index:03d}"}
        for index, (hour, status, value) in enumerate(history)
    ]  # fmt: skip
    store.load_records(records)
    window = START + timedelta(hours=since)
    inside = [item for item in records if datetime.fromisoformat(item["createdAt"]) >= window]
    if not any("v" in item["parameters"] for item in inside):
        return
    report = drift(store, workflow_id, since=window)
    expected = python_field_stats(inside, "parameters.v")
    row = field(report, "parameters.v")
    assert report.changes("parameters.v", volatile=True)["run_id"].tolist() == expected["changes"]
    assert row["changes"] == len(expected["changes"])
    assert row["first_change_run_id"] == (expected["changes"][0] if expected["changes"] else None)
    assert row["last_change_run_id"] == (expected["changes"][-1] if expected["changes"] else None)
    if row["changes"] and not row["volatile"]:
        assert row["association"] == pytest.approx(expected["association"], nan_ok=True)

"""Every significant change in a workflow's failure rate (or a metric's level): regressions and
recoveries, oldest first, each with the run where it began and the evidence.

    >>> store.regressions("nightly-etl")[["kind", "onset_run_id", "rate_after"]]  # doctest: +SKIP

docs/ARCHITECTURE.md, "Drift and bisect" has the method and its limits.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from runreplay.drift.onset import Onset, Series, change_points, onsets, run_series
from runreplay.errors import RunReplayError
from runreplay.predicate import compile_predicate

DEFAULT_ALPHA = 0.01
"""Significance level of regressions() and bisect: a change point whose p-value (over every
split searched) is above it is not reported."""

REGRESSION_COLUMNS = (
    "workflow_id",
    "kind",
    "onset_run_id",
    "onset_at",
    "earliest_run_id",
    "latest_run_id",
    "runs_before",
    "failed_before",
    "runs_after",
    "failed_after",
    "rate_before",
    "rate_after",
    "level_before",
    "level_after",
    "statistic",
    "p_value",
    "changed",
)


def check_alpha(alpha: Any) -> float:
    """`alpha` as a float in (0, 1), or a RunReplayError that says what to pass."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise RunReplayError(
            f"alpha must be a number between 0 and 1 (exclusive), got {alpha!r}; "
            f"the default is {DEFAULT_ALPHA}"
        )
    return float(alpha)


def check_metric(con: Any, workflow_id: str, metric: str) -> None:
    """Raise a RunReplayError naming numeric paths when `metric` is not one of the workflow's."""
    numeric = [
        row[0]
        for row in con.execute(
            """
            SELECT f.path FROM run_fields f JOIN runs r USING (run_id)
            WHERE r.workflow_id = ? AND f.value_type IN ('integer', 'number', 'float', 'int')
            GROUP BY f.path ORDER BY f.path LIMIT 200
            """,
            [workflow_id],
        ).fetchall()
    ]
    if metric in numeric:
        return
    shown = ", ".join(numeric[:8]) + (", ..." if len(numeric) > 8 else "")
    raise RunReplayError(
        f"metric {metric!r} is not a numeric field of workflow {workflow_id!r}; "
        f"numeric fields: {shown or 'none'} (spell paths as run_fields does, e.g. "
        "output.metrics.auc)"
    )


def regressions(
    store: Any,
    workflow_id: str,
    failing: str | None = None,
    since: Any = None,
    until: Any = None,
    metric: str | None = None,
    *,
    higher_is_better: bool = True,
    alpha: float = DEFAULT_ALPHA,
    include_replays: bool = False,
) -> pd.DataFrame:
    """One row per significant change point of `workflow_id` (REGRESSION_COLUMNS), oldest first.

    The series is the workflow's finished runs in [since, until) by createdAt, replays left
    out unless `include_replays`: failing (`failing` predicate, default status == 'FAILED')
    or, with `metric` (a numeric path such as output.metrics.auc), that metric's value.
    `kind` is "regression" when the failure rate rises (or the metric moves the wrong way
    for `higher_is_better`), else "recovery". An empty frame when nothing is significant.
    """
    found, series, _ = detect(
        store,
        workflow_id,
        failing,
        since,
        until,
        metric,
        alpha=alpha,
        include_replays=include_replays,
    )
    rows = [row(workflow_id, series, onset, higher_is_better) for onset in found]
    return frame(rows)


def detect(
    store: Any,
    workflow_id: str,
    failing: str | None,
    since: Any,
    until: Any,
    metric: str | None,
    *,
    alpha: float,
    include_replays: bool,
) -> tuple[list[Onset], Series, Any]:
    """The onsets, the series they were found in, and the compiled predicate."""
    from runreplay.drift import _require_workflow as require_workflow
    from runreplay.drift import _window as window

    alpha = check_alpha(alpha)
    predicate = compile_predicate(failing)
    require_workflow(store, workflow_id)
    con = store.connection
    if metric is not None:
        check_metric(con, workflow_id, metric)
    start, end = window(since, until)
    series = run_series(
        con, workflow_id, predicate, start, end, include_replays=include_replays, metric=metric
    )
    return onsets(con, series, change_points(series, alpha)), series, predicate


def kind_of(onset: Onset, series: Series, higher_is_better: bool) -> str:
    """ "regression" or "recovery": failures rose, or the metric moved the wrong way."""
    if series.values is None:
        return "regression" if onset.change.increase else "recovery"
    worse = not onset.change.increase if higher_is_better else onset.change.increase
    return "regression" if worse else "recovery"


def row(workflow_id: str, series: Series, onset: Onset, higher_is_better: bool) -> dict:
    runs_before, failed_before, runs_after, failed_after = onset.counts(series)
    level_before, level_after = onset.levels(series)
    metric = series.values is not None
    return {
        "workflow_id": workflow_id,
        "kind": kind_of(onset, series, higher_is_better),
        "onset_run_id": series.run_ids[onset.index],
        "onset_at": series.created_at.iloc[onset.index],
        "earliest_run_id": series.run_ids[onset.earliest],
        "latest_run_id": series.run_ids[onset.latest],
        "runs_before": runs_before,
        "failed_before": None if metric else failed_before,
        "runs_after": runs_after,
        "failed_after": None if metric else failed_after,
        "rate_before": math.nan if metric else failed_before / runs_before,
        "rate_after": math.nan if metric else failed_after / runs_after,
        "level_before": level_before,
        "level_after": level_after,
        "statistic": float(onset.change.statistic),
        "p_value": float(onset.change.p_value),
        "changed": list(onset.steps),
    }


def frame(rows: list[dict]) -> pd.DataFrame:
    result = pd.DataFrame(rows, columns=list(REGRESSION_COLUMNS))
    for column in ("runs_before", "runs_after"):
        result[column] = result[column].astype("int64")
    for column in ("failed_before", "failed_after"):
        result[column] = pd.array(result[column], dtype="Int64")
    for column in (
        "rate_before",
        "rate_after",
        "level_before",
        "level_after",
        "statistic",
        "p_value",
    ):
        result[column] = result[column].astype(float)
    if len(result):
        result["onset_at"] = pd.to_datetime(result["onset_at"], utc=True)
    return result

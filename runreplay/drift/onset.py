"""Where a workflow's runs change regime, and which recorded inputs changed there.

A run series (a workflow's finished runs, oldest first, replays left out) goes through the
change-point scan of runreplay.changepoint; each significant change point becomes an Onset:
the statistical split, moved to the run where a persisting input change took effect when
one did so among the splits the data cannot tell apart from the best (SNAP_DROP). Fields
that track each run's own outcome (failure reasons, error tags) are symptoms: found per
onset, never counted as input changes. docs/ARCHITECTURE.md, "Drift and bisect".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from runreplay.changepoint import (
    ChangePoint,
    best_binary_split,
    best_level_split,
    binary_change_points,
    binary_statistics,
    level_change_points,
    level_statistics,
)
from runreplay.model import FIELD_SECTIONS
from runreplay.predicate import Predicate

FINISHED = ("SUCCEEDED", "FAILED", "CANCELED")
"""Statuses of runs that have an outcome: queued or running runs are not in a series."""
SUSPECT_SECTIONS = ("parameters", "context")
"""Sections whose fields are inputs of a run (causes); output fields are its effects."""
SNAP_DROP = 2 * math.log(1000)
"""An onset moves to an input change whose split is at most 1000 times less likely (G = 2*LLR)
than the best split: the failures alone cannot place an onset that precisely."""
STEP_WINDOW = 200
"""Runs read on each side of an onset for input steps, symptoms and the step table."""
STEP_PERSIST_RUNS = 20
"""Runs on each side of a value change that must (mostly) hold the old / new value."""
STEP_SHARE = 0.8
"""Share of those runs that must hold the old value before and the new value after."""
STEP_MIN_RUNS = 3
"""Fewest runs after a change for it to count as persisting."""
SYMPTOM_SENSITIVITY = 0.8
"""Share of failing runs on a side where a symptom departs from the succeeding runs' value."""
SYMPTOM_SPECIFICITY = 0.95
"""Share of succeeding runs on a side that hold that usual value."""
SYMPTOM_MIN_FAILING = 2
"""Fewest failing runs on a side for it to judge a symptom."""

SYMPTOM_COLUMNS = (
    "path",
    "section",
    "evidence",
    "failing_runs",
    "failing_departing",
    "succeeded_runs",
    "succeeded_usual",
    "sensitivity",
    "specificity",
)


@dataclass(frozen=True, eq=False)
class Series:
    """A workflow's finished runs oldest first: ids, createdAt, status, the failing flag and,
    for a metric series, the metric's value (runs without a numeric value are left out)."""

    run_ids: np.ndarray
    created_at: pd.Series
    statuses: np.ndarray
    failing: np.ndarray
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.run_ids)

    @property
    def observed(self) -> np.ndarray:
        """The series the scan reads: failing flags (0/1) or metric values."""
        return self.failing.astype(np.int8) if self.values is None else self.values

    def position(self, run_id: str) -> int | None:
        found = np.flatnonzero(self.run_ids == run_id)
        return int(found[0]) if len(found) else None


def run_series(
    con: Any,
    workflow_id: str,
    predicate: Predicate,
    since: Any = None,
    until: Any = None,
    *,
    include_replays: bool = False,
    metric: str | None = None,
) -> Series:
    """The Series of `workflow_id` in [since, until) by createdAt, runId."""
    conditions = ["r.workflow_id = $workflow", "list_contains($finished, r.status)"]
    params: dict[str, Any] = {
        **predicate.params,
        "workflow": workflow_id,
        "finished": list(FINISHED),
    }
    if not include_replays:
        conditions.append("r.replay_of IS NULL")
    if since is not None:
        conditions.append("r.created_at >= $since")
        params["since"] = since
    if until is not None:
        conditions.append("r.created_at < $until")
        params["until"] = until
    metric_join, metric_value = "", "NULL::DOUBLE"
    if metric is not None:
        metric_join = (
            "LEFT JOIN run_fields metric_field ON metric_field.run_id = r.run_id "
            "AND metric_field.path = $metric_path"
        )
        metric_value = "TRY_CAST(CAST(metric_field.value AS VARCHAR) AS DOUBLE)"
        params["metric_path"] = metric
    frame = con.execute(
        f"""
        SELECT r.run_id, r.created_at, r.status, {predicate.condition} AS failing,
               {metric_value} AS value
        FROM runs r {predicate.joins} {metric_join}
        WHERE {" AND ".join(conditions)}
        ORDER BY r.created_at, r.run_id
        """,
        params,
    ).df()
    values = None
    if metric is not None:
        values = frame["value"].to_numpy(dtype=float)
        frame = frame[np.isfinite(values)].reset_index(drop=True)
        values = frame["value"].to_numpy(dtype=float)
    return Series(
        run_ids=frame["run_id"].to_numpy(dtype=object),
        created_at=frame["created_at"],
        statuses=frame["status"].to_numpy(dtype=object),
        failing=frame["failing"].to_numpy(dtype=bool),
        values=values,
    )


def change_points(series: Series, alpha: float, min_size: int = 5) -> list[ChangePoint]:
    """Every significant change point of the series at `alpha`, oldest first."""
    if series.values is None:
        return binary_change_points(series.observed, alpha=alpha, min_size=min_size)
    return level_change_points(series.observed, alpha=alpha, min_size=min_size)


def best_split(series: Series) -> ChangePoint | None:
    """The most likely single change point of the series, significant or not."""
    if series.values is None:
        return best_binary_split(series.observed)
    return best_level_split(series.observed)


def split_statistics(series: Series, start: int, end: int) -> np.ndarray:
    """The statistic of every split of series[start:end]; element i: onset at start + i + 1."""
    if end - start < 2:
        return np.zeros(0)
    if series.values is None:
        return binary_statistics(series.observed[start:end])
    return level_statistics(series.observed[start:end])


@dataclass(frozen=True, eq=False)
class Onset:
    """One change of regime: `index` is the first run (series position) of the new regime,
    inside [earliest, latest]; the regime before starts at `start`, the new one ends before
    `end`. `steps` are the input paths that changed at `index` and persisted; `symptoms`
    the fields that track each run's outcome around it (SYMPTOM_COLUMNS)."""

    change: ChangePoint
    index: int
    earliest: int
    latest: int
    start: int
    end: int
    steps: tuple[str, ...]
    symptoms: pd.DataFrame
    fields: pd.DataFrame
    """Field values (JSON text, None when absent) of the runs in `window`, one column per
    path, indexed by series position: what suspects and steps are judged on."""

    @property
    def window(self) -> tuple[int, int]:
        return max(self.start, self.index - STEP_WINDOW), min(self.end, self.index + STEP_WINDOW)

    def counts(self, series: Series) -> tuple[int, int, int, int]:
        """(runs_before, failed_before, runs_after, failed_after) of the two regimes."""
        before = series.failing[self.start : self.index]
        after = series.failing[self.index : self.end]
        return len(before), int(before.sum()), len(after), int(after.sum())

    def levels(self, series: Series) -> tuple[float, float]:
        """Median metric value before and after (NaN for a failure series)."""
        if series.values is None:
            return math.nan, math.nan
        return (
            float(np.median(series.values[self.start : self.index])),
            float(np.median(series.values[self.index : self.end])),
        )


def onsets(
    con: Any, series: Series, changes: Sequence[ChangePoint], *, min_run: int = 0
) -> list[Onset]:
    """An Onset for each change point (oldest first), snapped to a persisting input change."""
    if not changes:
        return []
    bounds = [0, *(change.index for change in changes), len(series)]
    windows = [
        (max(bounds[k], change.index - STEP_WINDOW), min(bounds[k + 2], change.index + STEP_WINDOW))
        for k, change in enumerate(changes)
    ]
    matrix = field_matrix(con, series, windows)
    found = []
    for k, change in enumerate(changes):
        start, end = bounds[k], bounds[k + 2]
        found.append(
            _onset(series, change, start, end, matrix.loc[windows[k][0] : windows[k][1] - 1])
        )
    return found


def forced_onset(con: Any, series: Series, change: ChangePoint) -> Onset:
    """An Onset at a change point found or given outside the significant ones (the whole
    series is its segment): what bisect reads for weak evidence or a given onset."""
    window = (max(0, change.index - STEP_WINDOW), min(len(series), change.index + STEP_WINDOW))
    matrix = field_matrix(con, series, [window])
    return _onset(series, change, 0, len(series), matrix, snap=change.p_value > 0)


def _onset(
    series: Series,
    change: ChangePoint,
    start: int,
    end: int,
    fields: pd.DataFrame,
    *,
    snap: bool = True,
) -> Onset:
    index, earliest, latest = change.index, change.earliest, change.latest
    lo, hi = max(start, index - STEP_WINDOW), min(end, index + STEP_WINDOW)
    symptoms = find_symptoms(fields, series.failing, index)
    inputs = _inputs(fields, symptoms)
    steps = input_steps(inputs, lo, hi)
    if snap and steps:
        profile = split_statistics(series, start, end)
        best = profile[index - start - 1] if 0 < index - start <= len(profile) else 0.0
        candidates = [
            (profile[j - start - 1], j)
            for j in steps
            if start < j < end and profile[j - start - 1] >= best - SNAP_DROP
        ]
        if candidates:
            _, index = max(candidates, key=lambda item: (item[0], -abs(item[1] - index)))
            earliest, latest = min(earliest, index), max(latest, index)
    return Onset(
        change=change,
        index=index,
        earliest=earliest,
        latest=latest,
        start=start,
        end=end,
        steps=tuple(steps.get(index, ())),
        symptoms=symptoms,
        fields=fields,
    )


def field_matrix(
    con: Any,
    series: Series,
    windows: Sequence[tuple[int, int]],
    sections: Sequence[str] = FIELD_SECTIONS,
) -> pd.DataFrame:
    """The field values of the runs in `windows` (series positions), one row per position
    and one column per path: JSON text, None where the run lacks the path."""
    positions = sorted({p for lo, hi in windows for p in range(lo, hi)})
    if not positions:
        return pd.DataFrame(index=pd.Index([], dtype="int64"))
    ids = series.run_ids[positions]
    long = con.execute(
        """
        SELECT f.run_id, f.path, CAST(f.value AS VARCHAR) AS value
        FROM run_fields f SEMI JOIN (SELECT unnest($ids) AS run_id) w USING (run_id)
        WHERE list_contains($sections, f.section)
        """,
        {"ids": list(ids), "sections": list(sections)},
    ).df()
    where = dict(zip(ids, positions, strict=True))
    long["position"] = long["run_id"].map(where)
    wide = long.pivot(index="position", columns="path", values="value")
    wide = wide.reindex(pd.Index(positions, name="position")).astype(object)
    return wide.where(wide.notna(), None)


def section_of(path: str) -> str:
    """The section a run_fields path belongs to (its first segment)."""
    return path.split(".", 1)[0].split("[", 1)[0]


def _inputs(fields: pd.DataFrame, symptoms: pd.DataFrame) -> pd.DataFrame:
    excluded = set(symptoms["path"])
    keep = [c for c in fields.columns if section_of(c) in SUSPECT_SECTIONS and c not in excluded]
    return fields[keep]


def input_steps(fields: pd.DataFrame, lo: int, hi: int) -> dict[int, tuple[str, ...]]:
    """Series positions in (lo, hi) where an input path changed value and the change
    persisted (STEP_SHARE of STEP_PERSIST_RUNS runs on each side), with the paths, sorted."""
    found: dict[int, list[str]] = {}
    frame = fields.loc[lo : hi - 1]
    for path in frame.columns:
        for j in _steps(frame[path]):
            found.setdefault(j, []).append(path)
    return {j: tuple(sorted(paths)) for j, paths in sorted(found.items())}


def _steps(column: pd.Series) -> list[int]:
    codes, _ = pd.factorize(column, use_na_sentinel=False)
    if len(codes) < 2:
        return []
    changed = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    positions = column.index.to_numpy()
    steps = []
    for at in changed:
        after = codes[at : at + STEP_PERSIST_RUNS]
        before = codes[max(0, at - STEP_PERSIST_RUNS) : at]
        if len(after) < STEP_MIN_RUNS:
            continue
        if (after == codes[at]).mean() >= STEP_SHARE and (
            before == codes[at - 1]
        ).mean() >= STEP_SHARE:
            steps.append(int(positions[at]))
    return steps


def persisted_change(column: pd.Series, good: int, bad: int) -> int | None:
    """The position in (good, bad] where `column` stepped to a value that persisted, if any."""
    steps = [j for j in _steps(column) if good < j <= bad]
    return steps[-1] if steps else None


def find_symptoms(fields: pd.DataFrame, failing: np.ndarray, index: int) -> pd.DataFrame:
    """Fields that track each run's own outcome on either side of `index`: on some side with
    SYMPTOM_MIN_FAILING failing runs, SYMPTOM_SENSITIVITY of the failing runs depart from
    the value (or absence) the succeeding runs hold, and SYMPTOM_SPECIFICITY of the
    succeeding runs hold it. The side with the stronger evidence is reported."""
    rows = []
    positions = fields.index.to_numpy()
    flags = failing[positions] if len(positions) else np.zeros(0, dtype=bool)
    sides = [positions < index, positions >= index]
    for path in fields.columns:
        column = fields[path].to_numpy(dtype=object)
        best = None
        for side in sides:
            judged = _symptom_side(column[side], flags[side])
            if judged is not None and (best is None or judged[-2:] > best[-2:]):
                best = judged
        if best is not None:
            rows.append((path, section_of(path), *best))
    return pd.DataFrame(rows, columns=list(SYMPTOM_COLUMNS)).astype(
        {"sensitivity": float, "specificity": float}
    )


def _symptom_side(values: np.ndarray, failing: np.ndarray) -> tuple | None:
    failed, succeeded = values[failing], values[~failing]
    if len(failed) < SYMPTOM_MIN_FAILING or not len(succeeded):
        return None
    for evidence, key in (
        ("present only on failing runs", _presence),
        ("its value on failing runs", _text),
    ):
        usual = pd.Series([key(v) for v in succeeded]).mode(dropna=False).iloc[0]
        succeeded_usual = sum(key(v) == usual for v in succeeded)
        failing_departing = sum(key(v) != usual for v in failed)
        sensitivity = failing_departing / len(failed)
        specificity = succeeded_usual / len(succeeded)
        if sensitivity >= SYMPTOM_SENSITIVITY and specificity >= SYMPTOM_SPECIFICITY:
            if evidence.startswith("present") and usual:
                evidence = "absent only on failing runs"
            return (
                evidence,
                len(failed),
                failing_departing,
                len(succeeded),
                succeeded_usual,
                sensitivity,
                specificity,
            )
    return None


def _presence(value: Any) -> bool:
    return value is not None


def _text(value: Any) -> str:
    return "\x00absent" if value is None else value

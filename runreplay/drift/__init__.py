"""Drift across many runs of a workflow, and first-bad-run bisect: set-based SQL in DuckDB over run_fields, results as pandas.

    >>> report = drift(store, "nightly-etl")      # or store.drift(...)   # doctest: +SKIP
    >>> report.fields.head()                       # one row per path     # doctest: +SKIP
    >>> report.changes("parameters.batchSize")     # its change points    # doctest: +SKIP
    >>> report.plot("output.metrics.auc", to="auc.png")                   # doctest: +SKIP
    >>> found = bisect(store, "nightly-etl")                 # doctest: +SKIP
    >>> found.good_run_id, found.bad_run_id, found.suspects.head()  # doctest: +SKIP

Runs and order
    A report looks at the runs of one workflow with since <= createdAt < until, ordered by
    (createdAt, runId): "consecutive" and "previous" refer to that order. A path's value in
    a run is its JSON leaf in run_fields (1, 1.0, "1", true and null are different values);
    a run without the path holds no value, and that state takes part in changes. A replay
    is a run like any other, placed at its own createdAt (a replay of an old run brings
    its old inputs back, so its paths change twice); runs still queued or running count
    as not failing under the default predicate.

Changes
    A change point is a run whose value of a path differs from the previous run's: the
    path `changed` (same JSON type), `type_changed`, was `added` (absent in the previous
    run) or `removed` (absent in this run). The first run is never a change point.

Volatile paths
    A path is volatile when it changes between nearly every pair of consecutive runs that
    both hold it (at least 3 such pairs, at least 90 % of them changed): the rule, SQL and
    defaults of runreplay.fieldstats, which the diff's volatile paths use too. A report
    applies it to the runs it looks at, so over the whole history the two agree. Host
    names, trace ids, durations and per-day parameters are volatile; they are reported but
    ranked last and carry no association score.

Association with failure (`fields`)
    A run is failing when the `failing` predicate holds (default `status == 'FAILED'`; see
    runreplay.predicate). For each value v of a path (absence counts as a value) the runs
    split into a 2x2 table: a = failing runs holding v, b = other runs holding v, c =
    failing runs without v, d = other runs without v. The report keeps, per path, the
    value with the highest

        association = phi = (a*d - b*c) / sqrt((a+b) * (c+d) * (a+c) * (b+d))

    (the correlation between "holds v" and "is failing", in [-1, 1]; 1 means every run
    with v fails and every failing run has v), with its evidence: runs_with = a+b,
    failed_with = a, failure_rate_with = a/(a+b), failure_rate_without = c/(c+d) and
    risk_difference = failure_rate_with - failure_rate_without. phi needs support, so a
    value seen in one failing run scores about sqrt(1/runs) unless it explains all the
    failures. It is NaN when the table has an empty margin (no failures, or a value held
    by every run).

Bisect
    `bisect` takes the first failing run as bad (or the one given), the last run before it
    that SUCCEEDED and is not failing as good (or the one given: a queued, running,
    canceled or failed run has shown no good outcome), diffs the pair, and ranks every
    parameter and context path whose value differs between them as a suspect: by phi of
    "holds the bad run's value" (for a removed path: "lacks the path") against failing
    over the whole history of the workflow, with the counts. Volatile suspects rank after
    the others. Outputs are effects of a run, not causes, so they are not suspects unless
    asked for.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from runreplay.errors import RunNotFound, RunReplayError
from runreplay.fieldstats import (
    Scope,
    is_volatile,
    pair_stats,
    path_stats,
    totals,
    varying,
)
from runreplay.frames import iso, json_records, number
from runreplay.model import FIELD_SECTIONS, as_utc, format_timestamp
from runreplay.paths import compile_glob, matches
from runreplay.predicate import DEFAULT_FAILING, Predicate, compile_predicate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from runreplay.diff import RunDiff
    from runreplay.protocols import RunStore

DEFAULT_SECTIONS = FIELD_SECTIONS
"""Sections a drift report looks at: parameters, context and output."""
SUSPECT_SECTIONS = ("parameters", "context")
"""Sections bisect draws suspects from: a run's inputs, not its outputs."""

FIELD_COLUMNS = (
    "path", "section", "distinct_values", "changes", "first_change_at",
    "first_change_run_id", "last_change_at", "last_change_run_id", "volatile",
    "missing_share", "associated_value", "runs_with", "failed_with", "failure_rate_with",
    "failure_rate_without", "risk_difference", "association",
)  # fmt: skip
CHANGE_COLUMNS = (
    "path", "run_id", "created_at", "status", "failing", "previous_run_id", "change",
    "before", "after", "volatile",
)  # fmt: skip
TIMELINE_COLUMNS = ("run_id", "created_at", "status", "failing", "present", "value_type", "value")
SUSPECT_COLUMNS = (
    "rank", "path", "section", "change", "before", "after", "volatile", "runs_with",
    "failed_with", "runs_without", "failed_without", "failure_rate_with",
    "failure_rate_without", "risk_difference", "association", "first_seen_run_id",
    "first_seen_at",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "workflow_id", "runs", "failed", "failure_rate", "first_run_at", "last_run_at",
    "changed_fields", "volatile_fields", "top_suspect", "top_suspect_value",
    "top_suspect_association", "top_suspect_changed_at",
)  # fmt: skip

STATUS_COLORS = {
    "SUCCEEDED": "#1a7f37",
    "FAILED": "#cf222e",
    "CANCELED": "#8c959f",
    "RUNNING": "#0969da",
    "RETRYING": "#bc4c00",
    "QUEUED": "#9a6700",
}
"""Run status → colour, in plots (the report CSS uses the same palette)."""

_MAX_PLOTTED_CHANGES = 40
_MAX_CATEGORY_LABELS = 25
_ABSENT = "(absent)"


# -- per-path statistics (the SQL) ---------------------------------------------------


def _value_counts(con: Any, scope: Scope, paths: Sequence[str]) -> pd.DataFrame:
    """Per (workflow, path): distinct values and the value most associated with failing."""
    return scope.query(
        con,
        f"""
        , totals AS (
            SELECT wkey, count(*) AS runs, count(*) FILTER (failing) AS failed
            FROM runs_in GROUP BY wkey
        ),
        counts AS (
            SELECT hash(o.wkey, f.path) AS gkey, o.wkey, f.value,
                   count(*) AS runs_with, count(*) FILTER (o.failing) AS failed_with
            FROM run_fields f JOIN runs_in o USING (run_id)
            WHERE list_contains($paths, f.path)
            GROUP BY 1, 2, 3
        ),
        scored AS (
            SELECT c.*, {_phi_sql("c.runs_with", "c.failed_with", "t.runs", "t.failed")} AS phi
            FROM counts c JOIN totals t USING (wkey)
        )
        SELECT gkey, count(*) AS distinct_values,
               arg_max({{'value': value, 'runs_with': runs_with, 'failed_with': failed_with,
                         'phi': phi}}, row(phi, failed_with, value)) FILTER (phi IS NOT NULL)
                   AS best
        FROM scored GROUP BY gkey
        """,
        paths=list(paths),
    )


def _phi_sql(runs_with: str, failed_with: str, runs: str, failed: str) -> str:
    a = failed_with
    b = f"({runs_with} - {failed_with})"
    c = f"({failed} - {failed_with})"
    d = f"({runs} - {runs_with} - {failed} + {failed_with})"
    return (
        f"({a} * {d} - {b} * {c}) / nullif(sqrt(CAST({runs_with} AS DOUBLE) * ({runs} - "
        f"{runs_with}) * {failed} * ({runs} - {failed})), 0)"
    )


def _phi(runs_with: Any, failed_with: Any, runs: Any, failed: Any) -> Any:
    """The association score of the module docstring (phi), vectorised over pandas/numpy arrays."""
    runs_with, failed_with = np.asarray(runs_with, float), np.asarray(failed_with, float)
    runs, failed = np.asarray(runs, float), np.asarray(failed, float)
    a, b = failed_with, runs_with - failed_with
    c, d = failed - failed_with, runs - runs_with - failed + failed_with
    denominator = np.sqrt(runs_with * (runs - runs_with) * failed * (runs - failed))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (a * d - b * c) / denominator, np.nan)


def _texts(column: pd.Series) -> pd.Series:
    """An object column of str with None (not NaN) where a value is missing."""
    column = column.astype(object)
    return column.where(column.notna(), None)


def _rate(count: Any, total: Any) -> Any:
    count, total = np.asarray(count, float), np.asarray(total, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, count / total, np.nan)


def _field_stats(
    con: Any,
    scope: Scope,
    sections: Sequence[str],
    ignore: Sequence[str],
    workflow_totals: pd.DataFrame,
) -> pd.DataFrame:
    """Per (workflow, path) drift statistics: FIELD_COLUMNS plus workflow_id, ranked."""
    paths = path_stats(con, scope, sections)
    if ignore and len(paths):
        kept = [not matches(path, ignore) for path in paths["path"]]
        paths = paths[kept]
    paths = paths.merge(workflow_totals[["wkey", "workflow_id", "runs", "failed"]], on="wkey")
    changing = varying(paths, paths["runs"])
    paths = paths.merge(
        pair_stats(con, scope, sorted(set(paths.loc[changing, "path"]))), on="gkey", how="left"
    )
    constant = ~changing
    paths["pairs"] = paths["pairs"].fillna(paths["present"] - 1).astype("int64")
    paths["changed_pairs"] = paths["changed_pairs"].fillna(0).astype("int64")
    paths["changes"] = paths["changes"].fillna(0).astype("int64")
    paths["volatile"] = is_volatile(paths["pairs"], paths["changed_pairs"])
    associated = changing & ~paths["volatile"]
    counts = _value_counts(con, scope, sorted(set(paths.loc[associated, "path"])))
    paths = paths.merge(counts, on="gkey", how="left", suffixes=("_approx", ""))
    paths.loc[~associated, "best"] = None
    # exact where the values were counted; HyperLogLog's estimate for volatile paths
    paths["distinct_values"] = paths["distinct_values"].fillna(paths["distinct_values_approx"])
    paths.loc[constant, "distinct_values"] = 1
    best = paths["best"].map(lambda item: item if isinstance(item, dict) else {})
    value = best.map(lambda item: item.get("value"))
    runs_with = best.map(lambda item: item.get("runs_with", np.nan)).astype(float)
    failed_with = best.map(lambda item: item.get("failed_with", np.nan)).astype(float)
    phi = best.map(lambda item: item.get("phi", np.nan)).astype(float)
    # absence is a value too: runs without the path
    missing_runs = paths["runs"] - paths["present"]
    missing_failed = paths["failed"] - paths["failed_present"]
    missing_phi = _phi(missing_runs, missing_failed, paths["runs"], paths["failed"])
    use_missing = associated & (missing_runs > 0) & ~np.isnan(missing_phi)
    use_missing &= np.isnan(phi) | (missing_phi > phi)
    value = value.where(~use_missing, None)
    runs_with = runs_with.where(~use_missing, missing_runs)
    failed_with = failed_with.where(~use_missing, missing_failed)
    phi = phi.where(~use_missing, missing_phi)
    has_value = (associated & ~np.isnan(phi)).to_numpy()
    rate_with = _rate(failed_with, runs_with)
    rate_without = _rate(paths["failed"] - failed_with, paths["runs"] - runs_with)
    frame = pd.DataFrame(
        {
            "workflow_id": paths["workflow_id"],
            "path": paths["path"],
            "section": paths["section"],
            "distinct_values": paths["distinct_values"].astype("Int64"),
            "changes": paths["changes"],
            "first_change_at": paths["first_change_at"],
            "first_change_run_id": _texts(paths["first_change_run_id"]),
            "last_change_at": paths["last_change_at"],
            "last_change_run_id": _texts(paths["last_change_run_id"]),
            "volatile": paths["volatile"].astype(bool),
            "missing_share": 1.0 - paths["present"] / paths["runs"],
            "associated_value": _texts(value.where(has_value)),
            "runs_with": runs_with.where(has_value).astype("Int64"),
            "failed_with": failed_with.where(has_value).astype("Int64"),
            "failure_rate_with": np.where(has_value, rate_with, np.nan),
            "failure_rate_without": np.where(has_value, rate_without, np.nan),
            "association": phi.where(has_value),
        }
    )
    frame.insert(
        frame.columns.get_loc("association"),
        "risk_difference",
        frame["failure_rate_with"] - frame["failure_rate_without"],
    )
    frame = frame.astype({"path": object, "section": object, "associated_value": object})
    return _ranked(frame)


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """Changed non-volatile paths first (by association, inputs before outputs, changes),
    then volatile paths, then paths that never changed."""
    group = np.where(frame["changes"] == 0, 2, np.where(frame["volatile"], 1, 0))
    section_rank = {section: rank for rank, section in enumerate(FIELD_SECTIONS)}
    order = pd.DataFrame(
        {
            "workflow_id": frame["workflow_id"],
            "group": group,
            "association": -frame["association"].fillna(-2.0),
            "section": frame["section"].map(section_rank).fillna(len(section_rank)),
            "changes": -frame["changes"],
            "path": frame["path"],
        }
    ).sort_values(
        ["workflow_id", "group", "association", "section", "changes", "path"], kind="stable"
    )
    return frame.loc[order.index].reset_index(drop=True)


def _sections(
    sections: Iterable[str] | None, default: Sequence[str], name: str = "sections"
) -> tuple[str, ...]:
    if sections is None:
        return tuple(default)
    if isinstance(sections, str):
        sections = (sections,)
    chosen = tuple(dict.fromkeys(sections))
    unknown = [section for section in chosen if section not in FIELD_SECTIONS]
    if unknown or not chosen:
        raise RunReplayError(
            f"{name} {list(chosen)!r} must name one or more of {', '.join(FIELD_SECTIONS)}"
        )
    return chosen


def _globs(ignore: Iterable[str] | str | None) -> tuple[str, ...]:
    if ignore is None:
        return ()
    globs = (ignore,) if isinstance(ignore, str) else tuple(ignore)
    for glob in globs:
        compile_glob(glob)  # raises InvalidPath naming the glob
    return globs


def _window(since: Any, until: Any) -> tuple[datetime | None, datetime | None]:
    since, until = as_utc(since), as_utc(until)
    if since is not None and until is not None and since >= until:
        raise RunReplayError(
            f"since ({format_timestamp(since)}) must be before until ({format_timestamp(until)})"
        )
    return since, until


def _window_text(scope: Scope) -> str:
    """` created between A and B` (or since / before) for messages; empty without a window."""
    since, until = (
        format_timestamp(moment) if moment else None for moment in (scope.since, scope.until)
    )
    if since and until:
        return f" created between {since} and {until}"
    if since:
        return f" created since {since}"
    return f" created before {until}" if until else ""


def _require_workflow(store: RunStore, workflow_id: str) -> None:
    if not isinstance(workflow_id, str):
        raise RunReplayError(
            f"workflow id must be text such as 'nightly-etl', got {workflow_id!r}; "
            "list the workflows with Store.workflows() or `runreplay workflows`"
        )
    known = store.connection.execute(
        "SELECT count(*) FROM runs WHERE workflow_id = ?", [workflow_id]
    ).fetchone()[0]
    if not known:
        names = [
            row[0]
            for row in store.connection.execute(
                "SELECT DISTINCT workflow_id FROM runs ORDER BY 1"
            ).fetchall()
        ]
        close = difflib.get_close_matches(workflow_id, names, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "."
        raise RunReplayError(
            f"workflow {workflow_id!r} has no runs in the store {store.path!r}{hint} "
            "List the workflows with Store.workflows() or `runreplay workflows`."
        )


# -- drift ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DriftReport:
    """How the fields of one workflow's runs drifted over time; build with `drift()`.

    `fields` is computed up front; `changes()`, `timeline()` and `plot()` query the store
    when called (so they see the store as it is then).
    """

    store: RunStore = field(repr=False)
    workflow_id: str
    since: datetime | None
    until: datetime | None
    sections: tuple[str, ...]
    ignore: tuple[str, ...]
    failing: str
    runs: int
    failed: int
    first_run_at: pd.Timestamp | None
    last_run_at: pd.Timestamp | None
    fields: pd.DataFrame = field(repr=False)
    """One row per path, ranked (see FIELD_COLUMNS and the module docstring):
    path, section, distinct_values (Int64; approximate, by HyperLogLog, for volatile paths),
    changes (int), first_change_at / last_change_at (UTC datetimes, NaT when none),
    first_change_run_id / last_change_run_id, volatile (bool), missing_share (float),
    associated_value (JSON text of the value most associated with failing; None for the
    path being absent or no association), runs_with, failed_with (Int64),
    failure_rate_with, failure_rate_without, risk_difference, association (floats, NaN
    when undefined; volatile paths have none)."""

    @property
    def _scope(self) -> Scope:
        return Scope(self.workflow_id, self.since, self.until, compile_predicate(self.failing))

    @property
    def failure_rate(self) -> float:
        """Share of the report's runs that are failing (NaN without runs)."""
        return self.failed / self.runs if self.runs else math.nan

    @property
    def drifted(self) -> pd.DataFrame:
        """`fields` rows that changed and are not volatile: what drifted."""
        rows = self.fields
        return rows[(rows["changes"] > 0) & ~rows["volatile"]].reset_index(drop=True)

    @property
    def top_suspect(self) -> str | None:
        """The changed, non-volatile input path (parameters or context) most associated
        with failing, if any: outputs are effects, not suspects."""
        return _top_suspect(self.fields)

    def _known_path(self, path: str) -> str:
        if not isinstance(path, str):
            raise RunReplayError(
                f"path must be a string such as 'parameters.batchSize', got {path!r}"
            )
        known = self.fields["path"].tolist()
        if path not in known:
            close = difflib.get_close_matches(path, known, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise RunReplayError(
                f"path {path!r} is not among the fields of this drift report of "
                f"{self.workflow_id!r} (sections {', '.join(self.sections)}, "
                f"{len(known)} paths){hint}"
            )
        return path

    def changes(self, path: str | None = None, *, volatile: bool = False) -> pd.DataFrame:
        """The change points, oldest first: one row per (run, path) whose value differs
        from the previous run's.

        Columns: path, run_id, created_at, status, failing, previous_run_id, change
        (added / removed / changed / type_changed), before, after (JSON text; None on the
        side without the path), volatile. `path=None` gives every non-volatile path
        (`volatile=True` adds the volatile ones).
        """
        if path is not None:
            paths = [self._known_path(path)]
        else:
            rows = self.fields[self.fields["changes"] > 0]
            if not volatile:
                rows = rows[~rows["volatile"]]
            paths = rows["path"].tolist()
        volatile_paths = self.fields.loc[self.fields["volatile"], "path"].tolist()
        return _change_points(self.store.connection, self._scope, paths, self.runs, volatile_paths)

    def timeline(self, path: str) -> pd.DataFrame:
        """One row per run, oldest first: run_id, created_at, status, failing, present,
        value_type, value — a float column when every value is a number, text when every
        value is a string, JSON text otherwise (None/NaN where the run lacks the path)."""
        return _timeline(self.store.connection, self._scope, self._known_path(path))

    def plot(
        self,
        path: str,
        to: str | os.PathLike | None = None,
        *,
        ax: Axes | None = None,
        figsize: tuple[float, float] = (10.0, 3.4),
    ) -> Figure:
        """A chart of the path over time, points coloured by run status.

        Numbers are drawn as a line with points, other values as a step chart over their
        categories; non-volatile change points are dashed lines. Returns the matplotlib
        Figure (it renders in notebooks); `to="x.png"` / `"x.svg"` also writes it. Needs
        matplotlib (the `notebook` extra); works headless (no pyplot, no GUI backend).
        """
        figure = _plot(self, path, ax=ax, figsize=figsize)
        if to is not None:
            figure.savefig(to, dpi=120)
        return figure

    @property
    def summary(self) -> str:
        """One line: runs, failing share, drifted and volatile paths, top suspect."""
        return _drift_summary_line(self)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (camelCase keys), as `runreplay drift --format json`."""
        return {
            "workflowId": self.workflow_id,
            "since": iso(self.since),
            "until": iso(self.until),
            "sections": list(self.sections),
            "ignore": list(self.ignore),
            "failing": self.failing,
            "runs": self.runs,
            "failed": self.failed,
            "failureRate": number(self.failure_rate),
            "firstRunAt": iso(self.first_run_at),
            "lastRunAt": iso(self.last_run_at),
            "topSuspect": self.top_suspect,
            "summary": self.summary,
            "fields": json_records(self.fields),
        }

    def to_json(self, indent: int | None = None) -> str:
        """`to_dict()` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)

    def to_markdown(self, *, show_volatile: bool = False, limit: int = 50) -> str:
        """GitHub-flavoured Markdown: summary and the ranked fields table."""
        from runreplay.report import drift_to_markdown

        return drift_to_markdown(self, show_volatile=show_volatile, limit=limit)

    def to_html(self, path: str | os.PathLike | None = None, *, show_volatile: bool = True) -> str:
        """One self-contained HTML page; also written to `path` when given."""
        from runreplay.report import drift_to_html

        return drift_to_html(self, path, show_volatile=show_volatile)

    def _repr_html_(self) -> str:
        from runreplay.report import drift_to_html_fragment

        return drift_to_html_fragment(self)

    def __repr__(self) -> str:
        return f"<DriftReport {self.summary}>"


def drift(
    store: RunStore,
    workflow_id: str,
    since: Any = None,
    until: Any = None,
    sections: Sequence[str] | None = DEFAULT_SECTIONS,
    ignore: Sequence[str] | None = (),
    *,
    failing: str | None = None,
) -> DriftReport:
    """Analyse how the fields of `workflow_id`'s runs changed (since <= createdAt < until).

    `sections` picks parameters / context / output; `ignore` drops paths matching globs
    (runreplay.paths syntax); `failing` is the predicate the association score uses
    (default `status == 'FAILED'`, e.g. `"output.metrics.auc < 0.9"`). Raises
    RunReplayError for an unknown workflow, InvalidPredicate for a bad predicate.

    >>> report = drift(store, "ml-train", failing="output.metrics.auc < 0.9")  # doctest: +SKIP
    >>> report.fields[["path", "changes", "association"]].head(3)                # doctest: +SKIP
    """
    chosen = _sections(sections, DEFAULT_SECTIONS)
    globs = _globs(ignore)
    since, until = _window(since, until)
    predicate = compile_predicate(failing)
    _require_workflow(store, workflow_id)
    scope = Scope(workflow_id, since, until, predicate)
    con = store.connection
    workflow_totals = totals(con, scope)
    fields = _field_stats(con, scope, chosen, globs, workflow_totals).drop(columns="workflow_id")
    if workflow_totals.empty:
        runs, failed, first_run_at, last_run_at = 0, 0, None, None
    else:
        row = workflow_totals.iloc[0]
        runs, failed = int(row["runs"]), int(row["failed"])
        first_run_at, last_run_at = row["first_run_at"], row["last_run_at"]
    return DriftReport(
        store=store,
        workflow_id=workflow_id,
        since=since,
        until=until,
        sections=chosen,
        ignore=globs,
        failing=predicate.expression,
        runs=runs,
        failed=failed,
        first_run_at=first_run_at,
        last_run_at=last_run_at,
        fields=fields.reset_index(drop=True),
    )


def drift_summary(
    store: RunStore,
    since: Any = None,
    until: Any = None,
    *,
    sections: Sequence[str] | None = DEFAULT_SECTIONS,
    ignore: Sequence[str] | None = (),
    failing: str | None = None,
) -> pd.DataFrame:
    """Every workflow at once, for bulk triage: one row per workflow, most failing first.

    Columns (SUMMARY_COLUMNS): workflow_id, runs, failed, failure_rate, first_run_at,
    last_run_at, changed_fields (non-volatile paths that changed), volatile_fields,
    top_suspect (the changed, non-volatile parameters/context path most associated with
    failing; None when none is), top_suspect_value (JSON text), top_suspect_association,
    top_suspect_changed_at (its last change). The same SQL as `drift`, over all workflows.
    """
    chosen = _sections(sections, DEFAULT_SECTIONS)
    globs = _globs(ignore)
    since, until = _window(since, until)
    scope = Scope(None, since, until, compile_predicate(failing))
    con = store.connection
    workflow_totals = totals(con, scope)
    fields = _field_stats(con, scope, chosen, globs, workflow_totals)
    changed = fields[(fields["changes"] > 0) & ~fields["volatile"]]
    counts = pd.DataFrame(
        {
            "changed_fields": changed.groupby("workflow_id").size(),
            "volatile_fields": fields[fields["volatile"]].groupby("workflow_id").size(),
        }
    )
    suspects = (
        changed[(changed["association"] > 0) & changed["section"].isin(SUSPECT_SECTIONS)]
        .groupby("workflow_id", sort=False)
        .head(1)
        .set_index("workflow_id")
    )
    frame = (
        workflow_totals.set_index("workflow_id")
        .join(counts)
        .join(
            suspects[["path", "associated_value", "association", "last_change_at"]].rename(
                columns={
                    "path": "top_suspect",
                    "associated_value": "top_suspect_value",
                    "association": "top_suspect_association",
                    "last_change_at": "top_suspect_changed_at",
                }
            )
        )
    )
    frame = frame.reset_index()
    frame["failure_rate"] = frame["failed"] / frame["runs"]
    for column in ("changed_fields", "volatile_fields"):
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["top_suspect_association"] = frame["top_suspect_association"].astype(float)
    frame["top_suspect"] = _texts(frame["top_suspect"])
    frame["top_suspect_value"] = _texts(frame["top_suspect_value"])
    frame = frame.sort_values(
        ["failure_rate", "top_suspect_association", "workflow_id"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    )
    return frame[list(SUMMARY_COLUMNS)].reset_index(drop=True)


# -- change points and timelines -----------------------------------------------------

_CHANGES_SQL = """
, steps AS (
    SELECT f.path, o.n, f.value, f.value_type, lag(f.value) OVER w AS previous_value,
           lag(f.value_type) OVER w AS previous_type,
           lag(o.n) OVER w AS previous_n, lead(o.n) OVER w AS next_n
    FROM run_fields f JOIN runs_in o USING (run_id)
    WHERE list_contains($paths, f.path)
    WINDOW w AS (PARTITION BY f.path ORDER BY o.n)
),
events AS (
    SELECT path, n,
           CASE WHEN value_type <> previous_type THEN 'type_changed' ELSE 'changed' END
               AS change,
           previous_value AS before, value AS after
    FROM steps WHERE previous_n = n - 1 AND value <> previous_value
    UNION ALL
    SELECT path, n, 'added', NULL, value
    FROM steps WHERE n > 1 AND (previous_n IS NULL OR previous_n < n - 1)
    UNION ALL
    SELECT path, n + 1, 'removed', value, NULL
    FROM steps WHERE n < $runs AND (next_n IS NULL OR next_n > n + 1)
)
SELECT e.path, r.run_id, r.created_at, r.status, r.failing, p.run_id AS previous_run_id,
       e.change, e.before, e.after, list_contains($volatile, e.path) AS volatile
FROM events e
JOIN runs_in r ON r.n = e.n
JOIN runs_in p ON p.n = e.n - 1
ORDER BY e.n, e.path
"""


def _change_points(
    con: Any, scope: Scope, paths: Sequence[str], runs: int, volatile: Sequence[str]
) -> pd.DataFrame:
    frame = scope.query(con, _CHANGES_SQL, paths=list(paths), runs=runs, volatile=list(volatile))
    frame = frame.astype({"before": object, "after": object, "path": object})
    frame["before"] = frame["before"].where(frame["before"].notna(), None)
    frame["after"] = frame["after"].where(frame["after"].notna(), None)
    return frame[list(CHANGE_COLUMNS)]


def _timeline(con: Any, scope: Scope, path: str) -> pd.DataFrame:
    frame = scope.query(
        con,
        """
        SELECT o.run_id, o.created_at, o.status, o.failing, f.value_type IS NOT NULL AS present,
               f.value_type, f.value AS json_value,
               CASE WHEN f.value_type IN ('integer', 'float') THEN CAST(f.value AS DOUBLE) END
                   AS number,
               CASE WHEN f.value_type = 'string' THEN f.value ->> '$' END AS text
        FROM runs_in o
        LEFT JOIN (SELECT run_id, value, value_type FROM run_fields WHERE path = $path) f
            USING (run_id)
        ORDER BY o.n
        """,
        path=path,
    )
    types = set(frame.loc[frame["present"], "value_type"])
    if types and types <= {"integer", "float"}:
        value = frame["number"].astype(float)
    elif types == {"string"}:
        value = frame["text"].astype(object).where(frame["present"], None)
    else:
        value = frame["json_value"].astype(object).where(frame["present"], None)
    frame["value"] = value
    frame["value_type"] = frame["value_type"].astype(object).where(frame["present"], None)
    return frame[list(TIMELINE_COLUMNS)]


# -- plots ---------------------------------------------------------------------------


def _plot(
    report: DriftReport, path: str, *, ax: Axes | None, figsize: tuple[float, float]
) -> Figure:
    from matplotlib import dates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    timeline = report.timeline(path)
    if ax is None:
        figure = Figure(figsize=figsize, layout="constrained")
        ax = figure.add_subplot()
        _notebook_display()
    else:
        figure = ax.figure
    present = timeline[timeline["present"]]
    all_times = timeline["created_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    numeric = pd.api.types.is_float_dtype(timeline["value"]) and not present.empty
    if numeric:
        shown = present
        y = shown["value"].to_numpy(float)
        ax.plot(all_times[shown.index], y, color="#8c959f", linewidth=0.8, zorder=1)
        absent = all_times[~timeline["present"]]
        if len(absent):  # a rug along the bottom marks runs without the path
            ax.plot(
                absent,
                np.zeros(len(absent)),
                "|",
                color="#8c959f",
                markersize=6,
                transform=ax.get_xaxis_transform(),
                label="absent",
            )
    else:
        shown = timeline
        labels = timeline["value"].where(timeline["present"], _ABSENT)
        categories = list(dict.fromkeys(labels.tolist()))
        codes = {category: number for number, category in enumerate(categories)}
        y = labels.map(codes).to_numpy(float)
        ax.step(all_times, y, where="post", color="#8c959f", linewidth=0.8, zorder=1)
        if len(categories) <= _MAX_CATEGORY_LABELS:
            ax.set_yticks(range(len(categories)))
            ax.set_yticklabels([_short(category) for category in categories])
        else:
            ax.set_ylabel(f"{len(categories)} distinct values")
    times = all_times[shown.index]
    colors = shown["status"].map(STATUS_COLORS).fillna("#57606a").tolist()
    size = 18 if len(shown) <= 2000 else 4
    ax.scatter(times, y, c=colors, s=size, zorder=2, linewidths=0, rasterized=len(shown) > 5000)
    if report.failing != DEFAULT_FAILING:
        failing = shown["failing"].to_numpy(bool)
        ax.scatter(
            times[failing],
            y[failing],
            s=size * 2.5,
            facecolors="none",
            edgecolors="#1f2328",
            linewidths=0.8,
            zorder=3,
            label=f"failing: {report.failing}",
        )
    if len(all_times) > 1:  # the whole window, runs without the path included
        pad = (all_times.iloc[-1] - all_times.iloc[0]) * 0.01
        ax.set_xlim(all_times.iloc[0] - pad, all_times.iloc[-1] + pad)
    row = report.fields[report.fields["path"] == path].iloc[0]
    if not row["volatile"] and 0 < row["changes"] <= _MAX_PLOTTED_CHANGES:
        changes = report.changes(path)
        for moment in changes["created_at"].dt.tz_convert("UTC").dt.tz_localize(None):
            ax.axvline(moment, color="#57606a", linestyle="--", linewidth=0.8, zorder=0)
    statuses = [status for status in STATUS_COLORS if status in set(shown["status"])]
    handles = [
        Line2D([], [], marker="o", linestyle="", color=STATUS_COLORS[status], label=status)
        for status in statuses
    ]
    handles += ax.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles=handles, loc="best", fontsize="small", frameon=False)
    missing = int((~timeline["present"]).sum())
    note = f" (absent in {missing} of {len(timeline)} runs)" if missing else ""
    ax.set_title(f"{report.workflow_id} · {path}{note}", fontsize="medium", loc="left")
    locator = dates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    ax.grid(axis="y", color="#d0d7de", linewidth=0.5)
    return figure


def _short(value: Any, limit: int = 32) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _notebook_display() -> None:
    """Let IPython show a bare matplotlib Figure as PNG even when pyplot was never used."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, figure_png)


def figure_png(figure: Figure) -> bytes:
    """A chart from `DriftReport.plot` as PNG bytes (what notebooks and DriftPanel show)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# -- bisect --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Bisect:
    """The last good run before the first bad one, their diff, and the ranked suspects."""

    workflow_id: str
    failing: str
    good_run: dict
    """{run_id, created_at, status, failing} of the good run."""
    bad_run: dict
    runs: int
    failed: int
    runs_between: int
    """Runs of the workflow strictly between good and bad (0 when adjacent)."""
    run_diff: RunDiff = field(repr=False)
    suspects: pd.DataFrame = field(repr=False)
    """One row per input path whose value differs between good and bad, best suspect
    first (SUSPECT_COLUMNS): rank, path, section, change, before, after (JSON text, None
    when absent), volatile, runs_with / failed_with (runs holding the bad run's value —
    or lacking the path when it was removed — and how many of them fail), runs_without,
    failed_without, failure_rate_with, failure_rate_without, risk_difference,
    association (phi, see the module docstring), first_seen_run_id / first_seen_at (the
    first run holding the bad run's value)."""
    sections: tuple[str, ...] = SUSPECT_SECTIONS

    @property
    def good_run_id(self) -> str:
        return self.good_run["run_id"]

    @property
    def bad_run_id(self) -> str:
        return self.bad_run["run_id"]

    @property
    def top_suspect(self) -> str | None:
        """The best-ranked non-volatile suspect path, or None when no input changed but
        volatile ones (a trace id or host differs in every pair of runs: no cause)."""
        steady = self.suspects[~self.suspects["volatile"].astype(bool)]
        return None if steady.empty else str(steady["path"].iloc[0])

    @property
    def summary(self) -> str:
        return _bisect_summary_line(self)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (camelCase keys); `runDiff` is RunDiff.to_dict()."""
        return {
            "workflowId": self.workflow_id,
            "failing": self.failing,
            "good": _run_json(self.good_run),
            "bad": _run_json(self.bad_run),
            "runs": self.runs,
            "failed": self.failed,
            "runsBetween": self.runs_between,
            "sections": list(self.sections),
            "topSuspect": self.top_suspect,
            "summary": self.summary,
            "suspects": json_records(self.suspects),
            "runDiff": self.run_diff.to_dict(),
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)

    def to_markdown(self) -> str:
        """Markdown: the pair, the suspects table, then the pair's diff."""
        from runreplay.report import bisect_to_markdown

        return bisect_to_markdown(self)

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """One self-contained HTML page; also written to `path` when given."""
        from runreplay.report import bisect_to_html

        return bisect_to_html(self, path)

    def _repr_html_(self) -> str:
        from runreplay.report import bisect_to_html_fragment

        return bisect_to_html_fragment(self)

    def __repr__(self) -> str:
        return f"<Bisect {self.summary}>"


def bisect(
    store: RunStore,
    workflow_id: str,
    bad: str | None = None,
    good: str | None = None,
    failing: str | None = None,
    *,
    since: Any = None,
    until: Any = None,
    sections: Sequence[str] | None = SUSPECT_SECTIONS,
    ignore: Sequence[str] | None = (),
    **diff_options: Any,
) -> Bisect:
    """Find where `workflow_id` started failing and which input change most likely did it.

    bad: the first failing run (or after `good` when only good is given); good: the last
    run before bad that SUCCEEDED and is not failing. Either can be given as a run id.
    `failing` is a predicate (default `status == 'FAILED'`; e.g.
    `"output.metrics.auc < 0.9"`). `since` / `until`
    (createdAt, until exclusive) keep the search to a window: a workflow that failed once
    long ago and regressed again is bisected to the new regression with `since=` after
    the old one. Suspects come from `sections` (default parameters and context) minus
    `ignore` globs (which the pair's RunDiff leaves out too). `diff_options` go to
    `diff_stored` (rtol, atol, now, ...). Raises RunReplayError when no run is failing,
    no good run precedes the bad one, or a given run belongs to another workflow or lies
    outside the window; InvalidPredicate for a bad `failing`.

    >>> found = bisect(store, "nightly-etl")  # doctest: +SKIP
    >>> found.good_run_id, found.bad_run_id, found.top_suspect  # doctest: +SKIP
    ('run-000345', 'run-000347', 'parameters.batchSize')
    """
    from runreplay.diff import diff_stored

    chosen = _sections(sections, SUSPECT_SECTIONS)
    globs = _globs(ignore)
    predicate = compile_predicate(failing)
    _require_workflow(store, workflow_id)
    scope = Scope(workflow_id, *_window(since, until), predicate)
    con = store.connection
    good_run, bad_run = _pair(con, scope, workflow_id, predicate, good, bad)
    workflow_totals = totals(con, scope).iloc[0]
    runs, failed = int(workflow_totals["runs"]), int(workflow_totals["failed"])
    suspects = _suspects(con, scope, good_run, bad_run, chosen, globs, runs, failed)
    run_diff = diff_stored(
        store, good_run["run_id"], bad_run["run_id"], ignore=globs, **diff_options
    )
    return Bisect(
        workflow_id=workflow_id,
        failing=predicate.expression,
        good_run=_run_dict(good_run),
        bad_run=_run_dict(bad_run),
        runs=runs,
        failed=failed,
        runs_between=int(bad_run["n"] - good_run["n"] - 1),
        run_diff=run_diff,
        suspects=suspects,
        sections=chosen,
    )


def _pair(
    con: Any,
    scope: Scope,
    workflow_id: str,
    predicate: Predicate,
    good: str | None,
    bad: str | None,
) -> tuple[dict, dict]:
    """The (good, bad) runs as dicts with n, from the given ids or the failing flags."""
    if good is not None and good == bad:
        raise RunReplayError(
            f"good and bad are the same run ({good!r}); pass the last good run as good= "
            "(--good) and a later failing run as bad= (--bad), or leave one out"
        )
    given = [run_id for run_id in (good, bad) if run_id is not None]
    for run_id in given:
        row = con.execute("SELECT workflow_id FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        if row[0] != workflow_id:
            raise RunReplayError(
                f"run {run_id!r} belongs to workflow {row[0]!r}, not {workflow_id!r}; "
                "bisect compares runs of one workflow"
            )
    frame = scope.query(
        con,
        """
        , marks AS (
            SELECT min(n) FILTER (run_id = $good) AS good_n, min(n) FILTER (run_id = $bad) AS bad_n
            FROM runs_in
        ),
        chosen AS (
            SELECT coalesce(
                       m.bad_n,
                       (SELECT min(n) FROM runs_in
                        WHERE failing AND n > coalesce(m.good_n, 0))) AS bad_n,
                   m.good_n
            FROM marks m
        ),
        pair AS (
            SELECT bad_n,
                   coalesce(good_n, (SELECT max(n) FROM runs_in
                                     WHERE NOT failing AND status = 'SUCCEEDED'
                                         AND n < c.bad_n)) AS good_n
            FROM chosen c
        )
        SELECT CASE WHEN r.n = p.good_n THEN 'good' ELSE 'bad' END AS role,
               r.run_id, r.created_at, r.status, r.failing, r.n
        FROM runs_in r JOIN pair p ON r.n IN (p.good_n, p.bad_n)
        """,
        good=good,
        bad=bad,
    )
    found = {row["role"]: row for row in frame.to_dict("records")}
    failing_text = f"failing ({predicate.expression})"
    window = _window_text(scope)
    if given and (scope.since is not None or scope.until is not None):
        inside = set(
            scope.query(con, "SELECT run_id FROM runs_in WHERE list_contains($given, run_id)",
                        given=given)["run_id"]
        )  # fmt: skip
        for run_id in given:
            if run_id not in inside:
                raise RunReplayError(
                    f"run {run_id!r} was created outside the window of runs{window}; widen the "
                    "window (since= / until=) or leave the run out"
                )
    if "bad" not in found:
        after = f" after the good run {good!r}" if good else ""
        raise RunReplayError(
            f"no run of {workflow_id!r}{window}{after} is {failing_text}; nothing to bisect. "
            "Pass bad= (--bad), another failing= predicate (--failing) or a wider window."
        )
    if "good" not in found:
        bad_id, earlier = found["bad"]["run_id"], int(found["bad"]["n"]) - 1
        what = (
            f"no run of {workflow_id!r}{window} precedes {bad_id!r}"
            if not earlier
            else f"none of the {_plural(earlier, 'run')} of {workflow_id!r}{window} before "
            f"{bad_id!r} succeeded without being {failing_text}"
        )
        raise RunReplayError(
            f"{what}, so there is no good run to compare with; pass good=<run id> "
            "(--good) or start the window earlier"
        )
    good_run, bad_run = found["good"], found["bad"]
    if good_run["n"] >= bad_run["n"]:
        raise RunReplayError(
            f"the good run {good_run['run_id']!r} is not older than the bad run "
            f"{bad_run['run_id']!r} (by createdAt, runId); swap them"
        )
    return good_run, bad_run


_CHANGED_SQL = """
WITH good AS (
    SELECT path, section, value, value_type
    FROM run_fields WHERE run_id = $good AND list_contains($sections, section)
),
bad AS (
    SELECT path, section, value, value_type
    FROM run_fields WHERE run_id = $bad AND list_contains($sections, section)
)
SELECT coalesce(b.path, g.path) AS path, coalesce(b.section, g.section) AS section,
       CASE WHEN g.path IS NULL THEN 'added' WHEN b.path IS NULL THEN 'removed'
            WHEN g.value_type <> b.value_type THEN 'type_changed' ELSE 'changed' END AS change,
       g.value AS before, b.value AS after
FROM good g FULL JOIN bad b USING (path)
WHERE g.value IS DISTINCT FROM b.value
"""

_EVIDENCE_SQL = """
, wanted AS (
    SELECT unnest($paths) AS path, CAST(unnest($values) AS JSON) AS value
),
holding AS (
    SELECT f.path, count(*) AS runs_with, count(*) FILTER (o.failing) AS failed_with,
           min(o.n) AS first_n
    FROM run_fields f JOIN runs_in o USING (run_id)
    JOIN wanted w ON w.path = f.path AND w.value = f.value
    WHERE list_contains($paths, f.path)
    GROUP BY f.path
),
present AS (
    SELECT f.path, count(*) AS present, count(*) FILTER (o.failing) AS failed_present
    FROM run_fields f JOIN runs_in o USING (run_id)
    WHERE list_contains($removed, f.path)
    GROUP BY f.path
)
SELECT w.path, h.runs_with, h.failed_with, p.present, p.failed_present,
       first_run.run_id AS first_seen_run_id, first_run.created_at AS first_seen_at
FROM (SELECT DISTINCT path FROM wanted UNION SELECT unnest($removed)) w
LEFT JOIN holding h USING (path)
LEFT JOIN present p USING (path)
LEFT JOIN runs_in first_run ON first_run.n = h.first_n
"""


def _suspects(
    con: Any,
    scope: Scope,
    good_run: dict,
    bad_run: dict,
    sections: Sequence[str],
    ignore: Sequence[str],
    runs: int,
    failed: int,
) -> pd.DataFrame:
    changed = con.execute(
        _CHANGED_SQL,
        {"good": good_run["run_id"], "bad": bad_run["run_id"], "sections": list(sections)},
    ).df()
    if ignore and len(changed):
        changed = changed[[not matches(path, ignore) for path in changed["path"]]]
    changed = changed.astype({"before": object, "after": object})
    removed = changed["change"] == "removed"
    kept = changed[~removed]
    evidence = scope.query(
        con,
        _EVIDENCE_SQL,
        paths=kept["path"].tolist(),
        values=kept["after"].tolist(),
        removed=changed.loc[removed, "path"].tolist(),
    )
    # volatility over the whole history, by the same window as drift's fields
    volatility = pair_stats(con, scope, changed["path"].tolist())
    gkeys = con.execute(
        "SELECT path, hash(hash($workflow), path) AS gkey FROM (SELECT unnest($paths) AS path)",
        {"paths": changed["path"].tolist(), "workflow": scope.workflow_id},
    ).df()
    frame = changed.merge(evidence, on="path", how="left")
    frame = frame.merge(gkeys, on="path", how="left").merge(volatility, on="gkey", how="left")
    is_removed = frame["change"] == "removed"
    runs_with = np.where(
        is_removed, runs - frame["present"].fillna(0), frame["runs_with"].fillna(0)
    )
    failed_with = np.where(
        is_removed, failed - frame["failed_present"].fillna(0), frame["failed_with"].fillna(0)
    )
    volatile = pd.Series(
        is_volatile(frame["pairs"].fillna(0), frame["changed_pairs"].fillna(0)), index=frame.index
    )
    rate_with = _rate(failed_with, runs_with)
    rate_without = _rate(failed - failed_with, runs - runs_with)
    suspects = pd.DataFrame(
        {
            "path": frame["path"].astype(object),
            "section": frame["section"].astype(object),
            "change": frame["change"].astype(object),
            "before": frame["before"].where(frame["before"].notna(), None),
            "after": frame["after"].where(frame["after"].notna(), None),
            "volatile": volatile.astype(bool),
            "runs_with": pd.array(runs_with, dtype="int64"),
            "failed_with": pd.array(failed_with, dtype="int64"),
            "runs_without": pd.array(runs - runs_with, dtype="int64"),
            "failed_without": pd.array(failed - failed_with, dtype="int64"),
            "failure_rate_with": rate_with,
            "failure_rate_without": rate_without,
            "risk_difference": rate_with - rate_without,
            "association": _phi(runs_with, failed_with, runs, failed),
            "first_seen_run_id": _texts(frame["first_seen_run_id"].where(~is_removed)),
            "first_seen_at": frame["first_seen_at"].where(~is_removed),
        }
    )
    section_rank = {section: rank for rank, section in enumerate(FIELD_SECTIONS)}
    order = pd.DataFrame(
        {
            "volatile": suspects["volatile"],
            "association": -suspects["association"].fillna(-2.0),
            "failed_with": -suspects["failed_with"],
            "section": suspects["section"].map(section_rank),
            "path": suspects["path"],
        }
    ).sort_values(["volatile", "association", "failed_with", "section", "path"], kind="stable")
    suspects = suspects.loc[order.index].reset_index(drop=True)
    suspects.insert(0, "rank", pd.array(range(1, len(suspects) + 1), dtype="int64"))
    return suspects[list(SUSPECT_COLUMNS)]


# -- small helpers -------------------------------------------------------------------


def _run_dict(row: dict) -> dict:
    return {
        "run_id": row["run_id"],
        "created_at": row["created_at"],
        "status": row["status"],
        "failing": bool(row["failing"]),
    }


def _run_json(run: dict) -> dict:
    return {
        "runId": run["run_id"],
        "createdAt": iso(run["created_at"]),
        "status": run["status"],
        "failing": run["failing"],
    }


def _top_suspect(fields: pd.DataFrame) -> str | None:
    rows = fields[
        (fields["changes"] > 0)
        & ~fields["volatile"]
        & (fields["association"] > 0)
        & fields["section"].isin(SUSPECT_SECTIONS)
    ]
    return None if rows.empty else str(rows["path"].iloc[0])


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _drift_summary_line(report: DriftReport) -> str:
    window = ""
    if report.since is not None or report.until is not None:
        window = f" [{iso(report.since) or '…'} – {iso(report.until) or '…'})"
    rows = report.fields
    drifted = int(((rows["changes"] > 0) & ~rows["volatile"]).sum())
    volatile = int(rows["volatile"].sum())
    rate = "" if not report.runs else f" ({report.failure_rate:.0%})"
    text = (
        f"{report.workflow_id}{window}: {_plural(report.runs, 'run')}, "
        f"{report.failed} failing{rate}; {_plural(drifted, 'path')} drifted, "
        f"{volatile} volatile, {len(rows)} in all"
    )
    top = report.top_suspect
    if top is not None:
        row = rows[rows["path"] == top].iloc[0]
        shown = "absent" if row["associated_value"] is None else row["associated_value"]
        text += f"; top suspect {top} = {shown} (association {row['association']:.2f})"
    return text


def _bisect_summary_line(found: Bisect) -> str:
    failing = "" if found.failing == DEFAULT_FAILING else f", failing: {found.failing}"
    text = (
        f"{found.workflow_id}: good {found.good_run_id} ({found.good_run['status']}) → "
        f"bad {found.bad_run_id} ({found.bad_run['status']}{failing})"
    )
    if found.runs_between:
        text += f", {_plural(found.runs_between, 'run')} between"
    if found.suspects.empty:
        return text + f"; no {' or '.join(found.sections)} path differs between them"
    if found.top_suspect is None:
        shown = ", ".join(found.suspects["path"].head(3))
        more = "" if len(found.suspects) <= 3 else ", ..."
        return text + (
            f"; only volatile paths differ between them ({shown}{more}): no suspect; "
            "look at the run diff, or at runs further back"
        )
    row = found.suspects.iloc[0]
    change = "absent" if row["after"] is None else row["after"]
    before = "absent" if row["before"] is None else row["before"]
    return (
        text
        + f"; {_plural(len(found.suspects), 'suspect')}, top {row['path']} {before} → {change} "
        f"(association {_format_float(row['association'])}, {row['failed_with']} of "
        f"{row['runs_with']} runs with it failing)"
    )


def _format_float(value: Any) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.2f}"
    )

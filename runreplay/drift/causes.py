"""What a regression's onset points at: the steps whose failures or retries rose across it,
and a verdict in the operator's terms ("altered inputs", "failing step", "retry path").

docs/ARCHITECTURE.md, "Drift and bisect".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

VERDICTS = ("altered inputs", "failing step", "retry path")
STEP_RISE = 0.2
"""Rise in the share of runs in which a step fails (or retries) that names it in a verdict."""

STEP_COLUMNS = (
    "step",
    "runs_before",
    "runs_after",
    "failed_before",
    "failed_after",
    "retried_before",
    "retried_after",
    "attempts_before",
    "attempts_after",
)


def step_table(con: Any, before: Sequence[str], after: Sequence[str]) -> pd.DataFrame:
    """Per step (STEP_COLUMNS), before vs after an onset: the share of runs in which it
    failed, in which it retried, and its mean attempts where it ran; steps in order of
    their first appearance, most risen failures first within ties."""
    runs = pd.DataFrame(
        {"run_id": [*before, *after], "after": [False] * len(before) + [True] * len(after)}
    )
    per_run = con.execute(
        """
        SELECT e.run_id, e.step, min(e.position) AS first_position,
               count(*) FILTER (e.status = 'RUNNING') AS started,
               coalesce(max(e.attempt), count(*) FILTER (e.status = 'RUNNING')) AS attempts,
               bool_or(e.status = 'FAILED') AS failed,
               bool_or(e.status = 'RETRYING') AS retried
        FROM run_events e SEMI JOIN runs_df w USING (run_id)
        WHERE e.step IS NOT NULL
        GROUP BY e.run_id, e.step
        """.replace("runs_df", "(SELECT unnest($ids) AS run_id)"),
        {"ids": list(runs["run_id"])},
    ).df()
    if per_run.empty:
        return pd.DataFrame(columns=list(STEP_COLUMNS))
    per_run = per_run.merge(runs, on="run_id")
    totals = {False: len(before), True: len(after)}
    rows = []
    order = per_run.groupby("step")["first_position"].median().sort_values(kind="stable")
    for step in order.index:
        row: dict[str, Any] = {"step": step}
        for side, label in ((False, "before"), (True, "after")):
            mine = per_run[(per_run["step"] == step) & (per_run["after"] == side)]
            total = totals[side]
            row[f"runs_{label}"] = total
            row[f"failed_{label}"] = mine["failed"].sum() / total if total else np.nan
            row[f"retried_{label}"] = mine["retried"].sum() / total if total else np.nan
            row[f"attempts_{label}"] = float(mine["attempts"].mean()) if len(mine) else np.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(STEP_COLUMNS))
    return table.astype({"runs_before": "int64", "runs_after": "int64"})


def _risen(steps: pd.DataFrame, what: str) -> pd.Series | None:
    """The step row whose `what` share rose most, when it rose by STEP_RISE or more."""
    if steps.empty:
        return None
    rise = (steps[f"{what}_after"] - steps[f"{what}_before"]).fillna(0.0)
    best = int(rise.to_numpy().argmax())
    return steps.iloc[best] if rise.iloc[best] >= STEP_RISE else None


def verdict(
    onset_run_id: str,
    top_suspect: dict | None,
    changed_with: Sequence[str],
    steps: pd.DataFrame,
) -> tuple[str, str]:
    """(verdict, one-sentence explanation) for an onset.

    An input that changed at the onset and persisted: "altered inputs". Otherwise the cause
    lies outside the recorded inputs: "failing step" naming the step whose failures rose
    most, or "retry path" when only retries rose.
    """
    if top_suspect is not None:
        path = top_suspect["path"]
        before = "absent" if top_suspect["before"] is None else top_suspect["before"]
        after = "absent" if top_suspect["after"] is None else top_suspect["after"]
        at = top_suspect.get("changed_at_run_id") or onset_run_id
        together = [other for other in changed_with if other != path]
        also = f", together with {', '.join(together)}" if together else ""
        tied = (
            " (fields that changed in the same run cannot be told apart from history alone)"
            if together
            else ""
        )
        return (
            "altered inputs",
            f"{path} changed from {before} to {after} at {at}{also} and stayed{tied}",
        )
    failed = _risen(steps, "failed")
    if failed is not None:
        return (
            "failing step",
            f"no recorded input changed at {onset_run_id}; step {failed['step']} fails in "
            f"{failed['failed_after']:.0%} of runs after it, {failed['failed_before']:.0%} "
            "before: look outside the workflow (upstream data, infrastructure)",
        )
    retried = _risen(steps, "retried")
    if retried is not None:
        return (
            "retry path",
            f"no recorded input changed at {onset_run_id}; step {retried['step']} retries in "
            f"{retried['retried_after']:.0%} of runs after it, {retried['retried_before']:.0%} "
            "before: the runs take another retry path (flaky dependency, rate limits)",
        )
    if not steps.empty:
        rise = (steps["failed_after"] - steps["failed_before"]).fillna(0.0)
        worst = steps.iloc[int(rise.to_numpy().argmax())]
        return (
            "failing step",
            f"no recorded input changed at {onset_run_id}; step {worst['step']} fails in "
            f"{worst['failed_after']:.0%} of runs after it, {worst['failed_before']:.0%} "
            "before: look outside the workflow (upstream data, infrastructure)",
        )
    return (
        "failing step",
        f"no recorded input changed at {onset_run_id} and the runs record no steps: "
        "look outside the workflow (upstream data, infrastructure)",
    )

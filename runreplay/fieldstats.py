"""Field statistics over consecutive runs of a workflow, in DuckDB SQL: presence, changes, volatility.

The one implementation of "what changed between consecutive runs" and "which paths are
volatile" that drift (runreplay.drift) and the diff's volatile paths (runreplay.diff) share.

    >>> scope = Scope("nightly-etl")                         # every run of one workflow
    >>> volatile_paths(store.connection, "nightly-etl")      # doctest: +SKIP
    {'context.host', 'context.traceId', 'duration', 'partitionKey', ...}

Runs are ordered by (createdAt, runId) and numbered n = 1, 2, ... per workflow; a pair is two
runs with consecutive n that both hold the path. A path is volatile when it has at least
`min_pairs` pairs and its value differs in at least `threshold` of them (default 0.9 and 3).

How it stays fast: one grouped scan finds, per path, whether it ever holds two values or goes
missing (most paths never change); only those paths go through the window (lag over n),
keyed by integer hashes of (workflow, path) and of the JSON text of the value — 1, 1.0, "1"
and true have different texts, so they stay different values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from runreplay.model import (  # noqa: F401  (the volatility defaults live in model)
    FIELD_SECTIONS,
    RUN_FIELDS,
    VOLATILE_MIN_PAIRS,
    VOLATILE_RECENT_RUNS,
    VOLATILE_THRESHOLD,
)
from runreplay.predicate import Predicate

_NO_FAILURES = Predicate("false", "false", "", {}, ())


@dataclass(frozen=True)
class Scope:
    """Which runs a query reads: one workflow (None: every workflow), since <= createdAt <
    until, and the predicate that marks a run failing (None: none fails)."""

    workflow_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    failing: Predicate | None = None

    def runs_in(self) -> tuple[str, dict[str, Any]]:
        """The CTE `runs_in` (run_id, workflow_id, wkey, created_at, status, failing, n) and
        its bound parameters; wkey = hash(workflow_id)."""
        failing = self.failing or _NO_FAILURES
        conditions = []
        params: dict[str, Any] = dict(failing.params)
        if self.workflow_id is not None:
            conditions.append("r.workflow_id = $workflow")
            params["workflow"] = self.workflow_id
        if self.since is not None:
            conditions.append("r.created_at >= $since")
            params["since"] = self.since
        if self.until is not None:
            conditions.append("r.created_at < $until")
            params["until"] = self.until
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"""
        runs_in AS MATERIALIZED (
            SELECT r.run_id, r.workflow_id, hash(r.workflow_id) AS wkey, r.created_at,
                   r.status, {failing.condition} AS failing,
                   row_number() OVER (
                       PARTITION BY r.workflow_id ORDER BY r.created_at, r.run_id) AS n
            FROM runs r {failing.joins}
            {where}
        )"""
        return sql, params

    def query(self, con: Any, body: str, **params: Any) -> pd.DataFrame:
        """Run `WITH runs_in AS (...) <body>` with the scope's and `params` bound."""
        cte, bound = self.runs_in()
        bound.update(params)
        return con.execute(f"WITH {cte}\n{body}", bound).df()


def totals(con: Any, scope: Scope) -> pd.DataFrame:
    """Per workflow: workflow_id, wkey, runs, failed, first_run_at, last_run_at."""
    return scope.query(
        con,
        """
        SELECT workflow_id, any_value(wkey) AS wkey, count(*) AS runs,
               count(*) FILTER (failing) AS failed,
               min(created_at) AS first_run_at, max(created_at) AS last_run_at
        FROM runs_in GROUP BY workflow_id ORDER BY workflow_id
        """,
    )


def path_stats(con: Any, scope: Scope, sections: Sequence[str] = FIELD_SECTIONS) -> pd.DataFrame:
    """One grouped scan of run_fields: per (workflow, path) wkey, path, gkey, present,
    failed_present, single_value (one JSON text in every run holding it), section.

    gkey = hash(wkey, path) keys the other queries' results.
    """
    stats = scope.query(
        con,
        """
        SELECT o.wkey, f.path, hash(o.wkey, f.path) AS gkey,
               count(*) AS present, count(*) FILTER (o.failing) AS failed_present,
               min(hash(f.value)) = max(hash(f.value)) AS single_value
        FROM run_fields f JOIN runs_in o USING (run_id)
        WHERE list_contains($sections, f.section)
        GROUP BY o.wkey, f.path
        """,
        sections=list(sections),
    )
    # a run_fields path starts with its section's name: no need to read that column
    stats["section"] = stats["path"].str.extract(r"^([A-Za-z_][A-Za-z0-9_]*)", expand=False)
    return stats


def varying(stats: pd.DataFrame, runs: pd.Series) -> pd.Series:
    """Which `path_stats` rows can change: more than one value, or absent in some run."""
    return ~(stats["single_value"] & (stats["present"] == runs))


_FIELD_LEAVES = """
    SELECT hash(o.wkey, f.path) AS gkey, o.wkey, o.n, hash(f.value) AS v
    FROM run_fields f JOIN runs_in o USING (run_id)
    WHERE list_contains($paths, f.path)
"""
_RUN_LEAVES = """
    UNION ALL
    SELECT hash(o.wkey, name), o.wkey, o.n, hash(value)
    FROM (
        SELECT o.wkey, o.n, unnest(['status', 'runKey', 'partitionKey', 'replayOf', 'duration'])
                   AS name,
               unnest([r.status, r.run_key, r.partition_key, r.replay_of,
                       CAST(epoch(r.finished_at - r.started_at) AS VARCHAR)]) AS value
        FROM runs r JOIN runs_in o USING (run_id)
    ) o
    WHERE value IS NOT NULL
"""
_PAIR_STATS_SQL = """
, steps AS (
    SELECT gkey, wkey, n, v, lag(v) OVER w AS previous_v, lag(n) OVER w AS previous_n
    FROM ({leaves})
    WINDOW w AS (PARTITION BY gkey ORDER BY n)
),
workflow_runs AS (SELECT wkey, count(*) AS runs FROM runs_in GROUP BY wkey),
stats AS (
    SELECT gkey, any_value(wkey) AS wkey,
           count(*) FILTER (previous_n = n - 1) AS pairs,
           count(*) FILTER (previous_n = n - 1 AND v <> previous_v) AS changed_pairs,
           count(*) FILTER (previous_n < n - 1) AS gaps,
           min(n) FILTER (previous_n = n - 1 AND v <> previous_v
                          OR previous_n < n - 1 OR previous_n IS NULL AND n > 1) AS first_at,
           max(n) FILTER (previous_n = n - 1 AND v <> previous_v
                          OR previous_n < n - 1 OR previous_n IS NULL AND n > 1) AS last_at,
           min(previous_n + 1) FILTER (previous_n < n - 1) AS first_gap,
           max(previous_n + 1) FILTER (previous_n < n - 1) AS last_gap,
           min(n) AS first_n, max(n) AS last_n, approx_count_distinct(v) AS distinct_values
    FROM steps GROUP BY gkey
),
changes AS (
    SELECT s.gkey, s.wkey, s.pairs, s.changed_pairs, s.distinct_values,
           s.changed_pairs + 2 * s.gaps + (s.first_n > 1)::INTEGER
               + (s.last_n < t.runs)::INTEGER AS changes,
           least(s.first_at, s.first_gap,
                 CASE WHEN s.last_n < t.runs THEN s.last_n + 1 END) AS first_change_n,
           greatest(s.last_at, s.last_gap,
                    CASE WHEN s.last_n < t.runs THEN s.last_n + 1 END) AS last_change_n
    FROM stats s JOIN workflow_runs t USING (wkey)
)
SELECT c.gkey, c.pairs, c.changed_pairs, c.changes, c.distinct_values,
       first_run.run_id AS first_change_run_id, first_run.created_at AS first_change_at,
       last_run.run_id AS last_change_run_id, last_run.created_at AS last_change_at
FROM changes c
LEFT JOIN runs_in first_run ON first_run.wkey = c.wkey AND first_run.n = c.first_change_n
LEFT JOIN runs_in last_run ON last_run.wkey = c.wkey AND last_run.n = c.last_change_n
"""


def pair_stats(
    con: Any, scope: Scope, paths: Sequence[str], *, run_columns: bool = False
) -> pd.DataFrame:
    """Window over `paths` (and the RUN_FIELDS when `run_columns`): per gkey pairs,
    changed_pairs, changes (change points: a value differs from the previous run's,
    appearing and disappearing included), distinct_values (approximate, HyperLogLog),
    first/last_change_run_id and first/last_change_at."""
    leaves = _FIELD_LEAVES + (_RUN_LEAVES if run_columns else "")
    return scope.query(con, _PAIR_STATS_SQL.format(leaves=leaves), paths=list(paths))


def is_volatile(
    pairs: Any,
    changed_pairs: Any,
    threshold: float = VOLATILE_THRESHOLD,
    min_pairs: int = VOLATILE_MIN_PAIRS,
) -> Any:
    """The volatility rule, vectorised: enough pairs, and a changed share >= threshold."""
    pairs = np.asarray(pairs, dtype=float)
    changed_pairs = np.asarray(changed_pairs, dtype=float)
    return (pairs >= min_pairs) & (changed_pairs >= threshold * pairs)


def volatile_paths(
    con: Any,
    workflow_id: str,
    threshold: float = VOLATILE_THRESHOLD,
    min_pairs: int = VOLATILE_MIN_PAIRS,
    recent: int | None = VOLATILE_RECENT_RUNS,
) -> set[str]:
    """Volatile paths of a workflow over its `recent` newest runs (None: its whole history):
    run_fields paths and the run's own fields (status, runKey, partitionKey, replayOf,
    duration), as diff marks them. The window keeps the cost flat however long the
    history (a diff at a million runs would otherwise sort them all) and follows what the
    workflow does now rather than years ago."""
    since = None
    if recent is not None:  # the createdAt of the recent-th newest run
        newest = con.execute(
            "SELECT min(created_at) FROM (SELECT created_at FROM runs WHERE workflow_id = ? "
            "ORDER BY created_at DESC LIMIT ?)",
            [workflow_id, recent],
        ).fetchall()
        since = newest[0][0]
    scope = Scope(workflow_id, since=since)
    stats = path_stats(con, scope)
    runs = con.execute(  # the runs in scope, counted without building runs_in again
        "SELECT count(*) FROM runs WHERE workflow_id = $workflow "
        "AND ($since IS NULL OR created_at >= $since)",
        {"workflow": workflow_id, "since": since},
    ).fetchall()[0][0]
    candidates = stats[varying(stats, runs)]
    names = con.execute(
        "SELECT name, hash(hash($workflow), name) AS gkey FROM (SELECT unnest($names) AS name)",
        {"workflow": workflow_id, "names": sorted(set(candidates["path"]) | set(RUN_FIELDS))},
    ).df()
    found = pair_stats(con, scope, candidates["path"].tolist(), run_columns=True)
    found = found[is_volatile(found["pairs"], found["changed_pairs"], threshold, min_pairs)]
    return set(names.loc[names["gkey"].isin(found["gkey"]), "name"])

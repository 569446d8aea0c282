"""Drift and bisect benchmark: Store-backed drift()/bisect() vs a straightforward pandas version.

    python benchmarks/bench_drift.py --runs 100000
    python benchmarks/bench_drift.py --runs 1000000 --repeat 1   # drift < 10 s, peak RSS < 2 GiB

Data: runreplay.sample's nightly-etl (fixed seed) with 50 parameter leaves (12 of its own plus
38 under parameters.tuning, a few of which drift), about 60 leaves per run; the planted
regression (batchSize 500 -> 5000, every later run fails) sits at 60 % of the runs. It is
generated and loaded into a store in a temp dir (not timed; `--db` reuses a store).

Each figure runs in a fresh child process (so peak RSS, from resource.getrusage, belongs to
that one implementation) and is the best of --repeat calls in it; the first (cold) call is
printed too. The pandas baseline starts from the same store: it reads the workflow's
parameters/context/output JSON, json_normalize-s them, sorts by (createdAt, runId), shifts
and compares to find changes, and groups by value for the association — the same outputs as
drift() (change counts, first/last change, volatility, best-associated value per path).
Prints `name: ours X s, baseline Y s, ratio Y/X` (ratio > 1: ours is faster).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from _child import peak_rss_mib, run_child

WORKFLOW = "nightly-etl"
EXTRA_PARAMETERS = 38  # + nightly-etl's own 12 parameter leaves = 50


# -- the pandas baseline (what one would write in a notebook without runreplay) ---------


def _pandas_frame(db: str):
    import duckdb
    import orjson
    import pandas as pd

    con = duckdb.connect(db, read_only=True)
    rows = con.execute(
        "SELECT run_id, created_at, status, parameters, context, output FROM runs "
        "WHERE workflow_id = ?",
        [WORKFLOW],
    ).fetchall()
    con.close()
    records = [
        {
            "run_id": run_id,
            "created_at": created_at,
            "failing": status == "FAILED",
            "parameters": orjson.loads(parameters),
            "context": orjson.loads(context),
            "output": orjson.loads(output),
        }
        for run_id, created_at, status, parameters, context, output in rows
    ]
    frame = pd.json_normalize(records)
    return frame.sort_values(["created_at", "run_id"]).reset_index(drop=True)


def _pandas_pair_stats(frame, columns):
    values = frame[columns]
    previous = values.shift(1)
    present, previous_present = values.notna(), previous.notna()
    pair = present & previous_present
    changed = (values != previous) & (present | previous_present)
    changed.iloc[0] = False
    changes = changed.sum()
    positions = changed.to_numpy()
    first = [
        int(positions[:, i].argmax()) if changes.iloc[i] else None for i in range(len(columns))
    ]
    last = [
        len(frame) - 1 - int(positions[::-1, i].argmax()) if changes.iloc[i] else None
        for i in range(len(columns))
    ]
    pairs = pair.iloc[1:].sum()
    changed_pairs = (changed & pair).sum()
    volatile = (pairs >= 3) & (changed_pairs >= 0.9 * pairs)
    return changes, first, last, volatile


def _phi(a, runs_with, failed, runs):
    b, c = runs_with - a, failed - a
    d = runs - runs_with - c
    denominator = math.sqrt(runs_with * (runs - runs_with) * failed * (runs - failed)) or math.nan
    return (a * d - b * c) / denominator


def pandas_drift(db: str) -> int:
    frame = _pandas_frame(db)
    columns = [c for c in frame.columns if c.split(".")[0] in ("parameters", "context", "output")]
    changes, first, last, volatile = _pandas_pair_stats(frame, columns)
    runs, failed = len(frame), int(frame["failing"].sum())
    report = []
    for index, column in enumerate(columns):
        best = None
        if changes.iloc[index] and not volatile.iloc[index]:
            counts = (
                frame[column].astype(str).to_frame("value").assign(failing=frame["failing"])
                .groupby("value")["failing"].agg(["sum", "count"])
            )  # fmt: skip
            scores = [
                _phi(a, n, failed, runs)
                for a, n in zip(counts["sum"], counts["count"], strict=True)
            ]
            best = max(scores, default=None)
        report.append(
            (
                column,
                int(changes.iloc[index]),
                first[index],
                last[index],
                bool(volatile.iloc[index]),
                best,
            )
        )
    return len(report)


def pandas_bisect(db: str) -> int:
    frame = _pandas_frame(db)
    columns = [c for c in frame.columns if c.split(".")[0] in ("parameters", "context")]
    failing = frame["failing"].to_numpy()
    bad = int(failing.argmax())
    good = max(i for i in range(bad) if not failing[i])
    changed = [
        c for c in columns
        if not (frame[c].iloc[good] == frame[c].iloc[bad]
                or (frame[c].isna().iloc[good] and frame[c].isna().iloc[bad]))
    ]  # fmt: skip
    _changes, _first, _last, volatile = _pandas_pair_stats(frame, changed)
    runs, failed = len(frame), int(failing.sum())
    suspects = []
    for column in changed:
        holding = frame[column] == frame[column].iloc[bad]
        a, n = int((holding & frame["failing"]).sum()), int(holding.sum())
        suspects.append((column, _phi(a, n, failed, runs), a, n))
    suspects.sort(key=lambda row: -row[1])
    return len(suspects)


# -- ours ------------------------------------------------------------------------------


def ours_drift(db: str) -> int:
    import runreplay
    from runreplay.drift import drift

    with runreplay.open(db, read_only=True) as store:
        report = drift(store, WORKFLOW)
        return len(report.fields)


def ours_bisect(db: str) -> dict:
    import runreplay
    import runreplay.diff
    from runreplay.drift import bisect

    seconds = {"diff_stored": 0.0}
    real = runreplay.diff.diff_stored

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds["diff_stored"] += time.perf_counter() - started

    runreplay.diff.diff_stored = timed
    with runreplay.open(db, read_only=True) as store:
        found = bisect(store, WORKFLOW)
    runreplay.diff.diff_stored = real
    return {"top": found.top_suspect, "pair": [found.good_run_id, found.bad_run_id], **seconds}


def ours_regressions(db: str) -> dict:
    import runreplay

    with runreplay.open(db, read_only=True) as store:
        rows = store.regressions(WORKFLOW)
    return {"rows": len(rows), "onsets": list(rows["onset_run_id"])}


KINDS = {
    "ours-regressions": ours_regressions,
    "ours-drift": ours_drift,
    "ours-bisect": ours_bisect,
    "pandas-drift": pandas_drift,
    "pandas-bisect": pandas_bisect,
}


def child(kind: str, db: str, repeat: int) -> dict:
    """Call `kind` `repeat` times; report the fastest call (and its details) and the first."""
    calls = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = KINDS[kind](db)
        calls.append((time.perf_counter() - started, result))
    seconds, result = min(calls, key=lambda call: call[0])
    peak_mib = peak_rss_mib()
    extra = result if isinstance(result, dict) else {"rows": result}
    return {"seconds": seconds, "first": calls[0][0], "peak_rss_mib": peak_mib, **extra}


def measure(kind: str, db: Path, repeat: int) -> dict:
    return run_child(__file__, kind, "--db", str(db), "--repeat", str(repeat))


def build_store(db: Path, runs: int, seed: int) -> None:
    import runreplay
    from runreplay import sample

    source = db.with_suffix(".ndjson")
    started = time.perf_counter()
    records = sample.generate(
        workflows=(WORKFLOW,), runs_per_workflow=runs, seed=seed,
        extra_parameters=EXTRA_PARAMETERS,
    )  # fmt: skip
    sample.write_ndjson(source, records)
    with runreplay.open(db) as store:
        store.load(source, progress=False)
    source.unlink()
    print(f"data: generated and loaded in {time.perf_counter() - started:.0f} s", flush=True)


def line(name: str, ours: dict, baseline: dict | None, target: str) -> str:
    text = f"{name}: ours {ours['seconds']:.2f} s (first call {ours['first']:.2f} s)"
    if baseline is None:
        return text + f", baseline skipped ({target})"
    ratio = baseline["seconds"] / ours["seconds"]
    return text + f", baseline {baseline['seconds']:.2f} s, ratio {ratio:.1f} ({target})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs of the workflow")
    parser.add_argument("--repeat", type=int, default=3, help="calls per child; best is kept")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="reuse this store (built by an earlier run with --keep)")
    parser.add_argument("--keep", help="build the store at this path and keep it")
    parser.add_argument(
        "--pandas-max-runs", type=int, default=300_000,
        help="skip the pandas baseline above this size (it needs several GiB at 1M runs)",
    )  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db, args.repeat)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db or args.keep or Path(tmp) / "drift.duckdb")
        if not args.db:
            build_store(db, args.runs, args.seed)
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        runs, fields = con.execute(
            "SELECT count(DISTINCT run_id), count(*) FROM run_fields JOIN runs USING (run_id) "
            "WHERE workflow_id = ?",
            [WORKFLOW],
        ).fetchone()
        parameters = con.execute(
            "SELECT count(DISTINCT path) FROM run_fields WHERE section = 'parameters'"
        ).fetchone()[0]
        con.close()
        print(
            f"data: {runs:,} {WORKFLOW} runs, {fields:,} run_fields rows "
            f"({parameters} parameter paths), store {db.stat().st_size / 2**20:.0f} MiB"
        )
        with_pandas = runs <= args.pandas_max_runs
        drift_ours = measure("ours-drift", db, args.repeat)
        drift_pandas = measure("pandas-drift", db, args.repeat) if with_pandas else None
        target = "target < 1 s and ratio >= 10" if runs <= 200_000 else "target < 10 s"
        print(line("drift", drift_ours, drift_pandas, target), flush=True)
        found = measure("ours-regressions", db, args.repeat)
        print(
            f"regressions: ours {found['seconds']:.2f} s (first call {found['first']:.2f} s), "
            f"{found['rows']} change point(s) at {found['onsets'][:3]} "
            f"(target at 1M runs < 2 s)",
            flush=True,
        )
        bisect_ours = measure("ours-bisect", db, args.repeat)
        bisect_pandas = measure("pandas-bisect", db, args.repeat) if with_pandas else None
        print(line("bisect", bisect_ours, bisect_pandas, "no target; includes diff_stored"))
        print(
            f"bisect: {bisect_ours['pair'][0]} -> {bisect_ours['pair'][1]}, top suspect "
            f"{bisect_ours['top']}; of its time diff_stored (volatile_paths + RunDiff) took "
            f"{bisect_ours['diff_stored']:.2f} s"
        )
        rss = (
            f"peak RSS: ours drift {drift_ours['peak_rss_mib']:.0f} MiB, "
            f"ours bisect {bisect_ours['peak_rss_mib']:.0f} MiB"
        )
        if with_pandas:
            rss += (
                f", pandas drift {drift_pandas['peak_rss_mib']:.0f} MiB, "
                f"pandas bisect {bisect_pandas['peak_rss_mib']:.0f} MiB"
            )
        print(rss + " (target at 1M runs: ours drift < 2048 MiB)")


if __name__ == "__main__":
    main()

"""Load benchmark: Store.load into all tables vs DuckDB's bare read_json and pandas.

    python benchmarks/bench_load.py --runs 100000
    python benchmarks/bench_load.py --runs 1000000 --repeat 1   # peak RSS must stay < 2 GiB

Data comes from runreplay.sample (fixed seed) written to a temp dir. Each figure is the best
of --repeat runs, each in a fresh child process so peak RSS belongs to that loader alone; the
runs are interleaved (one of each loader per round) so the machine's slow spells fall on all
of them, and each ratio also shows its spread over the rounds. The memory of our load with
its worker processes is sampled in one more load, not timed: sampling reads each process's
/proc/PID/smaps_rollup, ~50 ms a sample during a load: CPU the timed load would lose.
Prints `name: ours X s, baseline Y s, ratio Y/X` lines (ratio > 1 means ours is faster), each
with its target from issue 3 and whether this run met it, and how long loading the same file
again takes (every run is in the store already; only checked and hashed).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from _child import TreeRss, peak_rss_mib, run_child


def child(kind: str, source: str, workdir: str, tree: bool = False) -> dict:
    """Run one loader in this (child) process and report seconds and its peak RSS; with
    `tree`, also the peak memory of it and its worker processes together, sampled while it
    runs (reading /proc/PID/smaps_rollup takes ~50 ms a sample during a load, so timed
    runs do not sample)."""
    if not tree:
        return {**_load(kind, source, workdir), "peak_rss_mib": peak_rss_mib()}
    with TreeRss() as sampled:
        figures = _load(kind, source, workdir)
    return {**figures, "peak_rss_mib": peak_rss_mib(), "tree_rss_mib": sampled.peak_mib}


def _load(kind: str, source: str, workdir: str) -> dict:
    started = time.perf_counter()
    if kind in ("ours", "reload"):
        import runreplay

        with runreplay.open(Path(workdir) / "ours.duckdb") as store:
            if kind == "reload":  # the same file again: every run is stored already
                store.load(source, progress=False)
                started = time.perf_counter()
            result = store.load(source, progress=False)
        rows = result.runs + result.skipped
    elif kind == "duckdb":
        import duckdb

        con = duckdb.connect(str(Path(workdir) / "bare.duckdb"))
        con.execute(
            "CREATE TABLE runs AS SELECT * FROM read_json(?, format='newline_delimited')", [source]
        )
        rows = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        con.close()
    elif kind == "pandas":
        import orjson
        import pandas as pd

        with open(source, "rb") as stream:
            records = [orjson.loads(line) for line in stream]
        frame = pd.json_normalize(records)
        rows = len(frame)
    else:
        raise SystemExit(f"unknown loader {kind}")
    return {"seconds": time.perf_counter() - started, "rows": rows}


def measure(kinds: list[str], source: Path, repeat: int) -> dict[str, list[dict]]:
    """Run each loader `repeat` times, interleaved (one of each per round), so a slow spell
    of the machine falls on every loader alike; returns each loader's runs in round order."""
    figures: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _ in range(repeat):
        for kind in kinds:
            with tempfile.TemporaryDirectory() as workdir:
                figure = run_child(__file__, kind, "--source", str(source), "--workdir", workdir)
            figures[kind].append(figure)
    return figures


def best(runs: list[dict]) -> dict:
    """The fastest of a loader's runs."""
    return min(runs, key=lambda figure: figure["seconds"])


def _rounds(baseline: list[dict], ours: list[dict]) -> str:
    """The ratio baseline/ours of each round, the spread the machine's noise gives."""
    ratios = [b["seconds"] / o["seconds"] for b, o in zip(baseline, ours, strict=True)]
    return f"per round {min(ratios):.2f}-{max(ratios):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="total runs (3 workflows)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-pandas", action="store_true", help="at 1M runs pandas needs GBs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--tree", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.source, args.workdir, args.tree)))
        return

    from runreplay import sample

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "runs.ndjson"
        started = time.perf_counter()
        count = sample.write_ndjson(
            source, sample.generate(runs_per_workflow=args.runs // 3, seed=args.seed)
        )
        os.sync()  # write the new file back now, not during the first timed load
        size_mib = source.stat().st_size / 2**20
        print(
            f"data: {count} runs, {size_mib:.1f} MiB NDJSON "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        kinds = ["ours", "duckdb", "reload"] + ([] if args.skip_pandas else ["pandas"])
        runs = measure(kinds, source, args.repeat)
        ours, bare, reload = best(runs["ours"]), best(runs["duckdb"]), best(runs["reload"])
        with tempfile.TemporaryDirectory() as workdir:  # one more load, untimed, sampled
            tree = run_child(
                __file__, "ours", "--source", str(source), "--workdir", workdir, "--tree"
            )
        print(
            f"load all tables vs duckdb read_json (bare runs table): ours {ours['seconds']:.2f} s, "
            f"baseline {bare['seconds']:.2f} s, ratio {bare['seconds'] / ours['seconds']:.3f} "
            f"({_rounds(runs['duckdb'], runs['ours'])}) "
            + _target(bare["seconds"] / ours["seconds"], 1 / 3, ">= 0.33, i.e. within 3x")
        )
        if not args.skip_pandas:
            pandas = best(runs["pandas"])
            print(
                f"load all tables vs pandas.json_normalize: ours {ours['seconds']:.2f} s, "
                f"baseline {pandas['seconds']:.2f} s, "
                f"ratio {pandas['seconds'] / ours['seconds']:.2f} "
                f"({_rounds(runs['pandas'], runs['ours'])}) "
                + _target(pandas["seconds"] / ours["seconds"], 5, ">= 5")
            )
        print(
            f"reload of the same file (every run stored, nothing written): "
            f"ours {reload['seconds']:.2f} s, first load {ours['seconds']:.2f} s, "
            f"ratio {ours['seconds'] / reload['seconds']:.2f} (no target)"
        )
        print(
            f"throughput: ours {count / ours['seconds']:,.0f} runs/s, "
            f"duckdb bare {count / bare['seconds']:,.0f} runs/s"
            + ("" if args.skip_pandas else f", pandas {count / pandas['seconds']:,.0f} runs/s")
        )
        print(
            "seconds per round: "
            + "; ".join(
                f"{kind} " + " / ".join(f"{figure['seconds']:.2f}" for figure in runs[kind])
                for kind in kinds
            )
        )
        rss_target = (
            _target(2048 - tree["tree_rss_mib"], 0, "at 1M runs: ours with workers < 2048 MiB")
            if count >= 1_000_000
            else "(target at 1M runs: ours with workers < 2048 MiB; run with --runs 1000000)"
        )
        print(
            f"peak RSS: ours {ours['peak_rss_mib']:.0f} MiB "
            f"({tree['tree_rss_mib']:.0f} MiB with its worker processes, in a separate "
            "untimed load), duckdb bare "
            f"{bare['peak_rss_mib']:.0f} MiB"
            + ("" if args.skip_pandas else f", pandas {pandas['peak_rss_mib']:.0f} MiB")
            + f" {rss_target}"
        )


def _target(value: float, threshold: float, text: str) -> str:
    """`(target <text>: met)` or `... NOT met` for a figure that must exceed `threshold`."""
    return f"(target {text}: {'met' if value > threshold else 'NOT met'})"


if __name__ == "__main__":
    main()

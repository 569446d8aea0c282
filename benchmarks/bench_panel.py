"""ComparePanel benchmark: from changing the compare run to every tab's HTML being built.

    python benchmarks/bench_panel.py --runs 100000
    python benchmarks/bench_panel.py --runs 1000000            # the issue's size; minutes to build
    python benchmarks/bench_panel.py --store big.duckdb        # reuse a store built before

The store comes from runreplay.sample (fixed seed; the nightly-etl regression planted at 60 %)
written to a temp dir and loaded with Store.load; `--keep PATH` keeps the store file for
later runs. The panel runs in plain Python (no browser, no kernel): a selection is timed from
setting the compare run until the diff is computed and all five tabs, the summary and the
banner are rendered. Two ways of changing it are timed, each over --selections runs of the
base run's workflow drawn with a fixed seed:

- click: `compare_picker.value = run` for runs listed in the picker (what a click does);
- set:   `panel.compare = run` for runs anywhere in the workflow's history (what a search
         and a click, or code, do: the pickers are listed again too).

The baseline is what a notebook without the panel would do for the same pair: `diff_stored`
(volatile paths and stale assets read from the store each time) plus `RunDiff.to_html()`.
Prints `name: ours X s, baseline Y s, ratio Y/X` (ratio > 1: the panel is faster), p50 and
p99 per way, and whether p99 meets the target (300 ms).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_P99 = 0.300
BASELINE_SELECTIONS = 10


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 50 samples is the largest but none)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def build_store(runs: int, workdir: Path, keep: Path | None) -> Path:
    import runreplay
    from runreplay.sample import WORKFLOWS, generate, write_ndjson

    per_workflow = max(2, runs // len(WORKFLOWS))
    source = workdir / "runs.ndjson"
    started = time.perf_counter()
    count = write_ndjson(source, generate(runs_per_workflow=per_workflow))
    generated = time.perf_counter() - started
    path = keep or workdir / "runs.duckdb"
    started = time.perf_counter()
    with runreplay.open(path) as store:
        result = store.load(source, progress=False)
    print(
        f"data: {count} runs generated in {generated:.1f} s, loaded in "
        f"{time.perf_counter() - started:.1f} s ({result.fields} fields) -> {path}",
        flush=True,
    )
    source.unlink()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs in the store")
    parser.add_argument("--selections", type=int, default=50, help="compare runs to time")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", type=Path, help="an existing store file to use")
    parser.add_argument("--keep", type=Path, help="keep the generated store at this path")
    parser.add_argument("--workflow", default="nightly-etl")
    options = parser.parse_args()

    import runreplay
    from runreplay.diff import diff_stored
    from runreplay.widgets import ComparePanel

    with tempfile.TemporaryDirectory(prefix="runreplay-bench-panel-") as workdir:
        path = options.store or build_store(options.runs, Path(workdir), options.keep)
        with runreplay.open(path, read_only=True) as store:
            total = store.counts()["runs"]
            runs = store.runs(workflow=options.workflow)["run_id"].tolist()
            succeeded = store.runs(workflow=options.workflow, status="SUCCEEDED", limit=1)
            base = succeeded["run_id"].iloc[0]  # the last good run: it has stale assets
            chooser = random.Random(options.seed)

            started = time.perf_counter()
            panel = ComparePanel(store, api=None, base=base, compare=runs[0])
            opened = time.perf_counter() - started
            print(
                f"store: {total} runs, {options.workflow} {len(runs)}; base {base}; panel opened "
                f"in {opened:.2f} s (learns volatile paths and staleness once)",
                flush=True,
            )

            listed = [run_id for _, run_id in panel.compare_picker.options if run_id != base]
            figures = {}
            for way, candidates in (("click", listed), ("set", runs)):
                chosen = [chooser.choice(candidates) for _ in range(options.selections)]
                samples = []
                for run_id in chosen:
                    started = time.perf_counter()
                    if way == "click":
                        panel.compare_picker.value = run_id
                    else:
                        panel.compare = run_id
                    samples.append(time.perf_counter() - started)
                    if panel.run_diff is None or panel.run_diff.compare_run["runId"] != run_id:
                        raise SystemExit(f"the panel did not show {run_id}: {panel.message.value}")
                figures[way] = samples

            baseline = []
            for run_id in [chooser.choice(runs) for _ in range(BASELINE_SELECTIONS)]:
                started = time.perf_counter()
                diff_stored(store, base, run_id).to_html()
                baseline.append(time.perf_counter() - started)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base_p50 = statistics.median(baseline)
    ok = True
    for way, samples in figures.items():
        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
        meets = p99 < TARGET_P99
        ok = ok and meets
        print(
            f"panel compare change ({way}, {total} runs, {len(samples)} selections): "
            f"ours {p50:.4f} s, baseline {base_p50:.4f} s, ratio {base_p50 / p50:.1f} (p50); "
            f"p99 {p99:.4f} s, max {max(samples):.4f} s -> "
            f"{'meets' if meets else 'MISSES'} p99 < {TARGET_P99 * 1000:.0f} ms"
        )
    print(
        f"baseline diff_stored + to_html: p50 {base_p50:.4f} s over {len(baseline)}; "
        f"peak RSS {peak:.0f} MiB"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the core API over loopback against the same work done in process.

    python benchmarks/bench_api.py --leaves 100000 --clients 16 --seconds 10

1. Diff route: GET /workflow-runs/{id}/diff for two sample runs with `--leaves` leaves each
   (runreplay.sample, `extra_parameters`), p50 / p99 over `--requests` calls, against
   Store.diff (diff_stored where Store.diff is absent) on the same data in this process.
2. Replay: `--clients` threads POST replays of a sample-size run (`--replay-wide`: of a wide
   one), each with its own Idempotency-Key, for `--seconds` s; throughput and p50 / p99 latency, against ReplayService.replay called in
   process (no HTTP) on a copy of the same database for the same time.

The server is a `runreplay serve` subprocess on 127.0.0.1, so client and server do not share
a GIL. Prints `name: ours X, baseline Y, ratio Y/X` lines (machines here are noisy: the
ratios are the figures to compare).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runreplay  # noqa: E402
from runreplay.diff import diff_stored  # noqa: E402
from runreplay.paths import flatten  # noqa: E402
from runreplay.sample import generate, write_ndjson  # noqa: E402

TOKEN = "bench-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def start_server(db: Path, runs_file: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "RUNREPLAY_TOKENS": f"bench:{TOKEN}"}
    command = [sys.executable, "-m", "runreplay.cli", "serve", "--db", str(db), "--load",
               str(runs_file), "--port", "0", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, bufsize=0
    )
    output, deadline = "", time.monotonic() + 120
    while "runreplay core API on" not in output:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit(f"the server did not start:\n{output}")
        if select.select([process.stdout], [], [], 0.2)[0]:
            output += process.stdout.readline().decode()
    return process, re.search(r"on (http://127\.0\.0\.1:\d+)", output).group(1)


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def bench_diff(url: str, store, base: str, compare: str, count: int) -> None:
    local_diff = getattr(store, "diff", None) or (lambda a, b: diff_stored(store, a, b))
    name = "Store.diff" if hasattr(store, "diff") else "diff_stored"
    session = requests.Session()
    route, local = [], []
    body_size = 0
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(
            f"{url}/workflow-runs/{base}/diff", params={"compareTo": compare}, headers=HEADERS
        )
        response.raise_for_status()
        route.append(time.perf_counter() - started)
        body_size = len(response.content)
        started = time.perf_counter()
        local_diff(base, compare).to_dict()
        local.append(time.perf_counter() - started)
    for label, share in (("p50", 0.5), ("p99", 0.99)):
        ours, baseline = percentile(route, share), percentile(local, share)
        print(
            f"diff route {label}: ours {ours:.3f} s, baseline {name} in process "
            f"{baseline:.3f} s, ratio {baseline / ours:.2f} ({count} calls, "
            f"response {body_size / 1e6:.1f} MB)"
        )


def bench_replay(url: str, run_id: str, clients: int, seconds: float) -> float:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[int] = [0] * clients
    stop_at = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        session = requests.Session()
        barrier.wait()
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            response = session.post(
                f"{url}/workflow-runs/{run_id}/replay",
                json={},
                headers={**HEADERS, "Idempotency-Key": str(uuid.uuid4())},
                timeout=60,
            )
            if response.status_code == 202:
                latencies[index].append(time.perf_counter() - started)
            else:
                failures[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = [latency for per_client in latencies for latency in per_client]
    throughput = len(every) / elapsed
    print(
        f"replay over HTTP, {clients} clients, {seconds:.0f} s: {len(every)} enqueued, "
        f"{throughput:.1f}/s, p50 {percentile(every, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(every, 0.99) * 1000:.1f} ms, {sum(failures)} failed"
    )
    return throughput


def bench_replay_in_process(db: Path, run_id: str, seconds: float) -> float:
    from runreplay.server.app import create_app

    app = create_app(db, {"bench": TOKEN}, clock=lambda: datetime.now(UTC))
    service = app.state.runreplay.replays
    count, latencies, stop_at = 0, [], time.monotonic() + seconds
    started = time.perf_counter()
    while time.monotonic() < stop_at:
        began = time.perf_counter()
        service.replay(run_id, b"{}", str(uuid.uuid4()), lambda: "bench", "application/json")
        latencies.append(time.perf_counter() - began)
        count += 1
    throughput = count / (time.perf_counter() - started)
    app.state.runreplay.close()
    print(
        f"replay in process (ReplayService.replay, 1 thread): {count} enqueued, "
        f"{throughput:.1f}/s, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    return throughput


def _first_failed(records: list[dict]) -> str:
    """The first failed nightly-etl run of the sample (no assets, so no stale refusal)."""
    return next(
        r["runId"]
        for r in records
        if r["workflowId"] == "nightly-etl" and r["status"] == "FAILED" and not r["replayOf"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100_000, help="leaves per run")
    parser.add_argument("--requests", type=int, default=20, help="diff calls per side")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--replay-wide", action="store_true", help="replay the wide run instead of a sample run"
    )
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="runreplay-bench-api-") as folder:
        folder = Path(folder)
        runs_file = folder / "runs.ndjson"
        wide = [
            {**record, "runId": f"wide-{record['runId']}", "replayOf": None}
            for record in generate(
                ("nightly-etl",), runs_per_workflow=2, extra_parameters=arguments.leaves
            )
        ][:2]
        sample = list(generate(runs_per_workflow=100))
        write_ndjson(runs_file, wide + sample)
        base, compare = wide[0]["runId"], wide[1]["runId"]
        leaves = len(flatten(wide[0]["parameters"]))
        replayed = compare if arguments.replay_wide else _first_failed(sample)
        print(
            f"data: 2 nightly-etl runs with {leaves} parameter leaves each ({base}, {compare}) "
            f"and the {len(sample)}-run sample; replays of {replayed}"
        )

        with runreplay.open(folder / "local.duckdb") as store:
            store.load(runs_file)
            server_db = folder / "server.duckdb"
            process, url = start_server(server_db, runs_file)
            try:
                bench_diff(url, store, base, compare, arguments.requests)
                http = bench_replay(url, replayed, arguments.clients, arguments.seconds)
            finally:
                stop_server(process)
        copy = folder / "in-process.duckdb"
        shutil.copyfile(server_db, copy)
        local = bench_replay_in_process(copy, replayed, arguments.seconds)
        print(
            f"replay throughput: ours {http:.1f}/s over HTTP ({arguments.clients} clients), "
            f"baseline {local:.1f}/s in process, ratio {local / http:.2f}"
        )


if __name__ == "__main__":
    main()

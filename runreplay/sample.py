"""Deterministic sample data: run records with planted stories, for data/, tests and benchmarks.

`generate()` streams valid run records (camelCase; docs/ARCHITECTURE.md, "The record contract") for three sample workflows;
the same arguments always give the same records, byte for byte. `simulate()` is the one
implementation of how a sample run behaves; the generator calls it for every run and a demo
executor can call it for replayed runs, so a replay reproduces the original's outcome.

Planted stories (change points sit at a fixed fraction of each workflow's runs, so they
scale with `runs_per_workflow`):

1. nightly-etl: `parameters.batchSize` goes 500 → 5000 at the change point; from then on
   step "load" times out on every attempt (RETRYING, then FAILED).
2. ml-train: `context.image` goes trainer:2.3.0 → trainer:2.4.0 at the change point and
   `output.metrics.auc` drops from about 0.91 to about 0.86; every run succeeds.
3. A nightly-etl run before the change point lands on the flaky host worker-7 (step
   "extract" retries once) and is replayed on another host without the retry; the first
   failing nightly-etl run is replayed and fails again; the first failed hourly-sync run
   is replayed.
4. The newest snapshot of asset "warehouse/orders" (from the last successful nightly-etl
   run) is flagged `stale: true`; every other snapshot is fresh.
5. context.host, context.traceId and output.durationSeconds change in nearly every run.
6. hourly-sync: hourly, mostly SUCCEEDED, a few deterministic FAILED / CANCELED runs.

    python -m runreplay.sample data     # rewrite the committed sample, data/runs.ndjson
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import heapq
import math
import os
import random
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import orjson

from runreplay.errors import SampleError

WORKFLOWS = ("nightly-etl", "ml-train", "hourly-sync")
"""The sample workflow ids, in the order `generate()` breaks createdAt ties."""

SAMPLE_RUNS = {"nightly-etl": 120, "ml-train": 100, "hourly-sync": 200}
"""Runs per workflow in the committed sample (replays come on top)."""
SAMPLE_SEED = 7
SAMPLE_START = "2026-08-01T00:00:00Z"
SAMPLE_FILE = "runs.ndjson"

CHANGE_POINT = 0.6
"""Fraction of a workflow's runs before its planted change (batchSize, trainer image)."""
FLAKY_POINT = 0.4
"""Fraction of nightly-etl's runs at which the run on the flaky host is placed."""

HOSTS = tuple(f"worker-{number}" for number in range(1, 9))
FLAKY_HOST = "worker-7"
_HEALTHY_HOSTS = tuple(host for host in HOSTS if host != FLAKY_HOST)
GOOD_BATCH_SIZE = 500
BAD_BATCH_SIZE = 5000
MAX_SAFE_BATCH_SIZE = 2000
"""Step "load" times out on every attempt when parameters.batchSize is above this."""
OLD_IMAGE = "trainer:2.3.0"
NEW_IMAGE = "trainer:2.4.0"
AUC_BY_IMAGE = {OLD_IMAGE: 0.91, NEW_IMAGE: 0.86}
STALE_ASSET = "warehouse/orders"
DAILY_LAG_MINUTES = 1440

LOAD_TIMEOUT = "timeout writing batch"
FLAKY_MESSAGE = f"connection reset by {FLAKY_HOST}"
UPSTREAM_ERROR = "upstream API returned 503"
CANCELED_MESSAGE = "canceled by operator"

_DEFAULT_STEPS = {
    "nightly-etl": ("extract", "transform", "load"),
    "ml-train": ("prepare", "train", "evaluate"),
    "hourly-sync": ("fetch", "upsert"),
}
_STEP_SECONDS = {
    "extract": 240.0,
    "transform": 420.0,
    "load": 300.0,
    "prepare": 180.0,
    "train": 1500.0,
    "evaluate": 120.0,
    "fetch": 40.0,
    "upsert": 25.0,
}
_OTHER_STEP_SECONDS = 60.0
_RETRY_BACKOFF_SECONDS = 30.0
_MAX_RETRIES = 10  # a replay with edited parameters cannot make simulate() loop for long
# (asset key, the step whose success materializes it); a failed run materializes nothing
_ASSETS: dict[str, tuple[tuple[str, str], ...]] = {
    "nightly-etl": (("warehouse/orders", "load"), ("warehouse/order_items", "load")),
    "ml-train": (("models/churn", "evaluate"),),
}
_SCHEMA_HASHES = {"warehouse/orders": "ab12", "warehouse/order_items": "9f3c"}
_UPSTREAM_FAILURE_RATE = 0.03
_CANCEL_RATE = 0.02
_MAX_EPOCH = 253402300799 - 86400  # keep a day of headroom below 9999-12-31T23:59:59Z


# --- timestamps: epoch seconds in the hot loop, formatted once per value -----------------


@lru_cache(maxsize=4096)
def _iso_date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


@cache  # at most 86,400 entries
def _iso_clock(second: int) -> str:
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"T{hour:02d}:{minute:02d}:{second:02d}Z"


def _iso(epoch: int) -> str:
    """Format whole epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" (cached pieces, no datetime)."""
    day, second = divmod(epoch, 86400)
    return _iso_date(day) + _iso_clock(second)


def _epoch(timestamp: str, name: str) -> int:
    """Whole epoch seconds of an ISO 8601 timestamp with a zone (fractions are dropped)."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        raise SampleError(
            f"{name} must be an ISO 8601 timestamp such as {SAMPLE_START!r}, got {timestamp!r}"
        ) from None
    if moment.tzinfo is None:
        raise SampleError(f"{name} {timestamp!r} has no time zone; add 'Z' or an offset")
    return math.floor(moment.timestamp())


# --- simulate: the one implementation of how a sample run behaves -------------------------

_U32X16 = struct.Struct("<16I")
_U32_SCALE = 1.0 / 2**32


def _uniforms(key: bytes) -> Iterator[float]:
    """An endless, deterministic stream of floats in [0, 1) derived from `key` (blake2b)."""
    digest = hashlib.blake2b(key, digest_size=64).digest()
    while True:
        for word in _U32X16.unpack(digest):
            yield word * _U32_SCALE
        digest = hashlib.blake2b(digest, digest_size=64).digest()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _steps(workflow_id: str, parameters: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(step name, retries) in order: from parameters.steps, else the workflow's defaults."""
    listed = parameters.get("steps")
    steps: list[tuple[str, int]] = []
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                retries = item.get("retries")
                valid = isinstance(retries, int) and not isinstance(retries, bool)
                steps.append((item["name"], min(max(retries, 0), _MAX_RETRIES) if valid else 0))
    if steps:
        return steps
    return [(name, 0) for name in _DEFAULT_STEPS.get(workflow_id, ("run",))]


def _attempt_error(
    step: str,
    attempt: int,
    parameters: Mapping[str, Any],
    context: Mapping[str, Any],
    roll: float,
    workflow_id: str,
) -> tuple[str, str] | None:
    """(final status if out of attempts, message) when this attempt fails, else None."""
    if step == "extract" and attempt == 1 and context.get("host") == FLAKY_HOST:
        return "FAILED", FLAKY_MESSAGE
    if step == "load":
        batch_size = _number(parameters.get("batchSize"))
        if batch_size is not None and batch_size > MAX_SAFE_BATCH_SIZE:
            return "FAILED", LOAD_TIMEOUT
    if workflow_id == "hourly-sync":
        if step == "upsert" and roll < _UPSTREAM_FAILURE_RATE:
            return "FAILED", UPSTREAM_ERROR
        if step == "fetch" and roll >= 1.0 - _CANCEL_RATE:
            return "CANCELED", CANCELED_MESSAGE
    return None


def _output(
    workflow_id: str,
    status: str,
    message: str | None,
    parameters: Mapping[str, Any],
    context: Mapping[str, Any],
    draw: Callable[[], float],
) -> dict[str, Any]:
    """The run's output object; output.durationSeconds is added by the caller."""
    if workflow_id == "nightly-etl":
        rows_read = 100_000 + int(40_000 * draw())
        rows_written = rows_read - int(rows_read * 0.01 * draw())
        items = int(rows_written * (2.5 + 0.5 * draw()))
        if status != "SUCCEEDED":
            return {"rowsRead": rows_read, "rowsWritten": 0, "error": message}
        tables = {"orders": rows_written, "order_items": items}
        return {"rowsRead": rows_read, "rowsWritten": rows_written, "tables": tables}
    if workflow_id == "ml-train":
        base = AUC_BY_IMAGE.get(context.get("image"), AUC_BY_IMAGE[OLD_IMAGE])
        auc = round(base + 0.01 * (draw() - 0.5), 4)
        metrics = {
            "auc": auc,
            "logloss": round(0.3 + 1.2 * (0.91 - auc) + 0.01 * draw(), 4),
            "p@10": round(0.42 - 0.8 * (0.91 - base) + 0.01 * (draw() - 0.5), 4),
        }
        return {"metrics": metrics, "trainRows": 800_000 + int(50_000 * draw())}
    if workflow_id == "hourly-sync":
        page_size = _number(parameters.get("pageSize"))
        page_size = page_size if page_size and page_size > 0 else 200
        records = 1_000 + int(4_000 * draw())
        if status == "CANCELED":
            return {"recordsSynced": 0}
        if status != "SUCCEEDED":
            return {"recordsSynced": 0, "error": message}
        return {"recordsSynced": records, "pages": math.ceil(records / page_size)}
    return {} if status == "SUCCEEDED" else {"error": message}


def _asset_payload(asset_key: str, output: Mapping[str, Any], context: Mapping[str, Any]) -> dict:
    if asset_key == "models/churn":
        auc = output["metrics"]["auc"]
        return {"auc": auc, "trainRows": output["trainRows"], "image": context.get("image")}
    rows = output["tables"]["orders" if asset_key == "warehouse/orders" else "order_items"]
    return {"rows": rows, "schemaHash": _SCHEMA_HASHES[asset_key]}


def _simulate(
    workflow_id: str,
    parameters: Mapping[str, Any],
    context: Mapping[str, Any],
    created_at: str,
    created: int,
) -> dict[str, Any]:
    """simulate() with createdAt already normalised and as epoch seconds (the hot path)."""
    key = orjson.dumps([workflow_id, parameters, context, created_at], option=orjson.OPT_SORT_KEYS)
    draw = _uniforms(key).__next__
    roll = draw()
    started_moment = moment = created + 2.0 + 28.0 * draw()  # after 2-30 s in the queue
    started = int(moment)
    history: list[dict[str, Any]] = [{"seq": 0, "at": created_at, "status": "QUEUED"}]
    status, message = "SUCCEEDED", None
    finished_steps: dict[str, int] = {}
    for step, retries in _steps(workflow_id, parameters):
        seconds = _STEP_SECONDS.get(step, _OTHER_STEP_SECONDS)
        attempt = 1
        while True:
            history.append(
                {
                    "seq": len(history),
                    "at": _iso(int(moment)),
                    "status": "RUNNING",
                    "step": step,
                    "attempt": attempt,
                }
            )
            error = _attempt_error(step, attempt, parameters, context, roll, workflow_id)
            # a canceled attempt stops part-way; every other attempt runs its full length
            canceled = error is not None and error[0] == "CANCELED"
            moment += seconds * (0.8 + 0.4 * draw()) * (0.3 if canceled else 1.0)
            if error is None:
                break
            final, text = error
            will_retry = final == "FAILED" and attempt <= retries
            history.append(
                {
                    "seq": len(history),
                    "at": _iso(int(moment)),
                    "status": "RETRYING" if will_retry else final,
                    "step": step,
                    "attempt": attempt,
                    "message": text,
                }
            )
            if will_retry:
                moment += _RETRY_BACKOFF_SECONDS
                attempt += 1
                continue
            status, message = final, text
            break
        if status != "SUCCEEDED":
            break
        finished_steps[step] = int(moment)
    finished = int(moment)
    if status == "SUCCEEDED":
        history.append({"seq": len(history), "at": _iso(finished), "status": "SUCCEEDED"})

    output = _output(workflow_id, status, message, parameters, context, draw)
    assets = []
    for asset_key, step in _ASSETS.get(workflow_id, ()):
        if step in finished_steps and status == "SUCCEEDED":
            at = _iso(finished_steps[step])
            assets.append(
                {
                    "assetKey": asset_key,
                    "materializedAt": at,
                    "payload": _asset_payload(asset_key, output, context),
                    "freshness": {
                        "lastUpdated": at,
                        "maxLagMinutes": DAILY_LAG_MINUTES,
                        "stale": False,
                    },
                }
            )
    output["durationSeconds"] = round(moment - started_moment, 3)
    return {
        "status": status,
        "startedAt": _iso(started),
        "finishedAt": _iso(finished),
        "history": history,
        "output": output,
        "assets": assets,
    }


def simulate(
    workflow_id: str,
    parameters: Mapping[str, Any],
    context: Mapping[str, Any],
    created_at: str,
) -> dict[str, Any]:
    """Run a sample workflow on paper: status, startedAt, finishedAt, history, output, assets.

    Deterministic in its inputs (randomness comes from a blake2b hash of them), so replaying
    a run with its recorded parameters and context reproduces its outcome: a nightly-etl run
    with batchSize 500 succeeds, one with batchSize 5000 fails at step "load" once the
    retries in parameters.steps are used up, whatever host or time it runs at. Unknown
    workflow ids run the steps named in parameters.steps (or one step "run") and succeed.

    >>> simulate("nightly-etl", {"batchSize": 5000}, {"host": "worker-2"},
    ...          "2026-11-20T01:00:00Z")["status"]
    'FAILED'
    """
    created = _epoch(created_at, "created_at")
    return _simulate(workflow_id, parameters, context, _iso(created), created)


# --- generate: the streams of scheduled runs, merged by createdAt -------------------------


@dataclass(frozen=True)
class _Schedule:
    period: int  # seconds between scheduled runs
    offset: int  # seconds after `start` of the first run
    cron: str
    replay_delay: int  # seconds after the original at which a replay is requested


_SCHEDULES = {
    "nightly-etl": _Schedule(86_400, 3_600, "0 1 * * *", 6 * 3_600),
    "ml-train": _Schedule(86_400, 3 * 3_600 + 1_800, "30 3 * * *", 6 * 3_600),
    "hourly-sync": _Schedule(3_600, 900, "15 * * * *", 1_800),
}


def change_index(runs: int) -> int:
    """Index (0-based) of a workflow's first scheduled run after its planted change.

    The change sits at CHANGE_POINT of the runs, but never before the second run, so even a
    tiny sample starts healthy.

    >>> change_index(120)
    72
    """
    return max(1, int(runs * CHANGE_POINT))


class _RunLink:
    """Carries an original run's id, assigned at merge time, to its replay's replayOf."""

    __slots__ = ("run_id",)

    def __init__(self) -> None:
        self.run_id: str | None = None


class _Tuning:
    """The extra parameter leaves under parameters.tuning: most constant, a few drift."""

    _GROUP = 10
    _WORDS = ("auto", "fast", "safe", "eager")

    def __init__(self, count: int, rng: random.Random):
        self._rng = rng
        self._values: list[Any] = [self._initial(index) for index in range(count)]
        self._drifting = [index for index in range(count) if index % 10 == 3]
        width = max(3, len(str(count - 1)))
        self._groups = [
            (
                f"stage{start // self._GROUP:02d}",
                [f"k{index:0{width}d}" for index in range(start, min(start + self._GROUP, count))],
                start,
            )
            for start in range(0, count, self._GROUP)
        ]

    @classmethod
    def _initial(cls, index: int) -> Any:
        kind = index % 3
        if kind == 0:
            return 16 * (index + 1)
        if kind == 1:
            return round(0.05 * (index + 1), 6)
        return cls._WORDS[index % len(cls._WORDS)]

    @classmethod
    def _drift(cls, value: Any) -> Any:
        if isinstance(value, int):
            return value + 1
        if isinstance(value, float):
            return round(value * 1.25, 6)
        return cls._WORDS[(cls._WORDS.index(value) + 1) % len(cls._WORDS)]

    def next_parameters(self) -> dict[str, dict[str, Any]]:
        values = self._values
        for index in self._drifting:
            if self._rng.random() < 0.02:
                values[index] = self._drift(values[index])
        return {
            group: dict(zip(keys, values[start : start + len(keys)], strict=True))
            for group, keys, start in self._groups
        }


def _steps_parameter(*retries: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "retries": count} for name, count in retries]


def _inputs(
    workflow_id: str, changed: bool, partition: str, host: str, trace_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (parameters, context) of a scheduled run, before or after the change point."""
    if workflow_id == "nightly-etl":
        parameters = {
            "batchSize": BAD_BATCH_SIZE if changed else GOOD_BATCH_SIZE,
            "source": {"table": "orders", "since": partition},
            "model": {"name": "dedupe", "threshold": 0.8},
            "steps": _steps_parameter(("extract", 2), ("transform", 0), ("load", 1)),
            "dryRun": False,
        }
        context = {"image": "etl:1.4.2", "host": host, "traceId": trace_id, "region": "eu-west-1"}
    elif workflow_id == "ml-train":
        parameters = {
            "model": {"name": "xgb", "depth": 6, "learningRate": 0.1, "estimators": 400},
            "features": ["tenure", "plan", "usage_30d", "support_tickets"],
            "trainWindowDays": 90,
            "steps": _steps_parameter(("prepare", 1), ("train", 0), ("evaluate", 0)),
        }
        image = NEW_IMAGE if changed else OLD_IMAGE
        context = {"image": image, "host": host, "traceId": trace_id, "gpu": "a10g"}
    else:
        parameters = {
            "endpoint": "https://crm.example.com/api/v2",
            "objects": ["accounts", "contacts"],
            "pageSize": 200,
            "steps": _steps_parameter(("fetch", 0), ("upsert", 0)),
        }
        context = {"image": "sync:0.9.1", "host": host, "traceId": trace_id, "region": "us-east-1"}
    return parameters, context


def _next_host(rng: random.Random, previous: str, avoid_flaky: bool) -> str:
    """A random host other than the previous run's, so context.host changes in every run."""
    while True:
        host = HOSTS[rng.randrange(len(HOSTS))]
        if host != previous and not (avoid_flaky and host == FLAKY_HOST):
            return host


def _partition(workflow_id: str, created_at: str) -> str:
    if workflow_id == "hourly-sync":
        return f"{created_at[:10]}-{created_at[11:13]}:00"
    return created_at[:10]


def _record(
    workflow_id: str,
    partition: str,
    created_at: str,
    created: int,
    parameters: dict[str, Any],
    context: dict[str, Any],
    trigger_payload: dict[str, Any],
) -> dict[str, Any]:
    run = _simulate(workflow_id, parameters, context, created_at, created)
    return {
        "runId": None,  # assigned in createdAt order when the streams are merged
        "workflowId": workflow_id,
        "runKey": f"{workflow_id}:{partition}",
        "partitionKey": partition,
        "status": run["status"],
        "createdAt": created_at,
        "startedAt": run["startedAt"],
        "finishedAt": run["finishedAt"],
        "replayOf": None,
        "parameters": parameters,
        "context": context,
        "output": run["output"],
        "triggerPayload": trigger_payload,
        "history": run["history"],
        "assets": run["assets"],
    }


def _stream(
    order: int, workflow_id: str, count: int, seed: int, extra_parameters: int, start: int
) -> Iterator[tuple[int, int, int, dict[str, Any], _RunLink | None, _RunLink | None]]:
    """One workflow's runs (and its replays) in createdAt order, as merge-ready tuples.

    Each tuple is (createdAt epoch, workflow order, sequence, record, link to fill with this
    run's id, link whose id is this run's replayOf).
    """
    schedule = _SCHEDULES[workflow_id]
    rng = random.Random(f"{seed}:{workflow_id}")
    tuning = _Tuning(extra_parameters, rng) if extra_parameters else None
    change = change_index(count)
    is_nightly = workflow_id == "nightly-etl"
    flaky = int(count * FLAKY_POINT) if is_nightly else -1
    # the flaky pair's replay must come before the last good run, which holds the stale asset
    flaky = flaky if flaky + 1 < change else -1
    replay_failed = change if is_nightly else -1
    replay_first_failure = workflow_id == "hourly-sync"
    trigger = {"source": "schedule", "cron": schedule.cron}
    sequence = 0
    host = ""
    for index in range(count):
        created = start + schedule.offset + index * schedule.period
        created_at = _iso(created)
        partition = _partition(workflow_id, created_at)
        host = FLAKY_HOST if index == flaky else _next_host(rng, host, index + 1 == flaky)
        parameters, context = _inputs(
            workflow_id, index >= change, partition, host, f"{rng.getrandbits(64):016x}"
        )
        if tuning is not None:
            parameters["tuning"] = tuning.next_parameters()
        record = _record(
            workflow_id, partition, created_at, created, parameters, context, dict(trigger)
        )
        if is_nightly and index == change - 1 and record["status"] == "SUCCEEDED":
            for asset in record["assets"]:
                if asset["assetKey"] == STALE_ASSET:
                    asset["freshness"]["stale"] = True

        replay = None
        if index == flaky:
            requested_by = "alice"
        elif index == replay_failed:
            requested_by = "bob"
        elif replay_first_failure and record["status"] == "FAILED":
            requested_by, replay_first_failure = "carol", False
        else:
            requested_by = None
        if requested_by is not None:
            # a replay runs the recorded inputs again, on another (healthy) host; it is built
            # before the original is yielded, so a caller mutating the original cannot leak in
            replay_context = orjson.loads(orjson.dumps(context))
            replay_context["host"] = _HEALTHY_HOSTS[rng.randrange(len(_HEALTHY_HOSTS))]
            replay_context["traceId"] = f"{rng.getrandbits(64):016x}"
            replay_created = created + schedule.replay_delay
            replay = _record(
                workflow_id,
                partition,
                _iso(replay_created),
                replay_created,
                orjson.loads(orjson.dumps(parameters)),
                replay_context,
                {"source": "replay", "requestedBy": requested_by},
            )
        link = _RunLink() if replay is not None else None
        yield created, order, sequence, record, link, None
        sequence += 1
        if replay is not None:
            yield replay_created, order, sequence, replay, None, link
            sequence += 1


def _run_counts(
    workflows: Sequence[str], runs_per_workflow: int | Mapping[str, int]
) -> dict[str, int]:
    if isinstance(workflows, str):
        workflows = (workflows,)
    unknown = [workflow_id for workflow_id in workflows if workflow_id not in _SCHEDULES]
    if unknown:
        raise SampleError(
            f"unknown sample workflow(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(WORKFLOWS)}"
        )
    if len(set(workflows)) != len(workflows):
        raise SampleError(f"workflows {tuple(workflows)!r} name a workflow twice; name each once")
    counts = {}
    for workflow_id in workflows:
        if isinstance(runs_per_workflow, Mapping):
            count = runs_per_workflow.get(workflow_id, 0)
        else:
            count = runs_per_workflow
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SampleError(
                f"runs_per_workflow for {workflow_id!r} must be an integer >= 0, got {count!r}"
            )
        counts[workflow_id] = count
    return counts


def generate(
    workflows: Sequence[str] = WORKFLOWS,
    runs_per_workflow: int | Mapping[str, int] = 100,
    seed: int = 7,
    extra_parameters: int = 0,
    start: str = SAMPLE_START,
) -> Iterator[dict[str, Any]]:
    """Stream sample run records in createdAt order, with ids run-000001, run-000002, ...

    `runs_per_workflow` is one count for every workflow or a mapping workflow id → count;
    replays come on top of it. `extra_parameters=N` adds N leaves under parameters.tuning
    (ints, floats and strings; most constant, a few drift) to widen records for benchmarks.
    The same arguments give the same records, byte for byte, on any day.

    >>> first = next(generate(runs_per_workflow=1))
    >>> first["runId"], first["workflowId"], first["createdAt"]
    ('run-000001', 'hourly-sync', '2026-08-01T00:15:00Z')
    """
    counts = _run_counts(workflows, runs_per_workflow)
    if isinstance(extra_parameters, bool) or not isinstance(extra_parameters, int):
        raise SampleError(f"extra_parameters must be an integer >= 0, got {extra_parameters!r}")
    if extra_parameters < 0:
        raise SampleError(f"extra_parameters must be an integer >= 0, got {extra_parameters}")
    start_epoch = _epoch(start, "start")
    for workflow_id, count in counts.items():
        schedule = _SCHEDULES[workflow_id]
        last = start_epoch + schedule.offset + count * schedule.period + schedule.replay_delay
        if last > _MAX_EPOCH:
            raise SampleError(
                f"{count} {workflow_id} runs from {start} would run past the year 9999; "
                f"ask for fewer runs or an earlier start"
            )
    return _merged(counts, seed, extra_parameters, start_epoch)


def _merged(
    counts: Mapping[str, int], seed: int, extra_parameters: int, start: int
) -> Iterator[dict[str, Any]]:
    streams = [
        _stream(order, workflow_id, count, seed, extra_parameters, start)
        for order, (workflow_id, count) in enumerate(counts.items())
    ]
    merged = heapq.merge(*streams)
    for number, (_created, _order, _sequence, record, link, replay_of) in enumerate(merged, 1):
        run_id = f"run-{number:06d}"
        record["runId"] = run_id
        if link is not None:
            link.run_id = run_id
        if replay_of is not None:
            record["replayOf"] = replay_of.run_id
        yield record


# --- writing ------------------------------------------------------------------------------


def write_ndjson(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write records as NDJSON (gzip when the name ends in .gz); return how many were written.

    The file appears only when complete (written beside it, then renamed), and a .gz file
    carries no timestamp, so the same records give the same bytes.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    count = 0
    try:
        with open(partial, "wb") as raw:
            sink = (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
                if path.suffix == ".gz"
                else raw
            )
            lines: list[bytes] = []
            for record in records:
                lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                if len(lines) == 1024:
                    sink.write(b"".join(lines))
                    lines.clear()
                count += 1
            sink.write(b"".join(lines))
            if sink is not raw:
                sink.close()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def write_sample_data(directory: str | os.PathLike[str]) -> Path:
    """Write the committed sample (data/runs.ndjson) into `directory`; return the file's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SAMPLE_FILE
    write_ndjson(path, generate(runs_per_workflow=SAMPLE_RUNS, seed=SAMPLE_SEED))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m runreplay.sample DIR`: write the committed sample into DIR."""
    parser = argparse.ArgumentParser(
        prog="python -m runreplay.sample", description=write_sample_data.__doc__
    )
    parser.add_argument("directory", nargs="?", default="data", help="default: data")
    path = write_sample_data(parser.parse_args(argv).directory)
    with open(path, "rb") as written:
        count = sum(1 for _ in written)
    print(f"wrote {count} runs to {path}")


if __name__ == "__main__":
    main()

"""Seeded run histories shaped like the real world, with their ground truth, for onset tests.

A history is a list of Segments, oldest first. Each segment sets some input paths from its
first run on (they persist into later segments until one sets them again) and has its own
failure rate; every run can also fail transiently at `base_rate`. Around that sit the
things that make "the first failing run" the wrong answer: retries in good runs, noise
parameters that change between runs but never persist, volatile context (traceId, host),
and the outcome tags the platform writes because a run failed (Dagster's
`context["dagster/failure_reason"]`, an `output.error` message).

    >>> history = make_history(
    ...     [Segment(60, 0.0), Segment(40, 0.7, {"parameters.batchSize": 5000})],
    ...     seed=1, base_rate=0.03,
    ... )
    >>> history.segment_starts, history.segment_start_ids
    ((0, 60), ('etl-000000', 'etl-000060'))
    >>> store.load_records(history.records)  # doctest: +SKIP

Runs are hourly from `start`, ids `f"{workflow}-{i:06d}"` (so ids sort in run order).
The same arguments give the same records.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

STEPS = ("extract", "transform", "load")
FAILURE_REASON = "dagster/failure_reason"
"""The context key Dagster writes on a failed run (an outcome tag, never a cause)."""
FAILURE_REASON_PATH = 'context["dagster/failure_reason"]'
"""FAILURE_REASON as a run_fields path (runreplay.paths quotes keys that are not identifiers)."""
ERROR_PATH = "output.error"
OUTCOME_PATHS = (FAILURE_REASON_PATH, ERROR_PATH)
"""Paths a run holds because it failed: symptoms, never suspects."""
START = datetime(2026, 1, 1, tzinfo=UTC)

BASE_PARAMETERS: dict[str, Any] = {
    "batchSize": 1000,
    "retryPolicy": {"maxAttempts": 3, "backoffSeconds": 30},
    "source": {"table": "orders", "format": "parquet"},
    "dedupe": True,
}
BASE_CONTEXT: dict[str, Any] = {"image": "etl:1.4.2", "region": "eu-west-1"}
CAUSES: dict[str, Any] = {
    "parameters.batchSize": 5000,
    "parameters.source.format": "csv",
    "parameters.dedupe": False,
    "context.image": "etl:1.5.0",
}
"""Input paths a test can plant as a cause, each with a value other than its base value."""
NOISE: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("parameters.windowDays", (1, 3, 7)),
    ("parameters.priority", ("low", "normal", "high")),
    ("context.queue", ("default", "bulk", "spot")),
    ("parameters.sampleRate", (0.1, 0.25, 0.5)),
)
"""Noise paths and their values: drawn afresh for every run, so they change in about 2 of 3
pairs of runs (not volatile) and no value ever persists."""
VOLATILE_PATHS = ("context.traceId", "context.host")
HOSTS = tuple(f"worker-{number}" for number in range(1, 9))
TRANSIENT_REASONS = ("TIMEOUT", "UNEXPECTED_TERMINATION", "STEP_FAILURE")
TRANSIENT_ERRORS = (
    "connection reset by peer",
    "worker lost heartbeat",
    "read timed out after 300 s",
    "503 Service Unavailable from object store",
)
_STEP_SECONDS = {"extract": 240, "transform": 420, "load": 180}


@dataclass(frozen=True)
class Segment:
    """A stretch of runs with one set of inputs and one failure rate.

    runs: how many runs. failure_rate: chance a run fails for this segment's reason (at
    `failing_step`, with `failure_reason` and `error`); transient failures at the history's
    base_rate come on top. inputs: input paths ("parameters.batchSize", "context.image";
    dotted identifier keys) set from this segment's first run on. leading_successes: the
    segment's first runs that must succeed (neither failure applies). failed_at: offsets
    within the segment of the runs that fail for its reason; when given, failure_rate and
    transient failures do not apply in this segment. retry_rate: chance a step that goes on
    to succeed is retried first. metrics: name -> (mean, sd) of output.metrics.<name>, on
    successful runs.
    """

    runs: int
    failure_rate: float = 0.0
    inputs: Mapping[str, Any] = field(default_factory=dict)
    failing_step: str = "load"
    failure_reason: str = "STEP_FAILURE"
    error: str = "duplicate key value violates unique constraint"
    leading_successes: int = 0
    failed_at: tuple[int, ...] | None = None
    retry_rate: float = 0.03
    metrics: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class History:
    """The records of one generated workflow and the truth behind them.

    failures[i] is None for a run that did not fail, "transient" or "segment" for one that
    did; failing_steps[i] the step a failed run stopped at (None otherwise).
    """

    workflow: str
    records: list[dict[str, Any]]
    segments: tuple[Segment, ...]
    segment_starts: tuple[int, ...]
    failures: tuple[str | None, ...]
    failing_steps: tuple[str | None, ...]

    @property
    def segment_start_ids(self) -> tuple[str, ...]:
        return tuple(self.run_id(index) for index in self.segment_starts)

    def run_id(self, index: int) -> str:
        return run_id(self.workflow, index)

    def index(self, run_id: str) -> int:
        """The position of a generated run (not a replay) from its id."""
        prefix = f"{self.workflow}-"
        if not run_id.startswith(prefix) or not run_id[len(prefix) :].isdigit():
            raise ValueError(f"{run_id!r} is not a run of {self.workflow!r}")
        return int(run_id[len(prefix) :])

    @property
    def failed(self) -> list[bool]:
        return [kind is not None for kind in self.failures]

    def last_success_before(self, index: int) -> str | None:
        """The id of the last SUCCEEDED run before run `index` (a bisect's good run)."""
        for position in range(min(index, len(self.records)) - 1, -1, -1):
            if self.records[position]["status"] == "SUCCEEDED":
                return self.run_id(position)
        return None

    def first_failure_from(self, index: int) -> str | None:
        """The id of the first FAILED run at or after run `index` (a bisect's bad run)."""
        for position in range(index, len(self.records)):
            if self.records[position]["status"] == "FAILED":
                return self.run_id(position)
        return None


def run_id(workflow: str, index: int) -> str:
    return f"{workflow}-{index:06d}"


def make_history(
    segments: Sequence[Segment],
    *,
    seed: int,
    workflow: str = "etl",
    base_rate: float = 0.0,
    noise_fields: int = 2,
    volatile: bool = True,
    outcome_tag: bool = True,
    start: datetime = START,
) -> History:
    """Generate the runs of `segments` (see the module docstring) for one workflow.

    base_rate: chance any run fails transiently (at a random step, possibly after retries).
    noise_fields: how many of NOISE's paths every run carries. volatile: runs carry
    context.traceId and context.host, different in every run. outcome_tag: failed runs carry
    context["dagster/failure_reason"] and output.error.
    """
    if not segments:
        raise ValueError("a history needs at least one segment")
    if not 0 <= noise_fields <= len(NOISE):
        raise ValueError(f"noise_fields must lie in 0..{len(NOISE)}, got {noise_fields}")
    noise = NOISE[:noise_fields]
    noise_paths = {path for path, _ in noise}
    rng = random.Random(seed)
    inputs = {"parameters": _copy(BASE_PARAMETERS), "context": _copy(BASE_CONTEXT)}
    records: list[dict[str, Any]] = []
    failures: list[str | None] = []
    failing_steps: list[str | None] = []
    starts: list[int] = []
    host = ""
    first = int(start.timestamp())
    for segment in segments:
        starts.append(len(records))
        for path, value in segment.inputs.items():
            if path in noise_paths:
                raise ValueError(f"{path} is a noise path; plant a cause elsewhere")
            _set(inputs, path, value)
        failed_at = set(segment.failed_at) if segment.failed_at is not None else None
        for offset in range(segment.runs):
            index = len(records)
            if offset < segment.leading_successes:
                fate = None
            elif failed_at is not None:
                fate = "segment" if offset in failed_at else None
            elif rng.random() < base_rate:
                fate = "transient"
            elif rng.random() < segment.failure_rate:
                fate = "segment"
            else:
                fate = None
            parameters = _copy(inputs["parameters"])
            context = _copy(inputs["context"])
            holders = {"parameters": parameters, "context": context}
            for path, values in noise:
                _set(holders, path, values[rng.randrange(len(values))])
            if volatile:
                host = _next_host(rng, host)
                context["traceId"] = f"{rng.getrandbits(64):016x}"
                context["host"] = host
            created = first + 3_600 * index
            record, step = _run(
                rng,
                run_id=run_id(workflow, index),
                workflow=workflow,
                created=created,
                parameters=parameters,
                context=context,
                segment=segment,
                fate=fate,
                outcome_tag=outcome_tag,
            )
            records.append(record)
            failures.append(fate)
            failing_steps.append(step)
    return History(
        workflow=workflow,
        records=records,
        segments=tuple(segments),
        segment_starts=tuple(starts),
        failures=tuple(failures),
        failing_steps=tuple(failing_steps),
    )


def make_replay(
    history: History,
    of: int,
    *,
    created: datetime,
    seed: int,
    failed: bool = False,
    inputs: Mapping[str, Any] | None = None,
    number: int = 1,
) -> dict[str, Any]:
    """A replay of run `of` (replayOf set, its inputs again plus `inputs`), created at
    `created`, that fails for the run's segment reason when `failed`. Its id,
    f"{workflow}-replay-{number:03d}", is no generated run's."""
    original = history.records[of]
    if created <= datetime.fromisoformat(original["createdAt"]):
        raise ValueError("a replay is created after the run it replays")
    created_epoch = int(created.timestamp())
    holders = {"parameters": _copy(original["parameters"]), "context": _copy(original["context"])}
    holders["context"].pop(FAILURE_REASON, None)
    for path, value in (inputs or {}).items():
        _set(holders, path, value)
    rng = random.Random(seed)
    if "traceId" in holders["context"]:
        holders["context"]["traceId"] = f"{rng.getrandbits(64):016x}"
    segment_index = max(i for i, first in enumerate(history.segment_starts) if first <= of)
    record, _step = _run(
        rng,
        run_id=f"{history.workflow}-replay-{number:03d}",
        workflow=history.workflow,
        created=created_epoch,
        parameters=holders["parameters"],
        context=holders["context"],
        segment=history.segments[segment_index],
        fate="segment" if failed else None,
        outcome_tag=True,
    )
    record["replayOf"] = original["runId"]
    record["triggerPayload"] = {"source": "replay", "requestedBy": "alice"}
    return record


# -- one run ---------------------------------------------------------------------------


def _run(
    rng: random.Random,
    *,
    run_id: str,
    workflow: str,
    created: int,
    parameters: dict[str, Any],
    context: dict[str, Any],
    segment: Segment,
    fate: str | None,
    outcome_tag: bool,
) -> tuple[dict[str, Any], str | None]:
    """One run record and the step it failed at (None when it succeeded)."""
    max_attempts = max(1, int(parameters.get("retryPolicy", {}).get("maxAttempts", 1)))
    backoff = int(parameters.get("retryPolicy", {}).get("backoffSeconds", 30))
    if fate == "segment":
        failing_step = segment.failing_step
    elif fate == "transient":
        failing_step = STEPS[rng.randrange(len(STEPS))]
    else:
        failing_step = None
    moment = created + rng.randint(2, 30)
    started = moment
    history: list[dict[str, Any]] = [{"seq": 0, "at": _iso(created), "status": "QUEUED"}]

    def event(status: str, step: str | None = None, attempt: int | None = None, message=None):
        item: dict[str, Any] = {"seq": len(history), "at": _iso(moment), "status": status}
        if step is not None:
            item["step"] = step
        if attempt is not None:
            item["attempt"] = attempt
        if message is not None:
            item["message"] = message
        history.append(item)

    if fate == "segment":
        message = f"{failing_step}: {segment.error}"
    elif fate == "transient":
        message = f"{failing_step}: {TRANSIENT_ERRORS[rng.randrange(len(TRANSIENT_ERRORS))]}"
    else:
        message = None
    for step in STEPS:
        seconds = _STEP_SECONDS[step]
        if step == failing_step:
            # the failing step is retried a random number of times, then fails for good
            attempts = rng.randint(1, max_attempts)
        elif rng.random() < segment.retry_rate and max_attempts > 1:
            attempts = rng.randint(2, max_attempts)
        else:
            attempts = 1
        for attempt in range(1, attempts + 1):
            event("RUNNING", step, attempt)
            moment += int(seconds * rng.uniform(0.8, 1.2))
            last = attempt == attempts
            if last and step != failing_step:
                event("SUCCEEDED", step, attempt)
            elif last:
                event("FAILED", step, attempt, message)
            else:
                retry = message or TRANSIENT_ERRORS[rng.randrange(len(TRANSIENT_ERRORS))]
                event("RETRYING", step, attempt, retry)
                moment += backoff
        if step == failing_step:
            break
    output: dict[str, Any] = {}
    if failing_step is None:
        event("SUCCEEDED")
        rows = rng.randint(90_000, 110_000)
        output["rowsWritten"] = rows
        if segment.metrics:
            output["metrics"] = {
                name: round(rng.gauss(mean, sd), 4) for name, (mean, sd) in segment.metrics.items()
            }
        assets = [
            {
                "assetKey": "warehouse/orders",
                "materializedAt": _iso(moment),
                "payload": {"rows": rows},
            }
        ]
    else:
        if outcome_tag:
            reason = (
                segment.failure_reason
                if fate == "segment"
                else TRANSIENT_REASONS[rng.randrange(len(TRANSIENT_REASONS))]
            )
            context[FAILURE_REASON] = reason
            output["error"] = message
        assets = []
    partition = _iso(created)[:13]
    record = {
        "runId": run_id,
        "workflowId": workflow,
        "runKey": f"{workflow}:{partition}",
        "partitionKey": partition,
        "status": "SUCCEEDED" if failing_step is None else "FAILED",
        "createdAt": _iso(created),
        "startedAt": _iso(started),
        "finishedAt": _iso(moment),
        "replayOf": None,
        "parameters": parameters,
        "context": context,
        "output": output,
        "triggerPayload": {"source": "schedule", "cron": "0 * * * *"},
        "history": history,
        "assets": assets,
    }
    return record, failing_step


# -- small helpers ----------------------------------------------------------------------


def _iso(epoch: int) -> str:
    """Epoch seconds as the stored timestamp form (formatting was the generator's hot spot)."""
    day, seconds = divmod(epoch, 86_400)
    return _day(day) + _CLOCK[seconds]


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")


_CLOCK = [
    f"T{hours:02d}:{minutes:02d}:{seconds:02d}Z"
    for hours in range(24)
    for minutes in range(60)
    for seconds in range(60)
]


def _copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _next_host(rng: random.Random, previous: str) -> str:
    while True:
        host = HOSTS[rng.randrange(len(HOSTS))]
        if host != previous:
            return host


def _set(holders: dict[str, dict[str, Any]], path: str, value: Any) -> None:
    """Set a dotted input path ("parameters.retryPolicy.maxAttempts") in its section."""
    section, *keys = path.split(".")
    if section not in holders or not keys:
        raise ValueError(f"{path!r}: inputs live under parameters.<key> or context.<key>")
    target = holders[section]
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = _copy(value)

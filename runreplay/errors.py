"""The one exception tree of runreplay: every error raised on purpose subclasses RunReplayError.

    RunReplayError
    ├── InvalidRunRecord      a record (or a line of a file) breaks the run-record contract
    │   └── DuplicateRunError the same runId arrives with different content
    ├── SourceError           a source file or glob cannot be found or read
    ├── RunNotFound           a runId the store (or the API) does not hold
    ├── StoreLocked           another process holds the DuckDB file for writing
    ├── StoreVersionError     the store file was written by an incompatible schema version
    ├── InvalidPath           a field path or path glob does not parse
    ├── InvalidPredicate      a run predicate (bisect's `failing`) does not parse
    ├── InvalidSeries         a series change-point detection cannot use (not 0/1, NaN, ...)
    ├── SampleError           sample-data arguments that cannot make a sample
    └── ApiError              the core API answered with an error, or could not be reached
        ├── BadRequest        400: the request was malformed (body, query, idempotency key)
        ├── Unauthorized      401: no token, or a token the server does not know
        ├── NotFound          404: an unknown run or route
        ├── ServerError       5xx: the server failed while handling the request
        └── ApiUnavailable    no answer (connection refused, timeout) or 502/503/504 after retries

Callers catch the base class or a precise leaf. Every message says what is wrong and what
to do next.
"""

from __future__ import annotations

from dataclasses import dataclass


class RunReplayError(Exception):
    """Base class of every error runreplay raises on purpose."""


@dataclass
class RecordProblem:
    """Where a run record is wrong: file, line, runId, field path and what was expected."""

    message: str
    source: str | None = None
    line: int | None = None
    run_id: str | None = None
    field: str | None = None
    unit: str = "line"

    def __str__(self) -> str:
        where = []
        if self.source is not None:
            where.append(
                self.source if self.line is None else f"{self.source} {self.unit} {self.line}"
            )
        elif self.line is not None:
            where.append(f"{self.unit} {self.line}")
        if self.run_id:
            where.append(f"runId {self.run_id!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InvalidRunRecord(RunReplayError):
    """A run record breaks the record contract (docs/ARCHITECTURE.md, "The record contract"); carries file, line, runId and field."""

    def __init__(self, problem: RecordProblem | str, *, more: int = 0):
        if isinstance(problem, str):
            problem = RecordProblem(problem)
        self.problem = problem
        self.source = problem.source
        self.line = problem.line
        self.run_id = problem.run_id
        self.field = problem.field
        text = str(problem)
        if more:
            text += f" (and {more} more bad record(s); load with on_error='skip' to list them all)"
        super().__init__(text)


class SourceError(RunReplayError):
    """A source path, glob or directory cannot be found or read."""


class DuplicateRunError(InvalidRunRecord):
    """The same runId arrived with different content and replace was not asked for."""


class RunNotFound(RunReplayError, KeyError):
    """A runId that the store or the API does not hold."""

    def __init__(self, run_id: str, where: str = "the store"):
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} is not in {where}; list the known runs with Store.runs() "
            f"or `runreplay runs`"
        )

    def __str__(self) -> str:  # KeyError would quote the message again
        return self.args[0]


class StoreLocked(RunReplayError):
    """Another process holds the DuckDB file for writing."""


class StoreVersionError(RunReplayError):
    """The store file has a schema version this runreplay cannot read or migrate."""


class InvalidPath(RunReplayError, ValueError):
    """A field path or a path glob does not parse."""


class InvalidPredicate(RunReplayError, ValueError):
    """A run predicate such as `output.metrics.auc < 0.9` does not parse; names where it stops."""

    def __init__(self, expression: str, position: int, message: str):
        self.expression = expression
        self.position = position
        super().__init__(
            f"cannot use the predicate {expression!r}: at character {position}, {message}\n"
            f"    {expression}\n    {' ' * position}^"
        )


class InvalidSeries(RunReplayError, ValueError):
    """A series or option change-point detection cannot use (not 1-D, not 0/1, NaN, ...)."""


class SampleError(RunReplayError, ValueError):
    """Arguments to the sample-data generator that cannot make a sample."""


class ApiError(RunReplayError):
    """The core API answered with an error; carries the HTTP status, the error code and message.

    `status_code` is None when no HTTP answer came back at all (see ApiUnavailable).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        url: str | None = None,
    ):
        self.status_code = status_code
        self.code = code
        self.message = message
        self.url = url
        where = " ".join(str(part) for part in (status_code, code) if part is not None)
        text = message
        if where or url:
            text += f" ({where}{' from ' if where and url else ''}{url or ''})"
        super().__init__(text)


class BadRequest(ApiError):
    """400: the server refused the request's body, query or Idempotency-Key."""


class Unauthorized(ApiError):
    """401: no bearer token, or one the server does not know; set RUNREPLAY_TOKEN."""


class NotFound(ApiError):
    """404: the run (or the route) is unknown to the server."""


class ServerError(ApiError):
    """5xx: the server failed while handling the request; its log has the details."""


class ApiUnavailable(ApiError):
    """The server could not be reached, timed out, or answered 502/503/504 after retries."""

"""The one exception tree of runreplay: every error raised on purpose subclasses RunReplayError.

    RunReplayError
    ├── InvalidRunRecord      a record (or a line of a file) breaks the run-record contract
    ├── SourceError           a source file or glob cannot be found or read
    │   └── DuplicateRunError the same runId arrives with different content
    ├── RunNotFound           a runId the store (or the API) does not hold
    ├── StoreLocked           another process holds the DuckDB file for writing
    ├── StoreVersionError     the store file was written by an incompatible schema version
    ├── InvalidPath           a field path or path glob does not parse
    ├── SampleError           sample-data arguments that cannot make a sample
    └── ApiError              the core API answered with an error (see runreplay.client)

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
    """A run record breaks the contract of DESIGN §1; carries file, line, runId and field."""

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


class SampleError(RunReplayError, ValueError):
    """Arguments to the sample-data generator that cannot make a sample."""

"""runreplay: compare, analyse and replay workflow runs.

import runreplay
store = runreplay.open("runs.duckdb")
store.load("data/")
store.runs(workflow="nightly-etl", limit=5)
"""

__version__ = "0.1.0"

from runreplay.errors import (  # noqa: E402
    ApiError,
    ApiUnavailable,
    BadRequest,
    DuplicateRunError,
    InvalidPath,
    InvalidPredicate,
    InvalidRunRecord,
    NotFound,
    RunNotFound,
    RunReplayError,
    SampleError,
    ServerError,
    SourceError,
    StoreLocked,
    StoreVersionError,
    Unauthorized,
)

_LAZY = {
    "open": "runreplay.store",
    "Store": "runreplay.store",
    "LoadResult": "runreplay.ingest",
    "json_schema": "runreplay.model",
    "normalize_record": "runreplay.model",
    "RunDiff": "runreplay.diff",
    "diff_runs": "runreplay.diff",
    "DriftReport": "runreplay.drift",
    "Bisect": "runreplay.drift",
    "CoreAPI": "runreplay.client",
    "ReplayResult": "runreplay.client",
}
"""Names imported on first use: `import runreplay` stays light (no pandas, DuckDB or
requests), which matters for the loader's worker processes that import runreplay.ingest."""


_SUBMODULES = frozenset(
    ("cli", "client", "demo", "diff", "drift", "fieldstats", "ingest", "model", "paths",
     "predicate", "report", "sample", "server", "sources", "store", "widgets")
)  # fmt: skip
"""Modules reachable as attributes once `import runreplay` ran (runreplay.sample.generate)."""


def __getattr__(name: str):
    if name in _LAZY or name in _SUBMODULES:
        import importlib

        if name in _SUBMODULES:
            value = importlib.import_module(f"runreplay.{name}")
        else:
            value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runreplay' has no attribute {name!r}")


__all__ = [
    "ApiError",
    "ApiUnavailable",
    "BadRequest",
    "CoreAPI",
    "NotFound",
    "ReplayResult",
    "ServerError",
    "Unauthorized",
    "Bisect",
    "DriftReport",
    "DuplicateRunError",
    "InvalidPath",
    "InvalidPredicate",
    "InvalidRunRecord",
    "LoadResult",
    "RunDiff",
    "RunNotFound",
    "RunReplayError",
    "SampleError",
    "SourceError",
    "Store",
    "StoreLocked",
    "StoreVersionError",
    "__version__",
    "diff_runs",
    "json_schema",
    "normalize_record",
    "open",
]

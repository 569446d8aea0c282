"""runreplay: compare, analyse and replay workflow runs.

import runreplay
store = runreplay.open("runs.duckdb")
store.load("data/")
store.runs(workflow="nightly-etl", limit=5)
"""

__version__ = "0.1.0"

from runreplay.diff import RunDiff, diff_runs  # noqa: E402
from runreplay.drift import Bisect, DriftReport  # noqa: E402
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
from runreplay.ingest import LoadResult  # noqa: E402
from runreplay.model import json_schema, normalize_record  # noqa: E402
from runreplay.store import Store, open  # noqa: E402


def __getattr__(name: str):
    """CoreAPI and ReplayResult load lazily: the client needs requests."""
    if name in ("CoreAPI", "ReplayResult"):
        from runreplay import client

        return getattr(client, name)
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

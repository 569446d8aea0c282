"""runreplay: compare, analyse and replay workflow runs.

import runreplay
store = runreplay.open("runs.duckdb")
store.load("data/")
store.runs(workflow="nightly-etl", limit=5)
"""

__version__ = "0.1.0"

from runreplay.errors import (  # noqa: E402
    DuplicateRunError,
    InvalidPath,
    InvalidRunRecord,
    RunNotFound,
    RunReplayError,
    SourceError,
    StoreLocked,
    StoreVersionError,
)
from runreplay.ingest import LoadResult  # noqa: E402
from runreplay.model import json_schema, normalize_record  # noqa: E402
from runreplay.store import Store, open  # noqa: E402

__all__ = [
    "DuplicateRunError",
    "InvalidPath",
    "InvalidRunRecord",
    "LoadResult",
    "RunNotFound",
    "RunReplayError",
    "SourceError",
    "Store",
    "StoreLocked",
    "StoreVersionError",
    "__version__",
    "json_schema",
    "normalize_record",
    "open",
]

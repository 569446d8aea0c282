"""What the analysis layers need of a store, as a Protocol: diff, drift, client and widgets
type against `RunStore` and never import runreplay.store, which sits above them
(docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


class RunStore(Protocol):
    """The read (and load) surface of runreplay.Store that lower layers call."""

    path: str
    read_only: bool

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection whose default catalog holds the store's tables."""
        ...

    def run(self, run_id: str) -> dict:
        """One run record, rebuilt in the normalised camelCase form; RunNotFound if unknown."""
        ...

    def has_run(self, run_id: str) -> bool:
        """Whether the store holds `run_id`."""
        ...

    def runs(
        self,
        workflow: str | None = None,
        status: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        search: str | None = None,
    ) -> pd.DataFrame:
        """Runs newest first, one row each (the columns of Store.runs)."""
        ...

    def workflows(self) -> pd.DataFrame:
        """One row per workflow: workflow_id, runs, first/last run times."""
        ...

    def stale_assets(self, run_id: str, now: Any = None) -> pd.DataFrame:
        """The assets `run_id` produced that are stale at `now`."""
        ...

    def load_records(self, records: Iterable[dict], **options: Any) -> Any:
        """Load run records given as dicts; returns a LoadResult."""
        ...

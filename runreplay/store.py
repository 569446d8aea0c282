"""Store: run histories in a DuckDB file (or :memory:): schema, loading, queries, staleness.

    >>> import runreplay
    >>> store = runreplay.open("runs.duckdb")
    >>> store.load("data/")                      # doctest: +SKIP
    >>> store.runs(workflow="nightly-etl", limit=5)  # doctest: +SKIP

Tables (docs/ARCHITECTURE.md, "Tables"): runs, run_events, asset_snapshots, run_fields, meta, and the view
asset_state. Times are stored as UTC TIMESTAMPTZ; DataFrames carry UTC-aware datetimes.
"""

from __future__ import annotations

import operator
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from runreplay import __version__, loadpool
from runreplay.errors import (
    DuplicateRunError,
    InvalidRunRecord,
    RecordProblem,
    RunNotFound,
    RunReplayError,
    StoreLocked,
    StoreVersionError,
)
from runreplay.model import (
    VOLATILE_MIN_PAIRS,
    VOLATILE_RECENT_RUNS,
    VOLATILE_THRESHOLD,
    as_utc,
    format_timestamp,
    loads,
)
from runreplay.sources import SUPPORTED_SUFFIXES, expand_sources, has_suffix

if TYPE_CHECKING:
    import pandas as pd

    from runreplay.diff import RunDiff
    from runreplay.ingest import Batch, Chunk, LoadResult

SCHEMA_VERSION = 1
BATCH_RECORDS = 5000
ROW_GROUP_SIZE = 32768
"""Rows per row group of the store's tables (DuckDB's default is 122,880). A load writes
each full row group to the file as it inserts, on all threads; what is left over is
written at commit, on one thread. With smaller groups that tail is small: a 100k-run load
commits in ~0.03 s instead of ~0.45 s (its runs never filled a default group), ~11 % of
the whole load. It is an ATTACH option, not kept in the file, so every open passes it."""
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
KNOWN_MIN_BYTES = 32 * 1024 * 1024
"""Loads of files this big into a store that has runs first list the stored runs' keys, so
records the store holds already are only checked and hashed (see `_known_runs`)..."""
KNOWN_BYTES_PER_STORED_RUN = 64
"""...provided the load has at least this many bytes per stored run: listing the keys
costs ~0.5 s per million stored runs, which a small load into a big store would not win
back (a tiny load, such as a replay's new run, never lists them)."""
DEFAULT_MEMORY_LIMIT = "1GB"
LOADED_TABLES = ("runs", "run_events", "asset_snapshots", "run_fields")
"""The tables a load writes (one staged Parquet file per table and batch)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL,
    workflow_id VARCHAR NOT NULL,
    run_key VARCHAR,
    partition_key VARCHAR,
    status VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    replay_of VARCHAR,
    parameters JSON NOT NULL,
    context JSON NOT NULL,
    output JSON NOT NULL,
    trigger_payload JSON NOT NULL,
    extra JSON,
    content_hash VARCHAR NOT NULL,
    source VARCHAR,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS run_events (
    run_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    step VARCHAR,
    attempt BIGINT,
    message VARCHAR,
    extra JSON
);
CREATE TABLE IF NOT EXISTS asset_snapshots (
    run_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    asset_key VARCHAR NOT NULL,
    materialized_at TIMESTAMPTZ,
    payload JSON,
    freshness JSON,
    last_updated TIMESTAMPTZ,
    max_lag_minutes DOUBLE,
    stale_flag BOOLEAN,
    extra JSON
);
CREATE TABLE IF NOT EXISTS run_fields (
    run_id VARCHAR NOT NULL,
    section VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    value JSON,
    value_type VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS asset_freshness (
    asset_key VARCHAR NOT NULL,
    reported_at TIMESTAMPTZ NOT NULL,
    last_updated TIMESTAMPTZ,
    max_lag_minutes DOUBLE,
    stale_flag BOOLEAN,
    reported_by VARCHAR
);
CREATE OR REPLACE VIEW asset_state AS
SELECT asset_key, run_id, workflow_id, as_of, materialized_at, payload, freshness,
       last_updated, max_lag_minutes, stale_flag,
       CASE WHEN stale_flag IS NOT NULL THEN stale_flag
            WHEN last_updated IS NULL OR max_lag_minutes IS NULL THEN false
            ELSE epoch(current_timestamp - last_updated) / 60.0 > max_lag_minutes
       END AS is_stale
FROM (
    SELECT *, row_number() OVER (
               PARTITION BY asset_key ORDER BY as_of DESC, kind DESC, run_id DESC
           ) AS newest
    FROM (
        SELECT s.asset_key, s.run_id, r.workflow_id,
               coalesce(s.materialized_at, r.created_at) AS as_of, 0 AS kind,
               s.materialized_at, s.payload, s.freshness, s.last_updated, s.max_lag_minutes,
               s.stale_flag
        FROM asset_snapshots s JOIN runs r USING (run_id)
        UNION ALL
        SELECT f.asset_key, NULL, NULL, f.reported_at, 1, NULL, NULL, NULL, f.last_updated,
               f.max_lag_minutes, f.stale_flag
        FROM asset_freshness f
    )
) WHERE newest = 1;
"""

# Staleness with an injectable `now` (docs/ARCHITECTURE.md, "Staleness"); one SQL fragment for every caller.
_ASSET_STATE_AT = """
SELECT asset_key, run_id AS current_run_id, workflow_id, materialized_at, last_updated,
       max_lag_minutes, stale_flag,
       CASE WHEN stale_flag IS NOT NULL THEN stale_flag
            WHEN last_updated IS NULL OR max_lag_minutes IS NULL THEN false
            ELSE epoch($now - last_updated) / 60.0 > max_lag_minutes
       END AS is_stale,
       CASE WHEN stale_flag THEN 'flagged stale by its current freshness'
            WHEN stale_flag IS NULL AND last_updated IS NOT NULL AND max_lag_minutes IS NOT NULL
                 AND epoch($now - last_updated) / 60.0 > max_lag_minutes
            THEN 'last updated ' || CAST(round(epoch($now - last_updated) / 60) AS BIGINT)
                 || ' min ago, more than maxLagMinutes ' || CAST(max_lag_minutes AS VARCHAR)
            ELSE NULL
       END AS reason,
       payload, freshness
FROM asset_state
"""

_MIGRATIONS: dict[int, str] = {}
"""SQL that upgrades a store from version N to N+1, keyed by N."""


def open(  # noqa: A001
    path: str | os.PathLike = ":memory:",
    read_only: bool = False,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
) -> Store:
    """Open (creating when needed) a runreplay store: a DuckDB file or ":memory:".

    `memory_limit` caps DuckDB's buffer pool (it spills to disk beyond it); None leaves
    DuckDB's default of 80 % of RAM.
    """
    return Store(path, read_only=read_only, memory_limit=memory_limit)


def _memory_limit(text: str) -> str:
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", text, re.I):
        raise RunReplayError(f"memory_limit {text!r} is not a size such as '1GB' or '512MiB'")
    return text.strip()


def _iso(moment: Any) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _batches(
    chunks: Iterable[Chunk],
    check_json: bool,
    workers: int,
    staging: str,
    known: str | None = None,
) -> Iterator[Batch]:
    """Build and stage batches in order, in this process or in `workers` processes
    (bounded in flight); `known` goes to build_batch."""
    from runreplay import ingest

    if workers <= 1:
        for number, chunk in enumerate(chunks):
            yield ingest.build_batch(chunk, check_json, staging, number, known)
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=loadpool.context(), initializer=loadpool.hold, initargs=(os.getpid(),)
    )
    numbered = enumerate(chunks)
    taking = threading.Lock()  # numbered is read by this thread and the starter
    pending: dict[int, Batch | Future] = {}  # by batch number, until yielded
    failed: list[BaseException] = []

    def take() -> tuple[int, Chunk] | None:
        with taking:
            return next(numbered, None)

    def submit(number: int, chunk: Chunk) -> None:
        pending[number] = pool.submit(ingest.build_batch, chunk, check_json, staging, number, known)

    def start() -> None:
        try:
            for _ in range(workers):
                item = take()
                if item is None:
                    return
                submit(*item)
        except BaseException as error:  # raised again in the generator's thread
            failed.append(error)

    # Starting a worker waits for the fork server to import runreplay (~0.5 s): the first
    # submissions run on a thread while this process builds batches itself.
    starter = threading.Thread(target=start, name="runreplay-load-start", daemon=True)
    following = 0  # the number of the next batch to yield
    try:
        starter.start()
        while starter.is_alive():
            item = take()
            if item is None:
                break
            number, chunk = item
            pending[number] = ingest.build_batch(chunk, check_json, staging, number, known)
            while isinstance(pending.get(following), ingest.Batch):
                yield pending.pop(following)
                following += 1
        starter.join()
        if failed:
            raise failed[0]
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < 2 * workers:
                item = take()
                if item is None:
                    exhausted = True
                else:
                    submit(*item)
            if pending:
                found = pending.pop(following)
                following += 1
                yield found if isinstance(found, ingest.Batch) else found.result()
    finally:
        _join_started(starter)
        pool.shutdown(wait=True, cancel_futures=True)


def _join_started(thread: threading.Thread, patience: float = 5.0) -> None:
    """Join `thread` once it runs. Thread.start() waits for the new thread to run, and a
    signal (Ctrl-C, SIGTERM) can end that wait with an exception while the thread still
    starts a moment later: it then launched workers after the pool was shut down, and
    the process exited under their feet (a worker's traceback: its semaphores were gone).
    A thread that never started (start() failed) is given up on after `patience` s."""
    deadline = time.monotonic() + patience
    while True:
        try:
            thread.join()
            return
        except RuntimeError:  # "cannot join thread before it is started"
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)


@contextmanager
def _interrupts_as_keyboard_interrupt(
    what: str = "the load was interrupted before it committed: nothing from it is in the store",
) -> Iterator[None]:
    """Let a load's (or an open's) queries stop on Ctrl-C as everything else does. DuckDB's
    Python client turns the KeyboardInterrupt of a query it stops into RuntimeError("Query
    interrupted") (and `connection.interrupt()` into InterruptException): the CLI printed
    a traceback, and a script or notebook saw an error rather than an interrupt. The
    transaction rolls back either way. `what` is the KeyboardInterrupt's message."""
    try:
        yield
    except (duckdb.InterruptException, RuntimeError) as error:
        if not interrupted_query(error):
            raise
        raise KeyboardInterrupt(what) from None


def interrupted_query(error: BaseException) -> bool:
    """True for the error DuckDB raises for a query that Ctrl-C (RuntimeError("Query
    interrupted")) or `connection.interrupt()` (InterruptException) stopped."""
    return isinstance(error, duckdb.InterruptException) or (
        isinstance(error, RuntimeError) and str(error) == "Query interrupted"
    )


@contextmanager
def _one_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block's queries on `con` as one transaction: committed at its end, rolled
    back if it raises (or is interrupted)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


_MAX_REPLAY_CHAIN = 100
"""How far `stale_assets` follows replayOf (a cycle in loaded data ends there)."""

_STAGING_PREFIX = "runreplay-load-"
"""A load stages its batches in `{tempdir}/runreplay-load-{pid}-{random}`."""


def _sweep_orphaned_staging() -> None:
    """Delete the staging directories of loads whose process is gone: a load killed with
    SIGKILL (or SIGTERM outside the CLI) cannot clean up after itself, and its staged
    Parquet files are about the size of what it loaded."""
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(_STAGING_PREFIX):
            continue
        owner = entry.name[len(_STAGING_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not loadpool.alive(int(owner)):
            shutil.rmtree(entry.path, ignore_errors=True)


def _batch_number(path: str) -> int:
    """The batch number in a staged file's name (`runs-000012.parquet` -> 12)."""
    return int(path.rsplit("-", 1)[1].split(".", 1)[0])


def _auto_workers(total_bytes: int) -> int:
    """Worker processes for a load: parallel parsing pays off only for big inputs."""
    if total_bytes < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


_DUCKDB_MAGIC = b"DUCK"
"""What a DuckDB database file holds at bytes 8-11 (after its header checksum)."""


def check_store_path(path: str) -> None:
    """Refuse a store path that is not, and cannot become, a DuckDB store file.

    DuckDB attaches an existing CSV, JSON or Parquet file as an in-memory database with a
    view of the file, so a load into `--db export.ndjson` would report success and keep
    nothing; a SQLite file would make it download an extension. A new store named like an
    export would be picked up by later loads of its directory."""
    target = Path(path)
    if not target.parent.is_dir():
        raise RunReplayError(
            f"cannot open store {path!r}: its directory {str(target.parent)!r} does not exist; "
            "create it first, or give another path"
        )
    if target.is_dir():
        raise RunReplayError(
            f"cannot open store {path!r}: it is a directory; give the path of a store file "
            "such as runs.duckdb"
        )
    if target.exists() and not target.is_file():  # a FIFO would block the read below
        raise RunReplayError(
            f"cannot open store {path!r}: it is not a regular file; give the path of a store "
            "file such as runs.duckdb"
        )
    if not target.exists():
        if has_suffix(path, SUPPORTED_SUFFIXES):
            raise RunReplayError(
                f"cannot create store {path!r}: the name ends like a run export "
                f"({', '.join(SUPPORTED_SUFFIXES)}), so loads of its directory would read "
                "it; name the store file e.g. runs.duckdb"
            )
        return
    try:
        with target.open("rb") as stream:
            head = stream.read(12)
    except OSError as error:
        raise RunReplayError(f"cannot open store {path!r}: {error.strerror}") from None
    if head[8:12] != _DUCKDB_MAGIC:
        hint = (
            f"it looks like a run export: load it into a store with `runreplay load {path} "
            "--db runs.duckdb`"
            if has_suffix(path, SUPPORTED_SUFFIXES)
            else "give the path of a runreplay store, or a new file name to create one"
        )
        raise RunReplayError(f"cannot open store {path!r}: it is not a DuckDB file; {hint}")


def _locked_message(path: str, error: str, read_only: bool) -> str:
    """What to do when another process holds the store file (DuckDB's lock error)."""
    holder = error.split("(PID", 1)
    pid = f" (PID{holder[1].split(')')[0]})" if len(holder) > 1 else ""
    server = (
        "if that process is `runreplay serve`, ask the server instead (`--api URL` on the "
        "command line, runreplay.CoreAPI in Python)"
    )
    if read_only:
        return (
            f"{path!r} is open for writing in another process{pid}, and DuckDB lets no other "
            f"process read a file while one writes it: close the store there; {server}."
        )
    return (
        f"{path!r} is in use by another process{pid}. DuckDB lets one process write a file "
        "at a time: close the store in the other process; if this process only reads, open "
        f"it with read_only=True (the command line's read commands do); {server}."
    )


def _snapshot(record: Any) -> Any:
    """The record as it is now: its dicts and lists copied (not the values in them).

    load_records holds records until a batch is full, so a generator that yields one dict
    and changes it between yields would otherwise load the last version only (as repeats);
    ~25 us a record, a fifth of what loading it costs. Nested beyond the stack, a record
    is kept as is: validation rejects it."""
    try:
        return _copy_containers(record)
    except RecursionError:
        return record


def _check_run_id(run_id: Any) -> None:
    if not isinstance(run_id, str):
        raise RunReplayError(
            f"a run id is a string, got {type(run_id).__name__} {run_id!r}; "
            "pass the runId as text, e.g. 'run-000345'"
        )


def _copy_containers(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copy_containers(item) for key, item in value.items()}
    if kind is list:
        return [_copy_containers(item) for item in value]
    return value


class Store:
    """Run histories in DuckDB. Create with `runreplay.open(path)`."""

    def __init__(
        self,
        path: str | os.PathLike = ":memory:",
        read_only: bool = False,
        memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    ):
        self.path = os.fspath(path)
        self.read_only = read_only
        self._in_transaction = False
        if read_only and self.path == ":memory:":
            raise RunReplayError(
                "an in-memory store cannot be opened read-only (it starts empty); "
                "give the path of a store file, or drop read_only"
            )
        if read_only and not Path(self.path).exists():
            raise RunReplayError(
                f"cannot open {self.path!r} read-only: the file does not exist; "
                "create it first with runreplay.open(path) or `runreplay load`"
            )
        if self.path != ":memory:":
            check_store_path(self.path)
        self._con = duckdb.connect()
        options = f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}" + (", READ_ONLY" if read_only else "")
        try:
            self._con.execute(f"ATTACH ? AS store ({options})", [self.path])
        except duckdb.IOException as error:
            self._con.close()
            if "lock" in str(error).lower():
                raise StoreLocked(_locked_message(self.path, str(error), read_only)) from None
            raise RunReplayError(f"cannot open store {self.path!r}: {error}") from None
        except duckdb.ResourceInUseException:  # attached by another Store of this process
            self._con.close()
            raise StoreLocked(
                f"{self.path!r} is open already in this process (another runreplay Store, "
                "e.g. from an earlier run of a notebook cell): use that store, or close it "
                "first (store.close(), or open stores in a `with` block)"
            ) from None
        except BaseException:
            self._con.close()
            raise
        self._con.execute("USE store")
        if self.path != ":memory:":  # spill next to the file, as a plain connect would
            self._con.execute("SET temp_directory = ?", [self.path + ".tmp"])
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")
        try:
            if memory_limit is not None:
                self._con.execute(f"SET memory_limit = '{_memory_limit(memory_limit)}'")
            with _interrupts_as_keyboard_interrupt(
                f"opening {self.path!r} was interrupted; its schema is unchanged"
            ):
                self._prepare_schema()
        except BaseException:  # the file stays attached to nothing
            self._con.close()
            raise

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the DuckDB connection (the file stays)."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"<runreplay.Store {self.path!r}{mode}>"

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB connection, for work the Store has no method for."""
        return self._con

    def _prepare_schema(self) -> None:
        tables = {
            row[0]
            for row in self._con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
        if "meta" not in tables:
            if tables:
                raise StoreVersionError(
                    f"{self.path!r} is a DuckDB file but not a runreplay store (it has no meta "
                    "table); open a new file for runreplay"
                )
            if self.read_only:
                raise StoreVersionError(
                    f"{self.path!r} is an empty DuckDB file, not a runreplay store yet; load "
                    f"runs into it first (`runreplay load SOURCES --db {self.path}`)"
                )
            # in one transaction: a store stopped while its tables are made (Ctrl-C, a
            # kill, an error) must not keep some of them without a schema version, which
            # every later open refused as "not a runreplay store"
            with _one_transaction(self._con):
                self._con.execute(_SCHEMA)
                self._con.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ["schema_version", str(SCHEMA_VERSION)],
                        ["created_by", f"runreplay {__version__}"],
                    ],
                )
            return
        version = self._own_schema_version()
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.path!r} has store schema version {version}, newer than this runreplay "
                f"({__version__}, schema {SCHEMA_VERSION}) can read; upgrade runreplay"
            )
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise StoreVersionError(
                    f"{self.path!r} has store schema version {version}; open it once without "
                    f"read_only to migrate it to version {SCHEMA_VERSION}"
                )
            self._migrate(version)

    def _own_schema_version(self) -> int:
        """The schema version in the meta table, once that table is known to be
        runreplay's (another program's DuckDB file may have a `meta` table too)."""
        try:
            rows = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
        except duckdb.Error:
            rows = {}
        version = rows.get("schema_version")
        if (
            not str(rows.get("created_by", "")).startswith("runreplay")
            or not isinstance(version, str)
            or not version.isdigit()
        ):
            raise StoreVersionError(
                f"{self.path!r} is a DuckDB file but not a runreplay store (its meta table is "
                "another program's); open a new file for runreplay"
            )
        return int(version)

    def _migrate(self, version: int) -> None:
        with _one_transaction(self._con):
            while version < SCHEMA_VERSION:
                if version not in _MIGRATIONS:
                    raise StoreVersionError(
                        f"{self.path!r} has store schema version {version} and no migration "
                        f"to {version + 1} exists; reload its sources into a new store"
                    )
                self._con.execute(_MIGRATIONS[version])
                version += 1
            self._con.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)]
            )

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the store's meta table."""
        return int(
            self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        )

    # -- loading ---------------------------------------------------------------------

    def load(
        self,
        *sources: str | os.PathLike,
        replace: bool = False,
        on_error: str = "raise",
        progress: bool | None = None,
        workers: int | None = None,
    ) -> LoadResult:
        """Load NDJSON / JSON / Parquet files, globs or directories in one transaction.

        With on_error="raise" a bad record anywhere writes nothing and raises
        InvalidRunRecord naming file, line, runId and field. With on_error="skip" the valid
        records load and every bad one is listed in `LoadResult.errors`. An identical record
        already stored is skipped; the same runId with other content is an error unless
        `replace=True`. `progress=None` shows a bar for loads over 8 MiB. `workers` processes
        parse and validate in parallel (default: one per core, up to 4, for loads over 32 MiB;
        1 keeps everything in this process).
        """
        if not sources:
            raise RunReplayError("give at least one file, glob or directory to load")
        self._writable()
        files = expand_sources(sources)
        sizes = [path.stat().st_size for path in files]
        if workers is None:
            workers = _auto_workers(sum(sizes))
        if workers > 1:
            loadpool.start_fork_server()
        from runreplay import ingest  # numpy and pyarrow, while the fork server starts

        bar = self._bar(progress, sum(sizes), unit="B", threshold=PROGRESS_MIN_BYTES)
        tracker = ingest._Progress(bar)

        def chunks() -> Iterator[Chunk]:
            base = 0
            for path, size in zip(files, sizes, strict=True):
                yield from ingest.read_chunks(path, BATCH_RECORDS, tracker, base)
                base += size
                tracker.advance_to(0, base)

        try:
            result = self._ingest(
                chunks(),
                replace=replace,
                on_error=on_error,
                check_json=False,
                workers=workers,
                bar=bar,
                load_bytes=sum(sizes),
            )
        finally:
            if bar is not None:
                bar.close()
        result.sources = [str(path) for path in files]
        return result

    def load_records(
        self,
        records: Iterable[dict],
        *,
        replace: bool = False,
        on_error: str = "raise",
        progress: bool | None = None,
        source: str = "<records>",
    ) -> LoadResult:
        """Load run records given as dicts (camelCase; docs/ARCHITECTURE.md, "The record contract") in one transaction."""
        from runreplay import ingest

        if isinstance(records, Mapping | str | bytes):  # iterating one gives its keys
            raise RunReplayError(
                f"load_records takes an iterable of records (dicts), got a "
                f"{type(records).__name__}; for one record, pass [record]"
            )

        total = len(records) if hasattr(records, "__len__") else None
        bar = self._bar(progress, total, unit="run", threshold=50_000)

        def items() -> Iterator[tuple]:
            for number, record in enumerate(records, start=1):
                if bar is not None:
                    bar.update(1)
                yield "record", number, _snapshot(record)

        try:
            result = self._ingest(
                ingest.group_records(items(), source, BATCH_RECORDS),
                replace=replace,
                on_error=on_error,
                check_json=True,
                bar=bar,
            )
        finally:
            if bar is not None:
                bar.close()
        result.sources = [source]
        return result

    @staticmethod
    def _bar(progress: bool | None, total: int | None, *, unit: str, threshold: int) -> Any:
        if progress is False or (progress is None and (total is None or total < threshold)):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, unit_scale=True, desc="loading runs")

    def _ingest(
        self,
        chunks: Iterable[Chunk],
        *,
        replace: bool,
        on_error: str,
        check_json: bool,
        workers: int = 1,
        bar: Any = None,
        load_bytes: int = 0,
    ) -> LoadResult:
        if on_error not in ("raise", "skip"):
            raise RunReplayError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        from runreplay import ingest

        self._writable()
        started = time.perf_counter()
        result = ingest.LoadResult()
        _sweep_orphaned_staging()
        with _interrupts_as_keyboard_interrupt():  # around every query of the load
            replaced = self._stage_and_commit(
                chunks, replace, on_error, check_json, workers, bar, load_bytes, result
            )
        result.replaced = len(replaced)
        result.seconds = time.perf_counter() - started
        return result

    def _stage_and_commit(
        self,
        chunks: Iterable[Chunk],
        replace: bool,
        on_error: str,
        check_json: bool,
        workers: int,
        bar: Any,
        load_bytes: int,
        result: LoadResult,
    ) -> list[str]:
        """Check and stage every batch, then insert them in one transaction; returns the
        run ids replaced."""
        from runreplay import ingest

        store_has_runs = self._con.execute("SELECT EXISTS (SELECT 1 FROM runs)").fetchall()[0][0]

        def problem(error: InvalidRunRecord) -> None:
            if on_error == "raise":
                raise error
            result.errors.append(error)

        # Every batch is checked and staged as Parquet files first (by build_batch, in parallel
        # when there are workers), then all are inserted in one transaction: nothing touches
        # the store before the whole load is known to be good, and DuckDB streams an
        # INSERT ... SELECT over the files to disk, so memory stays flat however big the load
        # (appending batch by batch inside the transaction would hold them all in memory).
        staged: list[dict[str, str]] = []  # per batch: table -> staged Parquet file
        seen: list[str] = []  # per batch: the runs the store holds already (not staged)
        with tempfile.TemporaryDirectory(prefix=f"{_STAGING_PREFIX}{os.getpid()}-") as staging:
            known = self._known_runs(staging, load_bytes) if store_has_runs else None
            batches = _batches(chunks, check_json, workers, staging, known)
            try:
                for batch in batches:
                    for found, duplicate in batch.problems:
                        problem(DuplicateRunError(found) if duplicate else InvalidRunRecord(found))
                    result.skipped += batch.skipped
                    if batch.files:
                        staged.append(batch.files)
                    if batch.seen:
                        seen.append(batch.seen)
            finally:
                batches.close()
                ingest.forget_known()  # a load in this process keeps no keys once it is read
            if bar is not None:  # every record is read: say what the wait is for
                bar.set_description("writing to the store", refresh=True)
            excluded, replaced = self._settle(
                staged, seen, replace, problem, result, store_has_runs
            )
            self._commit_staged(staged, excluded, replaced, result)
        return replaced

    def _known_runs(self, staging: str, load_bytes: int) -> str | None:
        """Write the `ingest.known_key` of every stored run to a Parquet file in `staging`
        for build_batch, which then leaves out records the store holds already; None (no
        file) when the load is too small for that to pay (KNOWN_MIN_BYTES and
        KNOWN_BYTES_PER_STORED_RUN)."""
        if load_bytes < KNOWN_MIN_BYTES:
            return None
        stored = self._con.execute("SELECT count(*) FROM runs").fetchall()[0][0]
        if stored * KNOWN_BYTES_PER_STORED_RUN > load_bytes:
            return None
        path = os.path.join(staging, "known.parquet")
        quoted = path.replace("'", "''")
        self._con.execute(
            "COPY (SELECT unhex(md5(run_id || content_hash)) AS key FROM runs) "
            f"TO '{quoted}' (FORMAT parquet)"
        )
        return path

    def _settle(
        self,
        staged: list[dict[str, str]],
        seen: list[str],
        replace: bool,
        problem: Any,
        result: LoadResult,
        store_has_runs: bool,
    ) -> tuple[dict[int, list[str]], list[str]]:
        """Which staged runs not to write, by batch: a run repeated later in this load
        (skipped when identical, a DuplicateRunError when not), or already stored (skipped
        when identical; otherwise replaced with `replace`, else an error). `seen` files list
        the runs build_batch found stored already (counted as skipped, not staged): they
        take part in the repeats. Two queries over the staged files, so a load keeps no
        per-run state in Python. Returns ({batch: run ids not to write}, run ids to
        replace). Never writes."""
        batch_of = {files["runs"]: index for index, files in enumerate(staged)}
        excluded: dict[int, set[str]] = {}
        found: list[tuple[int, int, InvalidRunRecord]] = []  # (batch, line, error)
        if staged or seen:
            self._settle_repeats(batch_of, seen, excluded, found, result)
        replaced: list[str] = []
        if store_has_runs and staged:
            replaced = self._settle_stored(batch_of, replace, excluded, found, result)
        for _batch, _number, error in sorted(found, key=lambda item: item[:2]):
            problem(error)  # in load order
        return {batch: sorted(ids) for batch, ids in excluded.items()}, replaced

    def _settle_repeats(
        self,
        batch_of: dict[str, int],
        seen: list[str],
        excluded: dict[int, set[str]],
        found: list,
        result: LoadResult,
    ) -> None:
        """Runs that occur in more than one batch: the first occurrence stands; a later one
        is skipped when identical and a DuplicateRunError when not."""
        from runreplay.ingest import SEEN_COLUMNS, duplicate_problem

        columns = ", ".join(SEEN_COLUMNS)
        reads, params = [], {}
        for name, files, stored in (("runs", list(batch_of), "false"), ("seen", seen, "true")):
            if files:
                reads.append(
                    f"SELECT {columns}, filename, {stored} AS stored "
                    f"FROM read_parquet(${name}, filename = true)"
                )
                params[name] = files
        repeats = self._con.execute(
            f"SELECT * FROM ({' UNION ALL '.join(reads)}) "
            "QUALIFY count(*) OVER (PARTITION BY run_id) > 1",
            params,
        ).fetchall()  # empty when no run repeats, the common case
        repeats.sort(key=lambda row: (row[0], _batch_number(row[5]), row[4]))
        first: dict[str, tuple[str, str]] = {}
        for run_id, digest, source, unit, number, path, stored in repeats:
            kept = first.get(run_id)
            if kept is None:
                first[run_id] = (digest, f"{source} {unit} {number}")
                continue
            if not stored:
                excluded.setdefault(batch_of[path], set()).add(run_id)
            if kept[0] == digest:
                result.skipped += 0 if stored else 1  # build_batch counted a stored one
            else:
                result.skipped -= 1 if stored else 0  # not identical to the first after all
                error = DuplicateRunError(duplicate_problem(run_id, source, unit, number, kept[1]))
                found.append((_batch_number(path), number, error))

    def _settle_stored(
        self,
        batch_of: dict[str, int],
        replace: bool,
        excluded: dict[int, set[str]],
        found: list,
        result: LoadResult,
    ) -> list[str]:
        """Staged runs the store holds: skipped when identical, else replaced (`replace`)
        or a DuplicateRunError. Returns the run ids to replace."""
        clashes = self._con.execute(
            "SELECT s.run_id, s.content_hash = r.content_hash, s.source, s._unit, s._number, "
            "s.filename FROM read_parquet($files, filename = true) s "
            "JOIN runs r USING (run_id) ORDER BY s.filename, s._number",
            {"files": list(batch_of)},
        ).fetchall()
        replaced = []
        for run_id, identical, source, unit, number, path in clashes:
            batch = batch_of[path]
            if run_id in excluded.get(batch, ()):
                continue  # a later repeat within this load, settled already
            if identical:
                result.skipped += 1
                excluded.setdefault(batch, set()).add(run_id)
            elif replace:
                replaced.append(run_id)
            else:
                excluded.setdefault(batch, set()).add(run_id)
                clash = RecordProblem(
                    "this runId is already in the store with different content; load "
                    "with replace=True (`--replace`) to overwrite it, or fix the runId",
                    source=source,
                    line=number,
                    run_id=run_id,
                    field="runId",
                    unit=unit,
                )
                found.append((_batch_number(path), number, DuplicateRunError(clash)))
        return replaced

    def _commit_staged(
        self,
        staged: list[dict[str, str]],
        excluded: dict[int, list[str]],
        replaced: list[str],
        result: LoadResult,
    ) -> None:
        """Insert the staged files in one transaction (or the caller's, when one is open):
        whole, or minus the run ids `excluded` from a batch, after deleting the runs to
        replace; counts the rows written into `result`."""
        con = self._con
        # The tables have no row order (every reader orders explicitly), so let DuckDB
        # insert on all its threads without keeping the staged order: ~25 % faster.
        ordered = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        con.execute("SET preserve_insertion_order = false")
        whole = [files for index, files in enumerate(staged) if index not in excluded]
        try:
            with nullcontext() if self._in_transaction else self.transaction():
                for table in LOADED_TABLES if replaced else ():
                    con.execute(
                        f"DELETE FROM {table} WHERE run_id IN (SELECT unnest(?))", [replaced]
                    )
                for table, counter in zip(LOADED_TABLES, result.COUNTERS, strict=True):
                    written = self._insert_staged(table, [files[table] for files in whole])
                    for index, ids in sorted(excluded.items()):
                        written += self._insert_staged(table, [staged[index][table]], ids)
                    setattr(result, counter, getattr(result, counter) + written)
        finally:
            con.execute(f"SET preserve_insertion_order = {bool(ordered[0])}")

    def _insert_staged(self, table: str, paths: list[str], excluded: Iterable[str] = ()) -> int:
        """Insert staged Parquet files into `table`, minus the `excluded` run ids; returns
        the rows written."""
        from runreplay.ingest import STAGED_WHERE

        if not paths:
            return 0
        select = "*"
        if table == "runs":  # where each run was read is not stored; when it was loaded is
            select = f"* EXCLUDE ({', '.join(STAGED_WHERE)}), current_timestamp"
        where, params = "", [paths]
        if excluded:
            where, params = " WHERE run_id NOT IN (SELECT unnest(?))", [paths, list(excluded)]
        return self._con.execute(
            f"INSERT INTO {table} SELECT {select} FROM read_parquet(?){where}", params
        ).fetchall()[0][0]

    # -- analysis (thin: the logic lives in diff.py, drift.py and client.py) ----------

    def diff(
        self,
        base_run_id: str,
        compare_run_id: str,
        *,
        now: Any = None,
        hide_volatile: bool = False,
        volatile_threshold: float = VOLATILE_THRESHOLD,
        ignore: Iterable[str] = (),
        list_keys: dict[str, str | None] | None = None,
        rtol: float = 0.0,
        atol: float = 0.0,
    ) -> RunDiff:
        """Compare two stored runs field by field; see runreplay.diff.diff_runs.

        Volatile paths of the base run's workflow are marked (or hidden), and the base
        run's assets that are stale at `now` become stale warnings.
        """
        from runreplay.diff import diff_stored

        return diff_stored(
            self,
            base_run_id,
            compare_run_id,
            now=now,
            hide_volatile=hide_volatile,
            volatile_threshold=volatile_threshold,
            ignore=tuple(ignore),
            list_keys=list_keys,
            rtol=rtol,
            atol=atol,
        )

    def volatile_paths(
        self,
        workflow_id: str,
        threshold: float = VOLATILE_THRESHOLD,
        *,
        min_pairs: int = VOLATILE_MIN_PAIRS,
        recent: int | None = VOLATILE_RECENT_RUNS,
    ) -> set[str]:
        """Paths whose value differs between consecutive runs in >= `threshold` of pairs,
        over the workflow's `recent` newest runs (None: all); see diff.volatile_paths."""
        from runreplay.diff import volatile_paths

        return volatile_paths(self, workflow_id, threshold, min_pairs=min_pairs, recent=recent)

    def drift(self, workflow_id: str, since: Any = None, until: Any = None, **options: Any):
        """How the fields of a workflow's runs changed over time; see runreplay.drift.drift."""
        from runreplay.drift import drift

        return drift(self, workflow_id, since, until, **options)

    def drift_summary(self, since: Any = None, until: Any = None, **options: Any) -> pd.DataFrame:
        """Every workflow at once for bulk triage; see runreplay.drift.drift_summary."""
        from runreplay.drift import drift_summary

        return drift_summary(self, since, until, **options)

    def regressions(
        self,
        workflow_id: str,
        failing: str | None = None,
        since: Any = None,
        until: Any = None,
        metric: str | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """Every significant change in the workflow's failure rate (or `metric`'s level),
        oldest first; see runreplay.drift.regressions.regressions."""
        from runreplay.drift.regressions import regressions

        return regressions(self, workflow_id, failing, since, until, metric, **options)

    def bisect(
        self,
        workflow_id: str,
        bad: str | None = None,
        good: str | None = None,
        failing: str | None = None,
        **options: Any,
    ):
        """The last good and first bad run and the changes most likely to blame."""
        from runreplay.drift import bisect

        return bisect(self, workflow_id, bad, good, failing, **options)

    def sync(self, api: Any, workflow: str | None = None, since: Any = None, **options: Any):
        """Pull runs from the core API into this store (idempotent); see client.sync."""
        from runreplay.client import sync

        return sync(self, api, workflow, since, **options)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Several writes as one transaction: loads inside it join it, all or nothing.

        >>> with store.transaction() as connection:  # doctest: +SKIP
        ...     store.load_records([new_run])
        ...     connection.execute("INSERT INTO audit VALUES (...)")
        """
        self._writable()
        if self._in_transaction:
            raise RunReplayError(
                "a transaction is already open on this store; do these writes inside it"
            )
        self._in_transaction = True
        try:
            with _one_transaction(self._con):
                yield self._con
        finally:
            self._in_transaction = False

    def _writable(self) -> None:
        if self.read_only:
            raise RunReplayError(
                f"{self.path!r} is open read-only; open it with read_only=False to load runs"
            )

    # -- queries ---------------------------------------------------------------------

    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        """Run any SQL over the store and return a DataFrame (parameters bound with ?)."""
        return self._con.execute(query, params).df()

    def runs(
        self,
        workflow: str | None = None,
        status: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        search: str | None = None,
    ) -> pd.DataFrame:
        """Runs newest first: run_id, workflow_id, status, created_at, ..., duration_seconds.

        `search` keeps the runs whose id contains it (case-insensitive, no wildcards).
        """
        for name, value in (("workflow", workflow), ("status", status), ("search", search)):
            if value is not None and not isinstance(value, str):
                raise RunReplayError(f"{name} must be a string, got {value!r}")
        if limit is not None:
            try:
                count = operator.index(limit)  # numpy integers too, not floats
            except TypeError:
                count = -1
            if count < 0:
                raise RunReplayError(f"limit must be a whole number >= 0 (or None), got {limit!r}")
            limit = min(count, 2**63 - 1)  # DuckDB's LIMIT is a BIGINT
        conditions, params = [], []
        if search:
            conditions.append("contains(lower(run_id), lower(?))")
            params.append(search.strip())
        if workflow is not None:
            conditions.append("workflow_id = ?")
            params.append(workflow)
        if status is not None:
            conditions.append("status = ?")
            params.append(status.upper())
        if since is not None:
            conditions.append("created_at >= ?")
            params.append(as_utc(since))
        if until is not None:
            conditions.append("created_at < ?")
            params.append(as_utc(until))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        limit_sql = ""
        if limit is not None:
            limit_sql = "LIMIT ?"
            params.append(limit)
        return self.sql(
            f"""
            SELECT run_id, workflow_id, status, created_at, started_at, finished_at,
                   epoch(finished_at - started_at) AS duration_seconds,
                   run_key, partition_key, replay_of
            FROM runs {where}
            ORDER BY created_at DESC, run_id DESC {limit_sql}
            """,
            params,
        )

    def workflows(self) -> pd.DataFrame:
        """One row per workflow: run count, counts by status, first and last run."""
        return self.sql(
            """
            SELECT workflow_id, count(*) AS runs,
                   count(*) FILTER (status = 'SUCCEEDED') AS succeeded,
                   count(*) FILTER (status = 'FAILED') AS failed,
                   count(*) FILTER (status = 'CANCELED') AS canceled,
                   count(*) FILTER (status IN ('QUEUED', 'RUNNING', 'RETRYING')) AS in_progress,
                   min(created_at) AS first_run, max(created_at) AS last_run
            FROM runs GROUP BY workflow_id ORDER BY workflow_id
            """
        )

    def run(self, run_id: str) -> dict:
        """The run record as a dict, equal to the normalised record that was loaded."""
        _check_run_id(run_id)
        row = self._con.execute(
            """
            SELECT run_id, workflow_id, run_key, partition_key, status, created_at, started_at,
                   finished_at, replay_of, parameters, context, output, trigger_payload, extra
            FROM runs WHERE run_id = ?
            """,
            [run_id],
        ).fetchone()
        if row is None:
            raise RunNotFound(run_id, f"the store {self.path!r}")
        record = {
            "runId": row[0],
            "workflowId": row[1],
            "runKey": row[2],
            "partitionKey": row[3],
            "status": row[4],
            "createdAt": _iso(row[5]),
            "startedAt": _iso(row[6]),
            "finishedAt": _iso(row[7]),
            "replayOf": row[8],
            "parameters": loads(row[9]),
            "context": loads(row[10]),
            "output": loads(row[11]),
            "triggerPayload": loads(row[12]),
            "history": self._history(run_id),
            "assets": self._assets(run_id),
        }
        if row[13] is not None:
            record.update(loads(row[13]))
        return record

    def _history(self, run_id: str) -> list[dict]:
        rows = self._con.execute(
            'SELECT seq, "at", status, step, attempt, message, extra FROM run_events '
            "WHERE run_id = ? ORDER BY position",
            [run_id],
        ).fetchall()
        history = []
        for seq, at, status, step, attempt, message, extra in rows:
            event: dict[str, Any] = {"seq": seq, "at": _iso(at), "status": status}
            if step is not None:
                event["step"] = step
            if attempt is not None:
                event["attempt"] = attempt
            if message is not None:
                event["message"] = message
            if extra is not None:
                event.update(loads(extra))
            history.append(event)
        return history

    def _assets(self, run_id: str) -> list[dict]:
        rows = self._con.execute(
            "SELECT asset_key, materialized_at, payload, freshness, extra FROM asset_snapshots "
            "WHERE run_id = ? ORDER BY position",
            [run_id],
        ).fetchall()
        assets = []
        for asset_key, materialized_at, payload, freshness, extra in rows:
            asset: dict[str, Any] = {"assetKey": asset_key}
            if materialized_at is not None:
                asset["materializedAt"] = _iso(materialized_at)
            if payload is not None:
                asset["payload"] = loads(payload)
            if freshness is not None:
                asset["freshness"] = loads(freshness)
            if extra is not None:
                asset.update(loads(extra))
            assets.append(asset)
        return assets

    def has_run(self, run_id: str) -> bool:
        """True when the store holds `run_id`."""
        _check_run_id(run_id)
        return bool(
            self._con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
        )

    def asset_state(self, now: Any = None) -> pd.DataFrame:
        """Newest snapshot per asset key and whether it is stale at `now` (default: now).

        Columns: asset_key, current_run_id, workflow_id, materialized_at, last_updated,
        max_lag_minutes, stale_flag, is_stale, reason, payload, freshness.
        """
        return self.sql(
            f"{_ASSET_STATE_AT} ORDER BY asset_key", {"now": as_utc(now) or datetime.now(UTC)}
        )

    def stale_assets(self, run_id: str, now: Any = None) -> pd.DataFrame:
        """The assets `run_id` produced that are stale now (their current state; docs/ARCHITECTURE.md, "Staleness").

        A run that produced none yet because it replays another (a replay still queued,
        or a replay of one) has the assets of the nearest run up its `replayOf` chain
        that produced some: replaying it rewrites those. Otherwise replaying a fresh
        replay went through without the stale warning its original gets.

        Columns as `asset_state`, one row per stale asset key.
        """
        if not self.has_run(run_id):
            raise RunNotFound(run_id, f"the store {self.path!r}")
        return self.sql(
            f"""
            WITH RECURSIVE chain(run_id, depth) AS (
                SELECT $run_id, 0
                UNION ALL
                SELECT runs.replay_of, chain.depth + 1
                FROM chain JOIN runs ON runs.run_id = chain.run_id
                WHERE runs.replay_of IS NOT NULL AND chain.depth < {_MAX_REPLAY_CHAIN}
            ),
            producer AS (
                SELECT run_id FROM chain
                WHERE run_id IN (SELECT run_id FROM asset_snapshots)
                ORDER BY depth LIMIT 1
            )
            SELECT * FROM ({_ASSET_STATE_AT}) state
            WHERE is_stale AND asset_key IN (
                SELECT asset_key FROM asset_snapshots
                WHERE run_id = (SELECT run_id FROM producer))
            ORDER BY asset_key
            """,
            {"now": as_utc(now) or datetime.now(UTC), "run_id": run_id},
        )

    def report_freshness(
        self,
        asset_key: str,
        *,
        stale: bool | None = None,
        last_updated: Any = None,
        max_lag_minutes: float | None = None,
        reported_at: Any = None,
        reported_by: str | None = None,
    ) -> None:
        """Record an asset's current freshness from outside a run (an operator, a sensor).

        It becomes the asset's current state when it is newer than the asset's newest
        snapshot; `stale=None` leaves the lag rule (now - last_updated > max_lag) to decide.
        """
        self._writable()
        if max_lag_minutes is not None and max_lag_minutes < 0:
            raise RunReplayError(f"max_lag_minutes must be >= 0, got {max_lag_minutes}")
        self._con.execute(
            "INSERT INTO asset_freshness VALUES (?, ?, ?, ?, ?, ?)",
            [
                asset_key,
                as_utc(reported_at) or datetime.now(UTC),
                as_utc(last_updated),
                max_lag_minutes,
                stale,
                reported_by,
            ],
        )

    def counts(self) -> dict[str, int]:
        """Row counts of the four tables."""
        return {
            table: self._con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("runs", "run_events", "asset_snapshots", "run_fields")
        }

"""The demo executor (`runreplay serve --execute`): runs queued replays through sample.simulate.

A background thread takes the runs in replay_queue that are not finished, oldest first, and
moves each through its history: QUEUED → RUNNING (→ RETRYING → RUNNING ...) → SUCCEEDED,
FAILED or CANCELED, writing the run record after every event. What happens is decided by
`runreplay.sample.simulate` from the run's recorded inputs (the one implementation of the
sample's stories), so replaying the last good nightly-etl run succeeds and replaying the
first bad one fails again. A run interrupted by a crash is run again from its start.

History times follow the simulation (createdAt plus simulated step durations); the assets a
successful run writes are stamped with the server clock at the moment they are written, so
that a freshness report made afterwards (PUT /assets/{key}/freshness) is newer than them.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from runreplay.model import format_timestamp
from runreplay.sample import simulate
from runreplay.server.database import ServerDatabase

log = logging.getLogger("runreplay.server")

EXECUTOR_HOST = "demo-executor"
FINISHED = ("SUCCEEDED", "FAILED", "CANCELED")

_PENDING_SQL = f"""
SELECT q.run_id FROM replay_queue q JOIN runs r USING (run_id)
WHERE r.status NOT IN ({", ".join(f"'{status}'" for status in FINISHED)})
ORDER BY q.enqueued_at, q.run_id
"""


class DemoExecutor:
    """Moves queued runs to a final status in a background thread; `event_delay` s per event."""

    def __init__(self, database: ServerDatabase, event_delay: float = 0.25):
        self.database = database
        self.event_delay = event_delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="runreplay-executor", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self, run_id: str | None = None) -> None:
        """Tell the thread a run was enqueued."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_pending()
            except Exception:  # keep the executor alive; the run is retried on the next pass
                log.exception("demo executor failed; retrying in a second")
                self._stop.wait(1.0)
                continue
            self._wake.wait(1.0)

    def run_pending(self) -> int:
        """Run every unfinished queued run to its end; return how many ran."""
        with self.database.lock:
            pending = [row[0] for row in self.database.connection.execute(_PENDING_SQL).fetchall()]
        for run_id in pending:
            if self._stop.is_set():
                break
            self.execute(run_id)
        return len(pending)

    def execute(self, run_id: str) -> dict:
        """Run one queued run through its simulated history; return the final record."""
        store = self.database.store
        with self.database.lock:
            queued = store.run(run_id)
        context = {
            **queued["context"],
            "host": EXECUTOR_HOST,
            "traceId": hashlib.blake2b(run_id.encode(), digest_size=8).hexdigest(),
        }
        outcome = simulate(queued["workflowId"], queued["parameters"], context, queued["createdAt"])
        history = outcome["history"]
        record = {**queued, "context": context, "startedAt": outcome["startedAt"]}
        for count in range(2, len(history)):  # history[0] is the QUEUED event it already has
            if self._stop.wait(self.event_delay):
                return record
            record = {**record, "status": history[count - 1]["status"], "history": history[:count]}
            self._write(record)
        final = {
            **record,
            "status": outcome["status"],
            "finishedAt": outcome["finishedAt"],
            "history": history,
            "output": outcome["output"],
            "assets": [self._written_now(asset) for asset in outcome["assets"]],
        }
        if self._stop.wait(self.event_delay):
            return record
        self._write(final)
        log.info("demo executor: %s %s", run_id, final["status"])
        return final

    def _written_now(self, asset: dict) -> dict:
        """The snapshot as of the server clock: the asset is written now, not at the run's
        simulated end, so a freshness report made after this moment wins over it."""
        now = format_timestamp(self.database.now())
        freshness = {**asset.get("freshness", {}), "lastUpdated": now}
        return {**asset, "materializedAt": now, "freshness": freshness}

    def _write(self, record: dict) -> None:
        with self.database.lock:
            self.database.store.load_records([record], replace=True, source="executor")

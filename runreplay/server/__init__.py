"""The reference core API (docs/ARCHITECTURE.md, "The core API"): FastAPI over its own DuckDB file; `runreplay serve`.

app.py       create_app, the request log, the OpenAPI document
routes.py    the HTTP routes
replay.py    replay with prior inputs: stale guard, Idempotency-Key, queue
audit.py     the append-only audit log
executor.py  the demo executor (sample.simulate)
auth.py      bearer tokens mapped to operator names
errors.py    the one error shape
database.py  the server's DuckDB file, clock and lock
schemas.py   request and response models for /openapi.json
"""

from runreplay.server.app import create_app

__all__ = ["create_app"]

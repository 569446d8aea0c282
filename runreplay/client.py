"""CoreAPI: the HTTP client of the core API (docs/ARCHITECTURE.md, "The core API"), and `sync` into an analysis store.

    >>> from runreplay.client import CoreAPI
    >>> api = CoreAPI("http://127.0.0.1:8765", token="...")       # doctest: +SKIP
    >>> result = api.replay("run-000345")                          # doctest: +SKIP
    >>> result.status, result.stale_assets                         # doctest: +SKIP
    ('stale_assets', [{'assetKey': 'warehouse/orders', ...}])
    >>> api.replay("run-000345", allow_stale_assets=True).run["runId"]  # doctest: +SKIP

Defaults come from RUNREPLAY_API_URL and RUNREPLAY_TOKEN. GETs are retried with backoff on
connection errors and 502/503/504; a replay always carries an Idempotency-Key (a new UUID
unless given), so it is retried the same way without the risk of enqueuing twice. The token
is never shown by repr or str, nor put into an error message or a log line.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from runreplay import __version__
from runreplay.errors import (
    ApiError,
    ApiUnavailable,
    BadRequest,
    NotFound,
    RunReplayError,
    ServerError,
    Unauthorized,
)
from runreplay.model import format_timestamp

if TYPE_CHECKING:
    from runreplay.diff import RunDiff
    from runreplay.ingest import LoadResult
    from runreplay.protocols import RunStore

log = logging.getLogger("runreplay.client")

DEFAULT_URL = "http://127.0.0.1:8765"
URL_ENV = "RUNREPLAY_API_URL"
TOKEN_ENV = "RUNREPLAY_TOKEN"
RETRY_STATUSES = frozenset((502, 503, 504))
MAX_BACKOFF = 8.0
_ERROR_CLASSES = {400: BadRequest, 401: Unauthorized, 403: Unauthorized, 404: NotFound}


class _Bearer(AuthBase):
    """Adds the bearer token to each request; its repr hides the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<bearer token hidden>"


@dataclass(frozen=True)
class ReplayResult:
    """The answer to a replay request: enqueued (with the new run) or refused as stale.

    A stale refusal is a result, not an exception: `status == "stale_assets"`, `run` is
    None and `stale_assets` lists {assetKey, lastUpdated, maxLagMinutes, reason}.
    """

    status: str
    run: dict | None
    stale_assets: list[dict] = field(default_factory=list)
    audit_id: int | None = None
    message: str | None = None
    idempotency_key: str | None = None
    repeated: bool = False
    """True when the server answered from an earlier request with the same key."""

    @property
    def enqueued(self) -> bool:
        return self.status == "enqueued"

    @property
    def run_id(self) -> str | None:
        """The new run's id (None when refused)."""
        return None if self.run is None else self.run["runId"]


def _check_url(url: str) -> None:
    """Refuse an API URL requests could not send to, saying how to write one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
        problem = None if parts.hostname else "no host"
    except ValueError as error:
        problem = str(error)
    if problem is None and any(char.isspace() for char in url):
        problem = "it holds a space"
    if problem is not None:
        raise RunReplayError(
            f"the API URL {url!r} is not valid ({problem}); write it like {DEFAULT_URL}"
        )


class CoreAPI:
    """Client of the core API: diff, replay, runs, run, audit, health.

    `retries` is how many times a retryable failure is tried again (so up to retries + 1
    attempts), waiting `backoff` * 2**attempt seconds (with jitter, at most 8 s, or the
    server's Retry-After). `timeout` bounds each attempt's connect and read.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        *,
        backoff: float = 0.25,
        session: requests.Session | None = None,
    ):
        url = base_url or os.environ.get(URL_ENV) or DEFAULT_URL
        if not url.startswith(("http://", "https://")):
            raise RunReplayError(f"the API URL must start with http:// or https://, got {url!r}")
        _check_url(url)
        if retries < 0:
            raise RunReplayError(f"retries must be >= 0, got {retries}")
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"runreplay/{__version__}"
        self.session.headers["Accept"] = "application/json"
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.has_token = bool(token)
        if token:
            self.session.auth = _Bearer(token)

    def __repr__(self) -> str:
        return f"<CoreAPI {self.base_url!r} token={'set' if self.has_token else 'none'}>"

    __str__ = __repr__

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> CoreAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the routes --------------------------------------------------------------------

    def health(self) -> dict:
        """{"status": "ok", "version", "executor"}; needs no token."""
        return self._request("GET", "/health").json()

    def run(self, run_id: str) -> dict:
        """One run record; NotFound when the server does not hold it."""
        return self._request("GET", f"/workflow-runs/{_segment(run_id)}").json()

    def runs(
        self,
        workflow: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 100,
    ) -> list[dict]:
        """Run records newest first (following pages up to `limit`; None for all)."""
        found: list[dict] = []
        for page in self.pages(workflow, status, since, until, page_size=min(limit or 500, 500)):
            found.extend(page["runs"])
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    def pages(
        self,
        workflow: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        *,
        page_size: int = 500,
    ) -> Iterator[dict]:
        """Pages {"runs", "nextCursor", "total"} of GET /workflow-runs, newest first."""
        params: dict[str, Any] = {"limit": page_size}
        for name, value in (
            ("workflowId", workflow),
            ("status", status.upper() if status else None),
            ("since", _time_param(since)),
            ("until", _time_param(until)),
        ):
            if value is not None:
                params[name] = value
        while True:
            page = self._request("GET", "/workflow-runs", params=params).json()
            yield page
            if not page.get("nextCursor"):
                return
            params["cursor"] = page["nextCursor"]

    def diff(
        self,
        run_id: str,
        compare_to: str,
        *,
        ignore: list[str] | tuple[str, ...] = (),
        hide_volatile: bool = False,
    ) -> RunDiff:
        """The server's diff as a RunDiff, the same class a local diff gives."""
        from runreplay.diff import RunDiff

        params: dict[str, Any] = {"compareTo": compare_to}
        if ignore:
            params["ignore"] = list(ignore)
        if hide_volatile:
            params["hideVolatile"] = "true"
        response = self._request("GET", f"/workflow-runs/{_segment(run_id)}/diff", params=params)
        return RunDiff.from_dict(response.json())

    def replay(
        self,
        run_id: str,
        allow_stale_assets: bool = False,
        idempotency_key: str | None = None,
    ) -> ReplayResult:
        """Ask the server to replay `run_id` with its recorded inputs.

        Returns ReplayResult(status="enqueued", run=...) or, when assets the run produced
        are stale and `allow_stale_assets` is False, ReplayResult(status="stale_assets",
        stale_assets=[...]) — nothing is enqueued then. Retries reuse the Idempotency-Key,
        so a request the server already acted on is answered, not repeated.
        """
        key = idempotency_key or str(uuid.uuid4())
        body = {"allowStaleAssets": True} if allow_stale_assets else {}
        response = self._request(
            "POST",
            f"/workflow-runs/{_segment(run_id)}/replay",
            json=body,
            headers={"Idempotency-Key": key},
            accept=(202, 409),
        )
        answer = response.json()
        repeated = response.headers.get("Idempotent-Replayed") == "true"
        if response.status_code == 409:
            return ReplayResult(
                status="stale_assets",
                run=None,
                stale_assets=list(answer.get("staleAssets", [])),
                audit_id=answer.get("auditId"),
                message=answer.get("message"),
                idempotency_key=key,
                repeated=repeated,
            )
        return ReplayResult(
            status="enqueued",
            run=answer["run"],
            audit_id=answer.get("auditId"),
            message=f"enqueued {answer['run']['runId']} (replay of {run_id})",
            idempotency_key=key,
            repeated=repeated,
        )

    def audit(self, run_id: str | None = None) -> list[dict]:
        """Audit rows of replay requests in id order (all pages); those about `run_id` if given."""
        params: dict[str, Any] = {"limit": 10_000}
        if run_id is not None:
            params["runId"] = run_id
        rows: list[dict] = []
        while True:
            page = self._request("GET", "/audit", params=params).json()
            rows.extend(page["audit"])
            if page.get("nextAfterId") is None:
                return rows
            params["afterId"] = page["nextAfterId"]

    def report_freshness(
        self,
        asset_key: str,
        *,
        stale: bool | None = None,
        last_updated: datetime | str | None = None,
        max_lag_minutes: float | None = None,
    ) -> dict:
        """Set an asset's current freshness on the server; returns its state after."""
        body: dict[str, Any] = {"stale": stale}
        if last_updated is not None:
            body["lastUpdated"] = _time_param(last_updated)
        if max_lag_minutes is not None:
            body["maxLagMinutes"] = max_lag_minutes
        path = f"/assets/{_segment(asset_key, safe='/')}/freshness"
        return self._request("PUT", path, json=body).json()

    # -- transport ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        accept: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> requests.Response:
        """Send with retries (GETs, and requests carrying an Idempotency-Key); map errors."""
        url = self.base_url + path
        retryable = method == "GET" or "Idempotency-Key" in kwargs.get("headers", {})
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.exceptions.InvalidURL as error:  # what _check_url did not see
                raise RunReplayError(
                    f"the API URL {self.base_url!r} is not valid ({error}); write it like "
                    f"{DEFAULT_URL}"
                ) from None
            except requests.ConnectionError as error:  # refused, reset, DNS, connect timeout
                failure: ApiError = ApiUnavailable(
                    f"cannot reach the core API at {self.base_url}: {_reason(error)}; is "
                    "`runreplay serve` running, and is RUNREPLAY_API_URL right?",
                    url=url,
                )
                wait = None
            except requests.Timeout:
                raise ApiUnavailable(
                    f"the core API at {self.base_url} did not answer within {self.timeout} s; "
                    "try again or raise timeout=",
                    url=url,
                ) from None
            else:
                if response.status_code in accept:
                    return response
                failure = _error_from(response, url)
                if response.status_code not in RETRY_STATUSES:
                    raise failure
                wait = _retry_after(response)
            if not retryable or attempt >= self.retries:
                raise failure
            delay = wait if wait is not None else self._delay(attempt)
            log.info(
                "%s %s failed (%s); retry %d in %.2f s", method, path, failure, attempt + 1, delay
            )
            time.sleep(delay)
            attempt += 1

    def _delay(self, attempt: int) -> float:
        return min(MAX_BACKOFF, self.backoff * 2**attempt) * (0.5 + random.random() / 2)


def _segment(value: str, safe: str = "") -> str:
    return quote(value, safe=safe)


def _time_param(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise RunReplayError(f"give a time zone with {value!r} (for example datetime.UTC)")
    return format_timestamp(value)


def _reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "reset"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(MAX_BACKOFF, max(0.0, float(value))) if value else None
    except ValueError:
        return None


def _error_from(response: requests.Response, url: str) -> ApiError:
    """The ApiError for an error response, with the server's code and message when given."""
    code, message = None, None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
    except ValueError:
        pass
    status = response.status_code
    if message is None:
        message = f"the core API answered {status} {response.reason or ''}".rstrip()
    if status in RETRY_STATUSES:
        cls: type[ApiError] = ApiUnavailable
    elif status >= 500:
        cls = ServerError
    else:
        cls = _ERROR_CLASSES.get(status, ApiError)
    if cls is Unauthorized:
        message += "; pass token= (--token on the command line) or set RUNREPLAY_TOKEN"
    return cls(message, status_code=status, code=code, url=url.split("?", 1)[0])


def sync(
    store: RunStore,
    api: CoreAPI,
    workflow: str | None = None,
    since: datetime | str | None = None,
    *,
    progress: bool | None = None,
    page_size: int = 500,
) -> LoadResult:
    """Pull the server's runs into `store` in one transaction; idempotent.

    Runs already stored with the same content are skipped; runs whose content changed on
    the server (a queued replay that has since finished) are replaced. `progress=None`
    shows a bar when more than 1000 runs come.

        >>> sync(runreplay.open("runs.duckdb"), CoreAPI(), workflow="nightly-etl")  # doctest: +SKIP
    """
    pages = api.pages(workflow, None, since, None, page_size=page_size)
    first = next(pages)
    total = int(first.get("total") or 0)
    bar = None
    if progress or (progress is None and total > 1000):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="run", desc=f"syncing {api.base_url}")

    def records() -> Iterator[dict]:
        for page in _chain(first, pages):
            yield from page["runs"]
            if bar is not None:
                bar.update(len(page["runs"]))

    try:
        return store.load_records(records(), replace=True, progress=False, source=api.base_url)
    finally:
        if bar is not None:
            bar.close()


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest

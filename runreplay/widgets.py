"""Notebook panels (ipywidgets 8): ComparePanel picks two runs, shows their RunDiff and replays.

    >>> from runreplay.widgets import ComparePanel
    >>> panel = ComparePanel(store, base="run-000345", compare="run-000347")  # doctest: +SKIP
    >>> panel                      # the last expression of a cell shows it   # doctest: +SKIP

The panels render what the library computes (runreplay.diff, runreplay.client): no diff or
staleness rule lives here. Every piece of HTML comes from the autoescaped Jinja macros in
templates/compare_panel.html.j2, so a value is always shown as text. Elements carry stable
CSS classes (`rr-compare-panel`, `rr-row-changed`, `rr-stale-banner`, `rr-toast`, ...) for
styling and for browser tests. Everything a user can do is a method or a widget value, so
plain Python drives a panel: set `panel.base` or a picker's value, call `button.click()`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import ipywidgets as widgets
from jinja2 import Environment, PackageLoader, StrictUndefined

from runreplay.diff import (
    HISTORY_OPS,
    RUN_FIELDS,
    RunDiff,
    diff_stored,
    stale_warnings_from,
    volatile_paths,
)
from runreplay.errors import RunNotFound, RunReplayError
from runreplay.model import as_utc
from runreplay.paths import flatten, keyed_segment
from runreplay.predicate import DEFAULT_FAILING
from runreplay.report import CHANGE_LABELS, SECTION_TITLES, finalize, show_value

if TYPE_CHECKING:
    import pandas as pd

    from runreplay.client import CoreAPI, ReplayResult
    from runreplay.drift import Bisect, DriftReport
    from runreplay.protocols import RunStore

TAB_TITLES = ("Parameters", "Context", "Output", "Status transitions", "Assets")
TAB_SECTIONS = {
    "Parameters": ("parameters",),
    "Context": ("context", "triggerPayload"),
    "Output": ("output",),
}
"""The field sections each field tab shows; run fields go to "Status transitions"."""
CHOICES = 200
"""How many runs a picker lists (newest first; the search box finds any other)."""
VALUE_CHARS = 300
TOAST_SECONDS = 8.0
NO_API_REASON = (
    "Replay needs the core API: set RUNREPLAY_API_URL and RUNREPLAY_TOKEN before creating "
    "the panel, or pass api=CoreAPI(url, token)."
)
_OP_LABELS = {"same": "=", "differs": "≠", "only_base": "base only", "only_compare": "compare only"}
_NUMBER = re.compile(r"(\d+)")

_templates = Environment(
    loader=PackageLoader("runreplay", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=finalize,  # control characters and bidi overrides shown as escapes
)


@cache
def _macros(template: str) -> Any:
    """A template's Jinja macros (loaded once per template)."""
    return _templates.get_template(template).module


def _html() -> Any:
    """ComparePanel's Jinja macros."""
    return _macros("compare_panel.html.j2")


Schedule = Callable[[float, Callable[[], None]], Any]
"""`schedule(seconds, callback)`: run `callback` later (the toast's auto-hide)."""


def _timer(seconds: float, callback: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(seconds, callback)
    timer.daemon = True
    timer.start()
    return timer


def run_label(run_id: str, status: str, created_at: Any) -> str:
    """`run-000123 · FAILED · 2026-11-20 01:00` (createdAt in UTC, to the minute)."""
    when = created_at.strftime("%Y-%m-%d %H:%M") if hasattr(created_at, "strftime") else ""
    return f"{run_id} · {status} · {when}"


def _options(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, run id) picker options from `Store.runs` rows."""
    return [
        (run_label(run_id, status, created_at), run_id)
        for run_id, status, created_at in zip(
            runs["run_id"], runs["status"], runs["created_at"], strict=True
        )
    ]


class ComparePanel:
    """Pick two runs of a workflow, see what differs, export the report, replay the base run.

    `store`: the analysis Store. `api`: a CoreAPI for replays (default: one from
    RUNREPLAY_API_URL / RUNREPLAY_TOKEN when RUNREPLAY_API_URL is set; without one the
    replay button is disabled and says why). `base` / `compare`: run ids to open on
    (default: the two newest runs of `workflow`, or of the newest run's workflow).
    `now`: the moment staleness is judged at (default: the current time). `export_dir`:
    where "Export report" writes (default: reports/ in the working directory, which is the
    notebook's own directory in Jupyter).
    `schedule(seconds, callback)` hides the toast later (default: a threading.Timer).

    Show it with `display(panel)` or as a cell's last expression.
    """

    def __init__(
        self,
        store: RunStore,
        api: CoreAPI | None = None,
        base: str | None = None,
        compare: str | None = None,
        *,
        workflow: str | None = None,
        now: Any = None,
        export_dir: str | os.PathLike = "reports",
        toast_seconds: float = TOAST_SECONDS,
        schedule: Schedule = _timer,
        choices: int = CHOICES,
    ):
        self.store = store
        self.api, self.replay_unavailable = (
            (api, None) if api is not None else _api_from_environment()
        )
        """`replay_unavailable`: why Replay is off (None when the panel has an API)."""
        self.now = now
        self.export_dir = Path(export_dir)
        self.toast_seconds = toast_seconds
        self.schedule = schedule
        self.choices = choices
        self.run_diff: RunDiff | None = None
        """The diff on show (None until two runs are chosen, or when one is missing)."""
        self.last_replay: ReplayResult | None = None
        """The last answer of the core API to a replay request."""
        self.exported: Path | None = None
        """The last report written by "Export report"."""
        self._volatile: dict[str, frozenset[str]] = {}
        self._stale: dict[str, tuple[str, list[dict]]] = {}
        self._newest: dict[str, list[tuple[str, str]]] = {}
        self._listed: dict[str, str | None] = {}
        self._base: str | None = None
        self._compare: str | None = None
        self._refusal: ReplayResult | None = None
        self._quiet = False
        self._toast_timer: Any = None
        self._build()
        self._open(workflow, base, compare)

    # -- the widgets -----------------------------------------------------------------

    def _build(self) -> None:
        self.workflow_picker = widgets.Dropdown(description="Workflow", options=[])
        self.base_search, self.base_picker, base_box = _picker("Base run", "rr-base-picker")
        self.compare_search, self.compare_picker, compare_box = _picker(
            "Compare run", "rr-compare-picker"
        )
        self.only_differences = widgets.Checkbox(value=True, description="Only differences")
        self.only_differences.add_class("rr-only-differences")
        self.only_what_matters = widgets.Checkbox(value=False, description="Only what matters")
        self.only_what_matters.add_class("rr-only-what-matters")
        self.only_what_matters.tooltip = "Hide volatile fields (host names, trace ids, timings)"
        self.summary = _html_widget("rr-summary-box")
        self.message = _html_widget("rr-message")
        self.stale_banner = _html_widget("rr-stale-text")
        self.confirm_button = widgets.Button(
            description="Replay anyway",
            button_style="danger",
            icon="exclamation-triangle",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.confirm_button.add_class("rr-confirm")
        self.cancel_button = widgets.Button(description="Cancel")
        self.cancel_button.add_class("rr-cancel")
        self.confirm_row = widgets.HBox([self.confirm_button, self.cancel_button])
        self.confirm_row.layout.display = "none"
        self.banner = widgets.VBox([self.stale_banner, self.confirm_row])
        self.banner.add_class("rr-stale-banner")
        self.banner.layout.display = "none"
        self.tab_contents = {title: _html_widget(f"rr-tab-{_slug(title)}") for title in TAB_TITLES}
        self.tabs = widgets.Tab(children=list(self.tab_contents.values()), titles=TAB_TITLES)
        self.tabs.add_class("rr-tabs")
        self.replay_button = widgets.Button(
            description="Replay with prior inputs",
            button_style="primary",
            icon="play",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.replay_button.add_class("rr-replay")
        self.replay_reason = _html_widget("rr-replay-reason")
        self.export_button = widgets.Button(
            description="Export report",
            icon="download",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.export_button.add_class("rr-export")
        self.export_link = _html_widget("rr-export-result")
        self.toast = _html_widget("rr-toast")
        self.toast.layout.display = "none"
        self.widget = widgets.VBox(
            [
                widgets.HTML(str(_html().style())),
                self.workflow_picker,
                widgets.HBox([base_box, compare_box]),
                widgets.HBox([self.only_differences, self.only_what_matters]),
                self.summary,
                self.message,
                self.banner,
                widgets.HBox([self.replay_button, self.export_button, self.replay_reason]),
                self.toast,
                self.export_link,
                self.tabs,
            ]
        )
        self.widget.add_class("rr-compare-panel")
        if self.replay_unavailable is not None:
            self.replay_button.disabled = True
            self.replay_button.tooltip = self.replay_unavailable
            self.replay_reason.value = str(_html().message("reason", self.replay_unavailable))

        self.workflow_picker.observe(self._on_workflow, "value")
        self.base_search.observe(lambda _: self._list_base_choices(), "value")
        self.compare_search.observe(lambda _: self._list_compare_choices(), "value")
        self.base_picker.observe(self._on_base, "value")
        self.compare_picker.observe(self._on_compare, "value")
        self.only_differences.observe(lambda _: self._render(), "value")
        self.only_what_matters.observe(lambda _: self._render(), "value")
        self.replay_button.on_click(lambda _: self.replay())
        self.confirm_button.on_click(lambda _: self.replay(allow_stale_assets=True))
        self.cancel_button.on_click(lambda _: self._close_confirm())
        self.export_button.on_click(lambda _: self.export())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<ComparePanel {self.base} → {self.compare} on {self.store!r}>"

    # -- choosing runs ---------------------------------------------------------------

    @property
    def workflow(self) -> str | None:
        """The workflow whose runs the pickers list."""
        return self.workflow_picker.value

    @workflow.setter
    def workflow(self, workflow_id: str) -> None:
        if not self._knows_workflow(workflow_id):
            self._show_message(
                "error", f"no workflow {workflow_id!r} in the store; showing {self.workflow}"
            )
            return
        self.workflow_picker.value = workflow_id

    def _knows_workflow(self, workflow_id: str) -> bool:
        """Whether the workflow picker lists `workflow_id`, reading the store's workflows
        again when it does not (the store may have gained one since the panel was made)."""
        if workflow_id in self.workflow_picker.options:
            return True
        workflows = self.store.workflows()["workflow_id"].tolist()
        with self._quietly():
            current = self.workflow_picker.value
            self.workflow_picker.options = workflows
            self.workflow_picker.value = current if current in workflows else None
        return workflow_id in workflows

    @property
    def base(self) -> str | None:
        """The base run's id: the run a replay repeats. Setting it moves the pickers."""
        return self._base

    @base.setter
    def base(self, run_id: str) -> None:
        self._choose(run_id, self.compare)

    @property
    def compare(self) -> str | None:
        """The compare run's id (a run of the base run's workflow)."""
        return self._compare

    @compare.setter
    def compare(self, run_id: str) -> None:
        found = self._find(run_id)
        workflow = self.workflow
        if found is not None and workflow and found[0] != workflow:
            self._show_message(
                "error",
                f"{run_id} is a run of {found[0]}, not of {workflow}: the compare run must "
                "belong to the base run's workflow.",
            )
            return
        self._choose(self.base, run_id)

    def refresh(self) -> None:
        """Read the store again: new runs in the pickers, volatile paths and staleness anew."""
        self._volatile.clear()
        self._stale.clear()
        self._newest.clear()
        self._listed.clear()
        self._open(self.workflow, self.base, self.compare)

    def _open(self, workflow: str | None, base: str | None, compare: str | None) -> None:
        workflows = self.store.workflows()["workflow_id"].tolist()
        with self._quietly():
            self.workflow_picker.options = workflows
        if not workflows:
            self._show_message("info", "The store holds no runs yet: load some with store.load().")
            self._clear()
            return
        if base is None and compare is not None:
            found = self._find(compare)
            if found is None:
                self._missing(compare, "compare")
                return
            # the compare run's workflow, with the run before it as base (as when opening
            # on a workflow); the compare run itself when it is the workflow's first
            before = self.store.runs(workflow=found[0], until=found[2], limit=1)["run_id"]
            base = before.iloc[0] if len(before) else compare
        if base is not None:
            self._choose(base, compare, workflow)
            if compare is not None and self._compare != compare and self.run_diff is not None:
                found = self._find(compare)
                self._show_message(
                    "error",
                    f"{compare} is a run of {found[0] if found else 'another workflow'}, not of "
                    f"{self.workflow}: the compare run must belong to the base run's workflow, "
                    f"so {self._compare} is shown instead.",
                )
            return
        asked = workflow
        if workflow is None or workflow not in workflows:
            newest = self.store.runs(limit=1)
            workflow = newest["workflow_id"].iloc[0]
        self._choose_workflow(workflow)
        if asked is not None and asked != workflow:
            self._show_message(
                "error", f"no workflow {asked!r} in the store; showing {self.workflow}"
            )

    def _choose_workflow(self, workflow_id: str) -> None:
        """The two newest runs of `workflow_id`: the older as base, the newer as compare."""
        newest = [run_id for _, run_id in self._newest_runs(workflow_id)[:2]]
        compare = newest[0] if newest else None
        base = newest[1] if len(newest) > 1 else compare
        self._choose(base, compare, workflow_id)

    def _choose(self, base: str | None, compare: str | None, workflow: str | None = None) -> None:
        """Move the pickers to `base` and `compare` and show their diff (or say what is wrong)."""
        found = {}
        for side, run_id in (("base", base), ("compare", compare)):
            if run_id is not None:
                found[run_id] = self._find(run_id)
                if found[run_id] is None:
                    self._missing(run_id, side)
                    return
        if base is not None:
            workflow = found[base][0]
        if workflow is not None and not self._knows_workflow(workflow):
            workflow = None  # the run vanished between the two reads: nothing to select
        if compare is not None and workflow is not None and found[compare][0] != workflow:
            compare = None  # the base moved to another workflow: its newest other run instead
        if workflow is not None and compare is None:
            others = [run_id for _, run_id in self._newest_runs(workflow)[:2] if run_id != base]
            compare = others[0] if others else base
        with self._quietly():
            if workflow is not None:
                self.workflow_picker.value = workflow
            self._select("base", self.base_picker, self.base_search, workflow, base)
            self._select("compare", self.compare_picker, self.compare_search, workflow, compare)
        self._base, self._compare = base, compare
        self._update()

    def _find(self, run_id: str) -> tuple | None:
        """(workflow_id, status, created_at) of a stored run, None when the store lacks it."""
        return self.store.connection.execute(
            "SELECT workflow_id, status, created_at FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()

    def _newest_runs(self, workflow: str) -> list[tuple[str, str]]:
        """(label, run id) of the workflow's newest runs, read once per workflow."""
        if workflow not in self._newest:
            self._newest[workflow] = _options(
                self.store.runs(workflow=workflow, limit=self.choices)
            )
        return self._newest[workflow]

    def _select(
        self,
        side: str,
        picker: widgets.Select,
        search: widgets.Text,
        workflow: str | None,
        chosen: str | None,
    ) -> None:
        """Select `chosen` in a picker, listing the workflow's runs again only when needed."""
        listed = self._listed.get(side) == workflow
        if listed and any(value == chosen for _, value in picker.options):
            picker.value = chosen
            return
        search.value = ""
        self._list(side, picker, workflow, "", chosen)

    def _list(
        self,
        side: str,
        picker: widgets.Select,
        workflow: str | None,
        search: str,
        chosen: str | None,
    ) -> None:
        """List a workflow's newest runs whose id matches `search` in `picker`, selecting
        `chosen` when listed; without a search `chosen` is always listed."""
        self._listed[side] = workflow
        if workflow is None:
            picker.options = []
            return
        if search:
            options = _options(
                self.store.runs(workflow=workflow, search=search, limit=self.choices)
            )
        else:
            options = list(self._newest_runs(workflow))
            if chosen is not None and all(value != chosen for _, value in options):
                found = self._find(chosen)
                if found is not None and found[0] == workflow:
                    options.insert(0, (run_label(chosen, found[1], found[2]), chosen))
        picker.options = options
        picker.value = chosen if any(value == chosen for _, value in options) else None

    def _list_base_choices(self) -> None:
        with self._quietly():
            self._list("base", self.base_picker, self.workflow, self.base_search.value, self.base)

    def _list_compare_choices(self) -> None:
        with self._quietly():
            self._list(
                "compare",
                self.compare_picker,
                self.workflow,
                self.compare_search.value,
                self.compare,
            )

    def _on_workflow(self, change: dict) -> None:
        if not self._quiet and change["new"] is not None:
            self._choose_workflow(change["new"])

    def _on_base(self, change: dict) -> None:
        if not self._quiet and change["new"] is not None:
            self._base = change["new"]  # listed runs are the workflow's: the compare run stays
            self._update()

    def _on_compare(self, change: dict) -> None:
        if not self._quiet and change["new"] is not None:
            self._compare = change["new"]
            self._update()

    def _quietly(self) -> _Quiet:
        return _Quiet(self)

    # -- the diff --------------------------------------------------------------------

    def _update(self) -> None:
        """Diff the chosen runs and render every tab; a missing run gives a message."""
        self._close_confirm()
        base, compare = self.base, self.compare
        if base is None or compare is None:
            self.run_diff = None
            self._clear()
            return
        try:
            self.run_diff = self._diff(base, compare)
        except RunNotFound as error:
            self._missing(error.run_id, "base" if error.run_id == base else "compare")
            return
        except RunReplayError as error:
            self.run_diff = None
            self._show_message("error", str(error))
            self._clear()
            return
        self._show_message(None, "")
        self._render()

    def _diff(self, base: str, compare: str) -> RunDiff:
        """`diff_stored`, with the volatile paths (per workflow) and the stale warnings (per
        base run) kept between selections: choosing another compare run then costs two run
        reads and one diff, whatever the store's size."""
        if base not in self._stale:
            workflow = self.store.run(base)["workflowId"]
            self._stale[base] = (
                workflow,
                stale_warnings_from(self.store.stale_assets(base, self.now)),
            )
        workflow, warnings = self._stale[base]
        if workflow not in self._volatile:
            self._volatile[workflow] = frozenset(volatile_paths(self.store, workflow))
        return diff_stored(
            self.store,
            base,
            compare,
            volatile=self._volatile[workflow],
            stale_warnings=warnings,
        )

    def _missing(self, run_id: str, side: str) -> None:
        """Say that `run_id` (chosen for `side`) is not in the store, and choose nothing on
        that side: its picker shows no selection, so clicking any run there chooses it."""
        listed = any(
            value == run_id
            for picker in (self.base_picker, self.compare_picker)
            for _, value in picker.options
        )
        if listed:
            why = (
                "it was removed since the pickers were filled: choose another run, or call "
                "panel.refresh()"
            )
        else:
            why = (
                "check the id, or, if it is a new run (a replay, say), sync it into the store "
                "(runreplay.client.sync(store, api)) and call panel.refresh()"
            )
        self.run_diff = None
        if side == "base":
            self._base = None
        else:
            self._compare = None
        with self._quietly():
            (self.base_picker if side == "base" else self.compare_picker).value = None
        self._show_message("error", f"Run {run_id} is not in the store: {why}.")
        self._clear()

    def _clear(self) -> None:
        """No pair on show: empty tabs, plain titles, no banner, Replay and Export off."""
        self.run_diff = None
        self._refusal = None
        self.summary.value = ""
        self._show_banner()
        for title, content in self.tab_contents.items():
            content.value = str(_html().message("empty", f"{title}: choose two runs to compare."))
        self.tabs.titles = TAB_TITLES
        self.export_button.disabled = True
        self.replay_button.disabled = True

    def _render(self) -> None:
        """Build every tab's HTML from the current RunDiff and the two toggles."""
        run_diff = self.run_diff
        if run_diff is None:
            return
        html = _html()
        only_differences = self.only_differences.value
        hide_volatile = self.only_what_matters.value
        self.summary.value = str(html.summary(_summary_view(run_diff)))
        titles = []
        for title in TAB_TITLES:
            if title in TAB_SECTIONS:
                blocks = [
                    _field_block(run_diff, section, only_differences, hide_volatile)
                    for section in TAB_SECTIONS[title]
                ]
                content = html.fields(blocks)
                count = sum(block["changes"] for block in blocks)
            elif title == "Status transitions":
                view = _history_view(run_diff, only_differences, hide_volatile)
                content = html.history(view)
                count = view["changes"]
            else:
                view = _assets_view(run_diff, only_differences)
                content = html.assets(view)
                count = view["changes"]
            self.tab_contents[title].value = str(content)
            titles.append(f"{title} ({count})" if count else title)
        self.tabs.titles = tuple(titles)
        self._show_banner()
        self.export_button.disabled = False
        self.replay_button.disabled = self.api is None

    def _replay_target(self) -> str | None:
        """The run Replay repeats: the base run of the diff on screen (None without one)."""
        return None if self.run_diff is None else self.run_diff.base_run["runId"]

    def _show_banner(self) -> None:
        """The stale banner: a replay's stale refusal with its confirm (until a new pair,
        Cancel or the next answer), else the base run's stale assets."""
        refused = self._refusal
        if refused is not None:
            count = len(refused.stale_assets)
            heading = (
                f"The core API refused to replay {self._replay_target()}: {count} of its assets "
                f"{'is' if count == 1 else 'are'} stale now."
            )
            note = (
                "Nothing was enqueued. Replay anyway to run it with these stale inputs, or Cancel."
            )
            self.stale_banner.value = str(
                _html().stale_banner(heading, _stale_view(refused.stale_assets), note)
            )
            self.confirm_row.layout.display = ""
            self.banner.layout.display = ""
            return
        warnings = self.run_diff.stale_warnings if self.run_diff is not None else []
        self.confirm_row.layout.display = "none"
        if not warnings:
            self.stale_banner.value = ""
            self.banner.layout.display = "none"
            return
        count = len(warnings)
        heading = (
            f"{count} of the base run's assets {'is' if count == 1 else 'are'} stale now: "
            "a replay would read stale inputs."
        )
        self.stale_banner.value = str(_html().stale_banner(heading, _stale_view(warnings), ""))
        self.banner.layout.display = ""

    def _show_message(self, kind: str | None, text: str) -> None:
        self.message.value = "" if kind is None else str(_html().message(kind, text))

    # -- replay ----------------------------------------------------------------------

    def replay(self, allow_stale_assets: bool = False) -> ReplayResult | None:
        """Ask the core API to replay the base run with its recorded inputs.

        A stale refusal opens the banner with the stale assets and a "Replay anyway"
        confirm (which calls this again with allow_stale_assets=True); an enqueued replay
        shows a toast with the new run id; an API error shows its message. Returns the
        API's answer (None on an error or without an API).
        """
        if self.api is None:
            self._show_message("error", self.replay_unavailable or NO_API_REASON)
            return None
        base = self._replay_target()
        if base is None:
            self._show_message("error", "Choose two runs first: Replay repeats the base run.")
            return None
        self._set_in_flight(True)
        try:
            result = self.api.replay(base, allow_stale_assets=allow_stale_assets)
            problem = _unusable_answer(result)
        except RunReplayError as error:
            problem = str(error)
        except Exception as error:  # noqa: BLE001 (the panel's boundary: a click shows it)
            # an answer outside the core API's contract (not JSON, keys missing) surfaces
            # as whatever the client tripped over; a click handler would swallow it
            problem = f"the core API gave an answer runreplay cannot read ({error!r})"
        finally:
            self._set_in_flight(False)
        if problem is not None:
            self._close_confirm()
            self._show_message("error", f"Replay of {base} failed: {problem}")
            return None
        self.last_replay = result
        if result.status == "stale_assets":
            self._show_message(None, "")
            self._refusal = result
            self._show_banner()
            return result
        self._close_confirm()
        self._show_message(None, "")
        self._show_toast(result)
        return result

    def _set_in_flight(self, in_flight: bool) -> None:
        for button in (self.confirm_button, self.cancel_button):
            button.disabled = in_flight
        self.replay_button.disabled = in_flight or self.api is None or self.run_diff is None
        self.replay_button.description = "Replaying…" if in_flight else "Replay with prior inputs"

    def _close_confirm(self) -> None:
        if self._refusal is not None:
            self._refusal = None
            self._show_banner()

    def _show_toast(self, result: ReplayResult) -> None:
        run = result.run or {}
        self.toast.value = str(
            _html().toast(result.run_id, run.get("replayOf") or self.base, run.get("status", ""))
        )
        self.toast.layout.display = ""
        if self._toast_timer is not None and hasattr(self._toast_timer, "cancel"):
            self._toast_timer.cancel()
        self._toast_timer = self.schedule(self.toast_seconds, self.hide_toast)

    def hide_toast(self) -> None:
        """Hide the replay toast (called by the scheduled timer)."""
        self.toast.layout.display = "none"
        self.toast.value = ""

    # -- export ----------------------------------------------------------------------

    def export(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write the HTML report of the diff on show and offer it as a link.

        `path` defaults to `<export_dir>/runreplay-diff-<base>-<compare>.html`. The link is
        relative to the working directory (a notebook's), like IPython's FileLink.
        """
        run_diff = self.run_diff
        if run_diff is None:
            self._show_message("error", "Nothing to export: choose two runs first.")
            return None
        if path is None:
            name = f"runreplay-diff-{run_diff.base_run['runId']}-{run_diff.compare_run['runId']}"
            path = self.export_dir / f"{_file_name(name)}.html"
        path = Path(path)
        # the outcome (a link, or why there is none) replaces the last one next to the button
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            run_diff.to_html(path, show_volatile=not self.only_what_matters.value)
        except OSError as error:
            self.export_link.value = str(
                _html().message("error", f"Cannot write the report to {path}: {error.strerror}")
            )
            return None
        self.exported = path
        self.export_link.value = str(_html().export_link(_relative_href(path), path.name))
        return path


def _unusable_answer(result: ReplayResult) -> str | None:
    """Why a replay answer cannot be shown as a refusal or an enqueued run (None: it can)."""
    if result.status == "stale_assets":
        if not result.stale_assets:
            return "the core API refused the replay (409) without naming stale assets" + (
                f": {result.message}" if result.message else ""
            )
        return None
    if not isinstance(result.run, dict) or not result.run.get("runId"):
        return "the core API accepted the replay but did not say which run it enqueued"
    return None


def _stale_view(stale_assets: list) -> list[dict]:
    """Stale-asset entries for the banner, with every key the template reads (missing: None)."""
    keys = ("assetKey", "reason", "lastUpdated", "maxLagMinutes")
    return [
        {key: entry.get(key) for key in keys}
        if isinstance(entry, dict)
        else {"assetKey": str(entry), "reason": None, "lastUpdated": None, "maxLagMinutes": None}
        for entry in stale_assets
    ]


class _Quiet:
    """Inside it, picker changes made by the panel itself do not trigger a recomputation."""

    def __init__(self, panel: ComparePanel | DriftPanel):
        self.panel = panel

    def __enter__(self) -> None:
        self.outer = self.panel._quiet
        self.panel._quiet = True

    def __exit__(self, *exc: object) -> None:
        self.panel._quiet = self.outer


# -- widget helpers ----------------------------------------------------------------------


def _api_from_environment() -> tuple[CoreAPI | None, str | None]:
    """(the CoreAPI of RUNREPLAY_API_URL / RUNREPLAY_TOKEN, None) or (None, why there is none)."""
    from runreplay.client import URL_ENV, CoreAPI

    if not os.environ.get(URL_ENV):
        return None, NO_API_REASON
    try:
        return CoreAPI(), None
    except RunReplayError as error:
        return None, (
            f"Replay is off: {URL_ENV} is wrong ({error}). Fix it and create the panel again, "
            "or pass api=CoreAPI(url, token)."
        )


def _html_widget(css_class: str) -> widgets.HTML:
    widget = widgets.HTML()
    widget.add_class(css_class)
    return widget


def _picker(title: str, css_class: str) -> tuple[widgets.Text, widgets.Select, widgets.VBox]:
    search = widgets.Text(
        placeholder="search by run id…",
        continuous_update=True,
        layout=widgets.Layout(width="360px"),
    )
    search.add_class("rr-search")
    picker = widgets.Select(options=[], rows=6, layout=widgets.Layout(width="360px"))
    picker.add_class("rr-run-select")
    box = widgets.VBox([widgets.HTML(f"<b>{title}</b>"), search, picker])
    box.add_class(css_class)
    return search, picker, box


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _relative_href(path: Path) -> str:
    try:
        relative = os.path.relpath(path.resolve(), Path.cwd().resolve())
    except ValueError:  # another drive on Windows
        relative = str(path.resolve())
    return quote(Path(relative).as_posix())


# -- views: plain dicts of strings for the templates -------------------------------------


def _natural(path: str) -> list:
    return [int(part) if part.isdigit() else part for part in _NUMBER.split(path)]


def _row(path: str, change: str, before: Any, after: Any, volatile: bool) -> dict:
    return {
        "path": path,
        "change": change,
        "label": CHANGE_LABELS.get(change, change),
        "before": "" if change == "added" else show_value(before, VALUE_CHARS),
        "after": "" if change == "removed" else show_value(after, VALUE_CHARS),
        "volatile": volatile,
    }


def _field_block(
    run_diff: RunDiff, section: str, only_differences: bool, hide_volatile: bool
) -> dict:
    """One section's rows: its changes (volatile dimmed or hidden), and unchanged leaves
    unless `only_differences`."""
    changes = [row for row in run_diff.field_changes if row["section"] == section]
    hidden = sum(1 for row in changes if row["volatile"]) if hide_volatile else 0
    rows = [
        (row["basePath"] or row["comparePath"] or row["path"],
         _row(row["path"], row["change"], row["before"], row["after"], row["volatile"]))
        for row in changes
        if not (hide_volatile and row["volatile"])
    ]  # fmt: skip
    if not only_differences:
        changed = {row["basePath"] for row in changes}
        for path, value in _leaves(run_diff.base_run, section).items():
            if path not in changed:
                rows.append((path, _row(path, "same", value, value, False)))
        rows.sort(key=lambda pair: _natural(pair[0]))
    title = SECTION_TITLES.get(section, section)
    return {
        "section": section,
        "title": title,
        "rows": [row for _, row in rows],
        "changes": len(changes) - hidden,
        "hidden_volatile": hidden,
        "base_id": run_diff.base_run.get("runId"),
        "compare_id": run_diff.compare_run.get("runId"),
        "empty": f"No differences in {title.lower()}."
        if only_differences
        else f"Neither run has {title.lower()}.",
    }


def _leaves(run: dict, section: str) -> dict[str, Any]:
    if section == "run":
        return {key: run[key] for key in RUN_FIELDS if run.get(key) is not None}
    value = run.get(section)
    return flatten(value, section) if value else {}


def _event(event: dict | None) -> dict | None:
    if event is None:
        return None
    return {
        key: "" if event.get(key) is None else event[key]
        for key in ("seq", "step", "status", "attempt", "at", "message")
    }


def _history_view(run_diff: RunDiff, only_differences: bool, hide_volatile: bool) -> dict:
    divergence = run_diff.first_divergence
    retry_steps = set(run_diff.retry_paths_differ)
    rows = []
    for number, row in enumerate(run_diff.alignment):
        steps = {(row["base"] or {}).get("step"), (row["compareTo"] or {}).get("step")}
        rows.append(
            {
                "op": row["op"] if row["op"] in HISTORY_OPS else "differs",
                "op_label": _OP_LABELS.get(row["op"], row["op"]),
                "base": _event(row["base"]),
                "compare": _event(row["compareTo"]),
                "is_divergence": divergence is not None and divergence["row"] == number,
                "retry_differs": bool(steps & retry_steps),
            }
        )
    run_block = _field_block(run_diff, "run", only_differences, hide_volatile)
    run_block["title"] = "Run"
    differing = sum(1 for row in rows if row["op"] != "same")
    return {
        "run_block": run_block,
        "rows": rows,
        "divergence": divergence,
        "retry_paths_differ": run_diff.retry_paths_differ,
        "attempts": [
            {
                "step": row["step"],
                "base": row["base"],
                "compare": row["compareTo"],
                "differs": row["step"] in retry_steps,
            }
            for row in run_diff.attempt_counts
        ],
        "base_id": run_diff.base_run.get("runId"),
        "compare_id": run_diff.compare_run.get("runId"),
        "changes": differing + run_block["changes"],
    }


def _assets_view(run_diff: RunDiff, only_differences: bool) -> dict:
    rows, hidden = [], 0
    for delta in run_diff.asset_deltas:
        if only_differences and delta["change"] == "unchanged":
            hidden += 1
            continue
        prefix = "assets" + keyed_segment("assetKey", delta["assetKey"])
        rows.append(
            {
                "asset_key": delta["assetKey"],
                "change": delta["change"],
                "label": delta["change"].replace("_", " "),
                "payload_changed": delta["payloadChanged"],
                "freshness_changed": delta["freshnessChanged"],
                "changes": [
                    _row(
                        _within(change["path"], prefix),
                        change["change"],
                        change["before"],
                        change["after"],
                        False,
                    )
                    for change in delta["changes"]
                ],
            }
        )
    return {
        "rows": rows,
        "hidden": hidden,
        "changes": sum(1 for delta in run_diff.asset_deltas if delta["change"] != "unchanged"),
        "empty": "No asset differences." if run_diff.asset_deltas else "Neither run has assets.",
    }


def _within(path: str, prefix: str) -> str:
    """`payload.rows` for `assets[assetKey="k"].payload.rows`: the row names the asset."""
    if path.startswith(prefix + "."):
        return path[len(prefix) + 1 :]
    return path[len(prefix) :] if path.startswith(prefix) else path


def _summary_view(run_diff: RunDiff) -> dict:
    def side(run: dict) -> dict:
        created = run.get("createdAt") or ""
        return {
            "run_id": run.get("runId"),
            "status": run.get("status"),
            "created_at": created.replace("T", " ")[:16],
        }

    return {
        "base": side(run_diff.base_run),
        "compare": side(run_diff.compare_run),
        "summary": run_diff.summary,
    }


# -- DriftPanel ----------------------------------------------------------------------------


def _drift_html() -> Any:
    """DriftPanel's Jinja macros."""
    return _macros("drift_panel.html.j2")


def _day(value: Any) -> date | None:
    """A date from a date, datetime or ISO 8601 text (the UTC day of a datetime)."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    return as_utc(value).date()


def _midnight(day: date | None, *, days: int = 0) -> datetime | None:
    """`day` + `days` at 00:00 UTC; None without a day, or past the last representable day
    (no run is created after 9999-12-31, so no bound is the same bound)."""
    if day is None:
        return None
    try:
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=days)
    except OverflowError:
        return None


class DriftPanel:
    """Which fields of a workflow's runs drifted, when, and which change started failing.

    Pick a workflow and optionally a window of days (From / To, both inclusive, UTC) and a
    failing predicate (default `status == 'FAILED'`, e.g. `output.metrics.auc < 0.9`): the
    panel shows `store.drift(...)`'s ranked field table, a chart of the chosen field over
    time coloured by status, and on "Bisect" the last good / first bad run within those days
    with the ranked suspects; "Open in ComparePanel" shows that pair's full diff (and
    replay) below.

    `store`: the analysis Store. `api`: passed to the ComparePanel it opens (default: from
    RUNREPLAY_API_URL / RUNREPLAY_TOKEN). `workflow`: the workflow to open on (default: the
    one with the most failing runs). `since` / `until`: first and last day (date or ISO
    text). `failing`: the predicate to start with. Everything is also plain Python: set
    `panel.workflow`, `panel.field`, the pickers' values, call `panel.bisect()` /
    `panel.open_compare()`.

        >>> panel = DriftPanel(store, "nightly-etl", since="2026-09-01")  # doctest: +SKIP
        >>> panel.report.top_suspect, panel.bisect().bad_run_id  # doctest: +SKIP
        ('parameters.batchSize', 'run-000347')
    """

    def __init__(
        self,
        store: RunStore,
        workflow: str | None = None,
        since: Any = None,
        until: Any = None,
        api: CoreAPI | None = None,
        *,
        failing: str | None = None,
    ):
        self.store = store
        self.api = api
        self.report: DriftReport | None = None
        """The drift on show (None when the choice gives an error)."""
        self.found: Bisect | None = None
        """The last bisect result (None until "Bisect", and again after a new choice)."""
        self.compare_panel: ComparePanel | None = None
        """The ComparePanel "Open in ComparePanel" made, if any."""
        self._field_error: str | None = None
        self._quiet = False
        self._build()
        with self._quietly():
            self.since_picker.value = _day(since)
            self.until_picker.value = _day(until)
            self.failing_box.value = failing or ""
        self._open(workflow)

    def _build(self) -> None:
        self.workflow_picker = widgets.Dropdown(description="Workflow", options=[])
        self.workflow_picker.add_class("rr-drift-workflow")
        self.since_picker = widgets.DatePicker(description="From")
        self.since_picker.add_class("rr-since")
        self.until_picker = widgets.DatePicker(description="To")
        self.until_picker.add_class("rr-until")
        self.failing_box = widgets.Text(
            description="Failing",
            placeholder=DEFAULT_FAILING,
            continuous_update=False,
            layout=widgets.Layout(width="420px"),
        )
        self.failing_box.add_class("rr-failing")
        self.show_volatile = widgets.Checkbox(value=False, description="Show volatile fields")
        self.show_volatile.add_class("rr-show-volatile")
        self.message = _html_widget("rr-message")
        self.table = _html_widget("rr-drift-table")
        table_box = widgets.Box([self.table])
        table_box.add_class("rr-drift-table-box")
        self.field_picker = widgets.Dropdown(
            description="Field", options=[], layout=widgets.Layout(width="520px")
        )
        self.field_picker.add_class("rr-field-picker")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.chart.add_class("rr-drift-chart")
        self.bisect_button = widgets.Button(
            description="Bisect: find the first bad run",
            icon="search",
            button_style="primary",
            layout=widgets.Layout(width="auto"),
        )
        self.bisect_button.add_class("rr-bisect")
        self.open_compare_button = widgets.Button(
            description="Open in ComparePanel",
            icon="columns",
            disabled=True,
            layout=widgets.Layout(width="auto"),
        )
        self.open_compare_button.add_class("rr-open-compare")
        self.bisect_result = _html_widget("rr-bisect-result")
        self.compare_box = widgets.VBox([])
        self.compare_box.add_class("rr-compare-box")
        self.widget = widgets.VBox(
            [
                widgets.HTML(str(_drift_html().style())),
                widgets.HBox([self.workflow_picker, self.since_picker, self.until_picker]),
                widgets.HBox([self.failing_box, self.show_volatile]),
                self.message,
                table_box,
                self.field_picker,
                self.chart,
                widgets.HBox([self.bisect_button, self.open_compare_button]),
                self.bisect_result,
                self.compare_box,
            ]
        )
        self.widget.add_class("rr-drift-panel")

        for picker in (self.workflow_picker, self.since_picker, self.until_picker):
            picker.observe(lambda _: self._choice_changed(), "value")
        self.failing_box.observe(lambda _: self._choice_changed(), "value")
        self.show_volatile.observe(lambda _: self._render_table(), "value")
        self.field_picker.observe(lambda _: self._quiet or self._plot(), "value")
        self.bisect_button.on_click(lambda _: self.bisect())
        self.open_compare_button.on_click(lambda _: self.open_compare())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<DriftPanel {self.workflow} on {self.store!r}>"

    def _quietly(self) -> _Quiet:
        return _Quiet(self)

    # -- the choice ------------------------------------------------------------------

    @property
    def workflow(self) -> str | None:
        """The workflow analysed."""
        return self.workflow_picker.value

    @workflow.setter
    def workflow(self, workflow_id: str) -> None:
        if workflow_id not in self.workflow_picker.options:
            self._show_message("error", f"no workflow {workflow_id!r} in the store")
            return
        self.workflow_picker.value = workflow_id

    @property
    def since(self) -> datetime | None:
        """Start of the window: the From day at 00:00 UTC (None: from the first run)."""
        return _midnight(self.since_picker.value)

    @property
    def until(self) -> datetime | None:
        """End of the window, exclusive: the day after To at 00:00 UTC (None: to now)."""
        return _midnight(self.until_picker.value, days=1)

    @property
    def failing(self) -> str | None:
        """The failing predicate typed in (None: the default, status == 'FAILED')."""
        return self.failing_box.value.strip() or None

    @property
    def field(self) -> str | None:
        """The path the chart shows."""
        return self.field_picker.value

    @field.setter
    def field(self, path: str) -> None:
        paths = [value for _, value in self.field_picker.options]
        if path not in paths:
            self._field_error = str(
                _drift_html().message("error", f"{path!r} is not among this drift's fields")
            )
            self.message.value = self._field_error
            return
        if self._field_error is not None and self.message.value == self._field_error:
            self._show_message(None, "")  # the typo's message, answered by a valid choice
        self._field_error = None
        self.field_picker.value = path

    def refresh(self) -> None:
        """Read the store again (new runs and workflows) and redo the analysis."""
        self._open(self.workflow)

    def _open(self, workflow: str | None) -> None:
        workflows = self.store.workflows()
        known = workflows["workflow_id"].tolist()
        self.bisect_button.disabled = not known
        with self._quietly():
            self.workflow_picker.options = known
            if not known:
                self.report = None
                self.found = None
                self.open_compare_button.disabled = True
                self._show_message("info", "The store holds no runs yet: load some first.")
                return
            chosen = workflow if workflow in known else None
            if chosen is None:  # the workflow with the most failing runs
                chosen = workflows.sort_values("failed", ascending=False, kind="stable")
                chosen = chosen["workflow_id"].iloc[0]
            self.workflow_picker.value = chosen
        self._analyse()
        if workflow is not None and workflow not in known:
            self._show_message(
                "error", f"no workflow {workflow!r} in the store; showing {self.workflow}"
            )

    def _check_window(self) -> None:
        """Refuse a From day after the To day, in the days the user chose (the library's
        message would name the exclusive end, the day after To)."""
        first, last = self.since_picker.value, self.until_picker.value
        if first is not None and last is not None and first > last:
            raise RunReplayError(
                f"From ({first.isoformat()}) is after To ({last.isoformat()}): choose a From "
                "day on or before the To day (both are included)"
            )

    def _choice_changed(self) -> None:
        if not self._quiet:
            self._analyse()

    def _analyse(self) -> None:
        """Compute the drift for the current choice and show it (once per change)."""
        self._show_message(None, "")
        self.found = None
        self.bisect_result.value = ""
        self.open_compare_button.disabled = True
        self.compare_box.children = ()
        self.compare_panel = None
        try:
            self._check_window()
            self.report = self.store.drift(
                self.workflow, self.since, self.until, failing=self.failing
            )
        except RunReplayError as error:
            self.report = None
            self._show_message("error", str(error))
        self._render_table()
        self._list_fields()

    def _render_table(self) -> None:
        from runreplay.report import drift_to_html_fragment

        report = self.report
        if report is None:
            self.table.value = ""
            return
        # the fragment opens with the workflow, window, failing predicate and summary line
        self.table.value = drift_to_html_fragment(report, show_volatile=self.show_volatile.value)

    def _list_fields(self) -> None:
        report = self.report
        fields = report.fields if report is not None else None
        options: list[tuple[str, str]] = []
        if fields is not None:
            for path, changes, volatile in fields[["path", "changes", "volatile"]].itertuples(
                index=False
            ):
                note = "volatile" if volatile else f"{changes} change{'s' * (changes != 1)}"
                options.append((f"{path}  ({note})", path))
        chosen = None
        if options:
            drifted = report.drifted["path"].tolist()
            chosen = report.top_suspect or (drifted[0] if drifted else options[0][1])
        with self._quietly():
            self.field_picker.options = options
            self.field_picker.value = chosen
        self._plot()

    def _plot(self) -> None:
        from runreplay.drift import figure_png

        if self.report is None or self.field is None:
            self.chart.value = b""
            self.chart.layout.display = "none"
            return
        try:
            figure = self.report.plot(self.field)
        except RunReplayError as error:
            self._show_message("error", str(error))
            self.chart.value = b""
            self.chart.layout.display = "none"
            return
        self.chart.value = figure_png(figure)
        self.chart.layout.display = None

    # -- bisect and compare ----------------------------------------------------------

    def bisect(self) -> Bisect | None:
        """Find the last good and first bad run within the chosen days (the failing
        predicate) and show the ranked suspects; returns the Bisect (None, with a message,
        when it fails)."""
        from runreplay.report import bisect_to_html_fragment

        if self.workflow is None:
            raise RunReplayError("nothing to bisect: the store holds no runs yet; load some first")
        self._show_message(None, "")
        self.compare_box.children = ()
        self.compare_panel = None
        try:
            self._check_window()
            self.found = self.store.bisect(
                self.workflow, failing=self.failing, since=self.since, until=self.until
            )
        except RunReplayError as error:
            self.found = None
            self.bisect_result.value = ""
            self.open_compare_button.disabled = True
            self._show_message("error", str(error))
            return None
        self.bisect_result.value = bisect_to_html_fragment(self.found, with_diff=False)
        self.open_compare_button.disabled = False
        return self.found

    def open_compare(self) -> ComparePanel | None:
        """Show the bisected pair (last good → first bad) in a ComparePanel below."""
        if self.workflow is None:
            raise RunReplayError("nothing to compare: the store holds no runs yet; load some first")
        if self.found is None and self.bisect() is None:
            return None
        self.compare_panel = ComparePanel(
            self.store,
            self.api,
            base=self.found.good_run_id,
            compare=self.found.bad_run_id,
            workflow=self.found.workflow_id,
        )
        self.compare_box.children = (self.compare_panel.widget,)
        return self.compare_panel

    def _show_message(self, kind: str | None, text: str) -> None:
        self.message.value = "" if kind is None else str(_drift_html().message(kind, text))

"""Reports of a RunDiff: escaped self-contained HTML, GitHub Markdown, terminal text, render()."""

from __future__ import annotations

import json
import re

import html5lib
import pytest

from runreplay.diff import RunDiff, diff_runs
from runreplay.errors import RunReplayError
from runreplay.report import FORMATS, render, render_text, to_html, to_html_fragment
from tests.conftest import make_record

NS = {"h": "http://www.w3.org/1999/xhtml"}
SCRIPT = "<script>alert('owned')</script>"
BREAKER = "</table></td></tr><b>bold</b>"

RETRIED = [
    {"seq": 0, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"},
    {"seq": 1, "at": "2026-11-20T01:00:05Z", "status": "RUNNING", "step": "extract", "attempt": 1},
    {
        "seq": 2,
        "at": "2026-11-20T01:01:00Z",
        "status": "RETRYING",
        "step": "extract",
        "attempt": 1,
        "message": SCRIPT,
    },
    {"seq": 3, "at": "2026-11-20T01:01:30Z", "status": "RUNNING", "step": "extract", "attempt": 2},
    {"seq": 4, "at": "2026-11-20T01:10:00Z", "status": "SUCCEEDED"},
]
CLEAN = [RETRIED[0], RETRIED[1], {**RETRIED[4], "seq": 2}]


def hostile_diff(**options) -> RunDiff:
    """A diff whose values, keys, messages and asset keys carry markup."""
    base = make_record(
        "run-<b>a</b>",
        parameters={"batchSize": 500, "query": "select 1", SCRIPT: 1, "gone": True, "n": 1},
        context={"host": "w1", "image": "etl:1"},
        history=RETRIED,
        assets=[
            {"assetKey": f"warehouse/{SCRIPT}", "payload": {"rows": 1}},
            {"assetKey": "warehouse/orders", "payload": {"rows": 1}},
        ],
    )
    compare = make_record(
        "run-b",
        parameters={
            "batchSize": 5000,
            "query": SCRIPT + BREAKER,
            SCRIPT: 2,
            "new": "a|b\nc",
            "n": "1",
        },
        context={"host": "w2", "image": "etl:1"},
        history=CLEAN,
        assets=[{"assetKey": f"warehouse/{SCRIPT}", "payload": {"rows": 2}}],
    )
    warnings = [
        {
            "assetKey": "warehouse/orders",
            "lastUpdated": "2026-11-19T00:00:00Z",
            "maxLagMinutes": 1440,
            "reason": f"flagged {SCRIPT}",
        }
    ]
    return diff_runs(base, compare, volatile={"context.host"}, stale_warnings=warnings, **options)


def parse(html: str):
    """Parse strictly: html5lib raises on any parse error."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(html)


def text_of(element) -> str:
    return "".join(element.itertext())


# -- HTML ------------------------------------------------------------------------------


def test_html_parses_and_holds_injected_markup_only_as_text():
    html = hostile_diff().to_html()
    document = parse(html)
    scripts = document.findall(".//h:script", NS)
    assert scripts == []
    assert document.findall(".//h:b", NS) == []  # the run id and BREAKER stayed text
    cells = [text_of(td) for td in document.iter("{http://www.w3.org/1999/xhtml}td")]
    assert any(json.dumps(SCRIPT + BREAKER) in cell for cell in cells)  # the value, as JSON
    assert any(SCRIPT in cell for cell in cells)  # the history message
    assert "<script>" not in html and "</table></td></tr><b>" not in html
    assert "&lt;script&gt;" in html
    assert text_of(document.find(".//h:title", NS)) == "runreplay diff run-<b>a</b> → run-b"


def test_html_is_self_contained():
    html = hostile_diff().to_html()
    assert "://" not in html
    assert not re.search(r"(?i)\bsrc\s*=|<link|<img|<iframe|@import|url\(", html)
    assert re.findall(r'href="([^"]*)"', html) == []  # no links out (or in) at all
    document = parse(html)
    (style,) = document.findall(".//h:style", NS)
    assert style.text.count(".rr-diff") > 10  # every rule is scoped to the report


def test_html_highlights_each_change_kind_and_volatile_rows():
    document = parse(hostile_diff().to_html())
    rows = {
        text_of(tr.find("h:td/h:code", NS)): tr.get("class")
        for tr in document.findall(".//h:table[@class='fields']//h:tr", NS)
        if tr.find("h:td/h:code", NS) is not None
    }
    assert rows["parameters.batchSize"] == "changed"
    assert rows["parameters.new"] == "added"
    assert rows["parameters.gone"] == "removed"
    assert rows["parameters.n"] == "type_changed"
    assert rows["context.host"] == "changed volatile"
    headings = [text_of(h3) for h3 in document.findall(".//h:h3", NS)]
    assert headings[:5] == ["Parameters", "Context", "Output", "Trigger payload", "Run fields"]


def test_html_shows_summary_stale_banner_divergence_and_assets():
    run_diff = hostile_diff()
    document = parse(run_diff.to_html())
    (summary,) = document.findall(".//h:p[@class='summary']", NS)
    assert text_of(summary) == run_diff.summary
    (banner,) = document.findall(".//h:div[@class='stale']", NS)
    assert "warehouse/orders" in text_of(banner) and SCRIPT in text_of(banner)
    (divergence,) = document.findall(".//h:tr[@id='first-divergence']", NS)
    assert "divergence" in divergence.get("class")
    assert "RETRYING" in text_of(divergence) and "▶" in text_of(divergence)
    history_rows = document.findall(".//h:table[@class='history']//h:tr", NS)
    assert len(history_rows) == 2 + len(run_diff.alignment)
    assets = document.findall(".//h:table[@class='assets']//h:tr", NS)[1:]
    assert [tr.get("class") for tr in assets] == ["payload_changed", "removed"]
    assert "payload.rows" in text_of(assets[0])


def test_html_without_stale_assets_has_no_banner():
    run_diff = diff_runs(make_record("a"), make_record("b", parameters={"batchSize": 1}))
    document = parse(run_diff.to_html())
    assert document.findall(".//h:div[@class='stale']", NS) == []
    assert document.findall(".//h:tr[@id='first-divergence']", NS) == []


def test_to_html_writes_the_file_it_returns(tmp_path):
    run_diff = hostile_diff()
    target = tmp_path / "report.html"
    html = run_diff.to_html(target)
    assert target.read_text(encoding="utf-8") == html
    assert to_html(run_diff) == html


def test_hiding_volatile_rows_says_how_many():
    html = hostile_diff().to_html(show_volatile=False)
    assert "context.host" not in html
    assert "1 volatile change(s) hidden." in html


def test_repr_html_is_a_fragment_for_notebooks():
    run_diff = hostile_diff()
    fragment = run_diff._repr_html_()
    assert fragment == to_html_fragment(run_diff)
    assert fragment.lstrip().startswith('<div class="rr-diff">')
    assert "<html" not in fragment and "<body" not in fragment
    assert "<script>" not in fragment
    fragment_tree = html5lib.parseFragment(fragment, namespaceHTMLElements=False)
    assert fragment_tree.find("div").get("class") == "rr-diff"


# -- Markdown --------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """Split a GitHub table row on unescaped pipes."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_tables_keep_their_shape_with_pipes_and_newlines():
    markdown = hostile_diff().to_markdown()
    tables = [
        [line for line in block.splitlines() if line.startswith("|")]
        for block in markdown.split("\n\n")
    ]
    tables = [rows for rows in tables if rows]
    assert len(tables) == 6  # runs, parameters, context, history, attempts, assets
    for rows in tables:  # every row has as many cells as its header
        assert {len(_cells(row)) for row in rows} == {len(_cells(rows[0]))}, rows
    (new_row,) = [row for rows in tables for row in rows if "parameters.new" in row]
    assert _cells(new_row)[3].strip() == '`"a\\|b\\nc"`'


def test_markdown_lists_sections_history_and_assets():
    run_diff = hostile_diff()
    markdown = run_diff.to_markdown()
    for heading in (
        "#### Parameters",
        "#### Context",
        "#### Output",
        "### Status history",
        "### Assets",
    ):
        assert heading in markdown
    assert "| `parameters.batchSize` | changed | `500` | `5000` |" in markdown
    assert "> **Stale assets:**" in markdown
    assert "**▶ 2**" in markdown
    assert "First divergence at row 2" in markdown


def test_markdown_escapes_markup_outside_code_spans():
    markdown = hostile_diff().to_markdown()
    stale_line = next(line for line in markdown.splitlines() if line.startswith("> - "))
    assert "\\<script\\>" in stale_line
    outside_code = re.sub(r"(`+).*?\1", "", markdown)
    assert "<script>" not in outside_code and "<b>" not in outside_code
    assert "**Summary:** run-\\<b\\>a\\</b\\> → run-b" in markdown


# -- text and render() -----------------------------------------------------------------


def test_text_is_plain_without_color_and_styled_with_it():
    run_diff = hostile_diff()
    plain = render_text(run_diff, color=False, show_volatile=False)
    assert "\x1b[" not in plain
    assert "  ~ parameters.batchSize: 500 → 5000" in plain
    assert "  + parameters.new: " in plain and "  - parameters.gone: true" in plain
    assert '  ! parameters.n: 1 → "1"' in plain
    assert "STALE warehouse/orders" in plain
    assert "▶ extract RETRYING" in plain
    assert "context.host" not in plain
    assert "1 volatile change(s) hidden" in plain
    colored = render_text(run_diff, color=True, show_volatile=True)
    assert "\x1b[32m" in colored and "\x1b[31m" in colored  # green additions, red removals
    assert "context.host" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored).count("\n") >= plain.count("\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_produces_every_format(fmt):
    output = render(hostile_diff(), fmt, color=False, show_volatile=False)
    assert "context.host" not in output
    if fmt == "json":
        data = json.loads(output)
        assert [row["path"] for row in data["fieldChanges"]][:1] == ["parameters.batchSize"]
        assert RunDiff.from_dict(data).summary.startswith("run-<b>a</b> → run-b")
    if fmt == "html":
        parse(output)
    shown = render(hostile_diff(), fmt, show_volatile=True)
    assert "context.host" in shown


def test_render_refuses_unknown_formats():
    with pytest.raises(RunReplayError, match="unknown format 'yaml'"):
        render(hostile_diff(), "yaml")

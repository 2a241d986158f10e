"""Markdown and HTML reports: what a reader sees matches the findings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from conftest import frame
from detente.agreement import Status, load_agreement
from detente.engine import evaluate
from detente.report import to_html, to_markdown

AS_OF = datetime.fromisoformat("2020-03-31T23:00:00+03:00")
TANK = {"id": "t1", "time": "2020-02-10T10:00Z", "lon": 37.865, "lat": 48.5}


def test_markdown_summary_counts_match_the_findings(toy: Callable[..., Path]) -> None:
    ag = load_agreement(toy())
    report = evaluate(ag, frame([TANK]), AS_OF)
    text = to_markdown(report, ag)
    tanks = [f for f in report.findings if f.obligation == "tanks"]
    counts = [sum(f.status is s for f in tanks) for s in Status]
    by_status = dict(zip(Status, counts, strict=True))
    row = next(line for line in text.splitlines() if line.startswith("| tanks |"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert cells == [str(by_status[s]) for s in
                     (Status.violation, Status.unverified, Status.compliant, Status.pending,
                      Status.inactive)]  # fmt: skip
    assert "`t1`" in text and "No tanks within 25 km of the line." in text


def test_html_escapes_clause_text_and_keeps_numbered_clauses_quoted(
    toy: Callable[..., Path],
) -> None:
    path = toy()
    path.write_text(
        path.read_text().replace('"No fire."', '"1. No <script>alert(1)</script> fire."')
    )
    ag = load_agreement(path)
    page = to_html(evaluate(ag, frame([TANK]), AS_OF), ag)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<ol" not in page  # "1. …" stays inside the quote instead of becoming a list
    assert page.count("<strong>VIOLATION</strong>") == 1

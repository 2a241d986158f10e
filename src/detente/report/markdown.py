"""A Markdown report: summary, then per obligation its clause, a status matrix and the details."""

from __future__ import annotations

import re

from detente.agreement import Agreement, Status
from detente.findings import STATUS_ORDER, Finding, FindingsReport, iso

#: Short marks for the matrix; the words are in the legend so the table stays narrow.
MARK = {
    Status.violation: "**VIOLATION**",
    Status.unverified: "unverified",
    Status.compliant: "compliant",
    Status.pending: "pending",
    Status.inactive: "inactive",
}
MAX_IDS = 12


def to_markdown(report: FindingsReport, agreement: Agreement, *, note: str | None = None) -> str:
    """The whole report as Markdown text."""
    lines = _header(report, agreement, note)
    for ob in agreement.obligations:
        lines += _obligation(report.by_obligation().get(ob.id, []), agreement, ob.id)
    return "\n".join(lines) + "\n"


def _header(report: FindingsReport, agreement: Agreement, note: str | None) -> list[str]:
    lines = [
        f"# {agreement.title}",
        "",
        f"Agreement `{agreement.id}` version {agreement.version} "
        f"(sha256 `{report.agreement_sha256[:16]}…`), as of **{iso(report.as_of)}**, "
        f"on {report.evidence_count:,} evidence records (sha256 `{report.evidence_sha256[:16]}…`). "
        f"Detente {report.detente_version}.",
        "",
    ]
    if note:
        lines += [f"> {note}", ""]
    lines += [
        "## Summary",
        "",
        "| obligation | " + " | ".join(s.value for s in STATUS_ORDER) + " |",
        "|---|" + "---:|" * len(STATUS_ORDER),
    ]
    for ob_id, found in report.by_obligation().items():
        counts = [sum(f.status is s for f in found) for s in STATUS_ORDER]
        lines.append(f"| {ob_id} | " + " | ".join(str(c) for c in counts) + " |")
    lines += [
        "",
        "Statuses: **violation**, evidence graded at or above the threshold "
        f"({agreement.grade_threshold.reliability}{agreement.grade_threshold.credibility}) shows a "
        "breach; **unverified**, only weaker evidence, unattributed evidence, or nothing observed; "
        "**compliant**, observed and no breach seen; **pending**, not yet in effect; **inactive**, "
        "a condition has not been met.",
        "",
    ]
    return lines


def _obligation(found: list[Finding], agreement: Agreement, ob_id: str) -> list[str]:
    ob = agreement.obligation(ob_id)
    source = next(s for s in agreement.sources if s.id == ob.source.ref)
    article = f", {ob.source.article}" if ob.source.article else ""
    # A clause that starts "2. Withdrawal…" must stay a quote, not become a numbered list.
    clause = re.sub(r"^(\d+)\. ", r"\1\\. ", ob.clause)
    lines = [f"## {ob.id}: {ob.title or ob.kind}", "", f"> {clause}", ""]
    lines += [
        f"*Source:* {source.title}{article}." + (f" <{source.url}>" if source.url else ""),
        "",
    ]
    if ob.note:
        lines += [f"*Note:* {ob.note}", ""]
    lines += _matrix(found)
    attention = [
        f for f in found if f.status in (Status.violation, Status.unverified) and f.evidence
    ]
    if attention:
        lines += ["", "### Evidence-backed findings", ""]
        lines += [_detail(f) for f in attention]
    return [*lines, ""]


def _matrix(found: list[Finding]) -> list[str]:
    parties = list(dict.fromkeys(f.party for f in found))
    rows: dict[str, dict[str, Status]] = {}
    for f in found:
        rows.setdefault(_window(f), {})[f.party] = f.status
    lines = ["| window | " + " | ".join(parties) + " |", "|---|" + "---|" * len(parties)]
    for window, cells in rows.items():
        lines.append(
            f"| {window} | "
            + " | ".join(MARK[cells[p]] if p in cells else "" for p in parties)
            + " |"
        )
    return lines


def _detail(f: Finding) -> str:
    ids = ", ".join(f"`{i}`" for i in f.evidence[:MAX_IDS])
    more = f" and {len(f.evidence) - MAX_IDS:,} more" if len(f.evidence) > MAX_IDS else ""
    return (
        f"- **{_window(f)} · {f.party} · {f.status.value}** (confidence {f.confidence:.2f}): "
        f"{f.explanation} Evidence: {ids}{more}."
    )


def _window(f: Finding) -> str:
    start = f.window_start.strftime("%Y-%m-%d")
    end = f.window_end.strftime("%Y-%m-%d") if f.window_end else "…"
    return f"{start} – {end}"

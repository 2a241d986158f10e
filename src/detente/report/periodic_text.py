"""The periodic report as Markdown (figures as PNG files beside it) or as one self-contained HTML
page (figures embedded as ``data:`` URIs; no scripts, no network).

    >>> text = periodic_markdown(report, {"map": "r-map.png"})      # doctest: +SKIP
    >>> page = periodic_html(report, figures(report, agreement))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping

from markdown_it import MarkdownIt

from detente.report.document import Block, Figure, Heading, Para, Table, periodic_document
from detente.report.periodic import PeriodicReport

__all__ = ["periodic_html", "periodic_markdown"]

# Characters that would start Markdown syntax (or break a table cell) inside plain text.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
td[style*="right"],th[style*="right"]{font-variant-numeric:tabular-nums}
tr:last-child td strong{font-weight:700}
img{max-width:100%;height:auto;border:1px solid #eee}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
em{color:#555}
"""


def periodic_markdown(report: PeriodicReport, images: Mapping[str, str]) -> str:
    """The report as Markdown; ``images`` maps each figure key to its link (a file name beside
    the Markdown file, or a ``data:`` URI)."""
    lines: list[str] = []
    for block in periodic_document(report):
        lines += [*_block(block, images), ""]
    return "\n".join(lines).rstrip() + "\n"


def periodic_html(report: PeriodicReport, pngs: Mapping[str, bytes]) -> str:
    """One HTML page holding everything, figures included (raw HTML in any text is escaped)."""
    uris = {
        k: "data:image/png;base64," + base64.b64encode(v).decode("ascii") for k, v in pngs.items()
    }
    markdown = periodic_markdown(report, uris)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    title = html.escape(f"{report.agreement_title}: {report.period}")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    )


def _block(block: Block, images: Mapping[str, str]) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + _escape(block.text)]
    if isinstance(block, Para):
        text = _escape(block.text)
        return [f"*{text}*" if block.small else text]
    if isinstance(block, Figure):
        caption = _escape(block.caption)
        return [f"![{caption}]({images[block.key]})", "", f"*{caption}*"]
    return _table(block)


def _table(table: Table) -> list[str]:
    align = ["---:" if n else "---" for n in table.numeric]
    lines = [_row(table.header), "|" + "|".join(align) + "|"]
    body = [_row(r) for r in table.rows]
    if table.total and body:
        body[-1] = _row(tuple(f"**{_escape(c)}**" if c else "" for c in table.rows[-1]), raw=True)
    return lines + body


def _row(cells: tuple[str, ...], *, raw: bool = False) -> str:
    return "| " + " | ".join(c if raw else _escape(c) for c in cells) + " |"


def _escape(text: str) -> str:
    """Plain text made safe in Markdown: one line, syntax characters backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))

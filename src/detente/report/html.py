"""A self-contained HTML page of the Markdown report (no scripts, no network)."""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

from detente.agreement import Agreement
from detente.findings import FindingsReport
from detente.report.markdown import to_markdown

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
blockquote{border-left:4px solid #999;margin:1rem 0;padding:.2rem 1rem;color:#444;
  background:#f6f6f6}
td:has(> strong){background:#fdd}
code{font-size:.85em}
"""


def to_html(report: FindingsReport, agreement: Agreement, *, note: str | None = None) -> str:
    """The Markdown report rendered to one HTML page (raw HTML in the input is escaped)."""
    markdown = to_markdown(report, agreement, note=note)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    title = html.escape(agreement.title)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    )

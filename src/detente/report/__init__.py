"""Findings rendered for people: Markdown and HTML reports.

>>> from detente.report import to_markdown, to_html
>>> text = to_markdown(report, agreement)   # doctest: +SKIP
"""

from detente.report.html import to_html
from detente.report.markdown import to_markdown

__all__ = ["to_html", "to_markdown"]

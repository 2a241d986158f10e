"""Findings rendered for people: the Markdown and HTML findings report, and the periodic report
(Markdown, HTML or PDF, with a map and daily plots) of what the evidence shows in a period.

>>> from detente.report import to_markdown, to_html
>>> text = to_markdown(report, agreement)   # doctest: +SKIP
>>> span = parse_period("2017-03-01..2017-03-31", agreement.timezone)          # doctest: +SKIP
>>> data = build_periodic_report(agreement, evidence, evaluate(agreement, evidence, span.as_of),
...                              span)                                         # doctest: +SKIP
>>> write_periodic(data, agreement, "pdf", Path("march.pdf"))                  # doctest: +SKIP
"""

from detente.report.html import to_html
from detente.report.markdown import to_markdown
from detente.report.output import FORMATS, default_output, write_periodic
from detente.report.periodic import Period, PeriodicReport, build_periodic_report, parse_period

__all__ = [
    "FORMATS",
    "Period",
    "PeriodicReport",
    "build_periodic_report",
    "default_output",
    "parse_period",
    "to_html",
    "to_markdown",
    "write_periodic",
]

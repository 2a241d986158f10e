"""Writing a periodic report to disk in one of its formats.

    >>> write_periodic(report, agreement, "md", Path("report.md"))   # doctest: +SKIP
    [PosixPath('report.md'), PosixPath('report-map.png'), PosixPath('report-daily.png')]

* ``md``: Markdown, with each figure written beside it as ``<stem>-<figure>.png`` and linked by
  that relative name (the folder can be moved as a whole);
* ``html``: one self-contained page, figures embedded as ``data:`` URIs;
* ``pdf``: one PDF file.
"""

from __future__ import annotations

from pathlib import Path

from detente.agreement import Agreement
from detente.errors import InputError, Problem
from detente.report.periodic import PeriodicReport

__all__ = ["FORMATS", "default_output", "write_periodic"]

FORMATS = ("md", "html", "pdf")


def default_output(report: PeriodicReport, fmt: str) -> Path:
    """``report-<agreement id>-<first>_<last>.<fmt>`` in the current folder."""
    p = report.period
    return Path(f"report-{report.agreement_id}-{p.first.isoformat()}_{p.last.isoformat()}.{fmt}")


def write_periodic(
    report: PeriodicReport, agreement: Agreement, fmt: str, output: Path
) -> list[Path]:
    """Write the report as ``fmt`` to ``output``; return every file written, the report first.

    A file that cannot be written is an :class:`InputError` naming it and ``--output``.
    """
    from detente.report.pdf import periodic_pdf
    from detente.report.periodic_text import periodic_html, periodic_markdown
    from detente.report.plots import figures

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    pngs = figures(report, agreement)
    if fmt == "pdf":
        return [_write(output, periodic_pdf(report, pngs))]
    if fmt == "html":
        return [_write(output, periodic_html(report, pngs).encode("utf-8"))]
    images = {key: output.with_name(f"{output.stem}-{key}.png") for key in pngs}
    text = periodic_markdown(report, {key: path.name for key, path in images.items()})
    written = [_write(output, text.encode("utf-8"))]
    return written + [_write(path, pngs[key]) for key, path in images.items()]


def _write(path: Path, data: bytes) -> Path:
    try:
        path.write_bytes(data)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError([Problem(str(path), "--output", f"cannot write: {reason}")]) from None
    return path

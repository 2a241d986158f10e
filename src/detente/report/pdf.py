"""The periodic report as a PDF, laid out by reportlab, fully offline.

    >>> data = periodic_pdf(report, figures(report, agreement))   # doctest: +SKIP
    >>> data[:5]                                                   # doctest: +SKIP
    b'%PDF-'

Text stays text (searchable, copyable; ``pdftotext`` reads it back). The font is DejaVu Sans,
taken from matplotlib's own files, so every character of an evidence note prints (reportlab's
built-in Helvetica has no Cyrillic) and nothing is fetched. The output is invariant: the same
report gives the same bytes (no creation date or random document id).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Image,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from detente.report.document import Block, Figure, Heading, Para, Table, periodic_document
from detente.report.periodic import PeriodicReport

__all__ = ["periodic_pdf"]

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
_MARGIN = 15 * mm
_CELL_PT = 7.5  # font size in tables
_SMALLEST_PT = 5.5  # the smallest a wide table's font becomes
_PAD = 3.0  # points of padding each side of a cell
_MAX_COLUMN = 70 * mm  # longer texts wrap


def periodic_pdf(report: PeriodicReport, pngs: Mapping[str, bytes]) -> bytes:
    """The report as PDF bytes (A4), with the figures given as PNG bytes by key."""
    _register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"{report.agreement_title}: {report.period}",
        author="Detente",
        invariant=1,
    )
    styles = _styles()
    story = [
        f for block in periodic_document(report) for f in _flow(block, styles, pngs, doc.width)
    ]
    doc.build(story, onFirstPage=_footer(report), onLaterPages=_footer(report))
    return buffer.getvalue()


def _register_fonts() -> None:
    """DejaVu Sans (regular and bold) from matplotlib's data folder, registered once."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, Any]:
    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "body", parent=base["BodyText"], fontName=FONT, fontSize=9.5, leading=12.5
    )
    return {
        "h1": ParagraphStyle("h1", parent=base["Title"], fontName=BOLD, fontSize=16, leading=20),
        "h2": ParagraphStyle(
            "h2",
            parent=base["Heading2"],
            fontName=BOLD,
            fontSize=12.5,
            spaceBefore=10,
            keepWithNext=1,
        ),
        "h3": ParagraphStyle(
            "h3", parent=base["Heading3"], fontName=BOLD, fontSize=10.5, keepWithNext=1
        ),
        "body": body,
        "small": ParagraphStyle(
            "small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444")
        ),
    }


def _flow(
    block: Block, styles: dict[str, Any], pngs: Mapping[str, bytes], width: float
) -> list[Any]:
    """The reportlab flowables of one block."""
    if isinstance(block, Heading):
        return [Paragraph(escape(block.text), styles[f"h{block.level}"])]
    if isinstance(block, Para):
        return [Paragraph(escape(block.text), styles["small" if block.small else "body"])]
    if isinstance(block, Figure):
        return _figure(block, styles, pngs[block.key], width)
    return [_table(block, styles, width), Spacer(1, 3 * mm)]


def _figure(block: Figure, styles: dict[str, Any], png: bytes, width: float) -> list[Any]:
    """The PNG scaled to the text width (at most 60 % of the page's height)."""
    w, h = ImageReader(io.BytesIO(png)).getSize()
    scale = min(width / w, 0.6 * A4[1] / h)
    image = Image(io.BytesIO(png), width=w * scale, height=h * scale)
    # Not in a KeepTogether: the heading before it (keepWithNext) must travel with the image.
    return [image, Paragraph(escape(block.caption), styles["small"])]


def _table(table: Table, styles: dict[str, Any], width: float) -> Any:
    """A table that splits across pages with its header repeated; cells wrap between words."""
    widths, points = _fit(table, width)
    body = styles["body"]
    cell_styles = {
        (bold, numeric): ParagraphStyle(
            f"cell-{points}-{bold}-{numeric}",
            parent=body,
            fontName=BOLD if bold else FONT,
            fontSize=points,
            leading=points * 1.2,
            alignment=2 if numeric else 0,
        )
        for bold in (False, True)
        for numeric in (False, True)
    }

    def cell(text: str, numeric: bool, bold: bool = False) -> Any:
        return Paragraph(escape(text), cell_styles[bold, numeric])

    data = [[cell(h, n, bold=True) for h, n in zip(table.header, table.numeric, strict=True)]]
    for i, row in enumerate(table.rows):
        last = table.total and i == len(table.rows) - 1
        data.append([cell(c, n, bold=last) for c, n in zip(row, table.numeric, strict=True)])
    out = LongTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    out.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), _PAD),
                ("RIGHTPADDING", (0, 0), (-1, -1), _PAD),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return out


def _fit(table: Table, width: float) -> tuple[list[float], float]:
    """Column widths in points and the font size: each column as wide as its longest text
    (capped), narrowed towards its longest word when the table is too wide, wider columns
    giving up their room first. When even the longest words do not fit side by side, the font
    steps down (to :data:`_SMALLEST_PT` at most) rather than splitting words."""
    columns = list(zip(table.header, *table.rows, strict=True))
    pad = 2 * _PAD + 1.0

    def longest(points: float, col: tuple[str, ...], words: bool) -> float:
        parts = [(col[0], True), *((c, False) for c in col[1:])]
        texts = [(w, b) for t, b in parts for w in (t.split() if words else [t])]
        return max(
            (float(pdfmetrics.stringWidth(w, BOLD if b else FONT, points)) for w, b in texts),
            default=0.0,
        )

    points = _CELL_PT
    while points > _SMALLEST_PT and sum(longest(points, c, True) + pad for c in columns) > width:
        points -= 0.5
    desired = [min(longest(points, c, False), _MAX_COLUMN) + pad for c in columns]
    minimum = [
        min(longest(points, c, True) + pad, d) for c, d in zip(columns, desired, strict=True)
    ]
    excess = sum(desired) - width
    if excess <= 0:
        spare = -excess / len(desired)
        return [d + spare for d in desired], points
    room = [d - m for d, m in zip(desired, minimum, strict=True)]
    share = min(1.0, excess / sum(room)) if sum(room) else 0.0
    widths = [d - r * share for d, r in zip(desired, room, strict=True)]
    scale = min(1.0, width / sum(widths))  # still too wide: every column shrinks alike
    return [w * scale for w in widths], points


def _footer(report: PeriodicReport) -> Any:
    text = f"Detente {report.detente_version} · {report.agreement_id} · {report.period}"

    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(_MARGIN, 8 * mm, text)
        canvas.drawRightString(A4[0] - _MARGIN, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    return draw

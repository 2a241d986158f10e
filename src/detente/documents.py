"""Documents: read a news article or a monitor's report as clean text, boilerplate removed.

    >>> doc = read_document(Path("article.html"))                     # doctest: +SKIP
    >>> doc.title, doc.published, doc.text[:40]                        # doctest: +SKIP
    ('Russia masses troops near border', datetime.date(2022, 1, 30), 'Russia masses troops …')

Text, Markdown and HTML are read. HTML goes through trafilatura (main-text extraction, which
drops navigation, sidebars and footers and finds the publication date in the page's metadata);
every format then loses the lines that are web furniture rather than reporting: sharing
prompts, advertising labels, newsletter and cookie notices, and "Read more" / "Related" lists.
The cleaned text is what is stored, and claims' character spans point into it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from markdown_it import MarkdownIt

from detente.errors import InputError, Problem

FORMATS = ("text", "md", "html")
_SUFFIX_FORMAT = {".txt": "text", ".text": "text", ".md": "md", ".markdown": "md",
                  ".html": "html", ".htm": "html"}  # fmt: skip

# One line, whole: furniture of news pages. Matched case-insensitively against a stripped line.
_FURNITURE_LINES = (
    r"advertisement|advert|ad|sponsored( content)?",
    r"share( this( article| story| page)?)?( on \w+)?([ ,]+(facebook|twitter|x|whatsapp|email"
    r"|linkedin|telegram|reddit|copy link))*",
    r"(facebook|twitter|whatsapp|email|linkedin|telegram)([ ,]+\w+)*",
    r"(sign up|subscribe)\b.*",
    r"(get|receive|read) our \w* ?newsletters?\b.*",
    r"(accept|manage) (all )?cookies.*|.*\buses cookies\b.*",
    r"click here\b.*|follow us\b.*|skip to (main )?content|print this (page|article)",
    r"(©|\(c\)|copyright)\s.*|all rights reserved\.?",
    r"image (source|caption|copyright)[: ].*|getty images|reuters/.*",
)
_FURNITURE = re.compile("^(" + "|".join(_FURNITURE_LINES) + ")$", re.IGNORECASE)
# A heading that opens a list of links to other stories: it and the short lines after it go.
_MORE_HEADING = re.compile(
    r"^(read (more|next|also)|related( (articles|stories|coverage|content|topics))?|"
    r"more (on this story|from \w+|stories|news)|recommended|most (read|popular)|"
    r"you (may|might) also like|see also|trending( now)?)\s*:?$",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*([-*•·]|\d+[.)])\s+")


@dataclass(frozen=True)
class Document:
    """A document's clean text and where it came from."""

    doc_id: str  # "doc-" + the first 16 hex digits of the clean text's SHA-256
    file: str
    format: str
    title: str
    published: date | None
    text: str
    sha256: str  # of the clean text: the same article fetched twice is one document


def read_document(path: Path, fmt: str | None = None, published: date | None = None) -> Document:
    """Read and clean one file; ``fmt`` defaults from the suffix (text when unknown)."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), "", f"cannot read document: {exc}")]) from exc
    return parse_document(raw, str(path), fmt or _SUFFIX_FORMAT.get(path.suffix.lower(), "text"),
                          published)  # fmt: skip


def parse_document(
    raw: str, name: str, fmt: str = "text", published: date | None = None
) -> Document:
    """Clean a document given as a string (``name`` is used in messages and provenance)."""
    if fmt not in FORMATS:
        raise InputError([Problem(name, "format", f"unknown format {fmt!r}; one of {FORMATS}")])
    title, found_date, body = _html(raw) if fmt == "html" else ("", None, raw)
    if fmt == "md":
        body = markdown_text(body)
    text = strip_boilerplate(body)
    if not text.strip():
        raise InputError([Problem(name, "text", "no text left after removing web boilerplate")])
    title = title or _first_line(text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(f"doc-{digest[:16]}", name, fmt, title, published or found_date, text, digest)


def strip_boilerplate(text: str) -> str:
    """Drop furniture lines and "read more" link lists; keep paragraphs apart by a blank line.

    >>> strip_boilerplate("Troops moved.\\nShare this article\\nRead more\\n- Other story")
    'Troops moved.'
    """
    kept: list[str] = []
    in_more_list = False
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if _MORE_HEADING.match(stripped):
            in_more_list = True
            continue
        if in_more_list and _looks_like_link(stripped):
            continue
        in_more_list = False
        if stripped and not _is_furniture(stripped):
            kept.append(re.sub(r"\s+", " ", stripped))
    return "\n\n".join(kept)


def markdown_text(source: str) -> str:
    """Markdown as plain text: one line per paragraph, heading or list item; markup dropped."""
    lines: list[str] = []
    for token in MarkdownIt("commonmark").parse(source):
        if token.type == "inline" and token.children is not None:
            lines.append("".join(_inline_text(t.type, t.content) for t in token.children))
        elif token.type in ("code_block", "fence"):
            lines.append(token.content.strip())
    return "\n".join(lines)


def _inline_text(kind: str, content: str) -> str:
    if kind in ("softbreak", "hardbreak"):
        return " "
    return content if kind in ("text", "code_inline") else ""


def _is_furniture(line: str) -> bool:
    # Furniture is short; a sentence of reporting that mentions a newsletter is not furniture.
    return len(line.split()) <= 12 and _FURNITURE.match(line) is not None


def _looks_like_link(line: str) -> bool:
    # Items of a "read more" list are short headlines: no sentence-ending full stop.
    words = _LIST_MARK.sub("", line).split()
    return not line or (len(words) <= 16 and not line.rstrip().endswith((".", '."')))


def _html(raw: str) -> tuple[str, date | None, str]:
    import trafilatura

    found: Any = trafilatura.bare_extraction(
        raw, include_comments=False, include_tables=False, with_metadata=True
    )
    if found is None:
        return "", None, ""
    if isinstance(found, dict):  # older trafilatura returns a dict
        found = SimpleNamespace(**found)
    text = found.text or ""
    day = found.date
    try:
        published = date.fromisoformat(day[:10]) if day else None
    except ValueError:
        published = None
    return (found.title or "").strip(), published, text


def _first_line(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= 120 else first[:117] + "…"

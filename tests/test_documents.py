"""Reading documents: web boilerplate removed, reporting kept, publication date found."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detente.documents import markdown_text, parse_document, read_document, strip_boilerplate
from detente.errors import InputError

REPORTING = [
    "Monitors saw four tanks near Lysychansk on Tuesday.",
    "The ministry said in its newsletter that the howitzers had been moved back.",
    "Two shells landed in a field east of the town, the mission said.",
]

PAGE = f"""<!doctype html><html><head><title>Tanks seen near Lysychansk | Example News</title>
<meta property="article:published_time" content="2021-03-09T08:00:00Z"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<div class="share">Share this article</div>
<article><h1>Tanks seen near Lysychansk</h1>
<p>{REPORTING[0]}</p><div class="ad">Advertisement</div>
<p>{REPORTING[1]}</p><p>Sign up for our newsletter</p>
<p>{REPORTING[2]}</p></article>
<aside><h3>Read more</h3><ul><li><a href="/a">Ten facts about tanks</a></li>
<li><a href="/b">Markets fall again</a></li></ul></aside>
<footer>© 2021 Example News. All rights reserved.</footer></body></html>"""


def test_html_keeps_reporting_and_drops_furniture(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    doc = read_document(path)
    assert doc.format == "html"
    assert doc.published == date(2021, 3, 9)
    assert "Tanks seen near Lysychansk" in doc.title
    for sentence in REPORTING:
        assert sentence in doc.text
    for furniture in ("Share this", "Advertisement", "Sign up", "Read more", "Ten facts",
                      "Markets fall", "All rights reserved", "Sport"):  # fmt: skip
        assert furniture not in doc.text
    assert doc.doc_id == f"doc-{doc.sha256[:16]}"


def test_explicit_publication_date_wins(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    assert read_document(path, published=date(2021, 3, 10)).published == date(2021, 3, 10)


def test_markdown_becomes_plain_paragraphs() -> None:
    source = "# Heading\n\nSome *stressed* and `coded` text\nthat wraps.\n\n- a [link](x)\n"
    assert markdown_text(source).split("\n") == [
        "Heading", "Some stressed and coded text that wraps.", "a link"
    ]  # fmt: skip
    doc = parse_document(source + "\nShare on Twitter\n", "n.md", "md")
    assert doc.text == "Heading\n\nSome stressed and coded text that wraps.\n\na link"


def test_read_more_list_removed_but_following_paragraph_kept() -> None:
    text = "\n".join([REPORTING[0], "Related stories:", "- Tanks again", "* Other news", "",
                      REPORTING[2]])  # fmt: skip
    assert strip_boilerplate(text) == f"{REPORTING[0]}\n\n{REPORTING[2]}"


def test_same_text_same_id_whatever_the_wrapping() -> None:
    plain = parse_document("\n\n".join(REPORTING), "a.txt")
    wrapped = parse_document("\n".join(["Advertisement", *REPORTING, "Follow us"]), "b.txt")
    assert plain.doc_id == wrapped.doc_id and plain.text == wrapped.text


@pytest.mark.parametrize(
    ("text", "fmt", "field"),
    [("Advertisement\nShare this article", "text", "text"), ("x", "pdf", "format")],
)
def test_bad_documents_name_the_problem(text: str, fmt: str, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_document(text, "bad.txt", fmt)
    assert [p.field for p in caught.value.problems] == [field]
    assert caught.value.problems[0].file == "bad.txt"


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(InputError, match="cannot read document"):
        read_document(path)


@given(st.text(max_size=400))
def test_any_text_is_cleaned_or_refused_cleanly(text: str) -> None:
    try:
        doc = parse_document(text, "any.txt")
    except InputError as exc:
        assert exc.problems[0].field == "text"
        return
    # every kept paragraph is a line of the input (whitespace collapsed), none is empty
    flat = re.sub(r"\s+", " ", text)
    for paragraph in doc.text.split("\n\n"):
        assert paragraph.strip() and paragraph in flat

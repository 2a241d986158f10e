"""Times: resolved against the publication date, to a day or a range of days.

Expected dates are worked out by hand from the publication day, Wednesday 10 March 2021.
"""

from __future__ import annotations

from datetime import date

import pytest

from detente.extract import times
from detente.extract._nlp import nlp
from detente.extract._types import TimeRef
from detente.extract.times import resolve_text, resolve_time

PUB = date(2021, 3, 10)  # a Wednesday


def when(text: str, published: date | None = PUB) -> TimeRef | None:
    found = [resolve_time(s, published) for s in nlp()(text).sents]
    return next((t for t in found if t is not None), None)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Shelling resumed on Sunday.", "2021-03-07", "2021-03-07"),
        ("Two tanks moved on Wednesday.", "2021-03-10", "2021-03-10"),  # the day itself
        ("Two tanks moved last Wednesday.", "2021-03-03", "2021-03-03"),
        ("Monitors saw howitzers on Monday night.", "2021-03-08", "2021-03-08"),
        ("Fighting intensified last week.", "2021-03-01", "2021-03-07"),
        ("Troops arrived yesterday.", "2021-03-09", "2021-03-09"),
        ("A drone was seen this morning.", "2021-03-10", "2021-03-10"),
        ("Three soldiers were killed in the past 24 hours.", "2021-03-09", "2021-03-10"),
        ("The drills ended last month.", "2021-02-01", "2021-02-28"),
        ("Ceasefire violations rose in March 2017.", "2017-03-01", "2017-03-31"),
        ("Troops massed in mid-January.", "2021-01-11", "2021-01-20"),
        ("Troops massed in late December.", "2020-12-21", "2020-12-31"),  # last year's
        ("The war began in 2014.", "2014-01-01", "2014-12-31"),
        ("Early on 4 March a column crossed.", "2021-03-04", "2021-03-04"),
        ("The column crossed on 14 November.", "2020-11-14", "2020-11-14"),  # past preferred
        ("The mission logged 40 explosions from 3 to 5 February 2021.", "2021-02-03", "2021-02-05"),
        ("A sniper fired 3 days ago.", "2021-03-07", "2021-03-07"),
        ("The exercise ran over the weekend.", "2021-03-06", "2021-03-07"),
    ],
)
def test_relative_and_absolute(text: str, start: str, end: str) -> None:
    found = when(text)
    assert found is not None
    assert (found.start, found.end) == (start, end)


@pytest.mark.parametrize(
    "text",
    ["The talks lasted three days.", "Troops moved toward the border.", "Tanks may withdraw."],
)
def test_no_time(text: str) -> None:
    assert when(text) is None


def test_without_publication_date_only_explicit_years_resolve() -> None:
    assert when("Troops arrived yesterday.", None) is None
    assert when("Troops arrived on Sunday.", None) is None
    found = when("Troops arrived on 24 February 2022.", None)
    assert found is not None
    assert (found.start, found.end) == ("2022-02-24", "2022-02-24")


def test_span_is_a_document_offset() -> None:
    text = "Nothing to report. Shelling resumed on Sunday near the airport."
    doc = nlp()(text)
    found = resolve_time(list(doc.sents)[1], PUB)
    assert found is not None and found.span is not None
    assert text[found.span[0] : found.span[1]] == found.text == "Sunday"


def test_resolve_text_directly() -> None:
    assert resolve_text("mid-January", PUB) == (date(2021, 1, 11), date(2021, 1, 20))
    assert resolve_text("between 1 and 8 May 2020", None) == (date(2020, 5, 1), date(2020, 5, 8))
    assert resolve_text("16 August to 15 November 2017", None) == (
        date(2017, 8, 16),
        date(2017, 11, 15),
    )
    assert resolve_text("for three days", PUB) is None


def test_dateparser_reader_is_cached_per_publication_day() -> None:
    assert times._parser(PUB) is times._parser(PUB)
    assert times._parser(PUB) is not times._parser(date(2021, 3, 11))

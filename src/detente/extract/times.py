"""When a sentence says something happened, as a day or a range of days.

    >>> sent = next(nlp()("Shelling resumed on Sunday.").sents)  # doctest: +SKIP
    >>> resolve_time(sent, date(2022, 2, 2))  # doctest: +SKIP
    TimeRef(start='2022-01-30', end='2022-01-30', text='Sunday', span=(20, 26))

Candidates are spaCy DATE/TIME entities plus phrases the small model misses ("yesterday",
"last week", weekdays). The first that resolves wins. Relative phrases are resolved here, against
the publication date, by these rules (``pub`` is the publication day):

=========================================  =================================================
today, this morning/afternoon/evening      ``pub``
tonight, last night, overnight             ``pub - 1`` .. ``pub``
yesterday / the day before yesterday       ``pub - 1`` / ``pub - 2``
Sunday, on Sunday, Sunday night            the latest Sunday on or before ``pub``
last Sunday                                the latest Sunday before ``pub``
last/this/next week                        that Monday–Sunday (this week: Monday .. ``pub``)
the weekend, last weekend                  the latest Saturday–Sunday on or before ``pub``
past 24 hours, past N days/weeks           ``pub - N days`` .. ``pub``
last/this month, last/this year            that calendar month / year (this: up to ``pub``)
early/mid/late March (2017)                1–10, 11–20, 21–end of that month
March 2017, in March                       the whole month (no year: the latest on or before)
2014, in 2014                              the whole year
1-8 May 2020, between 1 and 8 May          those days
24 February (2022), 3 days ago             one day, by ``dateparser`` (past preferred)
=========================================  =================================================

Durations with no anchor ("for three days", "one month") resolve to nothing. Without a
publication date only expressions that name their year resolve.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from spacy.tokens import Span

from detente.extract._types import TimeRef

Range = tuple[date, date]

MONTHS = {
    n.lower(): i for i in range(1, 13) for n in (calendar.month_name[i], calendar.month_abbr[i])
}
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}

_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MONTH = r"(?P<month>" + _MON + ")"
_WEEKDAY = r"(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_PART = r"(?:morning|afternoon|evening|night)"

# Phrases the small model often leaves untagged; matched on the sentence text.
FINDERS = re.compile(
    r"\b(?:(?:the\s+day\s+before\s+)?yesterday|today|tonight|last\s+night|overnight"
    r"|(?:early\s+|late\s+)?this\s+" + _PART
    + r"|(?:last|this|next|past)\s+(?:week(?:end)?|month|year)"
    r"|(?:past|last)\s+\w+\s+(?:hours|days|weeks|months)"
    r"|(?:the\s+)?weekend"
    r"|\w+\s+(?:days|weeks)\s+ago"
    r"|(?:between\s+|from\s+)?\d{1,2}\s*(?:-|–|to|and|until)\s*\d{1,2}\s+" + _MON
    + r"(?:,?\s+(?:19|20)\d\d)?"
    r"|\d{1,2}\s+" + _MON + r"(?:\s+(?:19|20)\d\d)?\s*(?:-|–|to|until)\s*\d{1,2}\s+" + _MON
    + r",?\s+(?:19|20)\d\d"
    r"|(?:last\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    r"(?:\s+" + _PART + r")?)\b",
    re.IGNORECASE,
)  # fmt: skip
# Leading words that do not move the time: "on", "in the", "early on" (but "early March" stays).
_LEAD = re.compile(
    r"^(?:(?:on|in|at|since|by|during|over|from|of|until|the|(?:early|late|earlier|later)\s+on)\s+)+",
    re.IGNORECASE,
)
_DAY_RANGE = re.compile(
    r"^(?:between\s+|from\s+)?(?P<d1>\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|to|and|until)\s*"
    r"(?P<d2>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r"(?:,?\s+" + _YEAR + r")?$",
    re.IGNORECASE,
)
_CROSS_MONTH_RANGE = re.compile(
    r"^(?:between\s+|from\s+)?(?P<d1>\d{1,2})\s+(?P<m1>" + _MON + r")(?:\s+(?P<y1>(?:19|20)\d\d))?"
    r"\s*(?:-|–|to|and|until)\s*(?P<d2>\d{1,2})\s+(?P<m2>" + _MON + r"),?\s+(?P<y2>(?:19|20)\d\d)$",
    re.IGNORECASE,
)
_MONTH_DAY_RANGE = re.compile(
    r"^" + _MONTH + r"\s+(?P<d1>\d{1,2})\s*(?:-|–|to)\s*(?P<d2>\d{1,2})(?:,?\s+" + _YEAR + r")?$",
    re.IGNORECASE,
)
_MONTH_PART = re.compile(
    r"^(?P<part>early|mid|middle\s+of|late|end\s+of|the\s+end\s+of|beginning\s+of"
    r"|the\s+beginning\s+of|start\s+of|the\s+start\s+of)[\s-]*(?:the\s+month\s+of\s+)?"
    + _MONTH + r"(?:,?\s+" + _YEAR + r")?$",
    re.IGNORECASE,
)  # fmt: skip
_MONTH_YEAR = re.compile(r"^" + _MONTH + r"(?:,?\s+(?:of\s+)?" + _YEAR + r")?$", re.IGNORECASE)
_YEAR_ONLY = re.compile(r"^" + _YEAR + r"$")
_WEEKDAY_RE = re.compile(
    r"^(?P<last>last\s+|this\s+|early\s+|late\s+)?" + _WEEKDAY + r"(?:\s+" + _PART + r")?$",
    re.IGNORECASE,
)
_ROLLING = re.compile(
    r"^(?:the\s+)?(?:past|last)\s+(?P<n>\w+)\s+(?P<unit>hour|day|week|month)s$", re.IGNORECASE
)
_CALENDAR = re.compile(r"^(?P<which>last|this|next|past)\s+(?P<unit>week|month|year)$", re.I)
_AGO = re.compile(r"^(?P<n>\w+)\s+(?P<unit>day|week)s?\s+ago$", re.IGNORECASE)
# A day-level date dateparser should read: a month name with a day number, or a numeric date.
_DAY_DATE = re.compile(
    r"\b\d{1,2}(?:st|nd|rd|th)?\s+" + _MON + r"|" + _MON + r"\s+\d{1,2}\b"
    r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./](?:\d{4}|\d{2})\b",
    re.IGNORECASE,
)


def resolve_time(sent: Span, published: date | None) -> TimeRef | None:
    """The first time expression of ``sent`` as a day range, or None.

    >>> sent = next(nlp()("Fighting intensified last week.").sents)  # doctest: +SKIP
    >>> t = resolve_time(sent, date(2022, 2, 2)); (t.start, t.end)  # doctest: +SKIP
    ('2022-01-24', '2022-01-30')
    """
    for start, end in _candidates(sent):
        text = sent.doc.text[start:end]
        found = resolve_text(text, published)
        if found is not None:
            return TimeRef(found[0].isoformat(), found[1].isoformat(), text, (start, end))
    return None


def _candidates(sent: Span) -> list[tuple[int, int]]:
    """Character spans of DATE/TIME entities and finder matches, in order, longest first.

    Overlaps stay: when the model's entity does not resolve ("Last Wednesday two"), the finder's
    match inside it ("Last Wednesday") still can.
    """
    spans = {(e.start_char, e.end_char) for e in sent.ents if e.label_ in {"DATE", "TIME"}}
    base = sent.start_char
    spans |= {(base + m.start(), base + m.end()) for m in FINDERS.finditer(sent.text)}
    return sorted(spans, key=lambda s: (s[0], -s[1]))


def resolve_text(text: str, published: date | None) -> Range | None:
    """A time phrase as ``(first day, last day)``, relative to ``published``.

    >>> resolve_text("mid-January", date(2022, 2, 2))
    (datetime.date(2022, 1, 11), datetime.date(2022, 1, 20))
    >>> resolve_text("in 2014", None)
    (datetime.date(2014, 1, 1), datetime.date(2014, 12, 31))
    """
    phrase = " ".join(_LEAD.sub("", " ".join(text.split())).split()).strip(" ,.;:")
    if not phrase:
        return None
    for rule in _RULES:
        found = rule(phrase, published)
        if found is not None:
            return found
    return None


def _relative_day(phrase: str, pub: date | None) -> Range | None:
    p = phrase.lower()
    if pub is None:
        return None
    if p in {"today", "this morning", "this afternoon", "this evening", "early this morning"}:
        return pub, pub
    if p in {"tonight", "last night", "overnight"}:
        return pub - timedelta(days=1), pub
    if p.startswith("yesterday"):
        return _day(pub - timedelta(days=1))
    if p.startswith("day before yesterday"):
        return _day(pub - timedelta(days=2))
    if p in {"weekend", "last weekend", "this weekend"}:
        saturday = _on_or_before(pub, 5) if pub.weekday() != 6 else pub - timedelta(days=1)
        return saturday, saturday + timedelta(days=1)
    return None


def _weekday(phrase: str, pub: date | None) -> Range | None:
    m = _WEEKDAY_RE.match(phrase)
    if m is None or pub is None:
        return None
    day = _on_or_before(pub, WEEKDAYS[m["weekday"].lower()])
    if (m["last"] or "").strip().lower() == "last" and day == pub:
        day -= timedelta(days=7)
    return _day(day)


def _rolling(phrase: str, pub: date | None) -> Range | None:
    m = _ROLLING.match(phrase) or _AGO.match(phrase)
    if m is None or pub is None:
        return None
    n = _small_number(m["n"])
    if n is None:
        return None
    days = max(1, round(n * UNIT_DAYS[m["unit"].lower()]))
    if m.re is _AGO:
        return _day(pub - timedelta(days=days))
    return pub - timedelta(days=days), pub


def _calendar(phrase: str, pub: date | None) -> Range | None:
    m = _CALENDAR.match(phrase)
    if m is None or pub is None:
        return None
    which, unit = m["which"].lower(), m["unit"].lower()
    if which == "past":  # "the past week": the seven days up to publication
        return pub - timedelta(days=round(UNIT_DAYS[unit])), pub
    step = {"last": -1, "this": 0, "next": 1}[which]
    if unit == "week":
        monday = pub - timedelta(days=pub.weekday()) + timedelta(weeks=step)
        return monday, pub if step == 0 else monday + timedelta(days=6)
    if unit == "month":
        y, mo = divmod(pub.year * 12 + pub.month - 1 + step, 12)
        first, last = _month(y, mo + 1)
        return first, pub if step == 0 else last
    year = pub.year + step
    return date(year, 1, 1), pub if step == 0 else date(year, 12, 31)


def _day_range(phrase: str, pub: date | None) -> Range | None:
    m = _DAY_RANGE.match(phrase) or _MONTH_DAY_RANGE.match(phrase)
    if m is None:
        return None
    first_day, last_day = _month_of(m["month"], m["year"], pub) or (None, None)
    if first_day is None or last_day is None:
        return None
    d1, d2 = int(m["d1"]), int(m["d2"])
    if not 1 <= d1 <= d2 <= last_day.day:
        return None
    return first_day.replace(day=d1), first_day.replace(day=d2)


def _cross_month(phrase: str, pub: date | None) -> Range | None:
    """ "16 August to 15 November 2017" (the first year defaults to the second)."""
    m = _CROSS_MONTH_RANGE.match(phrase)
    if m is None:
        return None
    first = _month_of(m["m1"], m["y1"] or m["y2"], pub)
    last = _month_of(m["m2"], m["y2"], pub)
    if first is None or last is None:
        return None
    try:
        start, end = first[0].replace(day=int(m["d1"])), last[0].replace(day=int(m["d2"]))
    except ValueError:
        return None
    return (start, end) if start <= end else None


def _month_part(phrase: str, pub: date | None) -> Range | None:
    m = _MONTH_PART.match(phrase)
    if m is None:
        return None
    month = _month_of(m["month"], m["year"], pub)
    if month is None:
        return None
    first, last = month
    part = m["part"].lower()
    if part in {"early"} or "beginning" in part or "start" in part:
        return first, first.replace(day=10)
    if part.startswith("mid"):
        return first.replace(day=11), first.replace(day=20)
    return first.replace(day=21), last


def _month_year(phrase: str, pub: date | None) -> Range | None:
    m = _MONTH_YEAR.match(phrase)
    if m is None or (m["month"].lower() == "may" and phrase[:1].islower()):
        return None  # "may" is mostly the verb
    return _month_of(m["month"], m["year"], pub)


def _year(phrase: str, pub: date | None) -> Range | None:
    m = _YEAR_ONLY.match(phrase)
    if m is None:
        return None
    year = int(m["year"])
    return date(year, 1, 1), date(year, 12, 31)


def _dateparser_day(phrase: str, pub: date | None) -> Range | None:
    if not _DAY_DATE.search(phrase):
        return None
    has_year = re.search(r"\b(?:19|20)\d\d\b|\d{1,2}[./]\d{1,2}[./]\d{2}\b", phrase) is not None
    if pub is None and not has_year:
        return None
    found = _parser(pub).get_date_data(phrase)
    if found.date_obj is None or found.period != "day":
        return None
    return _day(found.date_obj.date())


_RULES: tuple[Callable[[str, date | None], Range | None], ...] = (
    _relative_day,
    _weekday,
    _rolling,
    _calendar,
    _day_range,
    _cross_month,
    _month_part,
    _month_year,
    _year,
    _dateparser_day,
)


@functools.lru_cache(maxsize=128)
def _parser(pub: date | None) -> Any:
    """A dateparser reader for one publication day (its language data loads once, ~0.3 s)."""
    from dateparser.date import DateDataParser

    settings: dict[str, object] = {
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PARSERS": ["relative-time", "absolute-time"],
    }
    if pub is not None:
        settings["RELATIVE_BASE"] = datetime(pub.year, pub.month, pub.day, 12)
    return DateDataParser(languages=["en"], settings=settings)


def _day(d: date) -> Range:
    return d, d


def _on_or_before(pub: date, weekday: int) -> date:
    return pub - timedelta(days=(pub.weekday() - weekday) % 7)


def _month(year: int, month: int) -> Range:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _month_of(name: str, year: str | None, pub: date | None) -> Range | None:
    """The month called ``name`` in ``year``, or the latest one on or before ``pub``."""
    month = MONTHS.get(name.lower().rstrip("."))
    if month is None:
        return None
    if year is not None:
        return _month(int(year), month)
    if pub is None:
        return None
    return _month(pub.year if month <= pub.month else pub.year - 1, month)


def _small_number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word.lower())

"""Counts of troops, equipment and casualties in a sentence, as ranges.

    >>> doc = nlp()("Russia massed tens of thousands of troops and 1,200 tanks.")  # doctest: +SKIP
    >>> [(q.category, q.low, q.best, q.high) for q in find_quantities(doc[:])]  # doctest: +SKIP
    [('troops', 20000, None, 99999), ('tank', 1200, 1200, 1200)]

Precision comes first: a number is reported only when it is attached to a word this module
knows ("150,000 Russian troops", "tens of thousands of soldiers", "a force of 30,000", "troops
numbering 100,000", "3 soldiers killed", "shelling killed five"). Years, dates, money,
percentages, ages, distances, durations and calibres ("152 mm") are never counts; "one of the"
is not a count.

**Number forms.** Digits ("150,000", "12 700", "12.5k", "1.5 million", "170 thousand"), words
("three", "one hundred and fifty thousand", "a thousand", "half a million") and single-token
ranges ("169,000–190,000").

**Ranges** (``low``, ``best``, ``high``; ``None`` means unknown or unbounded):

==========================================  ==============================================
"12,700 troops"                             12,700 / 12,700 / 12,700
about, around, roughly, some,               n ± 10 % (rounded) / n / n ± 10 %
approximately, an estimated, circa, "or so",
"-odd", "a dozen" (= about 12)
nearly, almost, close to, just under        n − 10 % / n / n
more than, over, above, in excess of,       n + 1 / None / None
upwards of, "n-plus", "n+"
at least, no fewer/less than                n / None / None
up to, as many as, at most, no more than    1 / None / n
fewer than, less than, under, below         1 / None / n − 1
between a and b, a–b, a to b, a or b        a / None / b
==========================================  ==============================================

**Vague amounts** (best None): tens 20–99, dozens 24–99, scores 40–199, hundreds 200–999,
thousands 2,000–9,999, tens of thousands 20,000–99,999, hundreds of thousands
200,000–999,999, millions 2–9.99 million; "several" is 3–9 of its unit ("several thousand"
3,000–9,999, "several tens of thousands" 30,000–99,999) and "a few" 2–5 ("a few hundred"
200–599).

**Categories.** ``troops``, ``btg``, ``tank``, ``acv``, ``artillery_100mm_plus``,
``artillery_under_100mm`` (guns with a stated calibre under 100 mm), ``mlrs``, ``mlrs_heavy``
(Uragan, Smerch, Tornado-S), ``tactical_missile`` (Tochka, Iskander: the Minsk II agreement's
name), ``mortar_120mm`` (mortars up to 120 mm or of unstated calibre), ``aircraft``,
``helicopter``, ``ship``; and casualties ``killed`` and ``wounded``. A number of people with
a death or injury word ("3 soldiers killed", "killing nine", "death toll rises to 28") is a
casualty count, not a troop count; a singular "soldier killed", "another wounded" and "one KIA"
are one. Not reported, on purpose: munitions ("300 Grad rockets"), people who are neither
killed nor wounded ("200 civilians"), a count before two coordinated heads ("1,200 tanks and
armoured vehicles": of both, or of tanks?), and 1900–2100 without a separator ("2000 troops"
may be a year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token
from text_to_num import text2num

from detente.extract._types import Quantity

# --- the words -----------------------------------------------------------------------------

TROOP_HEADS = frozenset(
    {
        "troops", "troop", "soldiers", "servicemen", "servicemembers", "personnel", "forces",
        "fighters", "militants", "militiamen", "paratroopers", "marines", "reservists",
        "conscripts", "mercenaries", "rebels", "separatists", "insurgents", "guardsmen",
        "commandos", "sailors", "airmen", "infantrymen", "gunmen",
    }
)  # fmt: skip
#: Singular nouns of people, for "soldier killed" (a count of one).
PERSON_SINGULAR = frozenset(
    {
        "soldier", "serviceman", "servicewoman", "civilian", "militiaman", "fighter", "rebel",
        "separatist", "officer", "policeman", "man", "woman", "child", "boy", "girl", "resident",
        "volunteer", "paratrooper", "marine", "sniper", "militant", "activist", "protester",
        "journalist", "medic", "person", "serviceperson", "commander", "member", "worker",
        "guard", "pilot", "teenager", "pensioner", "driver", "scout", "gunner",
    }
)  # fmt: skip
#: People who are counted only when killed or wounded.
PERSON_HEADS = TROOP_HEADS | frozenset(
    {
        "civilians", "people", "persons", "residents", "children", "women", "men", "protesters",
        "activists", "others", "policemen", "officers", "workers", "miners", "journalists",
        "volunteers", "villagers", "ukrainians", "russians", "members", "militia", "police",
        "boys", "girls", "combatants", "servicepeople", "medics", "observers", "monitors",
        "guards", "guardsmen", "pilots", "crew", "crewmen", "firefighters",
    }
)  # fmt: skip
#: Heads that are a count only in "a 100,000-strong force" or "a force of 30,000".
FORCE_HEADS = frozenset({"force", "army", "contingent", "grouping", "garrison"})
PLAIN_HEADS = {
    "btgs": "btg", "btg": "btg",
    "tanks": "tank", "mbts": "tank",
    "apcs": "acv", "ifvs": "acv", "afvs": "acv", "acvs": "acv", "bmps": "acv", "btrs": "acv",
    "bmds": "acv",
    "howitzers": "artillery_100mm_plus",
    "grads": "mlrs",
    "uragans": "mlrs_heavy", "smerches": "mlrs_heavy",
    "tochkas": "tactical_missile", "iskanders": "tactical_missile",
    "aircraft": "aircraft", "warplanes": "aircraft", "jets": "aircraft", "bombers": "aircraft",
    "planes": "aircraft", "airplanes": "aircraft",
    "helicopters": "helicopter", "gunships": "helicopter",
    "ships": "ship", "warships": "ship", "vessels": "ship", "frigates": "ship",
    "corvettes": "ship", "destroyers": "ship", "submarines": "ship", "cruisers": "ship",
    "boats": "ship",
}  # fmt: skip
#: Singular heads, counted only for one ("one tank"): "100 tank crews" is not 100 tanks.
SINGULAR_HEADS = {
    "tank": "tank", "howitzer": "artillery_100mm_plus", "helicopter": "helicopter",
    "ship": "ship", "warship": "ship", "warplane": "aircraft", "jet": "aircraft",
    "mortar": "mortar_120mm", "apc": "acv", "ifv": "acv", "btg": "btg",
}  # fmt: skip
#: Heads whose category depends on the words before them ("armoured vehicles").
QUALIFIED_HEADS = frozenset(
    {"vehicles", "carriers", "pieces", "systems", "guns", "cannons", "launchers", "groups",
     "mortars", "complexes", "missiles", "mlrs"}
)  # fmt: skip
#: Words allowed between a number and its head ("150,000 Russian troops", "30 T-72 tanks").
MODIFIER_NOUNS = frozenset(
    {
        "artillery", "combat", "battle", "rocket", "infantry", "fighting", "personnel", "army",
        "military", "assault", "attack", "fighter", "service", "launch", "missile", "tactical",
        "battalion", "battalion-tactical", "air", "naval", "landing", "patrol", "border",
        "self-propelled", "tank", "troop", "support", "reconnaissance", "strike", "transport",
        "cargo", "ground", "navy", "marine", "coast", "guard", "mortar", "howitzer", "multiple",
        "multiple-launch", "multiple-rocket", "government", "rebel", "separatist", "militia",
        "reserve", "elite", "special", "security", "police", "mm", "-", "strong", "more",
        "additional", "extra", "new", "other", "active", "regular", "main", "heavy", "light",
        "medium", "armoured", "armored", "mechanised", "mechanized", "motorised", "motorized",
        "frontline", "front-line", "combat-ready", "active-duty", "uniformed", "foreign",
        "russian", "ukrainian", "belarusian", "american", "nato", "u.s.", "us", "western",
        "pro-russian", "russia-backed", "kremlin-backed", "dpr", "lpr", "enemy", "allied",
        "grad", "uragan", "smerch", "tornado", "tochka", "iskander", "msta", "akatsiya",
        "gvozdika", "giatsint", "pion", "hyacinth", "bm-21", "bm-27", "bm-30", "d-30", "2s1",
        "2s3", "2s19", "2s7", "u", "s", "m", "g", "anti", "self", "propelled", "duty", "guards",
        "border-guard", "national",
    }
)  # fmt: skip
HEAVY_MLRS = frozenset({"uragan", "smerch", "tornado-s", "bm-27", "bm-30", "9k57", "9k58"})
TACTICAL_MISSILES = frozenset({"tochka", "tochka-u", "iskander", "iskander-m", "9k79", "9k720"})
MLRS_NAMES = frozenset(
    {"grad", "bm-21", "multiple", "mlrs", "multiple-launch", "multiple-rocket", "tornado-g"}
)
UNITS = frozenset(
    {
        "km", "kms", "kilometres", "kilometers", "kilometre", "kilometer", "miles", "mile", "m",
        "metres", "meters", "metre", "meter", "mm", "millimetre", "millimeter", "cm", "kg",
        "tonnes", "tons", "tonne", "ton", "hours", "hour", "days", "day", "weeks", "week",
        "months", "month", "years", "year", "minutes", "minute", "seconds", "times", "percent",
        "%", "per", "pc", "degrees", "dollars", "euros", "rubles", "roubles", "hryvnias",
        "hryvnia", "usd", "eur", "calibre", "caliber", "year-old", "years-old", "am", "pm",
        "a.m.", "p.m.", "o'clock", "sq", "square", "km2", "hectares", "litres", "liters",
    }
)  # fmt: skip
# DATE is not here: the small model tags "Seven BTR-80s" as one; days and years are caught below.
NOT_COUNT_LABELS = frozenset({"TIME", "MONEY", "PERCENT", "ORDINAL"})
MONTH_WORDS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
     "sept", "oct", "nov", "dec"}
)  # fmt: skip
#: Wire-service prefixes: "UPDATE 2-About 20 rebels": the 2 is no count.
WIRE_PREFIXES = frozenset({"update", "wrapup", "refile", "corrected", "rpt", "insight"})
KILLED = frozenset(
    {"killed", "dead", "died", "die", "dies", "slain", "perished", "deaths", "fatalities",
     "dying", "executed", "massacred", "kia", "kias"}
)  # fmt: skip
WOUNDED = frozenset({"wounded", "injured", "hurt", "injuries", "wounds", "wia", "wias"})
KILL_VERBS = {
    "kill": "killed", "kills": "killed", "killed": "killed", "killing": "killed",
    "wound": "wounded", "wounds": "wounded", "wounded": "wounded", "wounding": "wounded",
    "injure": "wounded", "injures": "wounded", "injured": "wounded", "injuring": "wounded",
}  # fmt: skip
# Between a count of people and "killed": "3 soldiers were reportedly killed".
CASUALTY_GAP = frozenset(
    {"were", "was", "have", "has", "had", "been", "are", "is", "being", "be", "reportedly",
     "reported", "confirmed", "allegedly", "also", "shot", "more", "others", "people", "later",
     "all", "both", "seriously", "critically", "lightly", "badly", "fatally", "mortally"}
)  # fmt: skip
NEGATIONS = frozenset({"not", "n't", "no", "never", "without"})
#: Words that join a head to a count after it: "troops numbering 100,000".
COUNT_LINKS = frozenset(
    {
        "numbering",
        "totalling",
        "totaling",
        "totalled",
        "totaled",
        "estimated",
        "put",
        "at",
        "number",
        "numbered",
        "total",
        "totals",
    }
)
ESTIMATED = frozenset({"estimated", "put", "stood", "stands", "standing"})

WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {
    "hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
    "k": 1_000, "mln": 1_000_000, "bn": 1_000_000_000,
}  # fmt: skip
#: Plural vague amounts → (low, high): "thousands" is 2,000 to 9,999.
VAGUE = {
    "tens": (20, 99), "dozens": (24, 99), "scores": (40, 199), "hundreds": (200, 999),
    "thousands": (2_000, 9_999), "millions": (2_000_000, 9_999_999),
}  # fmt: skip
#: "several thousand" is 3–9 thousand, "a few hundred" 2–5 hundred: (low, high) multipliers.
FEW = {"several": (3, 10), "few": (2, 6)}

# Modifiers before a number, longest first; each maps to how it changes the range.
PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    sorted(
        (
            (tuple(k.split()), v)
            for k, v in {
                "about": "approx", "around": "approx", "roughly": "approx", "some": "approx",
                "approximately": "approx", "an estimated": "approx", "estimated": "approx",
                "circa": "approx", "ca.": "approx", "~": "approx", "approx.": "approx",
                "in the region of": "approx", "on the order of": "approx",
                "nearly": "nearly", "almost": "nearly", "close to": "nearly",
                "just under": "nearly", "just short of": "nearly",
                "more than": "more", "over": "more", "above": "more", "in excess of": "more",
                "upwards of": "more", "upward of": "more", "well over": "more",
                "at least": "atleast", "no fewer than": "atleast", "no less than": "atleast",
                "not less than": "atleast", "a minimum of": "atleast",
                "up to": "upto", "as many as": "upto", "at most": "upto", "no more than": "upto",
                "not more than": "upto", "a maximum of": "upto", "as much as": "upto",
                "fewer than": "fewer", "less than": "fewer", "under": "fewer", "below": "fewer",
                "between": "between", "from": "from",
            }.items()
        ),
        key=lambda kv: -len(kv[0]),
    )
)  # fmt: skip

#: First words of a number phrase that is not digits: modifiers, number words, vague amounts.
STARTERS = frozenset(
    {key[0] for key, _ in PREFIXES}
    | set(WORD_NUMBERS)
    | set(SCALES)
    | set(VAGUE)
    | {"a", "half", "many", "several"}
)
_DIGITS = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_K = re.compile(r"^(\d+(?:\.\d+)?)([kK])$")
_PLUS = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)\+$")
_TOKEN_RANGE = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)[-–—](\d{1,3}(?:,\d{3})+|\d+)$")
_CALIBRE = re.compile(r"^(\d{2,3})(?:-?mm)$", re.IGNORECASE)
_MODEL = re.compile(r"^[A-Z][A-Za-z]*-\d+[A-Za-z0-9-]*$")  # T-72B3, BMP-2, D-30, BM-21
_MODEL_HEADS = (
    (re.compile(r"^T-\d{2,3}[A-Z0-9]*s$"), "tank"),
    (re.compile(r"^(?:BMP|BTR|BMD|MT-LB)(?:-\w+)?s$", re.IGNORECASE), "acv"),
)


@dataclass(frozen=True)
class _Number:
    """A parsed number phrase: token range and its (low, best, high)."""

    start: int
    end: int
    low: int
    best: int | None
    high: int | None


# --- entry point ---------------------------------------------------------------------------


def find_quantities(sent: Span) -> list[Quantity]:
    """Counts of troops, equipment and casualties in ``sent``, in text order.

    >>> sent = next(nlp()("Up to 200,000 troops and 24 152 mm howitzers.").sents)  # doctest: +SKIP
    >>> [(q.category, q.low, q.high) for q in find_quantities(sent)]  # doctest: +SKIP
    [('troops', 1, 200000), ('artillery_100mm_plus', 24, 24)]
    """
    found: list[Quantity] = []
    i = sent.start
    while i < sent.end:
        number = _number_at(sent, i) if _may_start(sent.doc[i]) else None
        if number is None:
            i += 1
            continue
        quantity = _attach(sent, number)
        if quantity is not None:
            found.append(quantity)
        i = number.end
    found.extend(_implicit_ones(sent, found))
    return sorted(found, key=lambda q: q.span)


# --- numbers -------------------------------------------------------------------------------


def _may_start(tok: Token) -> bool:
    """Can a number phrase start here? A cheap test that skips most words."""
    return tok.lower_ in STARTERS or tok.text[:1].isdigit()


def _number_at(sent: Span, i: int) -> _Number | None:
    """The number phrase starting at token ``i`` (modifiers included), or None."""
    doc = sent.doc
    kind, j = _prefix(sent, i)
    core = _core(sent, j)
    if core is None:
        return None
    if kind in {"between", "from"}:
        ranged = _range_with(sent, i, core, ("and",) if kind == "between" else ("to",))
    else:
        ranged = _range_with(sent, i, core, ("to", "-", "–", "—", "or"))
    if ranged is not None and kind in {None, "approx", "nearly", "between", "from"}:
        # "some 70,000 to 90,000": the range says more than the "some"
        return None if _not_a_count(doc, ranged) else ranged
    if kind in {"between", "from"}:
        return None
    core, kind = _suffix(sent, core, kind)
    if _not_a_count(doc, core):
        return None
    return _apply(core, kind, i)


def _prefix(sent: Span, i: int) -> tuple[str | None, int]:
    """A modifier starting at ``i`` ("more than", "about") and where the number then starts."""
    words = [t.lower_ for t in sent.doc[i : min(i + 4, sent.end)]]
    for key, kind in PREFIXES:
        if tuple(words[: len(key)]) == key:
            return kind, i + len(key)
    return None, i


def _core(sent: Span, i: int) -> _Number | None:
    """A bare amount at ``i``: digits, words, vague plurals, "a dozen", "half a million"."""
    if i >= sent.end:
        return None
    for parse in (_vague, _digits, _words):
        found = parse(sent, i)
        if found is not None:
            return found
    return None


def _digits(sent: Span, i: int) -> _Number | None:
    doc, text = sent.doc, sent.doc[i].text
    if m := _TOKEN_RANGE.match(text):
        low, high = _int(m[1]), _int(m[2])
        return _Number(i, i + 1, low, None, high) if 0 < low < high else None
    if m := _PLUS.match(text):
        n = _int(m[1])
        return _Number(i, i + 1, n, None, None)
    if m := _K.match(text):
        return _Number(i, i + 1, *_point(round(float(m[1]) * 1000)))
    if not _DIGITS.match(text) or re.match(r"^\d{1,3}\.\d{3}$", text):
        return None  # "1.500" may be a European thousand: not read
    value, end = float(text.replace(",", "")), i + 1
    if re.match(r"^\d{1,3}$", text) and end < sent.end and _group_of_three(doc, i):
        value, end = value * 1000 + int(doc[end].text), end + 1  # "12 700"
    scale = SCALES.get(doc[end].lower_) if end < sent.end else None
    if scale is not None and scale >= 1000:
        value, end = value * scale, end + 1
    if value != int(value):
        return _shared_scale(doc, i, end, value)
    return _Number(i, end, *_point(int(value)))


def _shared_scale(doc: Doc, i: int, end: int, value: float) -> _Number | None:
    """ "1.5 to 2 million": a fraction whose scale comes after the second number."""
    if end + 2 < len(doc) and doc[end].lower_ in {"to", "-", "–", "and"}:
        scale = SCALES.get(doc[end + 2].lower_)
        if scale is not None and scale >= 1000 and doc[end + 1].like_num:
            return _Number(i, end, *_point(round(value * scale)))
    return None


def _group_of_three(doc: Doc, i: int) -> bool:
    """Is ``doc[i+1]`` a space-separated thousands group ("12 700"), not a second number?"""
    nxt = doc[i + 1]
    after = doc[i + 2].lower_ if i + 2 < len(doc) else ""
    return (
        bool(re.match(r"^\d{3}$", nxt.text))
        and doc[i].whitespace_ != ""
        and after not in UNITS | {"-", "–"}
        and not after.endswith("mm")
    )


def _words(sent: Span, i: int) -> _Number | None:
    """Number words ("one hundred and fifty thousand", "a thousand", "half a million")."""
    doc = sent.doc
    words = [t.lower_ for t in doc[i : min(i + 12, sent.end)]]
    if words[:3] in (["half", "a", "million"], ["half", "a", "billion"]):
        return _Number(i, i + 3, *_point(SCALES[words[2]] // 2))
    if words[:2] == ["a", "dozen"]:
        return _Number(i, i + 2, *_approx(12))
    if len(words) > 1 and words[0] in {"a", "one"} and words[1] == "dozen":
        return None
    if words[0] == "a" and len(words) > 1 and words[1] in SCALES and words[1] != "k":
        return _Number(i, i + 2, *_point(SCALES[words[1]]))
    n = 0
    while n < len(words) and _is_number_word(words, n):
        n += 1
    while n and words[n - 1] in {"and", "-"}:
        n -= 1
    if n == 0:
        return None
    try:
        value = text2num(" ".join(words[:n]).replace(" - ", "-"), "en")
    except ValueError:
        return None
    return _Number(i, i + n, *_point(int(value)))


def _is_number_word(words: list[str], n: int) -> bool:
    w = words[n]
    if w in WORD_NUMBERS or (w in SCALES and w not in {"k", "mln", "bn"}):
        return True
    # "-" inside a number ("twenty-five"), "and" after a scale ("one hundred and fifty")
    inside = 0 < n < len(words) - 1 and words[n + 1] in WORD_NUMBERS
    return inside and (w == "-" or (w == "and" and words[n - 1] in SCALES))


def _vague(sent: Span, i: int) -> _Number | None:
    """Vague amounts: "tens of thousands", "several hundred", "a few", "dozens"."""
    doc = sent.doc
    words = [t.lower_ for t in doc[i : min(i + 5, sent.end)]]
    if words[:1] == ["many"]:  # "many thousands" is "thousands"
        inner = _vague(sent, i + 1) if i + 1 < sent.end else None
        return None if inner is None else _Number(i, inner.end, inner.low, None, inner.high)
    if words[:2] == ["a", "few"]:  # a bare "few" is "not many", no count
        return _few(sent, i, i + 2, FEW["few"])
    if words[:1] == ["several"]:
        return _few(sent, i, i + 1, FEW["several"])
    if words[:1] and words[0] in VAGUE:
        low, high = VAGUE[words[0]]
        if words[1:3] == ["of", "thousands"] and words[0] in {"tens", "hundreds"}:
            return _Number(i, i + 3, low * 1000, None, high * 1000 + 999)
        return _Number(i, i + 1, low, None, high)
    return None


def _few(sent: Span, i: int, j: int, mult: tuple[int, int]) -> _Number | None:
    """ "several"/"a few" and the unit after them (none: ones)."""
    words = [t.lower_ for t in sent.doc[j : min(j + 3, sent.end)]]
    if words[:3] == ["tens", "of", "thousands"]:
        return _Number(i, j + 3, mult[0] * 10_000, None, 99_999)
    unit = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "dozen": 12}
    scale = unit.get(words[0]) if words else None
    end = j + (1 if scale else 0)
    scale = scale or 1
    return _Number(i, end, mult[0] * scale, None, mult[1] * scale - 1)


def _range_with(sent: Span, i: int, first: _Number, links: tuple[str, ...]) -> _Number | None:
    """``first`` LINK second ("70,000 to 90,000", "two or three", "between 1.5 and 2 million")."""
    if first.best is None or first.end >= sent.end - 1:
        return None
    doc = sent.doc
    link = doc[first.end].lower_
    if link not in links:
        return None
    second = _core(sent, first.end + 1)
    if second is None or second.best is None:
        return None
    if link in {"-", "–", "—"} and doc[first.end - 1].is_digit != doc[first.end + 1].is_digit:
        return None  # "UPDATE 1-Five soldiers": a digit and a word are no range
    low, high = first.best, second.best
    scale = SCALES.get(doc[second.end - 1].lower_, 1)
    if doc[first.end - 1].lower_ not in SCALES and low * scale < high:
        low *= scale  # "between 100 and 120 thousand": the scale is shared
    if not 0 < low < high:
        return None
    return _Number(i, second.end, low, None, high)


def _suffix(sent: Span, core: _Number, kind: str | None) -> tuple[_Number, str | None]:
    """ "100-odd", "100,000 or so", "2,000-plus" after the number."""
    words = [t.lower_ for t in sent.doc[core.end : min(core.end + 2, sent.end)]]
    for tail, k in ((["or", "so"], "approx"), (["-", "odd"], "approx"), (["odd"], "approx"),
                    (["-", "plus"], "more"), (["plus"], "more"), (["+"], "more")):  # fmt: skip
        if words[: len(tail)] == tail and kind is None and core.best is not None:
            return _Number(core.start, core.end + len(tail), core.low, core.best, core.high), k
    return core, kind


def _not_a_count(doc: Doc, n: _Number) -> bool:
    """Years, dates, money, percentages and measures are not counts."""
    toks = doc[n.start : n.end]
    if any(t.ent_type_ in NOT_COUNT_LABELS for t in toks if t.like_num):
        return True
    nxt = doc[n.end] if n.end < len(doc) else None
    if nxt is not None and (nxt.lower_ in UNITS or _CALIBRE.match(nxt.text)):
        return True
    hyphen_unit = n.end + 1 < len(doc) and doc[n.end + 1].lower_ in UNITS | {"old"}
    if nxt is not None and nxt.text == "-" and hyphen_unit:
        return True  # "19-year-old", "50-km"
    prev = doc[n.start - 1].text if n.start > 0 else ""
    if prev in {"$", "€", "£", "#", "No.", "no."} or prev.lower() in WIRE_PREFIXES:
        return True
    if prev.lower().rstrip(".") in MONTH_WORDS or (nxt is not None and nxt.lower_ in MONTH_WORDS):
        return True  # "24 February", "May 7"
    return "," not in toks.text and all(_year_like(v) for v in (n.low, n.high) if v is not None)


def _year_like(value: int) -> bool:
    """1900–2100 written without a separator: a year ("in 2014"), not "2,014 troops"."""
    return 1900 <= value <= 2100


def _apply(core: _Number, kind: str | None, start: int) -> _Number:
    """Widen or bound ``core`` by its modifier; vague amounts keep their own range."""
    n = core.best
    if n is None:
        low, high = core.low, core.high
        bounds = {"more": (low, None), "atleast": (low, None), "upto": (1, high)}
        low, high = bounds.get(kind or "", (low, high))
        return _Number(start, core.end, low, None, high)
    values: dict[str | None, tuple[int, int | None, int | None]] = {
        None: (core.low, n, core.high),
        "approx": _approx(n),
        "nearly": (round(n * 0.9), n, n),
        "more": (n + 1, None, None),
        "atleast": (n, None, None),
        "upto": (1, None, n),
        "fewer": (1, None, n - 1),
    }
    if core.low != core.high and kind is None:  # "a dozen" is already approximate
        return _Number(start, core.end, core.low, core.best, core.high)
    low, best, high = values.get(kind, values[None])
    return _Number(start, core.end, low, best, high)


# --- attaching a number to what it counts --------------------------------------------------


def _attach(sent: Span, n: _Number) -> Quantity | None:
    """The quantity ``n`` counts: the head after it, a casualty word, or a head before it."""
    doc = sent.doc
    if n.end - n.start == 1 and doc[n.start].lower_ in {"one", "1"} and _next_is(doc, n, "of"):
        return None  # "one of the tanks"
    head = _head_after(sent, n)
    if head is not None:
        category, head_end = head
        if category in {"person", "troops"}:
            casualty = _casualty(sent, n, head_end)
            if casualty is not None:
                return _make(doc, n, casualty[0], min(n.start, casualty[1]), casualty[2])
            if category == "person":
                return None
        if _coordinated_without_number(sent, head_end, category):
            return None
        return _make(doc, n, category, n.start, head_end)
    casualty = _casualty(sent, n, n.end)
    if casualty is not None:
        return _make(doc, n, casualty[0], min(n.start, casualty[1]), casualty[2])
    before = _head_before(sent, n)
    if before is not None:
        return _make(doc, n, before[0], before[1], n.end)
    return None


def _next_is(doc: Doc, n: _Number, word: str) -> bool:
    return n.end < len(doc) and doc[n.end].lower_ == word


def _head_after(sent: Span, n: _Number) -> tuple[str, int] | None:
    """The category and end token of the noun ``n`` counts ("150,000 Russian troops")."""
    doc = sent.doc
    i, limit = n.end, min(n.end + 6, sent.end)
    mods: list[Token] = []
    if i < sent.end and doc[i].lower_ == "of":  # "tens of thousands of", "3,000 of its troops"
        i += 1
        if i < sent.end and doc[i].lower_ in {"the", "its", "their", "his", "her", "our", "these"}:
            i += 1
        limit = min(i + 6, sent.end)
    while i < limit:
        tok = doc[i]
        category = _head_category(tok, mods, n)
        if category is not None and not _is_compound_modifier(doc, i, category):
            return category, i + 1
        if category is None and not _modifier(tok):
            return None  # a head used as a modifier ("personnel carriers") lets the scan go on
        mods.append(tok)
        i += 1
    return None


def _modifier(tok: Token) -> bool:
    """May ``tok`` stand between a number and its head noun?"""
    low = tok.lower_
    if low in MODIFIER_NOUNS or _MODEL.match(tok.text) or _CALIBRE.match(tok.text):
        return True
    if tok.like_num:  # a calibre: "152" before "mm"
        nxt = tok.nbor(1) if tok.i + 1 < len(tok.doc) else None
        return nxt is not None and nxt.lower_ in {"mm", "-"}
    return tok.pos_ in {"ADJ", "PROPN"} and tok.is_alpha and low not in NEGATIONS


def _head_category(tok: Token, mods: list[Token], n: _Number) -> str | None:
    """The category ``tok`` names as a head noun after ``mods``, or None."""
    low, words = tok.lower_, {m.lower_ for m in mods}
    if low in TROOP_HEADS or (low == "members" and "service" in words):
        return "troops"
    if low in PERSON_HEADS or (low in PERSON_SINGULAR and n.best == 1 and n.low == n.high):
        return "person"  # counted only when killed or wounded
    if low in FORCE_HEADS:
        return "troops" if "strong" in words else None
    if low in PLAIN_HEADS:
        return PLAIN_HEADS[low]
    if low in SINGULAR_HEADS and n.best == 1 and n.low == n.high:
        return SINGULAR_HEADS[low]
    for pattern, category in _MODEL_HEADS:
        if pattern.match(tok.text):
            return category
    if low in QUALIFIED_HEADS:
        return _qualified(low, mods, _calibre(mods))
    return None


def _qualified(head: str, mods: list[Token], calibre: int | None) -> str | None:
    """Heads that need their modifiers: "armoured vehicles", "artillery pieces", "Grad systems"."""
    words = {m.lower_ for m in mods}
    # "Tornado - S" comes as three tokens: join hyphenated names before matching them.
    names = set(" ".join(m.lower_ for m in mods).replace(" - ", "-").split())
    if head == "mortars":
        return "mortar_120mm" if calibre is None or calibre <= 120 else "artillery_100mm_plus"
    launcher = head in {"launchers", "systems", "complexes", "mlrs"}
    if names & HEAVY_MLRS and launcher:
        return "mlrs_heavy"
    if names & TACTICAL_MISSILES and (launcher or head == "missiles"):
        return "tactical_missile"
    if head == "mlrs" or (launcher and names & MLRS_NAMES):
        return "mlrs"
    if head in {"vehicles", "carriers"}:
        armoured = words & {"armoured", "armored", "combat", "fighting", "personnel"}
        return "acv" if armoured else None
    if head in {"pieces", "systems", "guns", "cannons"}:
        if calibre is not None:
            return "artillery_100mm_plus" if calibre >= 100 else "artillery_under_100mm"
        if words & {"artillery", "self-propelled", "howitzer"}:
            return "artillery_100mm_plus"
    if head == "groups" and ("battalion-tactical" in names or words >= {"battalion", "tactical"}):
        return "btg"
    return None


def _calibre(mods: list[Token]) -> int | None:
    """The calibre among the modifiers: "152 mm", "122-mm", "120mm"."""
    for k, tok in enumerate(mods):
        if m := _CALIBRE.match(tok.text):
            return int(m[1])
        rest = [t.lower_ for t in mods[k + 1 : k + 3]]
        if tok.like_num and tok.text.isdigit() and ("mm" in rest[:1] or rest == ["-", "mm"]):
            return int(tok.text)
    return None


def _is_compound_modifier(doc: Doc, i: int, category: str) -> bool:
    """ "100 troop carriers", "5 tank battalions": the head is itself a modifier."""
    if i + 1 >= len(doc):
        return False
    tok, nxt = doc[i], doc[i + 1]
    if category == "troops" and tok.lower_ == "troop":
        return nxt.lower_ in {"carriers", "transports", "ships"}
    return (
        tok.dep_ == "compound"
        and tok.head.i == i + 1
        and nxt.pos_ == "NOUN"
        and nxt.lower_ not in KILLED | WOUNDED
    )


def _coordinated_without_number(sent: Span, head_end: int, category: str) -> bool:
    """ "1,200 tanks and armoured vehicles": the count may cover both, so it is not reported."""
    doc = sent.doc
    if head_end >= sent.end or doc[head_end].lower_ not in {"and", "or", "&", "/"}:
        return False
    mods: list[Token] = []
    for tok in doc[head_end + 1 : min(head_end + 5, sent.end)]:
        if tok.like_num:
            return False
        other = _head_category(tok, mods, _Number(0, 0, 2, 2, 2))
        if other is not None:
            return other not in {category, "person"}
        if not _modifier(tok):
            return False
        mods.append(tok)
    return False


def _head_before(sent: Span, n: _Number) -> tuple[str, int] | None:
    """ "a force of 30,000", "troops, numbering 100,000", "forces now number about 150,000"."""
    doc = sent.doc
    if n.end < sent.end and (doc[n.end].pos_ in {"NOUN", "PROPN"} or doc[n.end].like_num):
        return None  # the number counts some other noun
    k = n.start - 1
    if k - 1 >= sent.start and doc[k].lower_ == "at" and doc[k - 1].lower_ in ESTIMATED:
        k -= 1  # "troops, estimated at 100,000"
    link = doc[k].lower_ if k >= sent.start else ""
    h = k - 1
    while h > sent.start and (doc[h].text == "," or doc[h].pos_ == "ADV"):
        h -= 1  # "troops, numbering", "forces now number"
    if h >= sent.start and link:
        head = doc[h]
        if head.lower_ in FORCE_HEADS and link == "of" and h == k - 1:
            return "troops", head.i
        category = _head_category(head, [], _Number(0, 0, 2, 2, 2))
        if category is not None and category != "person" and link in COUNT_LINKS:
            return category, head.i
    return _number_of(sent, n)


def _number_of(sent: Span, n: _Number) -> tuple[str, int] | None:
    """ "the number of Russian troops ... at 130,000": a count named earlier in the sentence."""
    doc = sent.doc
    lo = max(sent.start, n.start - 10)
    for i in range(n.start - 2, lo, -1):
        if doc[i].lower_ == "number" and doc[i + 1].lower_ == "of":
            mods: list[Token] = []
            for j in range(i + 2, min(i + 6, n.start)):
                category = _head_category(doc[j], mods, _Number(0, 0, 2, 2, 2))
                if category not in {None, "person"}:
                    gap = doc[j + 1 : n.start]
                    ok = all(not t.like_num and t.text not in {";", ":"} for t in gap)
                    return (category, i) if ok and category is not None else None
                mods.append(doc[j])
    return None


# --- casualties ----------------------------------------------------------------------------


def _casualty(sent: Span, n: _Number, anchor_end: int) -> tuple[str, int, int] | None:
    """("killed"|"wounded", start, end) when ``n`` people are said to be killed or wounded."""
    doc = sent.doc
    for tok in doc[n.end : anchor_end]:  # "5 dead soldiers"
        if tok.lower_ in KILLED | WOUNDED:
            return ("killed" if tok.lower_ in KILLED else "wounded"), n.start, anchor_end
    after = _predicate_after(sent, anchor_end)
    if after is not None:
        return after[0], n.start, after[1]
    before = [t.lower_ for t in doc[max(sent.start, n.start - 2) : n.start]]
    if before in (["death", "of"], ["deaths", "of"]):  # "reports death of three troops"
        return "killed", n.start - 2, anchor_end
    verb = KILL_VERBS.get(before[-1]) if before else None  # "shelling killed five"
    if verb is not None:
        return verb, n.start - 1, anchor_end
    return _death_toll(sent, n, anchor_end)


def _predicate_after(sent: Span, i: int) -> tuple[str, int] | None:
    """ "killed"/"wounded" a few words after token ``i`` ("were reportedly killed"), with its end.

    Other counted people may stand between: "22 civilians, 3 children killed".
    """
    doc, steps = sent.doc, 0
    while i < sent.end and steps < 5:
        low = doc[i].lower_
        if low in KILLED or (low == "shot" and i + 1 < sent.end and doc[i + 1].lower_ == "dead"):
            return "killed", i + (2 if low == "shot" else 1)
        if low in WOUNDED:
            return "wounded", i + 1
        coordinated = _coordinated_people(sent, i)
        if coordinated is not None:
            i = coordinated
        elif low in NEGATIONS or not _casualty_gap(doc[i]):
            return None
        else:
            i += 1
        steps += 1
    return None


def _coordinated_people(sent: Span, i: int) -> int | None:
    """After ", 3 children" or "and a civilian" at ``i``: where it ends; None if not there."""
    doc = sent.doc
    if doc[i].lower_ not in {",", "and"}:
        return None
    j = i + 1
    count = _core(sent, j) if j < sent.end else None
    if count is not None:
        j = count.end
    elif j < sent.end and doc[j].lower_ in {"a", "an", "one"}:
        j += 1
    for k in range(j, min(j + 4, sent.end)):
        low = doc[k].lower_
        if low in PERSON_HEADS or low in PERSON_SINGULAR:
            return k + 1
        if not _modifier(doc[k]):
            return None
    return None


def _casualty_gap(tok: Token) -> bool:
    return tok.lower_ in CASUALTY_GAP or (tok.pos_ == "ADV" and tok.lower_ not in NEGATIONS)


def _death_toll(sent: Span, n: _Number, anchor_end: int) -> tuple[str, int, int] | None:
    """ "the death toll rose to 28", "a death toll of 13"."""
    doc = sent.doc
    window = [t.lower_ for t in doc[max(sent.start, n.start - 6) : n.start]]
    if "toll" not in window:
        return None
    after_toll = window[window.index("toll") + 1 :]
    if any(w in {",", ";", ":", "and"} for w in after_toll):
        return None
    return "killed", n.start - len(after_toll) - 1, anchor_end


def _implicit_ones(sent: Span, found: list[Quantity]) -> list[Quantity]:
    """ "Ukrainian soldier killed", "shelling kills civilian", "another wounded": one each."""
    doc, out = sent.doc, []
    covered = {i for q in found for i in range(q.span[0], q.span[1])}
    for tok in sent:
        if tok.idx in covered:
            continue
        if tok.lower_ == "another":
            casualty = _predicate_after(sent, tok.i + 1)
            start = tok.i
        elif tok.lower_ in PERSON_SINGULAR and tok.tag_ in {"NN", "NNP"} and _bare(tok):
            casualty = _predicate_after(sent, tok.i + 1) or _verb_object(sent, tok)
            start = _np_start(tok)
        else:
            continue
        if casualty is not None:
            one = _Number(start, tok.i + 1, 1, 1, 1)
            out.append(_make(doc, one, casualty[0], min(start, casualty[1]), casualty[1]))
    return out


def _bare(tok: Token) -> bool:
    """A singular noun with no count of its own: "soldier", "a soldier", not "the soldier"."""
    det = [c.lower_ for c in tok.children if c.dep_ in {"det", "nummod", "poss"}]
    return all(d in {"a", "an"} for d in det)


def _verb_object(sent: Span, tok: Token) -> tuple[str, int] | None:
    """ "shelling kills (a) DPR militiaman": a kill verb right before the noun phrase."""
    i = _np_start(tok) - 1
    if i < sent.start:
        return None
    verb = KILL_VERBS.get(sent.doc[i].lower_)
    return (verb, i) if verb is not None else None


def _np_start(tok: Token) -> int:
    """Where the noun phrase of ``tok`` starts ("a Ukrainian soldier")."""
    start = tok.i
    while start - 1 >= tok.sent.start and tok.doc[start - 1].head == tok:
        start -= 1
    return start


# --- helpers -------------------------------------------------------------------------------


def _make(doc: Doc, n: _Number, category: str, start: int, end: int) -> Quantity:
    first, last = doc[min(start, n.start)], doc[max(end, n.end) - 1]
    span = (first.idx, last.idx + len(last.text))
    return Quantity(
        category=category,
        low=n.low,
        best=n.best,
        high=n.high,
        text=doc.text[span[0] : span[1]],
        span=span,
    )


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _point(n: int) -> tuple[int, int, int]:
    return n, n, n


def _approx(n: int) -> tuple[int, int, int]:
    return round(n * 0.9), n, round(n * 1.1)

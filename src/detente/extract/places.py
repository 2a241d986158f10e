"""Places a sentence names, resolved against the shipped gazetteer (no network).

    >>> doc = nlp()("Shelling hit Donetsk and a village near Horlivka, Ukraine.")  # doctest: +SKIP
    >>> [(p.name, p.country, p.kind) for p in find_places(doc[:])]  # doctest: +SKIP
    [('Donetsk', 'UA', 'city'), ('Horlivka', 'UA', 'city'), ('Ukraine', 'UA', 'country')]

A *mention* is a spaCy GPE, LOC or FAC entity, or a run of capitalised words after a location
preposition ("near Belgorod", which the small model often tags ORG). A single word tagged PERSON
or ORG ("Kiev military") counts only when it resolves to a place in a country the sentence or
document names or implies ("Ukrainian"). Common words that are also towns ("Most", "Of",
"Police") and weapon names ("Grad", "Smerch") are never places.

Ambiguous names are resolved by, in order: a country written next to the name ("Donetsk,
Russia"; "Russia's Donetsk"); an oblast the sentence or document names (×100), a country it
names (×10); then population. So "Donetsk" is Ukraine's city of 900,000 unless the text points
to Russia's town of 50,000 on the Rostov side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyproj import Geod
from spacy.tokens import Doc, Span, Token

from detente.extract._gazetteer import Entry, gazetteer, normalise
from detente.extract._types import Place

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
WEAK_LABELS = frozenset({"PERSON", "ORG"})
NOT_PLACE_LABELS = frozenset(
    {"PERSON", "DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"}
)
LOCATION_PREPS = frozenset(
    {"in", "near", "at", "outside", "around", "from", "into", "toward", "towards", "across"}
)
SETTLEMENT_NOUNS = frozenset({"village", "town", "city", "settlement", "district", "raion"})
REGION_WORDS = frozenset({"oblast", "region", "province", "obl"})
# Trailing words dropped when the whole mention is not a known name: "Donetsk airport".
GENERIC_TAILS = frozenset(
    {"airport", "city", "town", "village", "district", "raion", "area", "station", "outskirts"}
)
# Words that are towns somewhere but almost never places in English news of this domain.
NOT_PLACES = frozenset(
    {
        "grad", "uragan", "smerch", "tochka", "tochka u", "iskander", "tornado", "buk", "msta",
        "most", "of", "police", "march", "may", "june", "july", "august", "union", "republic",
        "center", "centre", "north", "south", "east", "west", "central", "mission", "reading",
        "victoria", "president", "minister", "army", "navy", "border", "front", "sunday",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "osce", "nato",
        "un", "eu", "joint", "forces", "command", "staff", "headquarters", "hq", "jfo", "ato",
    }
)  # fmt: skip
#: Adjectives that imply a country (used only to admit one-word PERSON/ORG mentions).
DEMONYMS = {
    "ukrainian": "UA", "russian": "RU", "belarusian": "BY", "moldovan": "MD", "georgian": "GE",
    "polish": "PL", "romanian": "RO", "lithuanian": "LT", "latvian": "LV", "estonian": "EE",
    "kiev": "UA", "kyiv": "UA", "moscow": "RU",
}  # fmt: skip
#: Nouns a place name stands for an actor in front of: "Kiev forces", "Moscow's troops".
ACTOR_NOUNS = frozenset(
    {
        "forces", "force", "military", "army", "troops", "government", "authorities", "officials",
        "side", "command", "regime", "ministry", "leadership", "president", "leader", "leaders",
        "soldiers", "soldier", "servicemen", "serviceman", "militants", "rebels", "separatists",
        "media", "envoy", "officer", "officers", "delegation", "diplomats", "spokesman",
        "administration", "parliament", "court", "police", "prosecutors", "negotiators",
    }
)  # fmt: skip
KIND_ORDER = {"city": 0, "region": 1, "country": 2}
REGION_BOOST, COUNTRY_BOOST = 100.0, 10.0
# Two same-named places more than 50 km apart whose scores differ by less than 3× are not told
# apart: "Novokaterynivka" (several villages of ~1,000) gives no place rather than a wrong one.
AMBIGUITY_RATIO, AMBIGUITY_KM = 3.0, 50.0
SMALL_TOWN, BIG_CITY = 50_000, 100_000
GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class _Context:
    """What a sentence or document says about where it is: countries and Ukrainian oblasts."""

    countries: frozenset[str]
    implied: frozenset[str]  # countries named or implied by a demonym ("Ukrainian")
    oblasts: frozenset[str]


@dataclass(frozen=True)
class _Mention:
    start: int  # token indexes into the Doc
    end: int
    weak: bool  # a one-word PERSON/ORG entity or bare proper noun: needs a country in context
    untagged: bool = False  # a bare proper noun: a city of 100,000+ needs no context


def find_places(sent: Span) -> list[Place]:
    """Places named in ``sent``, most specific first (city, then region, then country).

    >>> sent = next(nlp()("Fighting near Avdiivka in Donetsk Oblast.").sents)  # doctest: +SKIP
    >>> [p.kind for p in find_places(sent)]  # doctest: +SKIP
    ['city', 'region']
    """
    doc_ctx = _doc_context(sent.doc)
    sent_ctx = _context([sent])
    places: dict[tuple[str, str, str], Place] = {}
    for mention in _mentions(sent):
        if _is_actor(sent.doc[mention.start : mention.end]):
            continue
        entry = _resolve(sent.doc, mention, sent_ctx, doc_ctx)
        if entry is None:
            continue
        span = sent.doc[mention.start : mention.end]
        place = Place(
            name=entry.name,
            lon=entry.lon,
            lat=entry.lat,
            text=span.text,
            span=(span.start_char, span.end_char),
            kind=entry.kind,
            country=entry.country,
        )
        places.setdefault((entry.name, entry.country, entry.kind), place)
    return sorted(places.values(), key=lambda p: (KIND_ORDER.get(p.kind, 3), p.span[0]))


def _mentions(sent: Span) -> list[_Mention]:
    """Entity, after-preposition and bare proper-noun mentions, left to right, no overlaps."""
    doc = sent.doc
    taken: set[int] = set()
    found: list[_Mention] = []

    def add(start: int, end: int, weak: bool) -> None:
        found.append(_Mention(start, _extend(doc, end), weak))
        taken.update(range(start, end))

    words = [t for t in sent if not t.is_punct or t.text == "-"]
    if _is_label(words):
        return [_Mention(words[0].i, words[-1].i + 1, weak=False)]
    for ent in sent.ents:
        start = ent.start + (1 if ent[0].lower_ == "the" else 0)
        if start < ent.end and ent.label_ in PLACE_LABELS:
            add(start, ent.end, weak=False)
        elif ent.label_ in WEAK_LABELS and ent.end - start == 1:
            add(start, ent.end, weak=not _after_location_word(doc[start]))
    for tok in sent:
        if tok.i in taken or not _capitalised(tok):
            continue
        end = tok.i
        while end < sent.end and end - tok.i < 4 and _capitalised(doc[end]):
            end += 1
        if any(i in taken for i in range(tok.i, end)):
            continue
        if _after_location_word(tok):
            add(tok.i, end, weak=False)
        elif tok.pos_ == "PROPN" and end - tok.i == 1:
            found.append(_Mention(tok.i, end, weak=True, untagged=True))  # "Shelling hit Donetsk"
            taken.add(tok.i)
    return sorted(found, key=lambda m: m.start)


def _is_label(words: list[Token]) -> bool:
    """Words that are only a name ("Avdiivka", "Donetsk airport"): a dateline or caption."""
    if not 0 < len(words) <= 4 or not words[0].text[:1].isupper():
        return False
    return all(
        t.text[:1].isupper() or t.text == "-" or t.lower_ in REGION_WORDS | GENERIC_TAILS
        for t in words
    )


def _is_actor(span: Span) -> bool:
    """A place name standing for its government or army: "Kiev says", "Kiev forces shelled".

    Also a headline's attribution: "Three soldiers killed in east: Kiev military".
    """
    if _is_attribution(span):
        return True
    root = span.root
    if root.dep_ in {"nsubj", "nsubjpass"} and root.head.pos_ in {"VERB", "AUX"}:
        return True
    return root.dep_ in {"compound", "poss", "amod"} and root.head.lower_ in ACTOR_NOUNS


def _is_attribution(span: Span) -> bool:
    doc, sent = span.doc, span.sent
    before = doc[span.start - 1] if span.start > sent.start else None
    if before is None or before.text not in {":", "-", "–", "—"} or not before.whitespace_:
        return False
    tail = doc[span.end : sent.end]
    return len(tail) <= 3 and all(t.pos_ in {"NOUN", "PROPN", "PUNCT", "ADJ"} for t in tail)


def _capitalised(tok: Token) -> bool:
    # Hyphenated names ("Ivano-Frankivsk") come as three tokens; their "-" joins the run.
    if tok.text == "-" and tok.i > 0 and not tok.whitespace_ and not tok.nbor(-1).whitespace_:
        return True
    return (
        tok.text[:1].isupper()
        and tok.is_alpha
        and not tok.is_stop
        and tok.ent_type_ not in NOT_PLACE_LABELS
    )


def _after_location_word(tok: Token, hops: int = 2) -> bool:
    """``tok`` follows "near", "in the", "the village of", or "near Avdiivka and" …"""
    i = tok.i - 1
    doc = tok.doc
    if i >= 0 and doc[i].lower_ == "the":
        i -= 1
    if i < 0:
        return False
    word = doc[i].lower_
    if word in LOCATION_PREPS:
        return True
    if word in {"and", "or", ","} and hops > 0 and i > 0 and _capitalised(doc[i - 1]):
        first = i - 1
        while first > 0 and _capitalised(doc[first - 1]):
            first -= 1
        return _after_location_word(doc[first], hops - 1)  # "near Zelene and Donetsk"
    return word == "of" and i > 0 and doc[i - 1].lower_ in SETTLEMENT_NOUNS | REGION_WORDS


def _extend(doc: Doc, end: int) -> int:
    """Take in a following "Oblast"/"region" so the region, not its capital, is looked up."""
    if end < len(doc) and doc[end].lower_ in REGION_WORDS:
        return end + 1
    return end


def _resolve(doc: Doc, m: _Mention, sent_ctx: _Context, doc_ctx: _Context) -> Entry | None:
    candidates = _candidates(doc[m.start : m.end])
    if not candidates:
        return None
    if m.weak:
        # A curated region name ("Donbass") is safe; a one-word town name must fit the context.
        implied = sent_ctx.implied | doc_ctx.implied
        candidates = [
            e
            for e in candidates
            if e.kind == "region" or e.country in implied or (m.untagged and _big_city(e))
        ]
        if not candidates:
            return None
    countries = [e for e in candidates if e.kind == "country"]
    if countries:
        return countries[0]
    near = _adjacent_country(doc, m)
    if near:
        candidates = [e for e in candidates if e.country == near] or candidates
    ranked = sorted(candidates, key=lambda e: -_score(e, sent_ctx, doc_ctx))
    if len(ranked) > 1 and _too_close(ranked[0], ranked[1], sent_ctx, doc_ctx):
        return None  # several villages of that name and nothing to choose: better none
    best = ranked[0]
    if best.kind == "city" and best.population < SMALL_TOWN and sent_ctx.oblasts:
        # "near X in Donetsk Oblast" where the only X is a village elsewhere: not that X
        return best if best.region in sent_ctx.oblasts else None
    return best


def _too_close(best: Entry, second: Entry, sent_ctx: _Context, doc_ctx: _Context) -> bool:
    """Is the runner-up, far away, nearly as likely as the best candidate?"""
    if _score(best, sent_ctx, doc_ctx) >= AMBIGUITY_RATIO * _score(second, sent_ctx, doc_ctx):
        return False
    metres: float = GEOD.inv(best.lon, best.lat, second.lon, second.lat)[2]
    return metres > AMBIGUITY_KM * 1000


def _candidates(span: Span) -> list[Entry]:
    """Entries for the mention's text, or for it without a generic tail ("… airport")."""
    words = [t.text for t in span]
    while words:
        key = normalise(" ".join(words).replace(" - ", "-"))
        if key in NOT_PLACES or len(key) < 3:
            return []
        found = gazetteer().lookup(key)
        if found:
            return found
        if words[-1].lower() not in GENERIC_TAILS:
            return []
        words = words[:-1]
    return []


def _score(e: Entry, sent_ctx: _Context, doc_ctx: _Context) -> float:
    score = float(max(e.population, 1))
    if e.region and e.region in sent_ctx.oblasts | doc_ctx.oblasts:
        score *= REGION_BOOST
    if e.country in sent_ctx.countries | doc_ctx.countries:
        score *= COUNTRY_BOOST
    return score


def _adjacent_country(doc: Doc, m: _Mention) -> str:
    """The country written right next to a mention: "Donetsk, Russia" or "Russia's Donetsk"."""
    probes = []
    if m.end + 1 < len(doc) and doc[m.end].text == ",":
        probes.append(doc[m.end + 1])
    if m.start >= 2 and doc[m.start - 1].lower_ in {"'s", "’s"}:
        probes.append(doc[m.start - 2])
    for tok in probes:
        hits = [e for e in gazetteer().lookup(tok.text) if e.kind == "country"]
        if hits:
            return hits[0].country
    return ""


def _context(sents: Iterable[Span]) -> _Context:
    """Countries and oblasts that ``sents`` name, and countries their demonyms imply."""
    countries: set[str] = set()
    implied: set[str] = set()
    oblasts: set[str] = set()
    for sent in sents:
        for m in _mentions(sent):
            top = None if m.weak else next(iter(_candidates(sent.doc[m.start : m.end])), None)
            if top is not None and top.kind == "country":
                countries.add(top.country)
            elif top is not None and top.region and _anchors_oblast(top):
                oblasts.add(top.region)
        implied.update(DEMONYMS[t.lower_] for t in sent if t.lower_ in DEMONYMS)
    return _Context(frozenset(countries), frozenset(countries | implied), frozenset(oblasts))


def _anchors_oblast(e: Entry) -> bool:
    """An oblast named, or a city big enough to say which oblast the text is about."""
    return e.kind == "region" or _big_city(e)


def _big_city(e: Entry) -> bool:
    return e.kind == "city" and e.population >= BIG_CITY


def _doc_context(doc: Doc) -> _Context:
    """The document's context, computed once per Doc (kept in ``doc.user_data``)."""
    key = "detente.places.context"
    if key not in doc.user_data:
        doc.user_data[key] = _context(doc.sents)
    ctx: _Context = doc.user_data[key]
    return ctx

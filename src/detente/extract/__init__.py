"""Extract: turn document text into claims (who did what, how many, where, when).

    >>> claims = extract_claims("On Sunday Russia massed 100,000 troops near Belgorod.",
    ...                         doc="doc-1", published=date(2022, 1, 30))  # doctest: +SKIP
    >>> claims[0].event_type, claims[0].quantities[0].best, claims[0].place.name  # doctest: +SKIP
    ('MOBILIZE', 100000, 'Belgorod')

The pipeline is spaCy's small English model with rules over its output: the event typer
(:mod:`.events`), quantities (:mod:`.quantities`), places from the shipped gazetteer
(:mod:`.places`) and times resolved against the publication date (:mod:`.times`). Nothing here
stores anything; :mod:`detente.store` keeps documents, claims and their review.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import TYPE_CHECKING

from detente.extract._nlp import nlp
from detente.extract._types import Claim, EventGuess, Modality, Place, Quantity, TimeRef

if TYPE_CHECKING:  # spaCy loads only when text is parsed, not when claim types are imported
    from spacy.tokens import Doc, Span

__all__ = [
    "Claim",
    "EventGuess",
    "Modality",
    "Place",
    "Quantity",
    "TimeRef",
    "extract_claims",
    "extract_many",
    "nlp",
]


def extract_claims(text: str, doc: str, published: date | None = None) -> list[Claim]:
    """Every claim of one document, in text order."""
    return _claims(nlp()(text), doc, published)


def extract_many(
    docs: Iterable[tuple[str, str, date | None]], batch_size: int = 32
) -> Iterator[tuple[str, list[Claim]]]:
    """``(doc id, claims)`` for each ``(doc id, text, published)``, parsed in batches."""
    items = list(docs)
    parsed = nlp().pipe((text for _, text, _ in items), batch_size=batch_size)
    for (doc_id, _, published), parsed_doc in zip(items, parsed, strict=True):
        yield doc_id, _claims(parsed_doc, doc_id, published)


def _claims(parsed: Doc, doc_id: str, published: date | None) -> list[Claim]:
    return [c for sent in parsed.sents if (c := _claim(sent, doc_id, published)) is not None]


def _claim(sent: Span, doc_id: str, published: date | None) -> Claim | None:
    from detente.extract.events import analyse
    from detente.extract.places import find_places
    from detente.extract.quantities import find_quantities
    from detente.extract.times import resolve_time

    analysis = analyse(sent)
    guess = analysis.guess
    if guess.event_type is None or analysis.plover is None:
        return None
    places = find_places(sent)
    text = sent.text.rstrip()  # the blank line after a paragraph is not part of the claim
    return Claim(
        doc=doc_id,
        span=(sent.start_char, sent.start_char + len(text)),
        sentence=text,
        # The PLOVER code is what the accuracy benchmark scores; the action keeps what the
        # sentence says would be done ("would pull back": AGREE to a RETREAT, as intent).
        event_type=analysis.plover,
        action=guess.event_type,
        modality=guess.modality,
        actor=guess.actor,
        target=guess.target,
        quantities=tuple(find_quantities(sent)),
        place=places[0] if places else None,
        time=resolve_time(sent, published),
        confidence=guess.confidence,
        trigger=guess.trigger,
    )

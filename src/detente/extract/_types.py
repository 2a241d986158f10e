"""The records extraction produces: claims and their parts (plain frozen dataclasses)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: What a sentence does with its event: reports it happened or is happening ("observed"),
#: restates a rule or obligation ("rule"), or speaks of a plan, threat, possibility or denial
#: ("intent"). Only "observed" claims can become observations.
Modality = Literal["observed", "rule", "intent"]


@dataclass(frozen=True)
class Quantity:
    """A count of troops or equipment: ``"tens of thousands of troops"`` → 20,000..99,999.

    ``best`` is None for ranges and vague or bounded amounts; ``high`` is None when there is no
    upper bound ("more than 2,000": low 2,001).
    """

    category: str  # troops | tank | acv | artillery_100mm_plus | mlrs | mortar_120mm | aircraft …
    low: int
    best: int | None
    high: int | None
    text: str
    span: tuple[int, int]  # character offsets into the document text


@dataclass(frozen=True)
class Place:
    """A named place resolved against the shipped gazetteer (no network)."""

    name: str
    lon: float
    lat: float
    text: str
    span: tuple[int, int]
    kind: str = "city"  # city | region | country
    country: str = ""  # ISO 3166 alpha-2


@dataclass(frozen=True)
class TimeRef:
    """A time the sentence speaks of, resolved against the publication date (UTC days)."""

    start: str  # ISO date
    end: str  # ISO date (== start for a single day)
    text: str
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class EventGuess:
    """What the event typer says about one sentence."""

    event_type: str | None  # a PLOVER category, or None when the sentence reports no event
    modality: Modality
    actor: str | None
    target: str | None
    confidence: float  # 0..1
    trigger: str = ""  # the word that decided the type (for explanations)


@dataclass(frozen=True)
class Claim:
    """One event a document states, with where it says it and what it rests on."""

    doc: str
    span: tuple[int, int]
    sentence: str
    event_type: str  # PLOVER category under the PLOVER coding conventions
    modality: Modality
    actor: str | None
    target: str | None
    quantities: tuple[Quantity, ...] = ()
    place: Place | None = None
    time: TimeRef | None = None
    confidence: float = 0.0
    trigger: str = ""
    action: str = ""  # the typer's own category of the act itself (see extract.events)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``detente extract --format jsonl``."""
        out = asdict(self)
        out.pop("extra")
        out["span"] = list(self.span)
        for q in out["quantities"]:
            q["span"] = list(q["span"])
        if out["place"]:
            out["place"]["span"] = list(out["place"]["span"])
        if out["time"] and out["time"]["span"]:
            out["time"]["span"] = list(out["time"]["span"])
        return out

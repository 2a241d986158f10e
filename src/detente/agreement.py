"""Agreements as code: the YAML format, its pydantic models, and loading with precise errors.

    >>> from detente.agreement import load_agreement
    >>> ag = load_agreement("examples/minsk2/agreement.yaml")   # doctest: +SKIP
    >>> [o.id for o in ag.obligations]                             # doctest: +SKIP
    ['ceasefire', 'heavy_artillery_withdrawal', ...]

Every error names the file, line and column and says what was expected; see
``docs/agreement-format.md`` for the format itself.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from detente._yaml import Positions, YamlError, load_with_positions, locate
from detente.errors import InputError, Problem

Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Reliability = Literal["A", "B", "C", "D", "E", "F"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Window(str, enum.Enum):
    """How findings are cut in time: one finding per party per window."""

    day = "day"
    week = "week"
    month = "month"
    year = "year"
    whole = "whole"


class Status(str, enum.Enum):
    """The five answers Detente gives for an obligation, a party and a window."""

    compliant = "compliant"
    violation = "violation"
    unverified = "unverified"
    pending = "pending"
    inactive = "inactive"


class GradeThreshold(_Strict):
    """Evidence graded at or above both marks can establish a violation (Admiralty code)."""

    reliability: Reliability = "C"
    credibility: int = Field(3, ge=1, le=6)


class ClaimPolicy(_Strict):
    """When claims extracted from documents count as evidence without a reviewer's accept."""

    accept_grade: GradeThreshold | None = Field(
        None, description="pending claims from documents graded at or above this count"
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="…and scored at least this")


class Source(_Strict):
    id: Ident
    title: str = Field(min_length=1)
    url: str | None = None
    date: str | None = None
    note: str | None = None


class Citation(_Strict):
    """Where in a source the clause stands: ``{ref: pom, article: "point 2"}``."""

    ref: Ident
    article: str | None = None


class Party(_Strict):
    id: Ident
    name: str = Field(min_length=1)
    side: Ident | None = Field(None, description="zone id of the territory this party holds")
    aliases: list[str] = Field(
        default_factory=list,
        description="other names for the party in reports (e.g. 'Russian'), for claims' actors",
    )


class Category(_Strict):
    label: str = Field(min_length=1)
    note: str | None = None


class Definitions(_Strict):
    categories: dict[Ident, Category] = Field(default_factory=dict)


class Band(_Strict):
    """Points on ``side`` whose distance from ``line`` is in ``[from_km, to_km]``."""

    line: Ident
    side: Ident
    from_km: float = Field(0.0, ge=0)
    to_km: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.to_km <= self.from_km:
            raise ValueError(f"to_km ({self.to_km}) must be greater than from_km ({self.from_km})")
        return self


class Buffer(_Strict):
    zone: Ident
    km: float = Field(gt=0)


ZONE_FORMS = ("file", "band", "buffer", "union", "difference", "intersection")


class ZoneSpec(_Strict):
    """A named geometry: given in a GeoJSON file, or derived from other zones."""

    label: str | None = None
    file: str | None = None
    where: dict[str, str | int | float] | None = Field(
        None, description="keep only features whose properties equal these values"
    )
    band: Band | None = None
    buffer: Buffer | None = None
    union: list[Ident] | None = Field(None, min_length=1)
    difference: list[Ident] | None = Field(None, min_length=2)
    intersection: list[Ident] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _exactly_one_form(self) -> ZoneSpec:
        given = [f for f in ZONE_FORMS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a zone needs exactly one of {', '.join(ZONE_FORMS)}; got {given or 'none'}"
            )
        if self.where is not None and self.file is None:
            raise ValueError("'where' filters features of a 'file' zone only")
        return self

    @property
    def form(self) -> str:
        return next(f for f in ZONE_FORMS if getattr(self, f) is not None)

    def references(self) -> list[str]:
        """Ids of the zones this one is derived from."""
        if self.band is not None:
            return [self.band.line, self.band.side]
        if self.buffer is not None:
            return [self.buffer.zone]
        return list(self.union or self.difference or self.intersection or [])


class Effective(_Strict):
    """When an obligation binds: from ``from`` (inclusive) until ``until`` (exclusive)."""

    start: datetime = Field(alias="from")
    until: datetime | None = None


class FindingTrigger(_Strict):
    obligation: Ident
    status: Status = Status.violation
    party: Ident | None = None


class Trigger(_Strict):
    """``when:``: the obligation is inactive until the trigger fires."""

    date: datetime | None = None
    finding: FindingTrigger | None = None

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        if (self.date is None) == (self.finding is None):
            raise ValueError("a trigger needs exactly one of 'date' or 'finding'")
        return self


class _ObligationBase(_Strict):
    id: Ident
    title: str | None = None
    clause: str = Field(min_length=1, description="the treaty text this obligation encodes")
    source: Citation
    bearers: list[Ident] = Field(min_length=1)
    effective: Effective
    window: Window | None = None
    when: Trigger | None = None
    note: str | None = None


class Ceasefire(_ObligationBase):
    """No fire by a bearer inside ``zone`` while the obligation is in effect."""

    kind: Literal["ceasefire"]
    zone: Ident
    fire_kinds: list[str] = Field(default_factory=lambda: ["fire"])


class ExclusionZone(_ObligationBase):
    """No equipment of ``categories`` inside each bearer's own zone (``zones: {party: zone}``)."""

    kind: Literal["exclusion_zone"]
    categories: list[Ident] = Field(min_length=1)
    zones: dict[Ident, Ident] = Field(min_length=1)


class ResponseDeadline(_ObligationBase):
    """Hotline messages to a bearer acknowledged within ``hours`` of being sent (Vienna Document
    2011 ch. III: 48 hours); messages from ``from_parties`` only, if given, else from anyone."""

    kind: Literal["response_deadline"]
    hours: float = Field(gt=0, allow_inf_nan=False, description="time allowed to acknowledge")
    from_parties: list[Ident] | None = Field(
        None, min_length=1, description="whose messages count (default: any party but the bearer)"
    )


Obligation = Annotated[Ceasefire | ExclusionZone | ResponseDeadline, Field(discriminator="kind")]


class Agreement(_Strict):
    """One agreement file. Build it with :func:`load_agreement`, which also checks references."""

    detente: Literal[1] = Field(1, description="version of the agreement file format")
    id: Ident
    title: str = Field(min_length=1)
    version: str = Field(min_length=1)
    timezone: str = "UTC"
    crs: str = Field(
        "auto", description="'auto' (a transverse Mercator fitted to the zones) or a CRS"
    )
    window: Window = Window.month
    grade_threshold: GradeThreshold = Field(default_factory=GradeThreshold)
    max_place_uncertainty_km: float = Field(10.0, ge=0)
    claims: ClaimPolicy | None = Field(
        None, description="claims from documents: only accepted ones count unless this says so"
    )
    sources: list[Source] = Field(min_length=1)
    parties: list[Party] = Field(min_length=1)
    definitions: Definitions = Field(default_factory=Definitions)
    zones: dict[Ident, ZoneSpec] = Field(default_factory=dict)
    obligations: list[Obligation] = Field(min_length=1)

    _path: Path = PrivateAttr(default=Path("<memory>"))
    _positions: Positions = PrivateAttr(default_factory=dict)
    _sha256: str = PrivateAttr(default="")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Kyiv')") from exc
        return value

    @model_validator(mode="after")
    def _localise_naive_times(self) -> Agreement:
        # A date written without an offset means local time where the agreement applies.
        tz = ZoneInfo(self.timezone)
        for ob in self.obligations:
            ob.effective.start = _aware(ob.effective.start, tz)
            if ob.effective.until is not None:
                ob.effective.until = _aware(ob.effective.until, tz)
            if ob.when is not None and ob.when.date is not None:
                ob.when.date = _aware(ob.when.date, tz)
        return self

    @property
    def path(self) -> Path:
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent

    @property
    def sha256(self) -> str:
        """Hash of the agreement file and every geometry file it reads."""
        return self._sha256

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def party_ids(self) -> list[str]:
        return [p.id for p in self.parties]

    def obligation(self, obligation_id: str) -> Obligation:
        return next(o for o in self.obligations if o.id == obligation_id)

    def window_of(self, ob: _ObligationBase) -> Window:
        return ob.window or self.window

    def problem(self, loc: tuple[str | int, ...], message: str) -> Problem:
        """A :class:`Problem` pointing at ``loc`` in this agreement's file."""
        field, position = locate(loc, self._positions)
        line, col = position if position else (None, None)
        return Problem(str(self._path), field, message, line, col)


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def load_agreement(path: str | Path, *, check_geometry: bool = True) -> Agreement:
    """Read, validate and cross-check an agreement file; raise :class:`InputError` if bad."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), "", f"cannot read agreement: {exc}")]) from exc
    try:
        data, positions = load_with_positions(text)
    except YamlError as exc:
        raise InputError([Problem(str(path), "", str(exc), exc.line, exc.column)]) from exc
    if not isinstance(data, dict):
        raise InputError(
            [Problem(str(path), "", "expected a mapping at the top of the file", 1, 1)]
        )
    try:
        agreement = Agreement.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems_from_pydantic(exc, path, positions)) from exc
    agreement._path = path
    agreement._positions = positions
    problems = [agreement.problem(loc, msg) for loc, msg in _reference_errors(agreement)]
    if problems:
        raise InputError(problems)
    agreement._sha256 = _hash_inputs(agreement, text.encode("utf-8"))
    if check_geometry:
        from detente.zones import build_zones  # geometry is checked where it is built

        build_zones(agreement)
    return agreement


def _problems_from_pydantic(
    exc: ValidationError, path: Path, positions: Positions
) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        field, position = locate(tuple(err["loc"]), positions)
        message = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            shown = repr(err["input"])
            message += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see docs/agreement-format.md)"
        line, col = position if position else (None, None)
        problems.append(Problem(str(path), field, message, line, col))
    return problems


def _duplicates(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    return {i for i in ids if i in seen or seen.add(i)}  # type: ignore[func-returns-value]


def _reference_errors(ag: Agreement) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Cross-references a schema cannot check: every id used must be defined, once."""
    parties, sources = set(ag.party_ids()), {s.id for s in ag.sources}
    for name, ids in (
        ("parties", ag.party_ids()),
        ("sources", [s.id for s in ag.sources]),
        ("obligations", [o.id for o in ag.obligations]),
    ):
        for dup in sorted(_duplicates(ids)):
            yield (name,), f"id {dup!r} is defined more than once"
    for i, party in enumerate(ag.parties):
        if party.side is not None and party.side not in ag.zones:
            yield ("parties", i, "side"), _unknown("zone", party.side, ag.zones)
    yield from _zone_reference_errors(ag)
    categories = ag.definitions.categories
    obligation_ids = {o.id for o in ag.obligations}
    for i, ob in enumerate(ag.obligations):
        at: tuple[str | int, ...] = ("obligations", i)
        if ob.source.ref not in sources:
            yield (*at, "source", "ref"), _unknown("source", ob.source.ref, sources)
        for j, bearer in enumerate(ob.bearers):
            if bearer not in parties:
                yield (*at, "bearers", j), _unknown("party", bearer, parties)
        if ob.effective.until is not None and ob.effective.until <= ob.effective.start:
            yield (*at, "effective", "until"), "must be later than 'from'"
        if ob.when is not None and ob.when.finding is not None:
            target = ob.when.finding.obligation
            if target not in obligation_ids or target == ob.id:
                yield (
                    (*at, "when", "finding", "obligation"),
                    _unknown("other obligation", target, obligation_ids - {ob.id}),
                )
        if isinstance(ob, ResponseDeadline):
            for j, sender in enumerate(ob.from_parties or []):
                if sender not in parties:
                    yield (*at, "from_parties", j), _unknown("party", sender, parties)
        if isinstance(ob, Ceasefire) and ob.zone not in ag.zones:
            yield (*at, "zone"), _unknown("zone", ob.zone, ag.zones)
        if isinstance(ob, ExclusionZone):
            for j, cat in enumerate(ob.categories):
                if cat not in categories:
                    yield (*at, "categories", j), _unknown("category", cat, categories)
            for holder, zone in ob.zones.items():
                if holder not in ob.bearers:
                    yield (*at, "zones", holder), f"{holder!r} is not a bearer of this obligation"
                elif zone not in ag.zones:
                    yield (*at, "zones", holder), _unknown("zone", zone, ag.zones)
            for bearer in ob.bearers:
                if bearer not in ob.zones:
                    yield (*at, "zones"), f"no zone given for bearer {bearer!r}"


def _zone_reference_errors(ag: Agreement) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for zid, spec in ag.zones.items():
        for ref in spec.references():
            if ref not in ag.zones:
                yield ("zones", zid, spec.form), _unknown("zone", ref, ag.zones)
    # Derived zones must not depend on themselves.
    state: dict[str, int] = {}

    def cyclic(zid: str) -> bool:
        if state.get(zid) == 1:
            return True
        if state.get(zid) == 2 or zid not in ag.zones:
            return False
        state[zid] = 1
        found = any(cyclic(r) for r in ag.zones[zid].references())
        state[zid] = 2
        return found

    for zid in ag.zones:
        if state.get(zid) is None and cyclic(zid):
            yield ("zones", zid), "zone is derived from itself (a cycle of references)"


def _unknown(what: str, value: str, known: Any) -> str:
    names = ", ".join(sorted(known)) or "none defined"
    return f"unknown {what} {value!r} (expected one of: {names})"


def _hash_inputs(ag: Agreement, text: bytes) -> str:
    digest = hashlib.sha256(text)
    for zid in sorted(ag.zones):
        spec = ag.zones[zid]
        if spec.file is not None:
            file = ag.base_dir / spec.file
            if file.is_file():
                digest.update(zid.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()

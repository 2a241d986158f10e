"""The periodic report's content: what the evidence shows in a period, against the period before.

    >>> span = parse_period("2017-03-01..2017-03-31", "Europe/Kyiv")
    >>> str(span), str(span.previous()), span.days
    ('2017-03-01..2017-03-31', '2017-01-29..2017-02-28', 31)
    >>> findings = evaluate(agreement, evidence, span.as_of)                 # doctest: +SKIP
    >>> report = build_periodic_report(agreement, evidence, findings, span)  # doctest: +SKIP

Two sources, never mixed up:

* **statuses** come from the engine's findings (evaluated as of the end of the period), those
  whose windows overlap the period: nothing here decides whether something is a violation;
* **counts** come from the observations themselves, each at its given point and local day: fire
  inside a ceasefire's zone while it binds, equipment records that exclusion-zone findings cite,
  and freedom-of-movement restrictions (kind ``incident``, category ``restriction``).

The previous period has the same number of days and ends the day before the period starts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from detente import __version__
from detente.agreement import Agreement, Ceasefire, ExclusionZone, Status, Trigger
from detente.errors import InputError, Problem
from detente.findings import STATUS_ORDER, Finding, FindingsReport
from detente.report._places import MAX_KM, nearest_places
from detente.zones import ZoneSet, build_zones

__all__ = [
    "LAYERS",
    "OUTSIDE",
    "Period",
    "PeriodicReport",
    "TriggerRow",
    "build_periodic_report",
    "parse_period",
]

THIS, PREVIOUS = "this", "previous"
#: Area of a record in none of the parties' areas (see :func:`area_zone_ids`).
OUTSIDE = "outside the parties' areas"
#: How a freedom-of-movement restriction is recorded (docs/evidence-format.md).
RESTRICTION_KIND, RESTRICTION_CATEGORY = "incident", "restriction"
#: What each record in the period is on the map, in drawing order (the last on top).
LAYERS = (
    "other record", "restriction", "ceasefire violation", "weapons: unverified",
    "weapons: violation",
)  # fmt: skip
#: Statuses under which an exclusion-zone finding's evidence shows weapons inside a zone.
_WEAPON_STATUSES = (Status.violation, Status.unverified)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]


# ---------------------------------------------------------------------------------- the period


@dataclass(frozen=True)
class Period:
    """Calendar days ``first..last`` (both included) in the time zone ``timezone``."""

    first: date
    last: date
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> datetime:
        """Midnight starting the first day (inclusive)."""
        return datetime.combine(self.first, time.min, self.tz)

    @property
    def end(self) -> datetime:
        """Midnight after the last day (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time.min, self.tz)

    @property
    def as_of(self) -> datetime:
        """The end of the last day, as ``--as-of LAST`` means it."""
        return datetime.combine(self.last, time.max, self.tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The same number of days, ending the day before this period starts."""
        return Period(
            self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.timezone
        )

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        """Whether ``[start, end)`` (``end`` None: open) shares any instant with the period."""
        return start < self.end and (end is None or end > self.start)

    def __str__(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


def parse_period(text: str, timezone: str) -> Period:
    """``FIRST..LAST`` as ISO dates, both days included, in ``timezone``; else an
    :class:`InputError` naming ``--period``.

    >>> parse_period("2017-03-01..2017-03-31", "UTC").days
    31
    >>> try:
    ...     parse_period("2017-03-31..2017-03-01", "UTC")
    ... except InputError as exc:
    ...     print(exc.problems[0].field, exc.problems[0].message)
    --period the period ends (2017-03-01) before it starts (2017-03-31)
    """
    first, sep, last = text.strip().partition("..")
    if not sep:
        raise _period_problem(
            f"{text!r} is not a period: write FIRST..LAST as ISO dates, e.g. 2017-03-01..2017-03-31"
        )
    first_day, last_day = _day(first), _day(last)
    if last_day < first_day:
        raise _period_problem(f"the period ends ({last_day}) before it starts ({first_day})")
    return Period(first_day, last_day, timezone)


def _day(text: str) -> date:
    """One end of a period: exactly YYYY-MM-DD (no week dates or compact forms)."""
    value = text.strip()
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _period_problem(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _period_problem(message: str) -> InputError:
    return InputError([Problem("<command line>", "--period", message)])


# ---------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class TriggerRow:
    """A conditional obligation whose trigger fired by the end of the period."""

    obligation: str
    title: str
    condition: str  # "violation of cf by east", "the date 2020-03-01 00:00"
    fired_at: datetime
    in_period: bool  # fired during the period (else before it)
    statuses: str  # "west: violation; east: unverified" over the period's findings


@dataclass(frozen=True, eq=False)
class PeriodicReport:
    """Everything a periodic report shows, computed once; renderers only format it.

    Tables are DataFrames with these columns (times are UTC; renderers show them in
    :attr:`Period.timezone`):

    * ``status_table``: index obligation id; one column per status (``STATUS_ORDER``): the number
      of the period's findings with that status;
    * ``ceasefire``: ``area, type, this, previous, change``; ``ceasefire_by_region``: ``region,
      this, previous, change`` (``region``: the oblast of the nearest named place);
    * ``weapons``: one row per (exclusion-zone obligation, cited record) in the period:
      ``obligation, status, time, actor, category, count, distance_km, area, place, region,
      grade, id``; ``weapons_summary``: ``obligation, category, this, previous, change``
      (distinct records);
    * ``restrictions``: ``time, actor, area, place, region, note, grade, id``;
    * ``daily``: one row per day of the period: ``date``, then ``<what>_this`` and
      ``<what>_previous`` for ``ceasefire``, ``weapons`` and ``restrictions`` (the previous
      period's day of the same number);
    * ``points``: the period's records that have a place: ``lon, lat, layer`` (:data:`LAYERS`).
    """

    agreement_id: str
    agreement_title: str
    agreement_version: str
    agreement_sha256: str
    obligation_kinds: dict[str, str]  # obligation id -> kind, in the agreement's order
    period: Period
    previous: Period
    as_of: datetime
    evidence_total: int  # records the engine saw (time <= as_of)
    evidence_sha256: str
    evidence_in_period: int
    evidence_in_previous: int
    findings: tuple[Finding, ...]  # the findings whose windows overlap the period
    status_counts: dict[Status, int]
    status_table: pd.DataFrame
    ceasefire: pd.DataFrame
    ceasefire_by_region: pd.DataFrame
    ceasefire_places: tuple[tuple[str, int], ...]  # most frequent nearest places this period
    weapons: pd.DataFrame
    weapons_summary: pd.DataFrame
    weapon_records: int  # distinct records cited this period
    weapon_records_previous: int
    restrictions: pd.DataFrame
    restrictions_previous: int
    triggers: tuple[TriggerRow, ...]
    daily: pd.DataFrame
    points: pd.DataFrame
    headline: str
    detente_version: str = __version__

    @property
    def ceasefire_total(self) -> int:
        return int(self.ceasefire["this"].sum())

    @property
    def ceasefire_total_previous(self) -> int:
        return int(self.ceasefire["previous"].sum())


def build_periodic_report(
    agreement: Agreement, evidence: pd.DataFrame, findings: FindingsReport, period: Period
) -> PeriodicReport:
    """The report for ``period`` from the observations and the findings evaluated on them
    (as of :attr:`Period.as_of`, so that windows up to the end of the period are judged)."""
    zones = build_zones(agreement)
    previous = period.previous()
    in_period = tuple(f for f in findings.findings if period.overlaps(f.window_start, f.window_end))
    cited = _cited(agreement, findings.findings, previous.start, period.end)
    records = _records(agreement, zones, evidence, cited, period)
    this = records["which"].eq(THIS).to_numpy(dtype=bool)
    weapons = _weapons(agreement, zones, records, cited)
    counts = Counter(f.status for f in in_period)
    cf = records[records["ceasefire"]]
    restrictions = records[records["restriction"]]
    report = PeriodicReport(
        agreement_id=agreement.id,
        agreement_title=agreement.title,
        agreement_version=agreement.version,
        agreement_sha256=findings.agreement_sha256,
        obligation_kinds={ob.id: ob.kind for ob in agreement.obligations},
        period=period,
        previous=previous,
        as_of=findings.as_of,
        evidence_total=findings.evidence_count,
        evidence_sha256=findings.evidence_sha256,
        evidence_in_period=int(this.sum()),
        evidence_in_previous=int((~this).sum()),
        findings=in_period,
        status_counts={s: counts.get(s, 0) for s in STATUS_ORDER},
        status_table=_status_table(agreement, in_period),
        ceasefire=_compare(cf, ["area", "type"], order={"area": _area_labels(agreement)}),
        ceasefire_by_region=_compare(
            cf.assign(region=cf["region"].replace("", "unknown")), ["region"], by_count=True
        ),
        ceasefire_places=_top_places(cf[cf["which"] == THIS]),
        weapons=weapons[weapons["which"] == THIS].drop(columns="which").reset_index(drop=True),
        weapons_summary=_compare(
            weapons.drop_duplicates(["obligation", "id"]), ["obligation", "category"]
        ),
        weapon_records=int(records["weapon"][this].sum()),
        weapon_records_previous=int(records["weapon"][~this].sum()),
        restrictions=_restriction_rows(restrictions[restrictions["which"] == THIS]),
        restrictions_previous=int((restrictions["which"] == PREVIOUS).sum()),
        triggers=_triggers(agreement, findings.findings, in_period, period),
        daily=_daily(records, period),
        points=_points(records[this]),
        headline="",
    )
    return _with_headline(report)


# ---------------------------------------------------------------------------------- records


def area_zone_ids(agreement: Agreement) -> list[str]:
    """The zones that say where a record is: each party's ``side`` (its territory), or, when no
    party has one, the ceasefires' zones. The first that contains a record names its area."""
    sides = [p.side for p in agreement.parties if p.side]
    if not sides:
        sides = [ob.zone for ob in agreement.obligations if isinstance(ob, Ceasefire)]
    return list(dict.fromkeys(sides))


def zone_name(agreement: Agreement, zone_id: str) -> str:
    """A zone's label, or its id when it has none."""
    spec = agreement.zones.get(zone_id)
    return spec.label if spec is not None and spec.label else zone_id


def _area_labels(agreement: Agreement) -> list[str]:
    return [*(zone_name(agreement, z) for z in area_zone_ids(agreement)), OUTSIDE]


def _records(
    agreement: Agreement,
    zones: ZoneSet,
    evidence: pd.DataFrame,
    cited: pd.DataFrame,
    period: Period,
) -> pd.DataFrame:
    """The records of the period and the previous one, with what the report needs of each:
    ``which`` period, ``day`` number in it, ``area``, nearest ``place``/``region``, ``type``,
    ``grade``, and the masks ``ceasefire``, ``weapon`` and ``restriction``."""
    previous = period.previous()
    t = evidence["time"]
    keep = ((t >= pd.Timestamp(previous.start)) & (t < pd.Timestamp(period.end))).to_numpy(bool)
    frame = evidence.loc[keep].drop_duplicates("id").reset_index(drop=True)
    lon = frame["lon"].to_numpy(dtype=float)
    lat = frame["lat"].to_numpy(dtype=float)
    located = np.isfinite(lon) & np.isfinite(lat)  # hotline messages have no place
    x, y = zones.project(np.where(located, lon, 0.0), np.where(located, lat, 0.0))
    x, y = np.where(located, x, np.nan), np.where(located, y, np.nan)
    which = np.where((frame["time"] >= pd.Timestamp(period.start)).to_numpy(bool), THIS, PREVIOUS)
    place, region, place_km = nearest_places(zones, lon, lat)
    # "Near Avdiivka" would be false precision for an event placed at an oblast's centre: name
    # a place only for records located within MAX_KM (the oblast is still that of the point).
    vague = frame["place_uncertainty_km"].fillna(0.0).to_numpy(dtype=float) > MAX_KM
    place = np.where(vague, "", place).astype(object)
    place_km = np.where(vague, np.nan, place_km)
    kind = frame["kind"].fillna("").astype(str)
    category = frame["category"].fillna("").astype(str)
    status = _best_status(frame["id"], cited)
    out = frame.assign(
        which=which,
        day=_day_numbers(frame["time"], which, period),
        area=_areas(agreement, zones, x, y),
        place=place,
        region=region,
        place_km=place_km,
        type=kind.where(category == "", kind + "/" + category),
        grade=frame["reliability"].fillna("F").astype(str) + frame["credibility"].astype(str),
        ceasefire=_fire_in_ceasefire_zone(agreement, zones, frame, x, y),
        weapon=status != "",
        restriction=((kind == RESTRICTION_KIND) & (category == RESTRICTION_CATEGORY)).to_numpy(),
        x=x,
        y=y,
    )
    out["layer"] = _layers(out, status)
    return out


def _best_status(ids: pd.Series, cited: pd.DataFrame) -> ObjectArray:
    """The strongest status among the findings citing each record ("" when none cites it)."""
    best = cited.sort_values("rank", kind="stable").drop_duplicates("id")[["id", "status"]]
    looked = pd.DataFrame({"id": ids.astype(object)}).merge(
        best.astype(object), on="id", how="left"
    )  # a left merge keeps the records' order
    found = looked["status"].astype(object).to_numpy(dtype=object)
    chosen: ObjectArray = np.where(pd.isna(found), "", found).astype(object)
    return chosen


def _day_numbers(times: pd.Series, which: ObjectArray, period: Period) -> npt.NDArray[np.int64]:
    """0 for the first local day of a record's own period, 1 for the next, …"""
    local = times.dt.tz_convert(period.timezone).dt.tz_localize(None).dt.normalize()
    first = np.where(
        which == THIS, np.datetime64(period.first, "D"), np.datetime64(period.previous().first, "D")
    ).astype("datetime64[us]")
    days = (local.to_numpy(dtype="datetime64[us]") - first) // np.timedelta64(1, "D")
    return np.asarray(days, dtype=np.int64)


def _areas(
    agreement: Agreement, zones: ZoneSet, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> ObjectArray:
    """The label of the first area zone containing each point, else :data:`OUTSIDE`."""
    ids = area_zone_ids(agreement)
    labels = np.array(_area_labels(agreement), dtype=object)
    inside = [zones.contains(z, x, y) for z in ids]
    masks = np.vstack([*inside, np.ones(len(x), dtype=bool)])
    first: ObjectArray = labels[masks.argmax(axis=0)]
    return first


def _fire_in_ceasefire_zone(
    agreement: Agreement,
    zones: ZoneSet,
    frame: pd.DataFrame,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
) -> BoolArray:
    """Records of a ceasefire's fire kinds at a point inside its zone while it binds."""
    kind = frame["kind"].fillna("")
    times = frame["time"]
    mask = np.zeros(len(frame), dtype=bool)
    for ob in agreement.obligations:  # a loop over obligations; each test is vectorised
        if not isinstance(ob, Ceasefire):
            continue
        binds = times >= pd.Timestamp(ob.effective.start)
        if ob.effective.until is not None:
            binds &= times < pd.Timestamp(ob.effective.until)
        fire = kind.isin(ob.fire_kinds) & binds
        mask |= fire.to_numpy(dtype=bool) & zones.contains(ob.zone, x, y)
    return mask


def _layers(records: pd.DataFrame, status: ObjectArray) -> ObjectArray:
    """What each record is on the map (weapons by the status of the finding citing them)."""
    chosen: ObjectArray = np.select(
        [
            status == Status.violation.value,
            status == Status.unverified.value,
            records["ceasefire"].to_numpy(dtype=bool),
            records["restriction"].to_numpy(dtype=bool),
        ],
        ["weapons: violation", "weapons: unverified", "ceasefire violation", "restriction"],
        default="other record",
    ).astype(object)
    return chosen


# ---------------------------------------------------------------------------------- findings


def _cited(
    agreement: Agreement, findings: tuple[Finding, ...], start: datetime, end: datetime
) -> pd.DataFrame:
    """``obligation, party, status, rank, id``: the records cited by exclusion-zone findings
    that show weapons inside a zone (violation or unverified), in windows overlapping
    ``[start, end)``. A loop over findings, not over evidence; ids are concatenated by NumPy."""
    exclusion = {ob.id for ob in agreement.obligations if isinstance(ob, ExclusionZone)}
    chosen = [
        f
        for f in findings
        if f.obligation in exclusion
        and f.status in _WEAPON_STATUSES
        and f.window_start < end
        and (f.window_end is None or f.window_end > start)
        and len(f.evidence)
    ]
    ids = [np.asarray(list(f.evidence), dtype=object) for f in chosen]
    lengths = np.array([len(i) for i in ids], dtype=np.int64)
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    return pd.DataFrame(
        {
            "obligation": np.repeat(
                np.array([f.obligation for f in chosen], dtype=object), lengths
            ),
            "party": np.repeat(np.array([f.party for f in chosen], dtype=object), lengths),
            "status": np.repeat(np.array([f.status.value for f in chosen], dtype=object), lengths),
            "rank": np.repeat(np.array([rank[f.status] for f in chosen], dtype=np.int64), lengths),
            "id": np.concatenate(ids) if ids else np.empty(0, dtype=object),
        }
    )


def _weapons(
    agreement: Agreement, zones: ZoneSet, records: pd.DataFrame, cited: pd.DataFrame
) -> pd.DataFrame:
    """One row per (obligation, cited record) of both periods, with the distance from the
    obligation's line when its zones are bands from one line."""
    best = cited.sort_values("rank", kind="stable").drop_duplicates(["obligation", "id"])
    rows = best.merge(records, on="id", how="inner", validate="many_to_one")
    distance = np.full(len(rows), np.nan)
    for ob in agreement.obligations:  # one vectorised distance per obligation
        line = _band_line(agreement, ob) if isinstance(ob, ExclusionZone) else None
        mine = (rows["obligation"] == ob.id).to_numpy(dtype=bool)
        if line is not None and mine.any():
            x, y = rows["x"].to_numpy(dtype=float), rows["y"].to_numpy(dtype=float)
            distance[mine] = zones.distance_to_boundary_m(line, x[mine], y[mine]) / 1000.0
    order = {ob.id: i for i, ob in enumerate(agreement.obligations)}
    out = pd.DataFrame(
        {
            "obligation": rows["obligation"],
            "status": rows["status"],
            "time": rows["time"],
            "actor": rows["actor"].fillna("unknown").astype(str),
            "category": rows["category"].fillna("").astype(str),
            "count": rows["count_best"],
            "distance_km": distance,
            "area": rows["area"],
            "place": rows["place"],
            "region": rows["region"],
            "grade": rows["grade"],
            "id": rows["id"].astype(str),
            "which": rows["which"],
            "_order": rows["obligation"].map(order),
        }
    )
    out = out.sort_values(["time", "_order", "id"], kind="stable").drop(columns="_order")
    return out.reset_index(drop=True)


def _band_line(agreement: Agreement, ob: ExclusionZone) -> str | None:
    """The one line all of an obligation's zones are bands from, if there is one."""
    bands = [agreement.zones[z].band for z in ob.zones.values()]
    lines = {b.line for b in bands if b is not None}
    return lines.pop() if len(lines) == 1 and None not in bands else None


def _status_table(agreement: Agreement, findings: tuple[Finding, ...]) -> pd.DataFrame:
    """Findings per obligation (agreement order) and status (:data:`STATUS_ORDER`)."""
    frame = pd.DataFrame(
        {
            "obligation": [f.obligation for f in findings],
            "status": [f.status.value for f in findings],
        }
    )
    table = pd.crosstab(frame["obligation"], frame["status"]) if len(frame) else pd.DataFrame()
    columns = [s.value for s in STATUS_ORDER]
    table = table.reindex(
        index=[ob.id for ob in agreement.obligations], columns=columns, fill_value=0
    )
    return table.fillna(0).astype(np.int64)


def _triggers(
    agreement: Agreement,
    findings: tuple[Finding, ...],
    in_period: tuple[Finding, ...],
    period: Period,
) -> tuple[TriggerRow, ...]:
    """Conditional obligations whose trigger fired by the end of the period (findings that
    carry ``triggered_at``), with their statuses in the period."""
    fired: dict[str, datetime] = {}
    for f in findings:
        if f.triggered_at is not None and f.triggered_at < period.end:
            fired[f.obligation] = min(fired.get(f.obligation, f.triggered_at), f.triggered_at)
    rows = []
    for ob in agreement.obligations:
        if ob.id not in fired:
            continue
        now = dict.fromkeys(
            f"{f.party}: {f.status.value}" for f in in_period if f.obligation == ob.id
        )
        rows.append(
            TriggerRow(
                obligation=ob.id,
                title=ob.title or ob.kind,
                condition=_condition(ob.when, agreement),
                fired_at=fired[ob.id],
                in_period=fired[ob.id] >= period.start,
                statuses="; ".join(now) or "none",
            )
        )
    return tuple(rows)


def _condition(trigger: Trigger | None, agreement: Agreement) -> str:
    if trigger is None:
        return "none"
    if trigger.date is not None:
        return f"the date {trigger.date.astimezone(agreement.tz):%Y-%m-%d %H:%M}"
    assert trigger.finding is not None
    by = f" by {trigger.finding.party}" if trigger.finding.party else ""
    return f"{trigger.finding.status.value} of {trigger.finding.obligation}{by}"


# ---------------------------------------------------------------------------------- tables


def _compare(
    frame: pd.DataFrame,
    keys: list[str],
    *,
    order: dict[str, list[str]] | None = None,
    by_count: bool = False,
) -> pd.DataFrame:
    """``keys…, this, previous, change``: records per key in each period (distinct rows of
    ``frame``, which has a ``which`` column). Sorted by ``order`` (a key's known values first,
    in that order), then the keys; or by this period's count when ``by_count``."""
    columns = [*keys, THIS, PREVIOUS, "change"]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in keys else np.int64)
                             for c in columns})  # fmt: skip
    counts = frame.groupby([*keys, "which"]).size().unstack("which", fill_value=0)
    table = counts.reindex(columns=[THIS, PREVIOUS], fill_value=0).reset_index()
    table.columns.name = None
    table["change"] = table[THIS] - table[PREVIOUS]
    if by_count:
        table = table.sort_values([THIS, PREVIOUS, *keys], ascending=[False, False, True])
    else:
        sort_keys = [
            table[k].map({v: i for i, v in enumerate((order or {}).get(k, []))}).fillna(1e9)
            for k in keys
        ]
        table = table.assign(**{f"_{k}": s for k, s in zip(keys, sort_keys, strict=True)})
        table = table.sort_values([*(f"_{k}" for k in keys), *keys]).drop(
            columns=[f"_{k}" for k in keys]
        )
    return table[columns].astype({THIS: np.int64, PREVIOUS: np.int64, "change": np.int64})


def _top_places(frame: pd.DataFrame, n: int = 5) -> tuple[tuple[str, int], ...]:
    """The ``n`` named places with the most records (ties by name)."""
    named = frame.loc[frame["place"] != "", "place"].astype(str)
    counts = named.value_counts()
    ranked = counts.reset_index().sort_values(["count", "place"], ascending=[False, True])
    return tuple(zip(ranked["place"].head(n).tolist(), ranked["count"].head(n).tolist(),
                     strict=True))  # fmt: skip


def _restriction_rows(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["time", "actor", "area", "place", "region", "note", "grade", "id"]
    out = frame.assign(
        actor=frame["actor"].fillna("unknown").astype(str),
        note=frame["note"].fillna("").astype(str),
        id=frame["id"].astype(str),
    )
    return out.sort_values(["time", "id"], kind="stable")[columns].reset_index(drop=True)


def _daily(records: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Records per local day, this period and the previous one side by side (day 1 with day 1)."""
    n = period.days
    out = pd.DataFrame({"date": [period.first + timedelta(days=i) for i in range(n)]})
    day = records["day"].to_numpy(dtype=np.int64)
    for name, column in (("ceasefire", "ceasefire"), ("weapons", "weapon"),
                         ("restrictions", "restriction")):  # fmt: skip
        for which in (THIS, PREVIOUS):
            chosen = records[column].to_numpy(dtype=bool) & (records["which"] == which).to_numpy()
            days = day[chosen]
            days = days[(days >= 0) & (days < n)]
            out[f"{name}_{which}"] = np.bincount(days, minlength=n)[:n].astype(np.int64)
    return out


def _points(frame: pd.DataFrame) -> pd.DataFrame:
    located = np.isfinite(frame["lon"].to_numpy(dtype=float)) & np.isfinite(
        frame["lat"].to_numpy(dtype=float)
    )
    points: pd.DataFrame = frame.loc[located, ["lon", "lat", "layer"]].reset_index(drop=True)
    return points


# ---------------------------------------------------------------------------------- headline


def _with_headline(report: PeriodicReport) -> PeriodicReport:
    from dataclasses import replace

    return replace(report, headline=headline(report))


def headline(report: PeriodicReport) -> str:
    """One sentence: the period's counts against the previous period's, and the findings."""
    p = report.period
    violations = report.status_counts.get(Status.violation, 0)
    parts = [
        f"{_plural(report.ceasefire_total, 'ceasefire violation')} recorded "
        f"({_against(report.ceasefire_total, report.ceasefire_total_previous)})",
        f"{_plural(report.weapon_records, 'weapons sighting')} inside withdrawal zones "
        f"({_against(report.weapon_records, report.weapon_records_previous)})",
        f"{_plural(len(report.restrictions), 'restriction')} of freedom of movement "
        f"({_against(len(report.restrictions), report.restrictions_previous)})",
    ]
    fired = sum(t.in_period for t in report.triggers)
    if fired:
        parts.append(f"{_plural(fired, 'trigger')} fired")
    return (
        f"From {p.first.isoformat()} to {p.last.isoformat()} ({p.timezone}), against the "
        f"previous {_plural(p.days, 'day')}: " + "; ".join(parts) + ". "
        f"{violations:,} of the period's {len(report.findings):,} findings "
        + ("is a violation." if violations == 1 else "are violations.")
    )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _against(now: int, before: int) -> str:
    """``"26 before, 6 fewer"``."""
    if now == before:
        return f"{before:,} before, no change"
    return f"{before:,} before, {abs(now - before):,} {'more' if now > before else 'fewer'}"

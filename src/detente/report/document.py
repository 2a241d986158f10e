"""The periodic report as a list of blocks (headings, paragraphs, tables, figures), written once
and rendered by each format (Markdown and HTML in :mod:`.periodic_text`, PDF in :mod:`.pdf`).

    >>> blocks = periodic_document(report)                 # doctest: +SKIP
    >>> [b.text for b in blocks if isinstance(b, Heading)]  # doctest: +SKIP
    ['Minsk II …', 'Summary', 'Map', 'Ceasefire violations', …]

Every text here is plain (no markup): each renderer escapes it for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from detente.findings import STATUS_ORDER, Finding
from detente.report.periodic import OUTSIDE, PeriodicReport

__all__ = [
    "MAX_ROWS",
    "SECTIONS",
    "Block",
    "Figure",
    "Heading",
    "Para",
    "Table",
    "periodic_document",
]

#: Listings longer than this show their first rows and say how many there are in all.
MAX_ROWS = 200
#: Section titles, in order (tests and readers look for them).
SECTIONS = (
    "Summary",
    "Map",
    "Ceasefire violations",
    "Weapons in violation of withdrawal lines",
    "Restrictions of freedom of movement",
    "Triggers",
    "About this report",
)


@dataclass(frozen=True)
class Heading:
    text: str
    level: int  # 1 title, 2 section, 3 subsection


@dataclass(frozen=True)
class Para:
    text: str
    small: bool = False  # notes and captions


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns
    total: bool = False  # the last row is a total (set in bold)


@dataclass(frozen=True)
class Figure:
    key: str  # "map" or "daily" (see detente.report.plots.figures)
    caption: str


Block = Heading | Para | Table | Figure


def periodic_document(report: PeriodicReport) -> list[Block]:
    """Every block of the report, in reading order."""
    return [
        *_title(report),
        *_summary(report),
        *_map(report),
        *_ceasefire(report),
        *_weapons(report),
        *_restrictions(report),
        *_triggers(report),
        *_about(report),
    ]


# ---------------------------------------------------------------------------------- sections


def _title(report: PeriodicReport) -> list[Block]:
    p = report.period
    return [
        Heading(report.agreement_title, 1),
        Para(
            f"Periodic report for {p.first.isoformat()} to {p.last.isoformat()} "
            f"({p.days} days, {p.timezone}), compared with {report.previous.first.isoformat()} "
            f"to {report.previous.last.isoformat()}."
        ),
    ]


def _summary(report: PeriodicReport) -> list[Block]:
    rows = (
        ("evidence records", report.evidence_in_period, report.evidence_in_previous),
        ("ceasefire violations", report.ceasefire_total, report.ceasefire_total_previous),
        ("weapons sightings inside withdrawal zones", report.weapon_records,
         report.weapon_records_previous),
        ("restrictions of freedom of movement", len(report.restrictions),
         report.restrictions_previous),
    )  # fmt: skip
    counts = Table(
        ("", "this period", "previous period", "change"),
        tuple((name, f"{now:,}", f"{then:,}", _signed(now - then)) for name, now, then in rows),
        (False, True, True, True),
    )
    table = report.status_table
    statuses = [s.value for s in STATUS_ORDER]
    by_obligation = [
        (
            str(ob),
            *(f"{int(n):,}" for n in table.loc[ob, statuses]),
            f"{int(table.loc[ob].sum()):,}",
        )
        for ob in table.index
    ]
    totals = ("all", *(f"{report.status_counts[s]:,}" for s in STATUS_ORDER),
              f"{len(report.findings):,}")  # fmt: skip
    findings = Table(
        ("obligation", *statuses, "findings"),
        (*by_obligation, totals),
        (False, *([True] * (len(statuses) + 1))),
        total=True,
    )
    return [
        Heading("Summary", 2),
        Para(report.headline),
        counts,
        Para(
            "Findings whose windows overlap the period, by status, as the engine decided them "
            f"as of {_moment(report.as_of, report)}:"
        ),
        findings,
        Para(
            "violation: evidence graded at or above the agreement's threshold shows a breach by "
            "the party; unverified: only weaker, vaguely located or unattributed evidence, or "
            "nothing observed; compliant: observed and no breach seen; pending: not yet in "
            "effect; inactive: a condition has not been met (docs/status-semantics.md).",
            small=True,
        ),
    ]


def _map(report: PeriodicReport) -> list[Block]:
    return [
        Heading("Map", 2),
        Figure(
            "map",
            f"Records of the period at their given points ({len(report.points):,} with a "
            "place), over the agreement's own geometry (no base map). Weapons are coloured by "
            "the status of the finding that cites them.",
        ),
    ]


def _ceasefire(report: PeriodicReport) -> list[Block]:
    blocks: list[Block] = [
        Heading("Ceasefire violations", 2),
        Para(
            f"{_plural(report.ceasefire_total, 'record')} of fire inside a ceasefire's zone "
            f"while it binds ({report.ceasefire_total_previous:,} in the previous period). Each "
            "is counted at its given point and local day; the area is the party's territory "
            f"that contains the point ('{OUTSIDE}' otherwise) and the type is the record's "
            "kind/category. Who is responsible is for the findings below to say, not the counts."
        ),
        _compare_table(report.ceasefire, ("area", "type"), "all areas"),
    ]
    if len(report.ceasefire_by_region):
        blocks += [
            Heading("By oblast (of the nearest named place)", 3),
            _compare_table(report.ceasefire_by_region, ("region",), "all"),
        ]
    if report.ceasefire_places:
        near = ", ".join(f"{name} ({n:,})" for name, n in report.ceasefire_places)
        blocks.append(Para(f"Most were recorded near {near}."))
    blocks += [
        Heading("Ceasefire findings", 3),
        _findings_table(report, kind_of=("ceasefire",)),
        Figure(
            "daily",
            "Records per local day: bars for this period, a line for the previous period's day "
            "of the same number.",
        ),
    ]
    return blocks


def _weapons(report: PeriodicReport) -> list[Block]:
    blocks: list[Block] = [
        Heading("Weapons in violation of withdrawal lines", 2),
        Para(
            f"{_plural(report.weapon_records, 'record')} of weapons inside a withdrawal zone "
            f"({report.weapon_records_previous:,} in the previous period): the evidence of the "
            "exclusion-zone findings that are violations or unverified. Distance is from the "
            "line the zone is measured from; status is that of the finding citing the record."
        ),
    ]
    if len(report.weapons_summary):
        # A record cited under two obligations counts under each: the total may exceed it.
        blocks.append(
            _compare_table(report.weapons_summary, ("obligation", "category"), "all obligations")
        )
    weapons = report.weapons
    if weapons.empty:
        blocks.append(Para("No weapons were recorded inside a withdrawal zone in the period."))
        return blocks
    shown = weapons.head(MAX_ROWS)
    columns = [
        _local(shown["time"], report),
        shown["obligation"].astype(str),
        shown["status"].astype(str),
        shown["actor"].astype(str),
        shown["category"].astype(str),
        shown["count"].astype("Int64").astype(str).replace("<NA>", "—"),
        _km(shown["distance_km"]),
        _place(shown),
        shown["grade"].astype(str),
        shown["id"].astype(str),
    ]
    header = ("time", "obligation", "status", "actor", "category", "count", "km from line",
              "near", "grade", "evidence")  # fmt: skip
    numeric = (False, False, False, False, False, True, True, False, False, False)
    blocks.append(Table(header, _rows(columns), numeric))
    blocks += _more(len(weapons))
    return blocks


def _restrictions(report: PeriodicReport) -> list[Block]:
    found = report.restrictions
    blocks: list[Block] = [
        Heading("Restrictions of freedom of movement", 2),
        Para(
            f"{_plural(len(found), 'restriction')} recorded "
            f"({report.restrictions_previous:,} in the previous period): records of kind "
            "'incident' with category 'restriction' "
            "(docs/evidence-format.md), such as a monitor stopped at a checkpoint."
        ),
    ]
    if found.empty:
        blocks.append(Para("No restriction of freedom of movement was recorded in the period."))
        return blocks
    shown = found.head(MAX_ROWS)
    columns = [
        _local(shown["time"], report),
        shown["actor"].astype(str),
        shown["area"].astype(str),
        _place(shown),
        shown["note"].astype(str),
        shown["grade"].astype(str),
        shown["id"].astype(str),
    ]
    header = ("time", "by", "area", "near", "what happened", "grade", "evidence")
    blocks.append(Table(header, _rows(columns), (False,) * len(header)))
    blocks += _more(len(found))
    return blocks


def _triggers(report: PeriodicReport) -> list[Block]:
    blocks: list[Block] = [Heading("Triggers", 2)]
    if not report.triggers:
        return [
            *blocks,
            Para("No conditional obligation's trigger had fired by the end of the period."),
        ]
    blocks.append(
        Para(
            "Conditional obligations whose trigger fired in or before the period; they bind "
            "from that moment (their findings carry triggered_at)."
        )
    )
    rows = tuple(
        (
            t.obligation,
            t.condition,
            _moment(t.fired_at, report),
            "in the period" if t.in_period else "before the period",
            t.statuses,
        )
        for t in report.triggers
    )
    header = ("obligation", "trigger", "fired at", "when", "findings in the period")
    blocks.append(Table(header, rows, (False,) * len(header)))
    return blocks


def _about(report: PeriodicReport) -> list[Block]:
    return [
        Heading("About this report", 2),
        Para(
            f"Agreement {report.agreement_id} version {report.agreement_version} (sha256 "
            f"{report.agreement_sha256[:16]}…); findings as of {_moment(report.as_of, report)} on "
            f"{report.evidence_total:,} evidence records (sha256 {report.evidence_sha256[:16]}…); "
            f"Detente {report.detente_version}.",
            small=True,
        ),
        Para(
            "Statuses are the engine's: Detente evaluates the agreement as of the end of the "
            "period and keeps the findings whose windows overlap it. Counts are of the records "
            "themselves, in the agreement's time zone, each at its given point (its place "
            "uncertainty is not spread). Nearest places come from the gazetteer shipped with "
            "Detente: a record is said to be near a settlement within 25 km, and none is named "
            "for a record located more vaguely than that.",
            small=True,
        ),
    ]


# ---------------------------------------------------------------------------------- helpers


def _compare_table(frame: pd.DataFrame, keys: tuple[str, ...], total_label: str) -> Table:
    """``keys…, this period, previous period, change`` with a total row."""
    columns = [frame[k].astype(str) for k in keys]
    columns += [frame[c].map("{:,}".format) for c in ("this", "previous")]
    columns.append(frame["change"].map(_signed))
    now, then = int(frame["this"].sum()), int(frame["previous"].sum())
    total = (total_label, *([""] * (len(keys) - 1)), f"{now:,}", f"{then:,}", _signed(now - then))
    return Table(
        (*keys, "this period", "previous period", "change"),
        (*_rows(columns), total),
        (*([False] * len(keys)), True, True, True),
        total=True,
    )


def _findings_table(report: PeriodicReport, kind_of: tuple[str, ...]) -> Table | Para:
    """The period's findings of the obligations of these kinds."""
    chosen = [f for f in report.findings if _kind(report, f) in kind_of]
    if not chosen:
        return Para("No such finding overlaps the period.")
    rows = tuple(
        (
            f.obligation,
            f.party,
            _window(f, report),
            f.status.value,
            f"{f.confidence:.2f}",
            f"{len(f.evidence):,}",
        )
        for f in chosen
    )
    header = ("obligation", "party", "window", "status", "confidence", "evidence")
    return Table(header, rows, (False, False, False, False, True, True))


def _kind(report: PeriodicReport, finding: Finding) -> str:
    return report.obligation_kinds.get(finding.obligation, "")


def _window(f: Finding, report: PeriodicReport) -> str:
    tz = report.period.tz
    end = f"{f.window_end.astimezone(tz):%Y-%m-%d}" if f.window_end else "…"
    return f"{f.window_start.astimezone(tz):%Y-%m-%d} – {end}"


def _rows(columns: list[pd.Series]) -> tuple[tuple[str, ...], ...]:
    """Rows of strings from columns of strings (formatting for display, nothing computed)."""
    return tuple(zip(*(c.tolist() for c in columns), strict=True))


def _more(total: int) -> list[Block]:
    if total <= MAX_ROWS:
        return []
    return [Para(f"The first {MAX_ROWS:,} of {total:,} are listed.", small=True)]


def _local(times: pd.Series, report: PeriodicReport) -> pd.Series:
    text: pd.Series = times.dt.tz_convert(report.period.timezone).dt.strftime("%Y-%m-%d %H:%M")
    return text


def _moment(moment: datetime, report: PeriodicReport) -> str:
    return f"{moment.astimezone(report.period.tz):%Y-%m-%d %H:%M} {report.period.timezone}"


def _km(values: pd.Series) -> pd.Series:
    numbers = values.to_numpy(dtype=float)
    text = np.char.mod("%.1f", np.nan_to_num(numbers))
    return pd.Series(np.where(np.isnan(numbers), "—", text), index=values.index)


def _place(frame: pd.DataFrame) -> pd.Series:
    """``"Avdiivka (Donetsk Oblast)"``, the oblast alone, or ``"—"``."""
    place, region = frame["place"].astype(str), frame["region"].astype(str)
    named = place.where(region == "", place + " (" + region + ")")
    return named.where(place != "", region.where(region != "", "—"))


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _signed(n: int) -> str:
    return f"+{n:,}" if n > 0 else f"−{-n:,}" if n < 0 else "0"

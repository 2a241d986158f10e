"""What the competitors share: the plan read from the agreement, the findings table, the check.

    >>> plan = make_plan(agreement)                         # doctest: +SKIP
    >>> expected = detente_table(evaluate(agreement, frame, as_of))   # doctest: +SKIP
    >>> got = geopandas_findings(plan, zones, frame, as_of)    # doctest: +SKIP
    >>> compare(expected, got, "geopandas")                    # doctest: +SKIP
    []

A findings table has one row per finding and the columns of :data:`COLUMNS`: ``obligation``,
``party`` (text), ``window_start`` (tz-aware UTC timestamp), ``status`` (text) and
``evidence_count`` (the number of deciding records), sorted by (obligation, party,
window_start). Confidence and explanations are left out: the competitors would compute the
confidence from the same rows, and nobody else writes sentences.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from detente.agreement import Agreement, Ceasefire, ExclusionZone
from detente.findings import FindingsReport

COLUMNS = ("obligation", "party", "window_start", "status", "evidence_count")
KEYS = ["obligation", "party", "window_start"]
#: The party that unattributed breaches are reported against (docs/status-semantics.md).
UNKNOWN = "unknown"
#: Actor values that name nobody: the docs say "empty or ``unknown``"; a missing value too.
NOBODY = ("", UNKNOWN)
#: Obligation kinds the competitors implement: those that forbid something inside a zone.
ZONE_KINDS = ("ceasefire", "exclusion_zone")


@dataclass(frozen=True)
class ObligationPlan:
    """One obligation as plain data: who keeps what out of which zone, from when, per what."""

    id: str
    kind: str
    zones: dict[str, str]  # bearer -> zone id (a ceasefire gives every bearer the same zone)
    kinds: tuple[str, ...]  # observation kinds that breach it ("fire"; "equipment")
    categories: tuple[str, ...] | None  # equipment categories that breach it; None: any
    positive_count: bool  # a breach needs count_high > 0 (missing counts as 1): 0 is absence
    start: pd.Timestamp  # UTC, inclusive
    until: pd.Timestamp | None  # UTC, exclusive
    window: str  # day | week | month | year | whole (calendar, in Plan.timezone)


@dataclass(frozen=True)
class Plan:
    """Everything the competitors read from the agreement file (as an analyst would)."""

    agreement_id: str
    timezone: str
    min_reliability: str  # reliability at or above this letter (A is best) meets the threshold
    max_credibility: int  # ...and credibility at or below this number (1 is best)
    max_place_uncertainty_km: float
    obligations: tuple[ObligationPlan, ...]


def make_plan(agreement: Agreement) -> Plan:
    """The plan of every ``ceasefire`` and ``exclusion_zone`` obligation of ``agreement``.

    Conditional obligations (``when:``) are refused: neither competitor evaluates triggers, and
    Minsk II has none.
    """
    obligations = []
    for ob in agreement.obligations:
        if ob.kind not in ZONE_KINDS:
            continue
        if ob.when is not None:
            raise ValueError(f"obligation {ob.id!r} is conditional: the competitors skip triggers")
        obligations.append(_obligation_plan(agreement, ob))  # type: ignore[arg-type]
    threshold = agreement.grade_threshold
    return Plan(
        agreement_id=agreement.id,
        timezone=agreement.timezone,
        min_reliability=threshold.reliability,
        max_credibility=threshold.credibility,
        max_place_uncertainty_km=agreement.max_place_uncertainty_km,
        obligations=tuple(obligations),
    )


def _obligation_plan(agreement: Agreement, ob: Ceasefire | ExclusionZone) -> ObligationPlan:
    until = ob.effective.until
    common = {
        "id": ob.id,
        "kind": ob.kind,
        "start": pd.Timestamp(ob.effective.start).tz_convert("UTC"),
        "until": None if until is None else pd.Timestamp(until).tz_convert("UTC"),
        "window": agreement.window_of(ob).value,
    }
    if isinstance(ob, Ceasefire):
        return ObligationPlan(
            zones=dict.fromkeys(ob.bearers, ob.zone),
            kinds=tuple(ob.fire_kinds),
            categories=None,
            positive_count=False,
            **common,  # type: ignore[arg-type]
        )
    return ObligationPlan(
        zones={party: ob.zones[party] for party in ob.bearers},
        kinds=("equipment",),
        categories=tuple(ob.categories),
        positive_count=True,
        **common,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- tables


def findings_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with exactly the table's columns and dtypes, sorted and re-indexed.

    Every producer ends with this, so two tables that hold the same findings are equal cell for
    cell whatever dtypes their producer happened to use.
    """
    out = pd.DataFrame(
        {
            "obligation": rows["obligation"].astype(str).to_numpy(dtype=object),
            "party": rows["party"].astype(str).to_numpy(dtype=object),
            "window_start": pd.to_datetime(rows["window_start"], utc=True).dt.as_unit("us").array,
            "status": rows["status"].astype(str).to_numpy(dtype=object),
            "evidence_count": rows["evidence_count"].astype("int64").to_numpy(),
        }
    )
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True)


def detente_table(report: FindingsReport, only: Collection[str] | None = None) -> pd.DataFrame:
    """Detente's findings as a table (only the obligations in ``only``, if given)."""
    rows = [
        (f.obligation, f.party, pd.Timestamp(f.window_start), f.status.value, len(f.evidence))
        for f in report.findings
        if only is None or f.obligation in only
    ]
    return findings_table(pd.DataFrame(rows, columns=list(COLUMNS)))


def compare(expected: pd.DataFrame, got: pd.DataFrame, label: str) -> list[str]:
    """Every difference between two findings tables, in words; an empty list means they agree.

    ``expected`` is the reference (Detente), ``got`` the table ``label`` produced.
    """
    problems = [
        f"{name} has {n} findings for {key}"
        for name, table in (("detente", expected), (label, got))
        for key, n in _duplicates(table).items()
    ]
    merged = pd.merge(
        findings_table(expected),
        findings_table(got),
        on=KEYS,
        how="outer",
        suffixes=("_expected", "_got"),
        indicator="side",
    ).sort_values(KEYS, kind="stable")
    differ = (
        (merged["side"] != "both")
        | (merged["status_expected"] != merged["status_got"])
        | (merged["evidence_count_expected"] != merged["evidence_count_got"])
    )
    for row in merged[differ].to_dict("records"):  # few rows: only the differences
        where = (
            f"{row['obligation']} / {row['party']} / "
            f"window from {row['window_start']:%Y-%m-%d %H:%M}Z"
        )
        said, says = row["status_expected"], row["status_got"]
        if row["side"] == "left_only":
            problems.append(f"{label} is missing {where} ({said})")
        elif row["side"] == "right_only":
            problems.append(f"{label} has an extra finding {where} ({says})")
        else:
            if said != says:
                problems.append(f"{where}: detente says {said}, {label} says {says}")
            counted, counts = row["evidence_count_expected"], row["evidence_count_got"]
            if counted != counts:
                problems.append(
                    f"{where}: detente counts {int(counted)} deciding records, "
                    f"{label} counts {int(counts)}"
                )
    return problems


def _duplicates(table: pd.DataFrame) -> dict[object, int]:
    sizes = table.groupby(KEYS, sort=True).size()
    return {key: int(n) for key, n in sizes[sizes > 1].items()}

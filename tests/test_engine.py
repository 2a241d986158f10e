"""Every status of the engine reached by a small hand-made case, and determinism."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import CONDITIONAL, frame
from detente.agreement import Status, Window, load_agreement
from detente.engine import evaluate
from detente.engine._windows import windows
from detente.findings import Finding, FindingsReport

AS_OF = datetime.fromisoformat("2020-06-30T23:59:59+03:00")
W10 = 37.865  # ~10 km west of the line at 48.5°N
W40 = 37.46  # ~40 km west
E10 = 38.135  # ~10 km east


def find(report: FindingsReport, obligation: str, party: str, month: int) -> Finding:
    hits = [
        f
        for f in report.findings
        if f.obligation == obligation and f.party == party and f.window_start.month == month
    ]
    assert len(hits) == 1, (obligation, party, month, hits)
    return hits[0]


@pytest.fixture
def report(toy: Callable[..., Path]) -> FindingsReport:
    ag = load_agreement(toy())
    evidence = frame(
        [
            # January: a well-graded tank sighting 10 km inside West's band -> violation.
            {"id": "jan-tank", "time": "2020-01-10T10:00Z", "lon": W10, "lat": 48.5},
            # February: the same, graded D4 -> unverified.
            {"id": "feb-tank", "time": "2020-02-10T10:00Z", "lon": W10, "lat": 48.5,
             "reliability": "D", "credibility": 4},
            # March: nothing at all -> unverified (silence).
            # April: a monitor's patrol in both bands, no breach -> compliant.
            {"id": "apr-patrol-w", "time": "2020-04-03T08:00Z", "lon": W10, "lat": 48.4,
             "actor": "monitor", "kind": "patrol", "category": None},
            {"id": "apr-patrol-e", "time": "2020-04-03T09:00Z", "lon": E10, "lat": 48.4,
             "actor": "monitor", "kind": "patrol", "category": None},
            # April: a West tank 40 km back, outside the band -> no breach.
            {"id": "apr-tank-far", "time": "2020-04-05T08:00Z", "lon": W40, "lat": 48.5},
            # May: a tank of unknown attribution in East's band.
            {"id": "may-unknown", "time": "2020-05-02T08:00Z", "lon": E10, "lat": 48.6,
             "actor": "unknown"},
            # June: fire by East, well graded -> ceasefire violation by East.
            {"id": "jun-fire", "time": "2020-06-01T12:00Z", "lon": E10, "lat": 48.2,
             "actor": "east", "kind": "fire", "category": None, "count_low": None,
             "count_best": None, "count_high": None},
            # June: a vaguely located West tank (30 km uncertainty) near the band edge.
            {"id": "jun-vague", "time": "2020-06-15T12:00Z", "lon": 37.70, "lat": 48.5,
             "place_uncertainty_km": 30.0},
        ]
    )  # fmt: skip
    return evaluate(ag, evidence, AS_OF)


def test_violation_when_well_graded_evidence_shows_a_breach(report: FindingsReport) -> None:
    f = find(report, "tanks", "west", 1)
    assert f.status is Status.violation
    assert f.evidence == ("jan-tank",)
    assert "attributed to west" in f.explanation and "B2" in f.explanation
    assert f.confidence > 0.5


def test_explanation_gives_distance_from_the_line(report: FindingsReport) -> None:
    # ~10 km by construction (one degree of longitude is ~73.9 km at 48.5°N).
    assert " 10 km from " in find(report, "tanks", "west", 1).explanation


def test_unverified_when_only_low_graded_evidence(report: FindingsReport) -> None:
    f = find(report, "tanks", "west", 2)
    assert f.status is Status.unverified
    assert f.evidence == ("feb-tank",)
    assert "D4" in f.explanation


def test_silence_is_not_compliance(report: FindingsReport) -> None:
    f = find(report, "tanks", "west", 3)
    assert f.status is Status.unverified
    assert f.evidence == ()
    assert f.confidence == 0.0


def test_compliant_when_observed_and_no_breach(report: FindingsReport) -> None:
    f = find(report, "tanks", "west", 4)
    assert f.status is Status.compliant
    assert "apr-patrol-w" in f.evidence
    assert "apr-tank-far" not in f.evidence  # outside the band: neither breach nor coverage


def test_unknown_actor_gets_its_own_finding_never_a_guess(report: FindingsReport) -> None:
    unknown = find(report, "tanks", "unknown", 5)
    assert unknown.status is Status.violation
    assert unknown.evidence == ("may-unknown",)
    east = find(report, "tanks", "east", 5)
    assert east.status is Status.unverified
    assert "unknown attribution" in east.explanation
    # Months without unattributed evidence have no 'unknown' finding at all.
    assert not [f for f in report.findings if f.party == "unknown" and f.window_start.month != 5]


def test_ceasefire_violation_and_vague_location(report: FindingsReport) -> None:
    assert find(report, "cf", "east", 6).status is Status.violation
    assert find(report, "cf", "west", 6).status is Status.compliant  # zone observed, no West fire
    vague = find(report, "tanks", "west", 6)
    assert vague.status is Status.unverified
    assert vague.evidence == ("jun-vague",)


def test_every_window_and_party_has_a_finding(report: FindingsReport) -> None:
    for ob in ("cf", "tanks"):
        for party in ("west", "east"):
            months = [
                f.window_start.month
                for f in report.findings
                if (f.obligation, f.party) == (ob, party)
            ]
            assert months == [1, 2, 3, 4, 5, 6]


def test_pending_before_the_obligation_takes_effect(toy: Callable[..., Path]) -> None:
    ag = load_agreement(toy())
    report = evaluate(ag, frame([]), datetime.fromisoformat("2019-12-31T12:00:00+02:00"))
    assert {f.status for f in report.findings} == {Status.pending}
    assert len(report.findings) == 4  # 2 obligations x 2 bearers
    # Kyiv midnight, i.e. 22:00 UTC the day before.
    assert report.to_dict()["findings"][0]["window"]["start"] == "2020-01-01T00:00:00+02:00"


def test_inactive_until_trigger_fires_then_triggered_at(toy: Callable[..., Path]) -> None:
    ag = load_agreement(toy(CONDITIONAL))
    fire = {"id": "fire", "time": "2020-03-10T06:00Z", "lon": E10, "lat": 48.5, "actor": "east",
            "kind": "fire", "category": None}  # fmt: skip
    before = evaluate(ag, frame([fire]), datetime.fromisoformat("2020-03-01T00:00:00+00:00"))
    freeze = [f for f in before.findings if f.obligation == "freeze"]
    assert [f.status for f in freeze] == [Status.inactive]
    after = evaluate(ag, frame([fire]), AS_OF)
    freeze = [f for f in after.findings if f.obligation == "freeze"]
    assert freeze[0].status is Status.inactive  # the stretch before the trigger
    assert all(f.triggered_at == pd.Timestamp("2020-03-10T06:00Z") for f in freeze[1:])
    assert "triggered_at" in after.to_dict()["findings"][-1]
    assert freeze[1].window_start == pd.Timestamp("2020-03-10T06:00Z")


def test_same_inputs_give_byte_identical_json(
    toy: Callable[..., Path], report: FindingsReport
) -> None:
    ag = load_agreement(toy())
    rows = [
        {
            "id": f"r{i}",
            "time": f"2020-0{1 + i % 6}-1{i % 9}T10:00Z",
            "lon": W10 + i * 1e-3,
            "lat": 48.5,
        }
        for i in range(40)
    ]
    evidence = frame(rows)
    first = evaluate(ag, evidence, AS_OF).to_json()
    shuffled = evidence.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert evaluate(ag, shuffled, AS_OF).to_json() == first
    assert evaluate(load_agreement(ag.path), evidence, AS_OF).to_json() == first


def test_evidence_after_as_of_is_ignored(toy: Callable[..., Path]) -> None:
    ag = load_agreement(toy())
    late = frame([{"id": "late", "time": "2021-01-01T00:00Z", "lon": W10, "lat": 48.5}])
    report = evaluate(ag, late, AS_OF)
    assert report.evidence_count == 0
    assert all("late" not in f.evidence for f in report.findings)


@pytest.mark.parametrize(("window", "expected"), [("day", 31 + 29), ("week", 9), ("whole", 1)])
def test_window_sizes(toy: Callable[..., Path], window: str, expected: int) -> None:
    path = toy()
    path.write_text(path.read_text().replace("window: month", f"window: {window}"))
    ag = load_agreement(path)
    report = evaluate(ag, frame([]), datetime.fromisoformat("2020-02-29T23:00:00+02:00"))
    starts = [f.window_start for f in report.findings if (f.obligation, f.party) == ("cf", "west")]
    assert len(starts) == expected
    assert np.all(np.diff(np.array([s.timestamp() for s in starts])) > 0)


def test_until_clips_the_last_window_and_ignores_later_evidence(toy: Callable[..., Path]) -> None:
    path = toy()
    text = path.read_text().replace(
        "    zone: everywhere\n    effective: {from: 2020-01-01T00:00:00}",
        "    zone: everywhere\n"
        "    effective: {from: 2020-01-01T00:00:00, until: 2020-02-15T00:00:00}",
    )
    path.write_text(text)
    ag = load_agreement(path)
    fire = {"actor": "west", "kind": "fire", "category": None, "lon": W10, "lat": 48.5}
    evidence = frame([{**fire, "id": "in", "time": "2020-02-10T00:00Z"},
                      {**fire, "id": "after", "time": "2020-03-10T00:00Z"}])  # fmt: skip
    found = [
        f
        for f in evaluate(ag, evidence, AS_OF).findings
        if (f.obligation, f.party) == ("cf", "west")
    ]
    assert [f.window_end.isoformat() for f in found if f.window_end] == [
        "2020-02-01T00:00:00+02:00",
        "2020-02-15T00:00:00+02:00",
    ]
    assert found[-1].status is Status.violation and found[-1].evidence == ("in",)
    assert all("after" not in f.evidence for f in found)


def test_month_windows_follow_local_time_across_daylight_saving(report: FindingsReport) -> None:
    starts = [f.to_dict()["window"]["start"] for f in report.findings if f.obligation == "cf"]
    # Kyiv moves to UTC+3 on the last Sunday of March.
    assert "2020-03-01T00:00:00+02:00" in starts and "2020-04-01T00:00:00+03:00" in starts


def test_evidence_digest_is_order_free_and_content_sensitive() -> None:
    from detente.engine import Columns
    from detente.evidence import evidence_digest

    def digest(frame: pd.DataFrame) -> str:
        cols = Columns.of(frame)
        return evidence_digest(cols.time_ns, cols.text["content_hash"])

    frame = pd.DataFrame(
        {
            "id": [f"r{i:03d}" for i in range(100)],
            "time": pd.to_datetime("2020-01-01", utc=True) + pd.to_timedelta(np.arange(100), "h"),
            "content_hash": [f"{i:064x}" for i in range(100)],
        }
    )
    assert digest(frame) == digest(frame.iloc[::-1]) == digest(frame.sample(frac=1, random_state=3))
    changed = frame.copy()
    changed.loc[5, "content_hash"] = f"{999:064x}"
    assert digest(changed) != digest(frame)
    assert digest(frame.iloc[:99]) != digest(frame)
    moved = frame.copy()
    moved.loc[5, "time"] += pd.Timedelta(days=1)  # the same records on other days
    assert digest(moved) != digest(frame)
    empty = evidence_digest(np.zeros(0, dtype=np.int64), pa.array([], pa.string()))
    assert len(empty) == 64 and empty != digest(frame)


def test_evidence_digest_matches_a_hand_computation() -> None:
    """Day by day: sha256(lengths, bytes) per UTC day, then sha256 of (day, count, digest)."""
    from detente.evidence import evidence_digest

    day = 86_400 * 10**9
    times = np.array([day * 10 + 5, day * 10 + 7, day * 12], dtype=np.int64)
    hashes = ["aa", "bbb", "c"]
    first = hashlib.sha256(struct.pack("<qq", 2, 3) + b"aabbb").digest()
    second = hashlib.sha256(struct.pack("<q", 1) + b"c").digest()
    top = hashlib.sha256(
        struct.pack("<qq", 10, 2) + first + struct.pack("<qq", 12, 1) + second
    ).hexdigest()
    assert evidence_digest(times, pa.array(hashes)) == top


@pytest.mark.parametrize(
    ("size", "as_of", "end"),
    [
        (Window.month, "2020-02-29T23:59:59", "2020-03-01T00:00:00"),
        (Window.month, "2020-03-01T00:00:00", "2020-04-01T00:00:00"),
        (Window.day, "2020-03-29T05:30:00", "2020-03-30T00:00:00"),  # the DST day in Kyiv
        (Window.week, "2020-03-04T12:00:00", "2020-03-09T00:00:00"),
    ],
)
def test_last_window_ends_on_the_calendar_boundary(size: Window, as_of: str, end: str) -> None:
    kyiv = ZoneInfo("Europe/Kyiv")
    start = datetime(2020, 1, 1, tzinfo=kyiv)
    found = windows(start, None, datetime.fromisoformat(as_of).replace(tzinfo=kyiv), size, kyiv)
    assert found.ends[-1] == datetime.fromisoformat(end).replace(tzinfo=kyiv)


def test_an_empty_actor_is_unknown_never_a_party_named_empty(toy: Callable[..., Path]) -> None:
    ag = load_agreement(toy())
    blank = frame([{"time": "2020-05-03T10:00:00Z", "lon": 37.9, "lat": 48.5, "actor": ""}])
    missing = frame([{"time": "2020-05-03T10:00:00Z", "lon": 37.9, "lat": 48.5, "actor": None}])
    as_of = datetime.fromisoformat("2020-05-31T00:00:00+00:00")
    a, b = evaluate(ag, blank, as_of), evaluate(ag, missing, as_of)
    assert [f.to_dict()["status"] for f in a.findings] == [
        f.to_dict()["status"] for f in b.findings
    ]
    unknown = find(a, "tanks", "unknown", 5)
    assert unknown.status is Status.violation
    assert find(a, "tanks", "west", 5).status is Status.unverified

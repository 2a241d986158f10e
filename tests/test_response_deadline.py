"""``response_deadline``: every status from hand-made message/ack frames, and the edges."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import frame
from detente.agreement import Agreement, Status, load_agreement
from detente.engine import evaluate
from detente.errors import InputError
from detente.findings import Finding, FindingsReport

ANSWER = """\
  - id: answer
    kind: response_deadline
    clause: "A request for an explanation is answered within 48 hours."
    source: {{ref: s, article: "3"}}
    bearers: [east]
    hours: 48
    effective: {{from: 2020-01-01T00:00:00}}
{more}"""

AS_OF = datetime.fromisoformat("2020-06-30T23:59:59+03:00")


def message(mid: str, time: str | pd.Timestamp, **kw: Any) -> dict[str, Any]:
    """A hotline message from west to east (no place; graded A1 as signed records are)."""
    row = {"id": mid, "time": time, "lon": math.nan, "lat": math.nan, "actor": "west",
           "kind": "message", "category": "east", "count_low": None, "count_best": None,
           "count_high": None, "reliability": "A", "credibility": 1,
           "note": f"subject {mid}"}  # fmt: skip
    return {**row, **kw}


def ack(aid: str, time: str | pd.Timestamp, of: str, **kw: Any) -> dict[str, Any]:
    """East's acknowledgement of message ``of``, sent back to west."""
    return message(aid, time, **{"kind": "ack", "actor": "east", "category": "west", "note": of,
                                 **kw})  # fmt: skip


@pytest.fixture
def agreement(toy: Callable[..., Path]) -> Callable[..., Agreement]:
    return lambda more="": load_agreement(toy(ANSWER.format(more=more)))


def answer(report: FindingsReport, party: str = "east") -> list[Finding]:
    return [f for f in report.findings if f.obligation == "answer" and f.party == party]


def month(report: FindingsReport, m: int, party: str = "east") -> Finding:
    (found,) = [f for f in answer(report, party) if f.window_start.month == m]
    return found


def test_unanswered_message_past_its_deadline_is_a_violation(
    agreement: Callable[..., Agreement],
) -> None:
    report = evaluate(agreement(), frame([message("m1", "2020-01-10T10:00Z")]), AS_OF)
    f = month(report, 1)
    assert f.status is Status.violation
    assert f.evidence == ("m1",)
    assert "m1 from west" in f.explanation and "no acknowledgement" in f.explanation
    assert "overdue" in f.explanation and "A1" in f.explanation
    assert f.confidence > 0.8
    # The breach happened when the deadline passed, not when the message was sent.
    assert f.first_evidence_time == pd.Timestamp("2020-01-12T10:00Z")


def test_late_acknowledgement_is_a_violation_naming_how_late(
    agreement: Callable[..., Agreement],
) -> None:
    evidence = frame([message("m1", "2020-01-10T10:00Z"), ack("a1", "2020-01-12T15:30Z", "m1")])
    f = month(evaluate(agreement(), evidence, AS_OF), 1)
    assert f.status is Status.violation
    assert f.evidence == ("m1", "a1")
    assert "acknowledged 5 h 30 min late" in f.explanation


def test_acknowledged_in_time_is_compliant(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([
        message("m1", "2020-01-10T10:00Z"), ack("a1", "2020-01-11T09:00Z", "m1"),
        message("m2", "2020-01-20T10:00Z"), ack("a2", "2020-01-22T09:00Z", "m2"),
    ])  # fmt: skip
    f = month(evaluate(agreement(), evidence, AS_OF), 1)
    assert f.status is Status.compliant
    assert f.evidence == ("m1", "a1", "m2", "a2")
    assert "All 2 hotline messages" in f.explanation and "slowest after 1 d 23 h" in f.explanation
    assert 0 < f.confidence <= 1


def test_pending_while_the_deadline_is_ahead(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([
        message("m1", "2020-06-01T10:00Z"), ack("a1", "2020-06-01T11:00Z", "m1"),
        message("m2", "2020-06-30T10:00Z"),
    ])  # fmt: skip
    f = month(evaluate(agreement(), evidence, AS_OF), 6)
    assert f.status is Status.pending
    assert f.evidence == ("m2",)
    assert "awaiting acknowledgement" in f.explanation
    assert "2020-07-02 13:00 Europe/Kyiv" in f.explanation  # the deadline in local time
    assert "1 other acknowledged in time" in f.explanation


def test_a_breach_outweighs_a_pending_message(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([message("m1", "2020-06-01T10:00Z"), message("m2", "2020-06-30T10:00Z")])
    f = month(evaluate(agreement(), evidence, AS_OF), 6)
    assert f.status is Status.violation
    assert f.evidence == ("m1",)


def test_no_message_is_unverified_not_compliant(agreement: Callable[..., Agreement]) -> None:
    report = evaluate(agreement(), frame([message("m1", "2020-01-10T10:00Z")]), AS_OF)
    f = month(report, 2)
    assert f.status is Status.unverified
    assert f.evidence == () and f.confidence == 0.0
    assert "silence is not compliance" in f.explanation
    # A finding for every window from the start, as for the other kinds.
    assert [g.window_start.month for g in answer(report)] == [1, 2, 3, 4, 5, 6]


def test_low_graded_message_only_makes_it_unverified(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([message("m1", "2020-01-10T10:00Z", reliability="D", credibility=4)])
    f = month(evaluate(agreement(), evidence, AS_OF), 1)
    assert f.status is Status.unverified
    assert f.evidence == ("m1",)
    assert "only graded D4" in f.explanation


@pytest.mark.parametrize(
    "wrong",
    [
        {"category": "osce"},  # acknowledged to someone other than the message's sender
        {"actor": "west", "category": "east"},  # "acknowledged" by the sender itself
        {"note": "m-other"},  # acknowledges another message
    ],
)
def test_an_ack_to_the_wrong_party_does_not_count(
    agreement: Callable[..., Agreement], wrong: dict[str, Any]
) -> None:
    evidence = frame([message("m1", "2020-01-10T10:00Z"), ack("a1", "2020-01-10T11:00Z", "m1",
                                                               **wrong)])  # fmt: skip
    f = month(evaluate(agreement(), evidence, AS_OF), 1)
    assert f.status is Status.violation
    assert f.evidence == ("m1",)


def test_the_earliest_of_several_acks_counts(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([
        message("m1", "2020-01-10T10:00Z"), ack("a-late", "2020-01-20T10:00Z", "m1"),
        ack("a-early", "2020-01-10T12:00Z", "m1"),
    ])  # fmt: skip
    f = month(evaluate(agreement(), evidence, AS_OF), 1)
    assert f.status is Status.compliant
    assert f.evidence == ("m1", "a-early")


def test_deadline_boundary(agreement: Callable[..., Agreement]) -> None:
    sent = pd.Timestamp("2020-01-10T10:00Z")
    deadline = sent + timedelta(hours=48)
    on_time = frame([message("m1", sent), ack("a1", deadline, "m1")])
    assert month(evaluate(agreement(), on_time, AS_OF), 1).status is Status.compliant
    late = frame([message("m1", sent), ack("a1", deadline + timedelta(microseconds=1), "m1")])
    assert month(evaluate(agreement(), late, AS_OF), 1).status is Status.violation
    # As of the deadline itself nothing is late yet; a microsecond later it is.
    alone = frame([message("m1", sent)])
    at_deadline = evaluate(agreement(), alone, deadline.to_pydatetime())
    assert month(at_deadline, 1).status is Status.pending
    after = evaluate(agreement(), alone, (deadline + timedelta(microseconds=1)).to_pydatetime())
    assert month(after, 1).status is Status.violation


def test_window_boundaries(agreement: Callable[..., Agreement]) -> None:
    # Kyiv midnight on 1 February is 22:00 UTC on 31 January (UTC+2 in winter).
    start_of_february = pd.Timestamp("2020-01-31T22:00Z")
    evidence = frame([
        message("jan", start_of_february - timedelta(microseconds=1)),
        message("feb", start_of_february),
    ])  # fmt: skip
    report = evaluate(agreement(), evidence, AS_OF)
    assert month(report, 1).evidence == ("jan",)
    assert month(report, 2).evidence == ("feb",)


def test_messages_before_the_obligation_binds_do_not_count(
    agreement: Callable[..., Agreement],
) -> None:
    # The obligation binds from Kyiv midnight, 22:00 UTC on 31 December.
    evidence = frame([message("early", "2019-12-31T21:59:59Z")])
    report = evaluate(agreement(), evidence, AS_OF)
    assert all("early" not in f.evidence for f in answer(report))
    assert month(report, 1).status is Status.unverified


def test_acks_after_the_as_of_time_are_not_known_yet(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([message("m1", "2020-01-10T10:00Z"), ack("a1", "2020-01-11T10:00Z", "m1")])
    f = month(evaluate(agreement(), evidence, datetime.fromisoformat("2020-01-11T09:00Z")), 1)
    assert f.status is Status.pending


def test_from_parties_limits_whose_messages_count(agreement: Callable[..., Agreement]) -> None:
    evidence = frame([message("m1", "2020-01-10T10:00Z", actor="osce")])
    assert month(evaluate(agreement(), evidence, AS_OF), 1).status is Status.violation
    only_west = agreement("    from_parties: [west]\n")
    assert month(evaluate(only_west, evidence, AS_OF), 1).status is Status.unverified


def test_messages_to_other_parties_or_to_oneself_do_not_bind(
    agreement: Callable[..., Agreement],
) -> None:
    evidence = frame([
        message("to-west", "2020-01-10T10:00Z", actor="east", category="west"),
        message("to-self", "2020-01-10T11:00Z", actor="east", category="east"),
    ])  # fmt: skip
    assert month(evaluate(agreement(), evidence, AS_OF), 1).status is Status.unverified


def test_each_bearer_is_judged_on_the_messages_sent_to_it(
    agreement: Callable[..., Agreement],
) -> None:
    both = agreement().model_copy()
    both.obligations[-1].bearers = ["west", "east"]
    evidence = frame([
        message("to-east", "2020-01-10T10:00Z"),
        message("to-west", "2020-01-10T10:00Z", actor="east", category="west"),
        ack("west-acks", "2020-01-10T12:00Z", "to-west", actor="west", category="east"),
    ])  # fmt: skip
    report = evaluate(both, evidence, AS_OF)
    assert month(report, 1, "east").status is Status.violation
    assert month(report, 1, "west").status is Status.compliant


def test_a_violation_can_trigger_a_conditional_obligation_at_the_deadline(
    agreement: Callable[..., Agreement],
) -> None:
    conditional = """\
  - id: consult
    kind: ceasefire
    clause: "If a request goes unanswered, consultations open and fire stops."
    source: {ref: s}
    bearers: [west]
    zone: everywhere
    effective: {from: 2020-01-01T00:00:00}
    when: {finding: {obligation: answer, status: violation, party: east}}
"""
    report = evaluate(agreement(conditional), frame([message("m1", "2020-03-10T06:00Z")]), AS_OF)
    consult = [f for f in report.findings if f.obligation == "consult"]
    assert consult[0].status is Status.inactive
    assert consult[1].triggered_at == pd.Timestamp("2020-03-12T06:00Z")


def test_same_inputs_give_byte_identical_json(agreement: Callable[..., Agreement]) -> None:
    rows = [message(f"m{i}", f"2020-0{1 + i % 6}-1{i % 9}T10:00Z") for i in range(30)]
    rows += [ack(f"a{i}", f"2020-0{1 + i % 6}-1{i % 9}T{10 + i % 12}:30Z", f"m{i}")
             for i in range(0, 30, 2)]  # fmt: skip
    evidence = frame(rows)
    first = evaluate(agreement(), evidence, AS_OF).to_json()
    shuffled = evidence.sample(frac=1.0, random_state=5).reset_index(drop=True)
    assert evaluate(agreement(), shuffled, AS_OF).to_json() == first


def test_other_kinds_ignore_messages_and_their_missing_places(
    agreement: Callable[..., Agreement],
) -> None:
    """Messages have NaN lon/lat: zone kinds see neither a breach nor coverage in them, and
    nothing warns."""
    ag = agreement()
    sightings = [{"id": "tank", "time": "2020-01-10T10:00Z", "lon": 37.865, "lat": 48.5},
                 {"id": "patrol", "time": "2020-02-03T08:00Z", "lon": 38.135, "lat": 48.4,
                  "actor": "monitor", "kind": "patrol", "category": None}]  # fmt: skip
    hotline = [message("m1", "2020-01-10T10:00Z"), ack("a1", "2020-01-10T11:00Z", "m1"),
               message("m2", "2020-03-10T10:00Z", actor="west", category="east")]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_msgs = evaluate(ag, frame(sightings + hotline), AS_OF)
    without = evaluate(ag, frame(sightings), AS_OF)

    def zone_findings(report: FindingsReport) -> list[tuple[Any, ...]]:
        return [(f.obligation, f.party, f.window_start, f.status, f.evidence, f.explanation)
                for f in report.findings if f.obligation != "answer"]  # fmt: skip

    assert zone_findings(with_msgs) == zone_findings(without)
    assert month(with_msgs, 1).status is Status.compliant


def test_an_agreement_with_only_a_response_deadline_needs_no_zones(tmp_path: Path) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text(
        "id: hot\ntitle: Hotline only\nversion: '1'\nsources: [{id: s, title: S}]\n"
        "parties: [{id: west, name: West}, {id: east, name: East}]\nobligations:\n"
        + ANSWER.format(more="").replace("{{", "{").replace("}}", "}")
    )
    ag = load_agreement(path)
    report = evaluate(ag, frame([message("m1", "2020-01-10T10:00Z")]), AS_OF)
    assert month(report, 1).status is Status.violation


@pytest.mark.parametrize(
    ("more", "field"),
    [
        ("    from_parties: [north]\n", "obligations[2].from_parties[0]"),
        ("    hours: 0\n", "obligations[2].hours"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(
    toy: Callable[..., Path], more: str, field: str
) -> None:
    text = ANSWER.format(more=more)
    if "hours: 0" in more:
        text = text.replace("    hours: 48\n", "")
    with pytest.raises(InputError) as caught:
        load_agreement(toy(text))
    assert any(p.field == field for p in caught.value.problems), caught.value.problems


def test_the_csv_validator_accepts_message_kinds_and_still_refuses_unknown_ones(
    tmp_path: Path,
) -> None:
    """Messages normally come from the hotline, but a logged one may come in a CSV."""
    from detente.ingest import read_observations

    head = "id,time,lon,lat,actor,kind,category,count,source,reliability,credibility,note\n"
    path = tmp_path / "log.csv"
    path.write_text(
        head
        + "m1,2020-01-10T10:00:00Z,37.5,48.5,west,message,east,1,log,B,2,request\n"
        + "a1,2020-01-10T12:00:00Z,37.5,48.5,east,ack,west,1,log,B,2,m1\n"
        + "x1,2020-01-10T12:00:00Z,37.5,48.5,east,messages,west,1,log,B,2,typo\n"
    )
    parsed = read_observations(path)
    assert parsed.frame["kind"].tolist() == ["message", "ack"]
    assert [(p.line, p.field) for p in parsed.problems] == [(4, "kind")]
    assert "'messages' is not one of" in parsed.problems[0].reason

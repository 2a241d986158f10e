"""Documents, claims and their review in the store; reviewed claims as engine evidence.

Tests taking ``store`` or ``evidence_db`` run once on DuckDB and once on PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detente.agreement import ClaimPolicy, GradeThreshold, Party, load_agreement
from detente.documents import Document, parse_document
from detente.engine import evaluate
from detente.errors import InputError
from detente.extract._types import Claim, Place, Quantity, TimeRef
from detente.store import open_store
from detente.store.claims import EDITABLE, ClaimStore, check_changes, claim_id, match_parties

TEXT = (
    "East forces moved 12 tanks and 400 troops into Lysychansk on Monday.\n\n"
    "Tanks must stay 25 km from the line.\n\n"
    "Shelling was reported somewhere."
)


def _span(sentence: str) -> tuple[int, int]:
    start = TEXT.index(sentence)
    return start, start + len(sentence)


def _claims() -> list[Claim]:
    first = "East forces moved 12 tanks and 400 troops into Lysychansk on Monday."
    start = _span(first)[0]
    tanks_at = start + first.index("12 tanks")
    troops_at = start + first.index("400 troops")
    return [
        Claim(
            doc="d", span=_span(first), sentence=first, event_type="MOBILIZE",
            modality="observed", actor="East forces", target=None,
            quantities=(
                Quantity("tank", 12, 12, 12, "12 tanks", (tanks_at, tanks_at + 8)),
                Quantity("troops", 400, 400, 400, "400 troops", (troops_at, troops_at + 10)),
            ),
            place=Place("Lysychansk", 38.2, 48.9, "Lysychansk", (0, 0)),
            time=TimeRef("2020-03-02", "2020-03-02", "on Monday"), confidence=0.8,
        ),
        Claim(
            doc="d", span=_span("Tanks must stay 25 km from the line."),
            sentence="Tanks must stay 25 km from the line.", event_type="MOBILIZE",
            modality="rule", actor=None, target=None,
            place=Place("Lysychansk", 38.2, 48.9, "", (0, 0)), confidence=0.9,
        ),
        Claim(
            doc="d", span=_span("Shelling was reported somewhere."),
            sentence="Shelling was reported somewhere.", event_type="ASSAULT",
            modality="observed", actor=None, target=None, confidence=0.4,
        ),
    ]  # fmt: skip


def _doc() -> Document:
    return parse_document(TEXT, "report.txt", "text", date(2020, 3, 4))


@pytest.fixture
def store(evidence_db: str) -> Iterator[ClaimStore]:
    with open_store(evidence_db) as opened:
        claims = ClaimStore(opened)
        claims.add_document(_doc(), _claims(), source="Example Monitor", grade=("C", 3))
        yield claims


def test_document_and_claims_stored_once(store: ClaimStore) -> None:
    again = store.add_document(_doc(), _claims(), source="Example Monitor")
    assert not again.new and again.claims == 0
    assert len(store.documents()) == 1
    frame = store.claims()
    assert len(frame) == 3
    assert set(frame["status"]) == {"pending"}
    doc_text = store.documents()["text"].iloc[0]
    # every stored span points at its sentence in the stored text
    for row in frame.itertuples():
        assert doc_text[row.span_start : row.span_end] == row.sentence


def test_review_is_append_only_and_latest_wins(store: ClaimStore) -> None:
    cid = claim_id(_doc().doc_id, _claims()[0])
    store.review([cid], "accept", reviewer="ana")
    store.review([cid], "reject", reviewer="ben", note="wrong town")
    store.review([cid], "reopen", reviewer="ana")
    store.review([cid], "edit", reviewer="ana", changes={"lat": "48.5", "party": "east"})
    store.review([cid], "edit", reviewer="cy", changes={"lat": "48.6"})
    row = store.claims().set_index("claim_id").loc[cid]
    assert row["status"] == "pending"
    assert row["lat"] == pytest.approx(48.6)
    assert row["party"] == "east"
    assert row["lon"] == pytest.approx(38.2)  # untouched field keeps its extracted value
    history = store.history(cid)
    assert history["action"].tolist() == ["accept", "reject", "reopen", "edit", "edit", "edit"]
    assert history["reviewer"].tolist()[:2] == ["ana", "ben"]
    store.review([cid], "accept", reviewer="cy")
    assert store.claims("accepted")["reviewer"].tolist() == ["cy"]


@pytest.mark.parametrize(
    ("ids", "action", "changes", "field"),
    [
        (["nope"], "accept", None, "claim"),
        (None, "edit", {"colour": "red"}, "--set colour"),
        (None, "edit", {"lat": "ninety"}, "--set lat"),
        (None, "edit", {"lat": "91"}, "--set lat"),
        (None, "edit", {"modality": "maybe"}, "--set modality"),
        (None, "edit", {"credibility": "7"}, "--set credibility"),
        (None, "edit", {}, "--set"),
        (None, "approve", None, "action"),
    ],
)
def test_bad_reviews_write_nothing(
    store: ClaimStore,
    ids: list[str] | None,
    action: str,
    changes: dict[str, str] | None,
    field: str,
) -> None:
    first = claim_id(_doc().doc_id, _claims()[0])
    with pytest.raises(InputError) as caught:
        store.review(ids or [first], action, reviewer="ana", changes=changes)
    assert field in {p.field for p in caught.value.problems}
    assert store.history(first).empty


def test_only_accepted_observed_placed_claims_are_evidence(store: ClaimStore) -> None:
    ids = [claim_id(_doc().doc_id, c) for c in _claims()]
    assert store.evidence().empty  # nothing reviewed yet
    store.review(ids, "accept", reviewer="ana")
    frame = store.evidence(parties=[Party(id="east", name="East")])
    # the rule is not an observation; the shelling has no place: one claim, two quantities
    assert sorted(frame["id"]) == [f"{ids[0]}-q0", f"{ids[0]}-q1"]
    by_cat = frame.set_index("category")
    assert by_cat.loc["tank", "count_best"] == 12 and by_cat.loc["tank", "kind"] == "equipment"
    assert by_cat.loc["troops", "kind"] == "troops"
    assert set(frame["actor"]) == {"east"}
    assert frame["time"].iloc[0] == datetime(2020, 3, 2, 12, tzinfo=UTC)
    assert set(frame["reliability"]) == {"C"} and set(frame["credibility"]) == {3}
    assert frame["note"].str.startswith(f"{_doc().doc_id}#chars=0-").all()
    assert frame["content_hash"].is_unique


def test_policy_counts_pending_claims_at_grade(store: ClaimStore) -> None:
    strict = ClaimPolicy(accept_grade=GradeThreshold(reliability="B", credibility=2))
    assert store.evidence(strict).empty  # the document is graded C3
    loose = ClaimPolicy(accept_grade=GradeThreshold(reliability="C", credibility=3))
    assert len(store.evidence(loose)) == 2
    picky = ClaimPolicy(accept_grade=GradeThreshold(reliability="C", credibility=3),
                        min_confidence=0.9)  # fmt: skip
    assert store.evidence(picky).empty
    store.review([claim_id(_doc().doc_id, _claims()[0])], "reject", reviewer="ana")
    assert store.evidence(loose).empty  # a rejected claim never counts


def test_edited_count_replaces_extracted_quantities(store: ClaimStore) -> None:
    cid = claim_id(_doc().doc_id, _claims()[0])
    store.review([cid], "edit", reviewer="ana",
                 changes={"category": "tank", "count_low": "10", "count_high": "14"})  # fmt: skip
    store.review([cid], "accept", reviewer="ana")
    frame = store.evidence()
    assert frame["id"].tolist() == [cid]
    assert (frame["count_low"].iloc[0], frame["count_high"].iloc[0]) == (10, 14)
    assert pd.isna(frame["count_best"].iloc[0])


def test_actor_names_exactly_one_party() -> None:
    parties = [Party(id="rus", name="Russian Federation", aliases=["Russia", "Russian"]),
               Party(id="ukr", name="Ukraine", aliases=["Ukrainian"])]  # fmt: skip
    actors = pd.Series(["Russian forces", "the Ukrainian army", "Russia and Ukraine",
                        "separatists", None, "Prussian"])  # fmt: skip
    assert match_parties(actors, parties).tolist() == [
        "rus", "ukr", "unknown", "unknown", "unknown", "unknown"
    ]  # fmt: skip


def test_accepted_claim_decides_a_finding(toy: Callable[..., Path], evidence_db: str) -> None:
    agreement = load_agreement(toy())
    opened = open_store(evidence_db)
    claims = ClaimStore(opened)
    sentence = "East forces moved 12 tanks and 400 troops into Lysychansk on Monday."
    base = _claims()[0]
    # 38.1°E is ~7 km east of the toy line: inside the east band
    inside = Claim(**{**base.__dict__, "place": Place("Town", 38.1, 48.5, "Town", (0, 0))})
    claims.add_document(_doc(), [inside], source="Example Monitor", grade=("B", 2))
    cid = claim_id(_doc().doc_id, inside)
    claims.review([cid], "accept", reviewer="ana")

    def march() -> list[str]:
        report = evaluate(agreement, claims.evidence(None, agreement.parties),
                          datetime(2020, 3, 31, tzinfo=UTC))  # fmt: skip
        found = [f for f in report.findings if f.obligation == "tanks" and f.party == "east"
                 and f.window_start.month == 3]  # fmt: skip
        assert all(list(f.evidence) == [f"{cid}-q0"] for f in found)
        return [f.status.value for f in found]

    # a town name places the claim within ~15 km only: possibly inside the band, not surely
    assert march() == ["unverified"]
    claims.review([cid], "edit", reviewer="ana", changes={"place_uncertainty_km": "1"})
    assert march() == ["violation"]
    assert sentence in claims.claims()["sentence"].tolist()
    opened.close()


@given(st.dictionaries(st.sampled_from([*EDITABLE, "colour"]), st.text(max_size=12), max_size=4))
def test_any_edit_is_accepted_or_named_never_crashes(changes: dict[str, str]) -> None:
    bad = dict(check_changes(changes))
    assert set(bad) <= set(changes)
    for name, value in changes.items():
        if name not in bad and EDITABLE.get(name) is float:
            assert math.isfinite(float(value))  # what passed the check is a usable number

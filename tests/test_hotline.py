"""The hotline: signatures, canonical JSON, the hash chain, tampering, refusals, keys, the CLI,
PostgreSQL and concurrency, and hotline records as evidence for ``response_deadline``."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from detente.agreement import Status, load_agreement
from detente.engine import evaluate
from detente.errors import InputError
from detente.evidence import OBSERVATION_COLUMNS
from detente.hotline import (
    GENESIS,
    ChainConflict,
    Hotline,
    canonical,
    channel_id,
    generate_key,
    load_private_key,
    messages_as_evidence,
    public_key_b64,
    read_jsonl,
    record_hash,
    sign_record,
    to_jsonl,
    unsigned_record,
    verify_signature,
)
from detente.store._db import Database

C = "rus--ukr"
T0 = datetime(2022, 2, 1, tzinfo=UTC)  # keys registered
MSG1 = datetime(2022, 2, 10, 10, tzinfo=UTC)  # 1: ukr → rus
ACK2 = datetime(2022, 2, 10, 12, tzinfo=UTC)  # 2: rus acknowledges 1
MSG3 = datetime(2022, 2, 11, 9, tzinfo=UTC)  # 3: rus → ukr
MSG4 = datetime(2022, 2, 12, 8, tzinfo=UTC)  # 4: ukr → rus


def _key() -> Ed25519PrivateKey:
    return load_private_key(generate_key()[0])


# Key generation is cheap, but one set per run keeps the hypothesis examples fast.
UKR, RUS, BLR, MALLORY = _key(), _key(), _key(), _key()


def new_hotline(db: Database | None = None) -> Hotline:
    """A hotline whose parties ukr, rus and blr registered their keys on 1 Feb 2022."""
    hotline = Hotline(db or Database.open(None))
    for party, key in (("ukr", UKR), ("rus", RUS), ("blr", BLR)):
        hotline.register_key(party, public_key_b64(key), T0)
    return hotline


def fill(hotline: Hotline) -> None:
    """1 ukr→rus message, 2 rus's ack of it, 3 rus→ukr message, 4 ukr→rus message."""
    hotline.send(UKR, "ukr", "rus", {"subject": "Request", "text": "Explain the shelling."}, MSG1)
    hotline.acknowledge(RUS, "rus", C, 1, ACK2)
    hotline.send(RUS, "rus", "ukr", {"text": "Our units did not fire."}, MSG3)
    hotline.send(UKR, "ukr", "rus", {"text": "Second request", "n": 2.5}, MSG4)


@pytest.fixture
def hotline() -> Iterator[Hotline]:
    h = new_hotline()
    fill(h)
    yield h
    h.db.close()


def stored(hotline: Hotline, seq: int) -> dict[str, Any]:
    row = hotline.db.one(
        "SELECT record_json FROM hotline_records WHERE channel = ? AND seq = ?", [C, seq]
    )
    assert row is not None
    result: dict[str, Any] = json.loads(row[0])
    return result


def store(hotline: Hotline, seq: int, record: dict[str, Any]) -> None:
    """Overwrite one stored record's JSON (canonical, as a careful forger would write it)."""
    hotline.db.execute(
        "UPDATE hotline_records SET record_json = ? WHERE channel = ? AND seq = ?",
        [canonical(record).decode(), C, seq],
    )


# --------------------------------------------------------------------------- signing


def test_sign_and_verify_round_trip() -> None:
    rec = unsigned_record(C, 1, "message", "ukr", "rus", MSG1, {"text": "hello"})
    signed = sign_record(rec, UKR)
    assert set(signed) == {*rec, "signature", "hash"}
    assert verify_signature(signed, public_key_b64(UKR))
    assert not verify_signature(signed, public_key_b64(RUS))
    assert signed["hash"] == record_hash(signed)
    assert signed["at"] == "2022-02-10T10:00:00Z" and signed["prev"] == GENESIS
    assert rec == unsigned_record(C, 1, "message", "ukr", "rus", "2022-02-10T10:00:00Z",
                                  {"text": "hello"})  # fmt: skip


def test_signature_and_hash_are_over_rfc8785_canonical_json() -> None:
    signed = sign_record(
        unsigned_record(C, 1, "message", "ukr", "rus", MSG1, {"z": 1.0, "a": [0.1, 1e21, "é"]}),
        UKR,
    )
    unsigned = {k: v for k, v in signed.items() if k not in ("signature", "hash")}
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64(UKR)))
    public.verify(base64.b64decode(signed["signature"]), rfc8785.dumps(unsigned))  # no exception
    without_hash = {k: v for k, v in signed.items() if k != "hash"}
    assert signed["hash"] == hashlib.sha256(rfc8785.dumps(without_hash)).hexdigest()
    assert canonical(signed) == rfc8785.dumps(signed)
    text = canonical(unsigned).decode()
    assert '"body":{"a":[0.1,1e+21,"é"],"z":1}' in text  # ECMAScript numbers, sorted keys


def test_key_order_and_number_spelling_do_not_change_the_signature() -> None:
    rec = unsigned_record(C, 1, "message", "ukr", "rus", MSG1, {"b": 1, "a": {"y": 2, "x": 3}})
    shuffled = dict(reversed(list(rec.items())))
    shuffled["body"] = {"a": {"x": 3, "y": 2.0}, "b": 1.0}
    # Ed25519 is deterministic: the same canonical bytes give the very same signature.
    assert sign_record(rec, UKR) == sign_record(shuffled, UKR)
    assert canonical(rec) == canonical(shuffled)


def test_a_re_spelt_base64_signature_is_refused() -> None:
    """The last base64 character carries unused bits: a lenient decoder would accept an edit."""
    signed = sign_record(unsigned_record(C, 1, "message", "ukr", "rus", MSG1, {"t": 1}), UKR)
    sig = signed["signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    respelt = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(respelt) == base64.b64decode(sig)
    assert not verify_signature({**signed, "signature": respelt}, public_key_b64(UKR))


def test_unsignable_content_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError) as caught:
        unsigned_record(C, 1, "message", "ukr", "rus", MSG1, {"x": math.nan})
    assert caught.value.problems[0].field == "body"
    with pytest.raises(InputError):
        unsigned_record(C, 1, "message", "ukr", "rus", MSG1, {"x": 2**60})  # beyond I-JSON
    with pytest.raises(InputError) as caught:
        unsigned_record(C, 0, "message", "ukr", "rus", datetime(2022, 2, 10), {})  # naive, seq 0
    assert {p.field for p in caught.value.problems} == {"at"}


def test_channel_ids() -> None:
    assert channel_id("ukr", "rus") == channel_id("rus", "ukr") == "rus--ukr"
    for a, b in (("ukr", "ukr"), ("UKR", "rus"), ("a--b", "c")):
        with pytest.raises(InputError):
            channel_id(a, b)


def test_private_keys_are_checked() -> None:
    with pytest.raises(InputError, match="not an unencrypted PEM"):
        load_private_key(b"garbage", "k.pem")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    with pytest.raises(InputError, match="not an Ed25519"):
        load_private_key(other, "k.pem")


# --------------------------------------------------------------------------- the chain


def test_a_filled_chain_verifies_and_has_a_publishable_head(hotline: Hotline) -> None:
    verdict = hotline.verify(C)
    assert verdict.ok and verdict.checked == 4 and verdict.first_bad_seq is None
    head = hotline.head(C)
    assert head == {"channel": C, "seq": 4, "hash": stored(hotline, 4)["hash"]}
    assert hotline.verify(C, expected_head=head).ok
    records = hotline.records(C)
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[1]["prev"] == records[0]["hash"] and records[0]["prev"] == GENESIS
    assert [r["kind"] for r in records] == ["message", "ack", "message", "message"]
    assert hotline.channels() == [C] and hotline.channels("blr") == []
    assert hotline.head("blr--ukr") == {"channel": "blr--ukr", "seq": 0, "hash": GENESIS}


def test_an_exported_chain_verifies_as_dicts_and_as_json_lines(hotline: Hotline) -> None:
    exported = hotline.export(C)
    assert hotline.verify(C, exported).ok
    lines = read_jsonl(to_jsonl(exported).encode())
    assert hotline.verify(C, lines).ok
    with pytest.raises(InputError):
        hotline.export("blr--ukr")


# Tampering with the stored rows, with SQL, as someone with access to the database could.


def _edit_body(h: Hotline) -> None:
    rec = stored(h, 3)
    rec["body"]["text"] = "Our units did fire."
    store(h, 3, rec)


def _edit_body_and_rehash(h: Hotline) -> None:
    rec = stored(h, 3)
    rec["body"]["text"] = "Our units did fire."
    rec["hash"] = record_hash(rec)
    store(h, 3, rec)
    h.db.execute("UPDATE hotline_records SET hash = ? WHERE channel = ? AND seq = 3",
                 [rec["hash"], C])  # fmt: skip


def _edit_at(h: Hotline) -> None:
    rec = stored(h, 2)
    rec["at"] = "2022-02-10T11:00:00Z"
    store(h, 2, rec)


def _edit_sender(h: Hotline) -> None:
    rec = stored(h, 3)
    rec["sender"], rec["to"] = rec["to"], rec["sender"]
    store(h, 3, rec)


def _delete_2(h: Hotline) -> None:
    h.db.execute("DELETE FROM hotline_records WHERE channel = ? AND seq = 2", [C])


def _insert_forged_2(h: Hotline) -> None:
    forged = sign_record(
        unsigned_record(C, 2, "message", "rus", "ukr", ACK2, {"text": "We confess."},
                        stored(h, 1)["hash"]),
        MALLORY,
    )  # fmt: skip
    rows = h.db.rows("SELECT * FROM hotline_records WHERE channel = ? AND seq >= 2", [C])
    h.db.execute("DELETE FROM hotline_records WHERE channel = ? AND seq >= 2", [C])
    shifted = [(r[0], r[1] + 1, *r[2:]) for r in rows]
    h.db.executemany("INSERT INTO hotline_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", shifted)
    h.db.execute(
        "INSERT INTO hotline_records VALUES (?, 2, 'message', 'rus', 'ukr', ?, NULL, ?, ?, ?)",
        [C, ACK2, canonical(forged).decode(), forged["hash"], ACK2],
    )


def _swap_2_3(h: Hotline) -> None:
    two, three = stored(h, 2), stored(h, 3)
    store(h, 2, three)
    store(h, 3, two)


def _signature_by_another_key(h: Hotline) -> None:
    rec = stored(h, 3)
    rec = sign_record({k: v for k, v in rec.items() if k not in ("signature", "hash")}, MALLORY)
    store(h, 3, rec)


def _hash_column(h: Hotline) -> None:
    h.db.execute("UPDATE hotline_records SET hash = ? WHERE channel = ? AND seq = 4",
                 ["0" * 64, C])  # fmt: skip


def _not_canonical(h: Hotline) -> None:
    row = h.db.one("SELECT record_json FROM hotline_records WHERE channel = ? AND seq = 1", [C])
    assert row is not None
    h.db.execute("UPDATE hotline_records SET record_json = ? WHERE channel = ? AND seq = 1",
                 [row[0].replace(",", ", ", 1), C])  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "bad", "words"),
    [
        (_edit_body, 3, "signature does not verify"),
        (_edit_body_and_rehash, 3, "signature does not verify"),
        (_edit_at, 2, "signature does not verify"),
        (_edit_sender, 3, "signature does not verify"),
        (_delete_2, 2, "record 2 is missing"),
        (_insert_forged_2, 2, "signature does not verify"),
        (_swap_2_3, 2, "out of order"),
        (_signature_by_another_key, 3, "signature does not verify"),
        (_hash_column, 4, "stored hash column"),
        (_not_canonical, 1, "not in canonical form"),
    ],
)
def test_tampering_with_the_store_names_the_first_bad_record(
    hotline: Hotline, tamper: Callable[[Hotline], None], bad: int, words: str
) -> None:
    tamper(hotline)
    verdict = hotline.verify(C)
    assert not verdict.ok
    assert verdict.first_bad_seq == bad, verdict
    assert words in verdict.reason
    assert verdict.checked == bad - 1
    assert str(verdict).startswith(f"first bad record: seq {bad}: ")
    with pytest.raises(InputError, match=f"seq {bad}"):
        messages_as_evidence(hotline)


def test_records_removed_from_the_end_are_caught_by_the_published_head(hotline: Hotline) -> None:
    published = hotline.head(C)
    hotline.db.execute("DELETE FROM hotline_records WHERE channel = ? AND seq = 4", [C])
    assert hotline.verify(C).ok  # the chain alone cannot tell: nothing links to a missing tail
    verdict = hotline.verify(C, expected_head=published)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert "record 4 is missing" in verdict.reason


# The same tampering on an exported copy (a list of records).


def _list_edit_body(chain: list[dict[str, Any]]) -> None:
    chain[2]["body"] = {"text": "Our units did fire."}


def _list_edit_at(chain: list[dict[str, Any]]) -> None:
    chain[1]["at"] = "2022-02-10T11:00:00Z"


def _list_delete_2(chain: list[dict[str, Any]]) -> None:
    del chain[1]


def _list_insert_forged(chain: list[dict[str, Any]]) -> None:
    forged = unsigned_record(C, 2, "message", "rus", "ukr", ACK2, {"text": "x"}, chain[0]["hash"])
    chain.insert(1, sign_record(forged, MALLORY))


def _list_swap_2_3(chain: list[dict[str, Any]]) -> None:
    chain[1], chain[2] = chain[2], chain[1]


def _list_other_signature(chain: list[dict[str, Any]]) -> None:
    body = {k: v for k, v in chain[2].items() if k not in ("signature", "hash")}
    chain[2] = sign_record(body, MALLORY)


def _list_duplicate(chain: list[dict[str, Any]]) -> None:
    chain.insert(2, dict(chain[1]))


@pytest.mark.parametrize(
    ("tamper", "bad"),
    [
        (_list_edit_body, 3),
        (_list_edit_at, 2),
        (_list_delete_2, 2),
        (_list_insert_forged, 2),
        (_list_swap_2_3, 2),
        (_list_other_signature, 3),
        (_list_duplicate, 3),
    ],
)
def test_tampering_with_an_exported_chain_names_the_first_bad_record(
    hotline: Hotline, tamper: Callable[[list[dict[str, Any]]], None], bad: int
) -> None:
    chain = hotline.export(C)
    tamper(chain)
    verdict = hotline.verify(C, chain)
    assert (verdict.ok, verdict.first_bad_seq) == (False, bad), verdict
    lines = read_jsonl(to_jsonl(chain).encode())
    assert hotline.verify(C, lines).first_bad_seq == bad


def test_a_chain_of_another_channel_is_refused(hotline: Hotline) -> None:
    verdict = hotline.verify("blr--ukr", hotline.export(C))
    assert (verdict.ok, verdict.first_bad_seq) == (False, 1)
    assert "belongs to channel 'rus--ukr'" in verdict.reason
    with pytest.raises(InputError):
        hotline.verify("ukr--rus")  # not sorted: not a channel id


# --------------------------------------------------------------------------- appending


def _next(hotline: Hotline, key: Ed25519PrivateKey = UKR, **change: Any) -> dict[str, Any]:
    """A valid next ukr→rus message after the fixture's chain, with ``change`` applied before
    signing."""
    head = hotline.head(C)
    fields = {"channel": C, "seq": head["seq"] + 1, "kind": "message", "sender": "ukr",
              "to": "rus", "at": "2022-02-13T08:00:00Z", "body": {"text": "x"},
              "prev": head["hash"], **change}  # fmt: skip
    return sign_record(fields, key) if "signature" not in change else fields


@pytest.mark.parametrize(
    ("change", "field", "conflict"),
    [
        ({"prev": "1" * 64}, "prev", True),
        ({"seq": 6}, "seq", True),
        ({"seq": 4}, "seq", True),
        (
            {"channel": "blr--ukr", "seq": 1, "prev": GENESIS, "sender": "blr", "to": "ukr"},
            "signature",
            False,
        ),  # signed by ukr's key while claiming to be blr
        ({"sender": "blr"}, "sender", False),  # not a party of rus--ukr
        ({"at": "2022-02-12T07:59:59Z"}, "at", False),  # earlier than the head
        ({"at": "2099-01-01T00:00:00Z"}, "at", False),  # in the future
        ({"at": "2022-02-13 08:00:00"}, "at", False),
        ({"to": "ukr"}, "to", False),
        ({"kind": "ack", "acks": 1}, "body", False),  # an ack has no body
        ({"extra": 1}, "extra", False),
    ],
)
def test_append_refuses_naming_the_field(
    hotline: Hotline, change: dict[str, Any], field: str, conflict: bool
) -> None:
    with pytest.raises(InputError) as caught:
        hotline.append(_next(hotline, **change))
    assert caught.value.problems[0].field == field, caught.value.problems
    assert isinstance(caught.value, ChainConflict) == conflict
    assert hotline.head(C)["seq"] == 4  # nothing stored


def test_append_refuses_an_unregistered_sender() -> None:
    hotline = new_hotline()
    rec = unsigned_record("mda--ukr", 1, "message", "mda", "ukr", MSG1, {"text": "hi"})
    with pytest.raises(InputError) as caught:
        hotline.append(sign_record(rec, MALLORY))
    assert caught.value.problems[0].field == "sender"
    rec = unsigned_record("mda--ukr", 1, "message", "ukr", "mda", MSG1, {"text": "hi"})
    with pytest.raises(InputError) as caught:
        hotline.append(sign_record(rec, UKR))
    assert caught.value.problems[0].field == "to"  # nobody could ever answer


def test_append_refuses_a_signature_by_another_key_and_a_wrong_hash(hotline: Hotline) -> None:
    with pytest.raises(InputError) as caught:
        hotline.append(_next(hotline, key=MALLORY))
    assert caught.value.problems[0].field == "signature"
    rec = _next(hotline)
    with pytest.raises(InputError) as caught:
        hotline.append({**rec, "hash": "0" * 64})
    assert caught.value.problems[0].field == "hash"


@pytest.mark.parametrize(
    ("sender", "to", "key", "acks", "words"),
    [
        ("ukr", "rus", UKR, 1, "sent to 'rus', not to 'ukr'"),  # a message to someone else
        ("rus", "ukr", RUS, 1, "already acknowledged"),
        ("rus", "ukr", RUS, 2, "is an ack, not a message"),
        ("rus", "ukr", RUS, 9, "no record 9"),
        ("rus", "ukr", RUS, 3, "sent to 'ukr', not to 'rus'"),  # its own message
    ],
)
def test_append_refuses_bad_acknowledgements(
    hotline: Hotline, sender: str, to: str, key: Ed25519PrivateKey, acks: int, words: str
) -> None:
    head = hotline.head(C)
    rec = unsigned_record(C, head["seq"] + 1, "ack", sender, to, "2022-02-13T08:00:00Z", acks,
                          head["hash"])  # fmt: skip
    with pytest.raises(InputError, match=words) as caught:
        hotline.append(sign_record(rec, key))
    assert caught.value.problems[0].field == "acks"


def test_a_record_built_and_signed_by_hand_is_appended() -> None:
    hotline = new_hotline()
    hotline.send(UKR, "ukr", "rus", {"text": "hi"}, MSG1)
    head = hotline.head(C)
    rec = unsigned_record(C, 2, "ack", "rus", "ukr", ACK2, 1, head["hash"])
    assert hotline.append(sign_record(rec, RUS))["seq"] == 2
    assert hotline.verify(C).ok


def test_send_and_acknowledge_check_the_key_and_the_message(hotline: Hotline) -> None:
    with pytest.raises(InputError) as caught:
        hotline.send(RUS, "ukr", "rus", {"text": "x"})
    assert caught.value.problems[0].field == "key"
    with pytest.raises(InputError, match="sent to 'rus', not to 'ukr'"):
        hotline.acknowledge(UKR, "ukr", C, 4)
    with pytest.raises(InputError, match="no message 2"):
        hotline.acknowledge(RUS, "rus", C, 2)
    done = hotline.acknowledge(RUS, "rus", C, 4)  # now: after the head, in the present
    assert (done["seq"], done["acks"], done["to"]) == (5, 4, "ukr")
    assert hotline.verify(C).ok


# --------------------------------------------------------------------------- keys


def test_key_rotation_keeps_old_records_valid_and_retires_the_old_key(hotline: Hotline) -> None:
    rotated = T0 + timedelta(days=20)  # after the fixture's records
    new_rus = _key()
    hotline.register_key("rus", public_key_b64(new_rus), rotated)
    assert [k for _, k in hotline.keys("rus")] == [public_key_b64(RUS), public_key_b64(new_rus)]
    assert hotline.verify(C).ok  # records 2 and 3 were signed by rus's key at their time
    with pytest.raises(InputError) as caught:
        hotline.send(RUS, "rus", "ukr", {"text": "x"})
    assert caught.value.problems[0].field == "key"
    # Even back-dated into the old key's time, the old key can no longer sign.
    head = hotline.head(C)
    old = unsigned_record(C, 5, "message", "rus", "ukr", "2022-02-15T00:00:00Z", {"t": 1},
                          head["hash"])  # fmt: skip
    with pytest.raises(InputError, match="replaced") as caught:
        hotline.append(sign_record(old, RUS))
    assert caught.value.problems[0].field == "signature"
    hotline.send(new_rus, "rus", "ukr", {"text": "from the new key"}, rotated + timedelta(hours=1))
    assert hotline.verify(C).ok
    # Verification uses the key of each record's time: without the old key, record 2 fails.
    hotline.db.execute("DELETE FROM hotline_keys WHERE public_key = ?", [public_key_b64(RUS)])
    verdict = hotline.verify(C)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    assert "no key of 'rus'" in verdict.reason


def test_keys_cannot_be_back_dated(hotline: Hotline) -> None:
    with pytest.raises(InputError, match="current key"):
        hotline.register_key("rus", public_key_b64(_key()), T0 - timedelta(days=1))
    with pytest.raises(InputError, match="latest record"):
        hotline.register_key("ukr", public_key_b64(_key()), MSG4 - timedelta(hours=1))
    with pytest.raises(InputError, match="future"):
        hotline.register_key("ukr", public_key_b64(_key()), datetime(2099, 1, 1, tzinfo=UTC))
    with pytest.raises(InputError) as caught:
        hotline.register_key("ukr", "not base64!")
    assert caught.value.problems[0].field == "public_key"
    hotline.register_key("ukr", public_key_b64(UKR))  # the current key again: nothing changes
    assert len(hotline.keys("ukr")) == 1


def test_a_record_dated_before_the_first_key_is_refused() -> None:
    hotline = new_hotline()
    rec = unsigned_record(C, 1, "message", "ukr", "rus", T0 - timedelta(days=1), {"t": 1})
    with pytest.raises(InputError) as caught:
        hotline.append(sign_record(rec, UKR))
    assert caught.value.problems[0].field == "at"


# --------------------------------------------------------------------------- property tests

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=15,
)  # fmt: skip
BODIES = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(BODIES, min_size=1, max_size=3), data=st.data())
def test_any_body_signs_and_verifies_and_any_byte_change_is_caught(
    bodies: list[dict[str, Any]], data: st.DataObject
) -> None:
    hotline = new_hotline()
    for i, body in enumerate(bodies):
        hotline.send(UKR, "ukr", "rus", body, MSG1 + timedelta(minutes=i))
    assert hotline.verify(C).ok
    assert [r["body"] for r in hotline.records(C)] == bodies
    rows = hotline.db.rows(
        "SELECT record_json FROM hotline_records WHERE channel = ? ORDER BY seq", [C]
    )
    lines = [str(r[0]).encode() for r in rows]
    k = data.draw(st.integers(0, len(lines) - 1), label="record")
    pos = data.draw(st.integers(0, len(lines[k]) - 1), label="byte")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != lines[k][pos]), label="value")
    changed = bytearray(lines[k])
    changed[pos] = byte
    lines[k] = bytes(changed)
    verdict = hotline.verify(C, lines)
    assert (verdict.ok, verdict.first_bad_seq) == (False, k + 1), verdict
    try:
        text = lines[k].decode("utf-8")
    except UnicodeDecodeError:
        return  # not text any more: a VARCHAR column cannot hold it; the bytes were checked
    hotline.db.execute(
        "UPDATE hotline_records SET record_json = ? WHERE channel = ? AND seq = ?",
        [text, C, k + 1],
    )
    verdict = hotline.verify(C)
    assert (verdict.ok, verdict.first_bad_seq) == (False, k + 1), verdict


# --------------------------------------------------------------------------- concurrency


def _race(open_db: Callable[[], Database], writers: int = 6, each: int = 5) -> Hotline:
    """``writers`` threads, each on its own connection, sending ``each`` messages at once."""
    setup = new_hotline(open_db())
    failures: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        db = open_db()
        try:
            mine = Hotline(db)
            start.wait()
            for j in range(each):
                key, sender, to = (UKR, "ukr", "rus") if n % 2 else (RUS, "rus", "ukr")
                mine.send(key, sender, to, {"text": f"writer {n} message {j}"})
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    return setup


def test_concurrent_appends_to_duckdb_never_fork_the_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "hotline.duckdb")
    hotline = _race(lambda: Database.open(path))
    verdict = hotline.verify(C)
    assert verdict.ok and verdict.checked == 30
    assert [r["seq"] for r in hotline.records(C)] == list(range(1, 31))


@pytest.mark.parametrize("they_commit_first", [True, False])
def test_racing_duckdb_connections_never_fork_the_chain(
    tmp_path: Path, they_commit_first: bool
) -> None:
    """Two connections append seq 5 from the same head: the primary key lets one in."""
    path = str(tmp_path / "hotline.duckdb")
    mine = new_hotline(Database.open(path))
    fill(mine)
    theirs = Hotline(Database.open(path))
    my_record, their_record = _next(mine), _next(mine, body={"text": "theirs"})
    if they_commit_first:
        # Our transaction's snapshot predates their commit: our insert is refused.
        with mine.db.transaction():
            mine.head(C)
            theirs.append(their_record)
            with pytest.raises(ChainConflict) as caught:
                mine.append(my_record)
        assert caught.value.problems[0].field == "seq"
        winner = their_record
    else:
        # Our insert is still uncommitted when theirs commits: our commit is refused.
        with pytest.raises(duckdb.TransactionException), mine.db.transaction():
            mine.append(my_record)
            theirs.append(their_record)
        winner = their_record
    assert mine.head(C) == theirs.head(C) == {"channel": C, "seq": 5, "hash": winner["hash"]}
    assert mine.verify(C).ok


def test_postgres_appends_verify_and_catch_tampering(pg_url: str) -> None:
    hotline = new_hotline(Database.open(pg_url))
    fill(hotline)
    assert hotline.verify(C).ok
    _edit_at(hotline)
    verdict = hotline.verify(C)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    hotline.db.close()


def test_concurrent_appends_to_postgres_never_fork_the_chain(pg_url: str) -> None:
    hotline = _race(lambda: Database.open(pg_url), writers=8)
    verdict = hotline.verify(C)
    assert verdict.ok and verdict.checked == 40
    hotline.db.close()


# --------------------------------------------------------------------------- as evidence

AGREEMENT = """\
id: hot
title: A hotline agreement
version: "1"
timezone: UTC
sources: [{id: vd, title: Vienna Document 2011}]
parties: [{id: rus, name: Russia}, {id: ukr, name: Ukraine}]
obligations:
  - id: answer
    kind: response_deadline
    clause: "A request for an explanation is answered within 48 hours (paraphrase)."
    source: {ref: vd, article: "ch. III"}
    bearers: [rus, ukr]
    hours: 48
    effective: {from: 2022-02-01T00:00:00}
"""


def test_messages_as_evidence_is_an_observation_frame(hotline: Hotline) -> None:
    frame = messages_as_evidence(hotline, datetime(2022, 2, 11, 9, tzinfo=UTC))
    assert dict(frame.dtypes.astype(str)) == OBSERVATION_COLUMNS
    assert frame["id"].tolist() == [f"hotline-{C}-1", f"hotline-{C}-2", f"hotline-{C}-3"]
    assert frame["kind"].tolist() == ["message", "ack", "message"]
    assert frame["actor"].tolist() == ["ukr", "rus", "rus"]
    assert frame["category"].tolist() == ["rus", "ukr", "ukr"]
    assert frame["note"].tolist() == ["Request", f"hotline-{C}-1", "Our units did not fire."]
    assert frame["lon"].isna().all() and frame["lat"].isna().all()
    assert set(frame["source"]) == {"hotline"} and set(frame["reliability"]) == {"A"}
    assert set(frame["credibility"]) == {1}
    assert frame["content_hash"].tolist() == [r["hash"] for r in hotline.records(C)[:3]]
    assert len(messages_as_evidence(hotline.db)) == 4  # from the database itself, no as-of
    assert len(messages_as_evidence(Hotline(Database.open(None)))) == 0


def test_hotline_records_judged_by_response_deadline(hotline: Hotline, tmp_path: Path) -> None:
    (tmp_path / "hot.yaml").write_text(AGREEMENT)
    ag = load_agreement(tmp_path / "hot.yaml")
    as_of = datetime(2022, 2, 20, tzinfo=UTC)
    report = evaluate(ag, messages_as_evidence(hotline, as_of), as_of)
    by_party = {f.party: f for f in report.findings}
    # rus answered message 1 in 2 h, but not message 4 (due 14 Feb 08:00).
    assert by_party["rus"].status is Status.violation
    assert by_party["rus"].evidence == (f"hotline-{C}-4",)
    assert f"hotline-{C}-4 from ukr" in by_party["rus"].explanation
    # ukr never acknowledged rus's message 3 (due 13 Feb 09:00).
    assert by_party["ukr"].status is Status.violation
    hotline.acknowledge(RUS, "rus", C, 4, datetime(2022, 2, 13, tzinfo=UTC))
    hotline.acknowledge(UKR, "ukr", C, 3, datetime(2022, 2, 13, 1, tzinfo=UTC))
    report = evaluate(ag, messages_as_evidence(hotline, as_of), as_of)
    assert {f.party: f.status for f in report.findings} == {
        "rus": Status.compliant, "ukr": Status.compliant,
    }  # fmt: skip
    early = datetime(2022, 2, 12, 9, tzinfo=UTC)  # message 4 is an hour old
    report = evaluate(ag, messages_as_evidence(hotline, early), early)
    assert {f.party: f.status for f in report.findings}["rus"] is Status.pending


# --------------------------------------------------------------------------- the command line


def detente(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "detente", "hotline", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )  # fmt: skip


def test_cli_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "hot.duckdb"
    for party in ("ukr", "rus"):
        done = detente("keygen", "--party", party, "--out", f"{party}.pem", "--db", db,
                       cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(base64.b64decode(done.stdout.strip())) == 32
        assert stat.S_IMODE((tmp_path / f"{party}.pem").stat().st_mode) == 0o600
    text = "Explain the shelling near Avdiivka."
    sent = detente("send", "--db", db, "--key", "ukr.pem", "--from", "ukr", "--to", "rus", text,
                   "--subject", "Request", cwd=tmp_path)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "sent rus--ukr seq 1" in sent.stdout
    acked = detente("ack", "--db", db, "--key", "rus.pem", "--from", "rus", "--channel", C,
                    "--seq", "1", cwd=tmp_path)  # fmt: skip
    assert acked.returncode == 0, acked.stderr
    shown = detente("show", "--db", db, "--channel", C, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Explain the shelling" in shown.stdout and "acknowledges seq 1" in shown.stdout
    assert "head: seq 2 hash " in shown.stdout
    exported = detente("show", "--db", db, "--channel", C, "--format", "jsonl", cwd=tmp_path)
    (tmp_path / "chain.jsonl").write_text(exported.stdout)
    head = json.loads(exported.stderr)
    assert head["seq"] == 2 and len(exported.stdout.splitlines()) == 2
    published = f"2:{head['hash']}"
    ok = detente("verify", "--db", db, "--file", "chain.jsonl", "--head", published, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: rus--ukr: 2 records intact")

    with duckdb.connect(str(db)) as con:  # someone edits the store behind Detente's back
        con.execute("UPDATE hotline_records SET record_json = replace(record_json, "
                    "'Avdiivka', 'Donetsk') WHERE seq = 1")  # fmt: skip
    bad = detente("verify", "--db", db, cwd=tmp_path)
    assert bad.returncode == 1
    assert "rus--ukr: first bad record: seq 1: signature does not verify" in bad.stdout
    short = tmp_path / "short.jsonl"
    short.write_text(exported.stdout.splitlines()[0] + "\n")
    cut = detente("verify", "--db", db, "--file", short, "--head", published, cwd=tmp_path)
    assert cut.returncode == 1 and "seq 2: record 2 is missing" in cut.stdout


def test_cli_bad_input_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same application in-process (each subprocess costs seconds of imports)."""
    from typer.testing import CliRunner

    from detente.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str | Path) -> tuple[int, str]:
        done = runner.invoke(app, ["hotline", *map(str, args)])
        return done.exit_code, done.output

    db = tmp_path / "hot.duckdb"
    for party in ("ukr", "rus"):
        assert run("keygen", "--party", party, "--out", f"{party}.pem", "--db", db)[0] == 0
    (tmp_path / "bad.pem").write_text("not a key")
    cases = {
        "not an unencrypted PEM": ("send", "--db", db, "--key", "bad.pem", "--from", "ukr",
                                   "--to", "rus", "hi"),
        "not ukr's registered key": ("send", "--db", db, "--key", "rus.pem", "--from", "ukr",
                                     "--to", "rus", "hi"),
        "'xyz' has no registered key": ("send", "--db", db, "--key", "ukr.pem", "--from", "xyz",
                                        "--to", "rus", "hi"),
        "'rsu' has no registered key": ("send", "--db", db, "--key", "ukr.pem", "--from", "ukr",
                                        "--to", "rsu", "hi"),
        "already exists": ("keygen", "--party", "ukr", "--out", "ukr.pem"),
        "no such database file": ("verify", "--db", tmp_path / "none.duckdb"),
        "no channel 'blr--ukr'": ("verify", "--db", db, "--channel", "blr--ukr"),
        "No such file": ("verify", "--db", db, "--file", "missing.jsonl"),
        "--head": ("verify", "--db", db, "--head", "2:abc"),
        "--party": ("keygen", "--party", "UKR", "--out", "x.pem"),
        "no message 1": ("ack", "--db", db, "--key", "rus.pem", "--from", "rus", "--channel", C,
                         "--seq", "1"),
    }  # fmt: skip
    for words, args in cases.items():
        code, output = run(*args)
        assert code == 2, (args, output)
        assert words in " ".join(output.split()), (words, output)
    assert not (tmp_path / "x.pem").exists()

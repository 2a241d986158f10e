"""The hotline: signed, hash-chained messages between two parties, and their acknowledgements.

    >>> from detente.store._db import Database
    >>> hotline = Hotline(Database.open(None))
    >>> ukr_pem, ukr_public = generate_key()
    >>> rus_pem, rus_public = generate_key()
    >>> hotline.register_key("ukr", ukr_public)
    >>> hotline.register_key("rus", rus_public)
    >>> sent = hotline.send(load_private_key(ukr_pem), "ukr", "rus", {"text": "Shelling at X"})
    >>> sent["channel"], sent["seq"], sent["kind"]
    ('rus--ukr', 1, 'message')
    >>> _ = hotline.acknowledge(load_private_key(rus_pem), "rus", "rus--ukr", 1)
    >>> hotline.verify("rus--ukr").ok, hotline.head("rus--ukr")["seq"]
    (True, 2)

Every record is a JSON object signed by its sender with Ed25519 over its RFC 8785 canonical form
(without ``signature`` and ``hash``); its ``hash`` is the sha256 of the canonical form with the
signature, and the next record of the channel carries it as ``prev``. So editing, deleting,
inserting or reordering records breaks a signature, a hash or a link, and :meth:`Hotline.verify`
names the first record where that happens. Deleting records at the end of a chain leaves no gap:
publishing the head (:meth:`Hotline.head`) and checking it later is what detects that.

Keys: a party's public key can be rotated (:meth:`Hotline.register_key` keeps every key it was
given). A record is checked against the sender's key that was current at the record's ``at``;
appending requires that key to be the sender's current key, so a retired key cannot sign anything
new, even with a back-dated ``at``. See ``docs/hotline.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NoReturn

import pandas as pd
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from detente.errors import InputError, Problem
from detente.evidence import OBSERVATION_COLUMNS
from detente.store._db import Database

__all__ = [
    "GENESIS",
    "ChainConflict",
    "Hotline",
    "Verification",
    "canonical",
    "channel_id",
    "channel_parties",
    "generate_key",
    "is_party_id",
    "load_private_key",
    "loads",
    "messages_as_evidence",
    "public_key_b64",
    "read_jsonl",
    "record_hash",
    "sign_record",
    "to_jsonl",
    "unsigned_record",
    "verify_signature",
]

Kind = Literal["message", "ack"]

#: ``prev`` of the first record of every channel.
GENESIS = "0" * 64
#: How far ahead of this machine's clock a record's ``at`` may be (clocks drift a little).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: How often :meth:`Hotline.send` re-reads the head and signs again when a writer got there first.
SEND_ATTEMPTS = 20
#: The largest integer every JSON reader holds exactly (I-JSON, RFC 7493); RFC 8785 refuses more.
_SAFE_INT = 2**53 - 1
#: Appends to DuckDB in this process, one at a time (a DuckDB file has one writing process).
_DUCKDB_WRITERS = threading.RLock()

_PARTY = re.compile(r"[a-z][a-z0-9_]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# UTC only, with a literal Z: one instant has one spelling, so one record has one canonical form.
_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
_MESSAGE_FIELDS = ("channel", "seq", "kind", "sender", "to", "at", "body", "prev")
_ACK_FIELDS = ("channel", "seq", "kind", "sender", "to", "at", "acks", "prev")
_SIGNED_EXTRA = ("signature", "hash")
#: The query columns stored beside each record, named as the record's fields.
_COLUMNS = ("seq", "kind", "sender", "to", "at", "acks", "hash")

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS hotline_keys (
        party VARCHAR NOT NULL,
        public_key VARCHAR NOT NULL,
        registered_at TIMESTAMPTZ NOT NULL)""",
    # record_json is the record as signed and chained (canonical JSON, the source of truth); the
    # other columns are copies for queries, and verify() checks that they agree with it.
    """CREATE TABLE IF NOT EXISTS hotline_records (
        channel VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        sender VARCHAR NOT NULL,
        recipient VARCHAR NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL,
        acks BIGINT,
        record_json VARCHAR NOT NULL,
        hash VARCHAR NOT NULL,
        appended_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (channel, seq))""",
]


def _refuse(where: str, field: str, message: str) -> NoReturn:
    raise InputError([Problem(where, field, message)])


# --------------------------------------------------------------------------- keys


def generate_key() -> tuple[bytes, str]:
    """A new Ed25519 key pair: the private key as PEM (PKCS #8, unencrypted) and the public key
    as base64 of its 32 raw bytes (what :meth:`Hotline.register_key` takes).

    >>> pem, public = generate_key()
    >>> pem.startswith(b"-----BEGIN PRIVATE KEY-----"), len(base64.b64decode(public))
    (True, 32)
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_key_b64(key)


def load_private_key(pem: bytes, where: str = "<key>") -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM bytes; :class:`InputError` naming ``where`` if it is not.

    >>> pem, _ = generate_key()
    >>> isinstance(load_private_key(pem), Ed25519PrivateKey)
    True
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        # TypeError: an encrypted key, which needs a password the hotline never asks for.
        _refuse(where, "", f"not an unencrypted PEM private key ({exc})")
    if not isinstance(key, Ed25519PrivateKey):
        _refuse(where, "", "not an Ed25519 private key (make one with detente hotline keygen)")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Base64 of the 32 raw bytes of a public key (or of a private key's public half)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _strict_b64(text: object, size: int) -> bytes | None:
    """The bytes of canonical base64 ``text`` of exactly ``size`` bytes, else None.

    Canonical: encoding the bytes again gives the same text. Plain decoding ignores the unused
    low bits of the last character, so without this a one-character edit of a signature passes.
    """
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


# --------------------------------------------------------------------------- records


def channel_id(a: str, b: str) -> str:
    """The channel between two parties: their ids sorted and joined by ``--``.

    >>> channel_id("ukr", "rus")
    'rus--ukr'
    """
    for field, party in (("sender", a), ("to", b)):
        if not isinstance(party, str) or not _PARTY.fullmatch(party):
            _refuse("<hotline>", field, f"{party!r} is not a party id ([a-z][a-z0-9_]*)")
    if a == b:
        _refuse("<hotline>", "to", f"a party cannot open a channel to itself ({a!r})")
    return "--".join(sorted((a, b)))


def channel_parties(channel: object) -> tuple[str, str] | None:
    """The two parties of a channel id, or None if it is not one (sorted, distinct, valid ids).

    >>> channel_parties("rus--ukr"), channel_parties("ukr--rus"), channel_parties("ukr")
    (('rus', 'ukr'), None, None)
    """
    parts = channel.split("--") if isinstance(channel, str) else []
    if len(parts) != 2 or not all(_PARTY.fullmatch(p) for p in parts) or parts[0] >= parts[1]:
        return None
    return parts[0], parts[1]


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON (sorted keys, ECMAScript numbers, no whitespace) as UTF-8 bytes.

    >>> canonical({"b": 1.0, "a": [True, None, "é"]}).decode()
    '{"a":[true,null,"é"],"b":1}'
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        # e.g. NaN, an integer beyond ±2^53 (I-JSON), a key that is not a string
        _refuse("<hotline>", "body", f"cannot be written as canonical JSON: {exc}")


def _parse_int(text: str) -> int | float:
    number = int(text)
    return number if abs(number) <= _SAFE_INT else float(number)


def loads(text: str | bytes) -> Any:
    """JSON as signed records were written: an integer beyond ±2^53 is read as the float it
    was (RFC 8785 writes 1e16 as ``10000000000000000``), so reading and writing again gives
    the same canonical text.

    >>> loads('{"a":10000000000000000,"b":3}')
    {'a': 1e+16, 'b': 3}
    """
    return json.loads(text, parse_int=_parse_int)


def _iso(moment: datetime) -> str:
    """``2022-02-10T10:00:00Z``: UTC with a Z; microseconds only when there are any."""
    if moment.tzinfo is None:
        _refuse("<hotline>", "at", "a time needs a time zone (UTC)")
    utc = moment.astimezone(UTC)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds")[:-6] + "Z"


def _parse_at(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00")


def _utc(value: Any) -> datetime:
    """A time from the database (naive means UTC) as an aware UTC datetime."""
    moment = pd.Timestamp(value)
    moment = moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)
    result: datetime = moment.to_pydatetime()
    return result


def unsigned_record(
    channel: str,
    seq: int,
    kind: Kind,
    sender: str,
    to: str,
    at: datetime | str,
    content: Mapping[str, Any] | int,
    prev: str = GENESIS,
) -> dict[str, Any]:
    """A record ready to sign; ``content`` is the ``body`` object of a message, or the seq of
    the message an ``ack`` acknowledges. Raises :class:`InputError` naming a bad field.

    >>> rec = unsigned_record("rus--ukr", 1, "message", "ukr", "rus",
    ...                       "2022-02-10T10:00:00Z", {"text": "hello"})
    >>> sorted(rec)
    ['at', 'body', 'channel', 'kind', 'prev', 'sender', 'seq', 'to']
    """
    record: dict[str, Any] = {
        "channel": channel,
        "seq": seq,
        "kind": kind,
        "sender": sender,
        "to": to,
        "at": _iso(at) if isinstance(at, datetime) else at,
        "prev": prev,
    }
    if kind == "ack":
        record["acks"] = content
    else:
        record["body"] = dict(content) if isinstance(content, Mapping) else content
    _raise(channel, _shape_problems(record, signed=False))
    canonical(record)  # refuse now, naming the body, what cannot be signed (NaN, huge integers)
    return record


def _signed_part(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _SIGNED_EXTRA}


def record_hash(record: Mapping[str, Any]) -> str:
    """Hex sha256 of the canonical JSON of the record with its signature, without its hash."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def sign_record(record: Mapping[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``record`` with ``signature`` (base64 Ed25519 over the canonical JSON of the
    record without signature and hash) and then ``hash`` added.

    >>> pem, public = generate_key()
    >>> rec = unsigned_record("rus--ukr", 1, "message", "ukr", "rus",
    ...                       "2022-02-10T10:00:00Z", {"text": "hello"})
    >>> signed = sign_record(rec, load_private_key(pem))
    >>> verify_signature(signed, public), signed["hash"] == record_hash(signed)
    (True, True)
    """
    body = _signed_part(record)
    _raise(str(body.get("channel", "<hotline>")), _shape_problems(body, signed=False))
    signature = private_key.sign(canonical(body))
    signed = {**body, "signature": base64.b64encode(signature).decode("ascii")}
    signed["hash"] = record_hash(signed)
    return signed


def verify_signature(record: Mapping[str, Any], public_key: str) -> bool:
    """Whether ``record["signature"]`` is ``public_key``'s (base64) signature of the record."""
    raw_key = _strict_b64(public_key, 32)
    signature = _strict_b64(record.get("signature"), 64)
    if raw_key is None or signature is None:
        return False
    try:
        public = Ed25519PublicKey.from_public_bytes(raw_key)
        public.verify(signature, canonical(_signed_part(record)))
    except (InvalidSignature, InputError):
        return False
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_party_id(value: object) -> bool:
    """Whether ``value`` is a party id as agreements write them (``[a-z][a-z0-9_]*``).

    >>> is_party_id("dpr_lpr"), is_party_id("UKR"), is_party_id("a--b")
    (True, False, False)
    """
    return isinstance(value, str) and bool(_PARTY.fullmatch(value))


_is_party = is_party_id


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and bool(_HEX64.fullmatch(value))


def _is_at(value: object) -> bool:
    if not isinstance(value, str) or not _AT.fullmatch(value):
        return False
    try:
        _parse_at(value)
    except ValueError:  # e.g. 2022-02-30
        return False
    return True


#: field -> (is the value well formed, what it should be)
_FORMS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "channel": (lambda v: channel_parties(v) is not None, "is not a channel id (a--b, sorted)"),
    "seq": (lambda v: _is_int(v) and v >= 1, "is not a whole number from 1"),
    "kind": (lambda v: v in ("message", "ack"), "is not 'message' or 'ack'"),
    "sender": (_is_party, "is not a party id"),
    "to": (_is_party, "is not a party id"),
    "at": (_is_at, "is not an ISO 8601 UTC time such as 2022-02-10T10:00:00Z"),
    "body": (lambda v: isinstance(v, dict), "is not a JSON object"),
    "acks": (lambda v: _is_int(v) and v >= 1, "is not the seq of a message"),
    "prev": (_is_hex64, "is not 64 lowercase hex digits"),
    "signature": (lambda v: _strict_b64(v, 64) is not None, "is not a base64 Ed25519 signature"),
    "hash": (_is_hex64, "is not 64 lowercase hex digits"),
}


def _shape_problems(record: Mapping[str, Any], *, signed: bool) -> list[tuple[str, str]]:
    """(field, what is wrong) for every field of a record that has the wrong form."""
    kind = record.get("kind")
    if kind not in ("message", "ack"):
        return [("kind", f"{kind!r} is not 'message' or 'ack'")]
    expected = (_ACK_FIELDS if kind == "ack" else _MESSAGE_FIELDS) + (
        _SIGNED_EXTRA if signed else ()
    )
    problems = [(f, "is missing") for f in expected if f not in record]
    problems += [(f, f"is not a field of a hotline {kind}") for f in record if f not in expected]
    for field in expected:
        if field in record and not _FORMS[field][0](record[field]):
            problems.append((field, f"{_FORMS[field][1]} (got {repr(record[field])[:60]})"))
    if not problems:
        parties = channel_parties(record["channel"])
        assert parties is not None
        if record["sender"] == record["to"]:
            problems.append(("to", "is the sender itself"))
        elif {record["sender"], record["to"]} != set(parties):
            who = "sender" if record["sender"] not in parties else "to"
            problems.append((who, f"{record[who]!r} is not a party of {record['channel']!r}"))
    return problems


def _raise(where: str, problems: list[tuple[str, str]]) -> None:
    if problems:
        raise InputError([Problem(where, field, message) for field, message in problems])


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """The records as JSON lines, each in canonical form (what :func:`read_jsonl` reads).

    >>> to_jsonl([{"seq": 1, "kind": "ack"}])
    '{"kind":"ack","seq":1}\\n'
    """
    return "".join(canonical(dict(r)).decode("utf-8") + "\n" for r in records)


def read_jsonl(data: bytes) -> list[bytes]:
    """The non-empty lines of a JSON lines file, undecoded: :meth:`Hotline.verify` judges each
    (a line that is not canonical JSON is a bad record, not a bad file).

    >>> read_jsonl(b'{"seq":1}\\n\\n{"seq":2}\\n')
    [b'{"seq":1}', b'{"seq":2}']
    """
    return [line for line in data.split(b"\n") if line.strip()]


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one chain: ``ok``, or the first bad record and why.

    ``checked`` counts the records found good (all of them when ``ok``).

    >>> str(Verification(False, 2, "record 2 is missing", 1))
    'first bad record: seq 2: record 2 is missing'
    """

    ok: bool
    first_bad_seq: int | None
    reason: str
    checked: int = 0

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.reason}"
        return f"first bad record: seq {self.first_bad_seq}: {self.reason}"


@dataclass(frozen=True)
class _Item:
    """One record to verify: a dict or its JSON text, and the store's columns for it if any."""

    value: Mapping[str, Any] | str | bytes
    columns: Mapping[str, Any] | None = None


class ChainConflict(InputError):
    """A record's ``seq``/``prev`` do not follow the channel's head (another record came first)."""


# --------------------------------------------------------------------------- the store


class Hotline:
    """The hotline's keys and chains in a :class:`~detente.store._db.Database` (DuckDB or
    PostgreSQL); creates its tables if missing.

    >>> hotline = Hotline(Database.open(None))
    >>> hotline.channels()
    []
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction():
            if db.dialect == "postgres":
                # CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL: serialise it.
                db.execute("SELECT pg_advisory_xact_lock(hashtext('detente.hotline.schema'))")
            for statement in _SCHEMA:
                db.execute(statement)

    # ------------------------------------------------------------------ keys

    def register_key(
        self, party: str, public_key: str, registered_at: datetime | None = None
    ) -> None:
        """Make ``public_key`` (base64 of 32 raw bytes) ``party``'s current key from
        ``registered_at`` (default now). Earlier keys are kept, so records signed while they
        were current still verify. Registering the current key again changes nothing.

        ``registered_at`` is for importing a hotline kept elsewhere with its original times. It
        may not be earlier than the party's current key or latest record: a back-dated key
        would take over records another key signed.

        >>> hotline.register_key("ukr", public)                       # doctest: +SKIP
        """
        where = f"<key of {party}>"
        if not _is_party(party):
            _refuse(where, "party", f"{party!r} is not a party id ([a-z][a-z0-9_]*)")
        if _strict_b64(public_key, 32) is None:
            _refuse(where, "public_key", "is not base64 of a 32-byte Ed25519 public key")
        if registered_at is not None and registered_at.tzinfo is None:
            _refuse(where, "registered_at", "needs a time zone")
        now = datetime.now(UTC)
        when = now if registered_at is None else registered_at.astimezone(UTC)
        if when > now + MAX_CLOCK_SKEW:
            _refuse(where, "registered_at", f"{_iso(when)} is in the future")
        with self.db.transaction():
            self._lock(f"keys:{party}")
            history = self.keys(party)
            if history and history[-1][1] == public_key:
                return
            if history and when <= history[-1][0]:
                since = _iso(history[-1][0])
                _refuse(where, "registered_at", f"must be later than the current key's ({since})")
            latest = self.db.one(
                "SELECT max(sent_at) FROM hotline_records WHERE sender = ?", [party]
            )
            if latest is not None and latest[0] is not None and when < _utc(latest[0]):
                last = _iso(_utc(latest[0]))
                _refuse(where, "registered_at", f"is before {party}'s latest record ({last})")
            self.db.execute(
                "INSERT INTO hotline_keys (party, public_key, registered_at) VALUES (?, ?, ?)",
                [party, public_key, when],
            )

    def keys(self, party: str) -> list[tuple[datetime, str]]:
        """``party``'s keys as ``(registered_at, public_key)``, oldest first."""
        rows = self.db.rows(
            "SELECT registered_at, public_key FROM hotline_keys WHERE party = ? "
            "ORDER BY registered_at",
            [party],
        )
        return [(_utc(when), str(key)) for when, key in rows]

    def current_key(self, party: str) -> str | None:
        """``party``'s latest registered public key, or None."""
        history = self.keys(party)
        return history[-1][1] if history else None

    def _all_keys(self) -> dict[str, list[tuple[datetime, str]]]:
        rows = self.db.rows(
            "SELECT party, registered_at, public_key FROM hotline_keys "
            "ORDER BY party, registered_at"
        )
        out: dict[str, list[tuple[datetime, str]]] = {}
        for party, when, key in rows:
            out.setdefault(str(party), []).append((_utc(when), str(key)))
        return out

    # ------------------------------------------------------------------ writing

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Check a signed record against the channel's head and the sender's key; store it.

        Refused with an :class:`InputError` naming the field: a malformed record; a sender or
        recipient not of the channel; an unregistered sender; a signature that does not verify
        with the sender's current key; a wrong hash; ``at`` before the head's or in the future;
        an ack of anything but an unacknowledged message sent to the acker. Refused with a
        :class:`ChainConflict` when ``seq``/``prev`` do not follow the head (re-read it and sign
        again). Check and insert are one transaction, serialised per channel, so concurrent
        appends never fork a chain: exactly one record gets each seq.

        >>> hotline.append(sign_record(unsigned_record(...), key))      # doctest: +SKIP
        """
        rec = dict(record)
        channel = str(rec.get("channel", "<hotline>"))
        _raise(channel, _shape_problems(rec, signed=True))
        if rec["hash"] != record_hash(rec):
            _refuse(channel, "hash", "does not match the record (sha256 of its canonical JSON)")
        text = canonical(rec).decode("utf-8")
        with self._serialised(channel), self.db.transaction():
            self._lock(f"channel:{channel}")
            self._check_append(rec)
            self.db.execute(
                "INSERT INTO hotline_records (channel, seq, kind, sender, recipient, sent_at, "
                "acks, record_json, hash, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [channel, rec["seq"], rec["kind"], rec["sender"], rec["to"],
                 _parse_at(rec["at"]), rec.get("acks"), text, rec["hash"], datetime.now(UTC)],
            )  # fmt: skip
        return rec

    @contextmanager
    def _serialised(self, channel: str) -> Iterator[None]:
        """Around a transaction that appends: one writer at a time, and a racing writer's
        commit reported as a :class:`ChainConflict`.

        A DuckDB file has one writing process, so a lock in this process serialises its
        writers; a racing commit (another connection's) fails on the (channel, seq) primary key.
        PostgreSQL writers are serialised by :meth:`_lock` inside the transaction.
        """
        with _DUCKDB_WRITERS if self.db.dialect == "duckdb" else nullcontext():
            try:
                yield
            except InputError:
                raise
            except Exception as exc:
                if not self._is_conflict(exc):
                    raise
                message = "another writer appended first; read the head again and sign again"
                raise ChainConflict([Problem(channel, "seq", message)]) from None

    def _lock(self, name: str) -> None:
        """Serialise PostgreSQL writers of one channel (or of one party's keys), across
        processes, until the transaction ends: a transaction-level advisory lock."""
        if self.db.dialect == "postgres":
            self.db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [f"detente:{name}"])

    def _is_conflict(self, exc: Exception) -> bool:
        if self.db.dialect == "postgres":
            import psycopg

            return isinstance(exc, psycopg.errors.UniqueViolation)
        import duckdb

        return isinstance(exc, duckdb.ConstraintException | duckdb.TransactionException)

    def _check_append(self, rec: dict[str, Any]) -> None:
        channel, seq, sender = rec["channel"], rec["seq"], rec["sender"]
        head = self.db.one(
            "SELECT seq, hash, sent_at FROM hotline_records WHERE channel = ? "
            "ORDER BY seq DESC LIMIT 1",
            [channel],
        )
        head_seq, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        if seq != head_seq + 1:
            message = f"is {seq}, expected {head_seq + 1} (the channel's head is seq {head_seq})"
            raise ChainConflict([Problem(channel, "seq", message)])
        if rec["prev"] != head_hash:
            message = f"is not the hash of the channel's head (seq {head_seq}: {head_hash})"
            raise ChainConflict([Problem(channel, "prev", message)])
        at = _parse_at(rec["at"])
        if head is not None and at < _utc(head[2]):
            _refuse(
                channel, "at", f"{rec['at']} is earlier than the head's ({_iso(_utc(head[2]))})"
            )
        if at > datetime.now(UTC) + MAX_CLOCK_SKEW:
            _refuse(channel, "at", f"{rec['at']} is in the future")
        history = self.keys(sender)
        if not history:
            _refuse(channel, "sender", f"{sender!r} has no registered key: register it first")
        key = _key_at(history, at)
        if key is None:
            first = _iso(history[0][0])
            _refuse(channel, "at", f"{rec['at']} is before {sender}'s first key ({first})")
        if key != history[-1][1]:
            since = _iso(history[-1][0])
            message = (
                f"{sender}'s key at {rec['at']} was replaced on {since}; sign with the new one"
            )
            _refuse(channel, "signature", message)
        if not verify_signature(rec, key):
            _refuse(channel, "signature", f"does not verify with {sender}'s registered key")
        if not self.keys(rec["to"]):
            # A typo must not open a channel nobody can answer.
            _refuse(channel, "to", f"{rec['to']!r} has no registered key: no such party here")
        if rec["kind"] == "ack":
            self._check_ack(rec)

    def _check_ack(self, rec: dict[str, Any]) -> None:
        channel, target = rec["channel"], rec["acks"]
        found = self.db.one(
            "SELECT kind, sender, recipient FROM hotline_records WHERE channel = ? AND seq = ?",
            [channel, target],
        )
        if found is None:
            _refuse(channel, "acks", f"there is no record {target} in this channel")
        kind, sender, recipient = found
        if kind != "message":
            _refuse(channel, "acks", f"record {target} is an {kind}, not a message")
        if recipient != rec["sender"]:
            message = f"message {target} was sent to {recipient!r}, not to {rec['sender']!r}"
            _refuse(channel, "acks", message + "; only its recipient acknowledges it")
        if sender != rec["to"]:
            _refuse(channel, "to", f"an ack goes to the message's sender ({sender!r})")
        again = self.db.one(
            "SELECT seq FROM hotline_records WHERE channel = ? AND kind = 'ack' AND acks = ?",
            [channel, target],
        )
        if again is not None:
            _refuse(channel, "acks", f"message {target} is already acknowledged (seq {again[0]})")

    def send(
        self,
        private_key: Ed25519PrivateKey,
        sender: str,
        to: str,
        body: Mapping[str, Any],
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Sign a message from ``sender`` to ``to`` and append it at the head of their channel.

        ``at`` defaults to now. If another writer appends first, the head is read again and the
        record signed again (a signed record names its seq and prev, so it cannot just move).

        >>> hotline.send(key, "ukr", "rus", {"subject": "Notice", "text": "…"})  # doctest: +SKIP
        """
        channel = channel_id(sender, to)

        def build(head: dict[str, Any]) -> dict[str, Any]:
            when = at or datetime.now(UTC)
            return unsigned_record(
                channel, head["seq"] + 1, "message", sender, to, when, body, head["hash"]
            )

        return self._sign_and_append(private_key, sender, channel, build)

    def acknowledge(
        self,
        private_key: Ed25519PrivateKey,
        sender: str,
        channel: str,
        seq: int,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Sign ``sender``'s acknowledgement of message ``seq`` of ``channel`` and append it.

        >>> hotline.acknowledge(key, "rus", "rus--ukr", 1)                     # doctest: +SKIP
        """
        if channel_parties(channel) is None:
            _refuse("<hotline>", "channel", f"{channel!r} is not a channel id (a--b, sorted)")
        found = self.db.one(
            "SELECT kind, sender, recipient FROM hotline_records WHERE channel = ? AND seq = ?",
            [channel, seq],
        )
        if found is None or found[0] != "message":
            _refuse(channel, "acks", f"there is no message {seq} in this channel")
        if found[2] != sender:
            _refuse(channel, "acks", f"message {seq} was sent to {found[2]!r}, not to {sender!r}")
        to = str(found[1])

        def build(head: dict[str, Any]) -> dict[str, Any]:
            when = at or datetime.now(UTC)
            return unsigned_record(
                channel, head["seq"] + 1, "ack", sender, to, when, seq, head["hash"]
            )

        return self._sign_and_append(private_key, sender, channel, build)

    def _sign_and_append(
        self,
        private_key: Ed25519PrivateKey,
        sender: str,
        channel: str,
        build: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        current = self.current_key(sender)
        if current is None:
            _refuse(channel, "sender", f"{sender!r} has no registered key: register it first")
        if public_key_b64(private_key) != current:
            _refuse(channel, "key", f"this private key is not {sender}'s registered key")
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                # The head is read under the channel's lock, so it cannot move before the insert;
                # only a DuckDB connection elsewhere can still get there first (then: again).
                with self._serialised(channel), self.db.transaction():
                    self._lock(f"channel:{channel}")
                    return self.append(sign_record(build(self.head(channel)), private_key))
            except ChainConflict:
                if attempt == SEND_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ reading

    def channels(self, party: str | None = None) -> list[str]:
        """Every channel with at least one record (those of ``party`` only, if given), sorted."""
        if party is None:
            rows = self.db.rows("SELECT DISTINCT channel FROM hotline_records ORDER BY channel")
        else:
            rows = self.db.rows(
                "SELECT DISTINCT channel FROM hotline_records WHERE sender = ? OR recipient = ? "
                "ORDER BY channel",
                [party, party],
            )
        return [str(r[0]) for r in rows]

    def _rows(self, channel: str) -> list[tuple[Any, ...]]:
        return self.db.rows(
            "SELECT seq, kind, sender, recipient, sent_at, acks, hash, record_json "
            "FROM hotline_records WHERE channel = ? ORDER BY seq",
            [channel],
        )

    def _items(self, channel: str) -> list[_Item]:
        """The stored records to verify, each with the query columns stored beside it."""
        return [
            _Item(row[-1], dict(zip(_COLUMNS, row[:-1], strict=True)))
            for row in self._rows(channel)
        ]

    def records(self, channel: str) -> list[dict[str, Any]]:
        """The channel's records as stored (parsed JSON), by seq; not verified (see verify)."""
        return [loads(row[-1]) for row in self._rows(channel)]

    def export(self, channel: str) -> list[dict[str, Any]]:
        """The whole chain, for publishing (:func:`to_jsonl` writes it as JSON lines).

        >>> open("chain.jsonl", "w").write(to_jsonl(hotline.export("rus--ukr")))  # doctest: +SKIP
        """
        found = self.records(channel)
        if not found:
            _refuse("<hotline>", "channel", f"no channel {channel!r} in this store")
        return found

    def head(self, channel: str) -> dict[str, Any]:
        """``{"channel", "seq", "hash"}`` of the channel's last record (seq 0 and 64 zeros when
        empty). Publish it: a later :meth:`verify` given it as ``expected_head`` proves nothing
        up to it changed, not even records removed from the end.

        >>> hotline.head("rus--ukr")                                   # doctest: +SKIP
        {'channel': 'rus--ukr', 'seq': 2, 'hash': '5f0c…'}
        """
        row = self.db.one(
            "SELECT seq, hash FROM hotline_records WHERE channel = ? ORDER BY seq DESC LIMIT 1",
            [channel],
        )
        seq, digest = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        return {"channel": channel, "seq": seq, "hash": digest}

    # ------------------------------------------------------------------ verification

    def verify(
        self,
        channel: str,
        records: Sequence[Mapping[str, Any] | str | bytes] | None = None,
        expected_head: Mapping[str, Any] | None = None,
    ) -> Verification:
        """Check a chain again: every record's form, seq continuity, prev links, hash and
        signature (with the sender's key current at the record's ``at``), and that acks answer
        earlier messages to the acker; stored rows must also be canonical JSON and agree with
        their query columns. ``records`` (dicts, or JSON lines as text or bytes) checks an
        exported copy instead of the store; ``expected_head`` (a published head) must be in it.

        >>> str(hotline.verify("rus--ukr"))                            # doctest: +SKIP
        'ok: rus--ukr: 2 records intact; head seq 2 5f0c…'
        """
        if channel_parties(channel) is None:
            _refuse("<hotline>", "channel", f"{channel!r} is not a channel id (a--b, sorted)")
        items = self._items(channel) if records is None else [_Item(r) for r in records]
        verdict, _ = self._check_chain(channel, items, expected_head)
        return verdict

    def verified_records(self, channel: str) -> list[dict[str, Any]]:
        """The channel's records once verified; an :class:`InputError` if the chain is bad."""
        verdict, good = self._check_chain(channel, self._items(channel), None)
        if not verdict.ok:
            where = f"hotline channel {channel}"
            reason = f"{verdict.reason} (see detente hotline verify)"
            raise InputError([Problem(where, f"seq {verdict.first_bad_seq}", reason)])
        return good

    def _check_chain(
        self, channel: str, items: list[_Item], expected_head: Mapping[str, Any] | None
    ) -> tuple[Verification, list[dict[str, Any]]]:
        keys = self._all_keys()
        claimed = {_claimed_seq(item.value) for item in items}
        prev_hash, prev_at = GENESIS, None
        messages: dict[int, tuple[str, str]] = {}  # seq -> (sender, to)
        acked: set[int] = set()
        good: list[dict[str, Any]] = []
        for pos, item in enumerate(items, start=1):
            rec, why = _parse(item.value)
            if rec is not None:
                # Cheapest first; the signature before the hash, so that an edited record is
                # reported as altered whether or not its hash was recomputed.
                why = (
                    _record_problem(rec, pos, channel, prev_hash, prev_at, claimed)
                    or _signature_problem(rec, keys)
                    or _hash_problem(rec)
                    or _link_problem(rec, messages, acked)
                    or (_column_problem(rec, item.columns) if item.columns is not None else "")
                )
            if rec is None or why:
                return Verification(False, pos, why, pos - 1), good
            if rec["kind"] == "message":
                messages[rec["seq"]] = (rec["sender"], rec["to"])
            else:
                acked.add(rec["acks"])
            prev_hash, prev_at = rec["hash"], _parse_at(rec["at"])
            good.append(rec)
        n = len(good)
        if expected_head is not None:
            bad, why = _head_problem(expected_head, channel, good)
            if why:
                return Verification(False, bad, why, n), good
        reason = f"{channel}: {n} records intact; head seq {n} {prev_hash}"
        return Verification(True, None, reason, n), good


def _key_at(history: list[tuple[datetime, str]], at: datetime) -> str | None:
    """The key current at ``at``: the latest registered at or before it."""
    found = None
    for when, key in history:
        if when > at:
            break
        found = key
    return found


def _claimed_seq(value: Mapping[str, Any] | str | bytes) -> Any:
    """The seq a record says it has, if it can be read at all (to word gaps)."""
    rec, _ = _parse(value)
    return rec.get("seq") if rec is not None else None


def _parse(value: Mapping[str, Any] | str | bytes) -> tuple[dict[str, Any] | None, str]:
    """A record from a dict or from its JSON text, which must be canonical: otherwise a change
    that parsing hides (an escape, a duplicate key, a number's spelling) would go unnoticed."""
    if isinstance(value, Mapping):
        return dict(value), ""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None, "the record is not UTF-8 text"
    try:
        rec = loads(value)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        return None, f"the record is not JSON ({exc})"
    if not isinstance(rec, dict):
        return None, "the record is not a JSON object"
    try:
        exact = canonical(rec).decode("utf-8") == value
    except InputError:
        exact = False
    if not exact:
        return None, "the record's JSON is not in canonical form (changed after it was written)"
    return rec, ""


def _record_problem(
    rec: dict[str, Any],
    pos: int,
    channel: str,
    prev_hash: str,
    prev_at: datetime | None,
    claimed: set[Any],
) -> str:
    problems = _shape_problems(rec, signed=True)
    if problems:
        return f"{problems[0][0]} {problems[0][1]}"
    if rec["channel"] != channel:
        return f"the record belongs to channel {rec['channel']!r}, not {channel!r}"
    if rec["seq"] != pos:
        if rec["seq"] > pos and pos not in claimed:
            return f"record {pos} is missing (the next record found is seq {rec['seq']})"
        return f"found seq {rec['seq']} where seq {pos} belongs: records out of order or repeated"
    if rec["prev"] != prev_hash:
        if pos == 1:
            return "prev of the first record is not 64 zeros"
        return f"prev is not the hash of record {pos - 1}: the chain is broken here"
    if prev_at is not None and _parse_at(rec["at"]) < prev_at:
        return f"at {rec['at']} is earlier than the previous record's"
    return ""


def _signature_problem(rec: dict[str, Any], keys: dict[str, list[tuple[datetime, str]]]) -> str:
    sender = rec["sender"]
    key = _key_at(keys.get(sender, []), _parse_at(rec["at"]))
    if key is None:
        return f"no key of {sender!r} was registered at {rec['at']}: cannot check the signature"
    if not verify_signature(rec, key):
        return f"signature does not verify with {sender}'s key: the record was altered or forged"
    return ""


def _hash_problem(rec: dict[str, Any]) -> str:
    if rec["hash"] != record_hash(rec):
        return "hash does not match the record's content (changed after it was signed)"
    return ""


def _link_problem(
    rec: dict[str, Any], messages: dict[int, tuple[str, str]], acked: set[int]
) -> str:
    if rec["kind"] != "ack":
        return ""
    target = messages.get(rec["acks"])
    if target is None:
        return f"acks {rec['acks']}, which is not an earlier message of this channel"
    if (rec["sender"], rec["to"]) != (target[1], target[0]):
        return f"acks message {rec['acks']}, which was not sent to {rec['sender']!r}"
    if rec["acks"] in acked:
        return f"acks message {rec['acks']} a second time"
    return ""


def _column_problem(rec: dict[str, Any], columns: Mapping[str, Any]) -> str:
    """The store's query columns must say what the signed record says."""
    for name in _COLUMNS:
        stored, signed = columns.get(name), rec.get(name)
        if name == "at":
            same = stored is not None and _utc(stored) == _parse_at(str(signed))
        elif name in ("seq", "acks") and stored is not None:
            same = int(stored) == signed
        else:
            same = stored == signed
        if not same:
            return f"the stored {name} column ({stored}) differs from the signed record ({signed})"
    return ""


def _head_problem(
    head: Mapping[str, Any], channel: str, good: list[dict[str, Any]]
) -> tuple[int, str]:
    """(the first bad seq, why) when the chain does not contain the published ``head``."""
    seq, digest, n = head.get("seq"), head.get("hash"), len(good)
    if head.get("channel", channel) != channel or not isinstance(seq, int) or seq < 0:
        _refuse("<head>", "head", f"is not a head of channel {channel!r}: {dict(head)}")
    if seq > n:
        # Records removed from the end leave no gap in the chain: only a published head shows it.
        missing = f"record {n + 1} is missing: the chain ends at seq {n}"
        return n + 1, f"{missing}, the published head is seq {seq}"
    if seq == 0:
        return (0, "") if digest == GENESIS else (1, "the published empty head is not 64 zeros")
    if good[seq - 1]["hash"] != digest:
        return seq, f"record {seq}'s hash is not the published head's"
    return 0, ""


# --------------------------------------------------------------------------- evidence


def messages_as_evidence(
    source: Database | Hotline, as_of: datetime | None = None, *, verify: bool = True
) -> pd.DataFrame:
    """The hotline's records as an observation frame, for ``response_deadline`` obligations.

    One row per record up to ``as_of``: kind ``message`` or ``ack``, actor the sender, category
    the recipient, id ``hotline-<channel>-<seq>``, note the acknowledged message's id (acks) or
    the subject or first 80 characters of the text (messages); no place (lon/lat NaN); source
    ``hotline``, graded A1 (signed); content hash the record's chain hash. With ``verify`` (the
    default) every chain is verified first, and a bad one is an :class:`InputError`.

    >>> frame = messages_as_evidence(hotline, datetime(2022, 3, 1, tzinfo=UTC))  # doctest: +SKIP
    >>> frame[["id", "kind", "actor", "category", "note"]]                       # doctest: +SKIP
    """
    hotline = source if isinstance(source, Hotline) else Hotline(source)
    records: list[dict[str, Any]] = []
    for channel in hotline.channels():
        records += hotline.verified_records(channel) if verify else hotline.records(channel)
    cols = ["channel", "seq", "kind", "sender", "to", "at", "body", "acks", "hash"]
    df = pd.DataFrame.from_records(records, columns=cols)
    time = pd.to_datetime(df["at"], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    if as_of is not None:
        keep = (time <= pd.Timestamp(as_of)).to_numpy(dtype=bool)
        df, time = df[keep].reset_index(drop=True), time[keep].reset_index(drop=True)
    channels = df["channel"].astype("string")
    prefix = "hotline-" + channels + "-"
    acked = prefix + df["acks"].astype("Int64").astype("string")
    note = acked.where(df["kind"] == "ack", _summaries(df["body"]))
    none = pd.Series(pd.NA, index=df.index, dtype="Int64")
    text = pd.Series(pd.NA, index=df.index, dtype="string")
    frame = pd.DataFrame(
        {
            "id": prefix + df["seq"].astype("Int64").astype("string"),
            "time": time,
            "lon": float("nan"),
            "lat": float("nan"),
            "actor": df["sender"],
            "kind": df["kind"],
            "category": df["to"],
            "count_low": none,
            "count_best": none,
            "count_high": none,
            "source": "hotline",
            "reliability": "A",
            "credibility": 1,
            "note": note,
            "place_uncertainty_km": float("nan"),
            "time_uncertainty_days": 0.0,
            "place_precision": text,
            "time_precision": text,
            "content_hash": df["hash"],
            "prov_file": "hotline:" + channels,
            "prov_row": df["seq"],
        },
        index=df.index,
        columns=list(OBSERVATION_COLUMNS),
    )
    return frame.astype(OBSERVATION_COLUMNS)


def _summaries(bodies: pd.Series) -> pd.Series:
    """Each message body in a few words: its subject, else the first 80 characters of its
    text, else of its JSON."""

    def summary(body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        for key in ("subject", "text"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:80]
        return canonical(body).decode("utf-8")[:80]

    # One call per record: the records were parsed one by one from JSON already.
    return pd.Series([summary(b) for b in bodies], index=bodies.index, dtype="string")

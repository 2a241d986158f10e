"""The hotline over HTTP: parties register keys, append signed records, read and verify chains.

    curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
         -d '{"public_key": "…base64…"}' http://127.0.0.1:8000/hotline/keys
    curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
         -d @signed-record.json http://127.0.0.1:8000/hotline/rus--ukr/records
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/hotline/rus--ukr/verify

Records are made and signed on the client (:func:`detente.hotline.unsigned_record`, then
:func:`~detente.hotline.sign_record` with the party's private key, which never reaches the
server); the server checks the signature, ``seq`` and ``prev`` against the channel's head
(:meth:`detente.hotline.Hotline.append`): a record that is not the next one is a 409 (re-read the
head, re-sign). A party registers only its own key and sends only as itself; a channel is read
only by its two parties.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from detente.api._deps import Call, authenticated
from detente.api._errors import ERROR_RESPONSES, BadRequest, NotFound
from detente.errors import Problem
from detente.hotline import Hotline, channel_parties

router = APIRouter(prefix="/hotline", tags=["hotline"], responses=ERROR_RESPONSES)
Authenticated = Annotated[Call, Depends(authenticated)]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(description="Base64 of the 32 raw bytes of an Ed25519 public key.")


class KeyOut(BaseModel):
    party: str
    public_key: str


class Head(BaseModel):
    channel: str
    seq: int
    hash: str


class ChannelOut(BaseModel):
    channel: str
    head: Head
    records: list[dict[str, Any]]


class VerifyOut(BaseModel):
    channel: str
    ok: bool
    first_bad_seq: int | None
    reason: str
    checked: int
    head: Head


def _channel(call: Call, channel: str) -> None:
    """404 for what is not a channel id; 403 unless the caller is one of its parties."""
    if channel_parties(channel) is None:
        raise NotFound(
            f"no channel {channel!r}: a channel id is the two party ids sorted, joined by '--'"
        )
    call.require("read_hotline", channel=channel)


@router.post("/keys", status_code=201, response_model=KeyOut)
def register_key(body: KeyIn, call: Authenticated) -> KeyOut:
    """Register the caller's party's public key (a new key replaces the current one)."""
    party = call.principal.party
    call.require("submit_hotline", party=party)
    assert party is not None  # require() lets only a party with its own id through
    Hotline(call.session.db).register_key(party, body.public_key)
    return KeyOut(party=party, public_key=body.public_key)


@router.get("", response_model=list[Head])
def my_channels(call: Authenticated) -> list[Head]:
    """The channels the caller may read (a party's own; none for other roles), with heads."""
    hotline = Hotline(call.session.db)
    party = call.principal.party
    visible = [c for c in hotline.channels(party) if call.may("read_hotline", channel=c)]
    return [Head(**hotline.head(c)) for c in visible]


@router.post("/{channel}/records", status_code=201)
def append_record(
    channel: str,
    call: Authenticated,
    record: Annotated[dict[str, Any], Body(description="A signed hotline record.")],
) -> dict[str, Any]:
    """Append a record signed by the caller's party to the channel (409 if not the next one)."""
    if channel_parties(channel) is None:
        raise NotFound(f"no channel {channel!r}")
    sender = record.get("sender")
    call.require("submit_hotline", party=sender if isinstance(sender, str) else None,
                 channel=channel)  # fmt: skip
    if record.get("channel") != channel:
        raise BadRequest(
            "the record belongs to another channel",
            [Problem("body", "channel", f"{record.get('channel')!r} is not {channel!r}")],
        )
    return Hotline(call.session.db).append(record)


@router.get("/{channel}", response_model=ChannelOut)
def read_channel(channel: str, call: Authenticated) -> ChannelOut:
    """Every record of a channel, oldest first, and its head (the caller's channels only)."""
    _channel(call, channel)
    hotline = Hotline(call.session.db)
    return ChannelOut(channel=channel, head=Head(**hotline.head(channel)),
                      records=hotline.records(channel))  # fmt: skip


@router.get("/{channel}/verify", response_model=VerifyOut)
def verify_channel(channel: str, call: Authenticated) -> VerifyOut:
    """Re-check every signature, hash and link of a channel; name the first bad record."""
    _channel(call, channel)
    hotline = Hotline(call.session.db)
    v = hotline.verify(channel)
    return VerifyOut(channel=channel, ok=v.ok, first_bad_seq=v.first_bad_seq, reason=v.reason,
                     checked=v.checked, head=Head(**hotline.head(channel)))  # fmt: skip

"""Users, roles and API tokens, and the one table of who may do what.

    >>> db = Database.open(None)
    >>> users = Users(db)
    >>> token = users.add("osce-1", "monitor")          # shown to the user once, never stored
    >>> who = users.authenticate(token)
    >>> who
    Principal(name='osce-1', role='monitor', party=None)
    >>> can(who, "submit_observation"), can(who, "submit_declaration", party="west")
    (True, False)

Four roles: a *party* to an agreement (bound to one party id) submits declarations,
notifications and hotline messages only as itself and reads only its own hotline channels; a
*monitor* submits observations; an *analyst* reviews claims; an *admin* uploads agreements and
manages webhooks and users. Everyone reads findings, agreements and evidence. The admin may do
everything except act as a party: a party's word and its private channel are its own.

:data:`PERMISSIONS` is the single permission table of the whole application; the server asks
:func:`can` and nothing else, and ``docs/server.md`` shows :func:`permissions_markdown`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from detente.errors import InputError, Problem
from detente.store._db import Database

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "Role",
    "Users",
    "can",
    "channel_parties",
    "permissions_markdown",
]

Role = Literal["party", "monitor", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

#: How a role may perform an action: ``always``; ``own_party`` — only as its own party (the
#: ``party`` argument of :func:`can` is the principal's party, and a ``channel``, if given, is one
#: of its own); ``own_channel`` — only on a hotline channel it is one of the two parties of.
Scope = Literal["always", "own_party", "own_channel"]

_ALL: dict[Role, Scope] = {role: "always" for role in ROLES}

#: action -> role -> scope. A role missing from an action's entry may never perform it.
PERMISSIONS: dict[str, dict[Role, Scope]] = {
    "read_findings": dict(_ALL),
    "read_agreements": dict(_ALL),
    "read_evidence": dict(_ALL),
    "evaluate": dict(_ALL),
    "submit_observation": {"monitor": "always", "admin": "always"},
    # A party speaks only for itself; the admin is deliberately absent: it cannot put words in a
    # party's mouth (declarations and notifications carry legal weight between the parties).
    "submit_declaration": {"party": "own_party"},
    "submit_notification": {"party": "own_party"},
    "submit_hotline": {"party": "own_party"},
    # A hotline channel is private to its two parties; not even the admin reads it.
    "read_hotline": {"party": "own_channel"},
    "review_claims": {"analyst": "always", "admin": "always"},
    "read_claims": {"analyst": "always", "admin": "always"},
    "upload_agreement": {"admin": "always"},
    "manage_webhooks": {"admin": "always"},
    "manage_users": {"admin": "always"},
}
ACTIONS: tuple[str, ...] = tuple(PERMISSIONS)

TOKEN_PREFIX = "dtk_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_PARTY = re.compile(r"[a-z][a-z0-9_]*")
_SOURCE = "users"  # the "file" of a Problem raised here: the users table


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user's name, role and (for role ``party``) the party it speaks for."""

    name: str
    role: Role
    party: str | None


def channel_parties(channel: str) -> tuple[str, str] | None:
    """The two parties of a hotline channel id ``a--b``, or None if it is not one.

    >>> channel_parties("east--west"), channel_parties("west"), channel_parties("west--west")
    (('east', 'west'), None, None)
    """
    parts = channel.split("--")
    if len(parts) != 2 or parts[0] == parts[1] or not all(_PARTY.fullmatch(p) for p in parts):
        return None
    return parts[0], parts[1]


def can(
    principal: Principal, action: str, *, party: str | None = None, channel: str | None = None
) -> bool:
    """Whether ``principal`` may perform ``action`` (for ``party`` / on hotline ``channel``).

    >>> west = Principal("w", "party", "west")
    >>> can(west, "submit_hotline", party="west", channel="east--west")
    True
    >>> can(west, "submit_declaration", party="east"), can(west, "read_hotline", channel="a--b")
    (False, False)

    Raises :class:`ValueError` for an action not in :data:`PERMISSIONS`: a misspelt action is
    a bug in the caller and must fail its tests, not quietly deny (or grant) in production.
    """
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    scope = PERMISSIONS[action].get(principal.role)
    if scope is None:
        return False
    if scope == "always":
        return True
    own = principal.party
    if own is None:  # a party user without a party cannot exist (add() refuses it); be safe
        return False
    members = channel_parties(channel) if channel is not None else None
    if channel is not None and (members is None or own not in members):
        return False  # whatever the scope, a channel named must be one of the principal's own
    if scope == "own_party":
        return party == own
    # own_channel: the channel is required; a party, if named, must be the principal's own.
    return channel is not None and party in (None, own)


_SCOPE_TEXT: dict[Scope, str] = {
    "always": "yes",
    "own_party": "as its own party only",
    "own_channel": "its own channels only",
}


def permissions_markdown() -> str:
    """The role × action table of :data:`PERMISSIONS` as Markdown (what docs/server.md shows).

    >>> permissions_markdown().splitlines()[0]
    '| action | party | monitor | analyst | admin |'
    """
    lines = [
        "| action | " + " | ".join(ROLES) + " |",
        "|---|" + "---|" * len(ROLES),
    ]
    for action, scopes in PERMISSIONS.items():
        cells = [_SCOPE_TEXT[scopes[r]] if r in scopes else "—" for r in ROLES]
        lines.append(f"| `{action}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _digest(token: str) -> str:
    # SHA-256, not a slow password hash (bcrypt, scrypt, argon2): a token is 256 random bits
    # from `secrets`, so there is no dictionary to guess from and brute force is hopeless at
    # any hash speed. A slow hash would only add latency to every API request.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Users:
    """The API's users, kept in table ``users`` of a :class:`Database` (DuckDB or PostgreSQL).

    >>> users = Users(Database.open(None))
    >>> token = users.add("kyiv-desk", "party", party="ukr")
    >>> token.startswith("dtk_"), users.authenticate("dtk_wrong")
    (True, None)
    >>> users.revoke("kyiv-desk"), users.authenticate(token)
    (True, None)

    Only the SHA-256 of a token is stored. Revoking keeps the row (marked revoked) and the name
    stays taken: reviews and hotline messages name their author, and a new user under an old
    name would make those records ambiguous.
    """

    def __init__(self, db: Database, *, create: bool = True) -> None:
        # ``create=False`` when the table is known to exist (the API, per request): on DuckDB
        # even CREATE TABLE IF NOT EXISTS waits for the write lock.
        self.db = db
        if not create:
            return
        db.execute(
            """CREATE TABLE IF NOT EXISTS users (
                name VARCHAR PRIMARY KEY,
                role VARCHAR NOT NULL,
                party VARCHAR,
                token_sha256 VARCHAR NOT NULL UNIQUE,
                created_at TIMESTAMPTZ NOT NULL,
                revoked_at TIMESTAMPTZ
            )"""
        )

    def add(self, name: str, role: str, party: str | None = None) -> str:
        """Create a user and return its API token (the only time the token is seen).

        Raises :class:`InputError` naming the field (``name``, ``role``, ``party``) for a taken
        or malformed name, an unknown role, or a party missing (role ``party``) or superfluous.
        """
        problems = []
        if not _NAME.fullmatch(name):
            problems.append(
                Problem(_SOURCE, "name", f"{name!r}: 1–64 letters, digits, '_', '.', '@' or '-'")
            )
        if role not in ROLES:
            problems.append(Problem(_SOURCE, "role", f"{role!r} is not one of {', '.join(ROLES)}"))
        elif role == "party" and party is None:
            problems.append(Problem(_SOURCE, "party", "required for role 'party'"))
        elif role != "party" and party is not None:
            problems.append(Problem(_SOURCE, "party", f"only role 'party' has one, not {role!r}"))
        if party is not None and not _PARTY.fullmatch(party):
            problems.append(
                Problem(_SOURCE, "party", f"{party!r}: a party id is [a-z][a-z0-9_]* (e.g. ukr)")
            )
        if problems:
            raise InputError(problems)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.transaction():
            if self.db.one("SELECT 1 FROM users WHERE name = ?", [name]) is not None:
                raise InputError([Problem(_SOURCE, "name", f"user {name!r} already exists")])
            self.db.execute(
                "INSERT INTO users (name, role, party, token_sha256, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [name, role, party, _digest(token), datetime.now(UTC)],
            )
        return token

    def authenticate(self, token: str) -> Principal | None:
        """The active user holding ``token``, or None (unknown, malformed or revoked)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _digest(token)
        # Looking the digest up by index leaks, through timing, at most something about the
        # hash of the caller's own guess, useless without a preimage; the final equality is
        # still checked in constant time.
        row = self.db.one(
            "SELECT name, role, party, token_sha256 FROM users"
            " WHERE token_sha256 = ? AND revoked_at IS NULL",
            [digest],
        )
        if row is None or not hmac.compare_digest(str(row[3]), digest):
            return None
        return Principal(str(row[0]), _role(row[1]), row[2])

    def list(self) -> list[Principal]:
        """Active users, by name."""
        found = self.db.rows(
            "SELECT name, role, party FROM users WHERE revoked_at IS NULL ORDER BY name"
        )
        return [Principal(str(n), _role(r), p) for n, r, p in found]

    def revoke(self, name: str) -> bool:
        """Revoke ``name``'s token at once; False if there is no such active user."""
        with self.db.transaction():
            if (
                self.db.one("SELECT 1 FROM users WHERE name = ? AND revoked_at IS NULL", [name])
                is None
            ):
                return False
            self.db.execute(
                "UPDATE users SET revoked_at = ? WHERE name = ?", [datetime.now(UTC), name]
            )
        return True


def _role(value: object) -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise ValueError(f"users table holds an unknown role {value!r}")

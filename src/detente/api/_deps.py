"""Who is calling and what they may do: ``Authorization: Bearer dtk_…`` → a Principal → can().

    @router.get("/claims")
    def list_claims(call: Annotated[Call, Depends(needs("read_claims"))]) -> …:
        call.session.store …, call.principal.name …

Without a token, or with one no active user holds: 401. With a valid token whose role may not
perform the action: 403. Checks that depend on the request's content (a party submitting
records about itself, a party reading its own hotline channel) call :meth:`Call.require` with
the party or channel, after reading the body. :func:`detente.users.can` is the only place that
decides; this module only asks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from detente.api._backend import Backend, Session
from detente.api._errors import Forbidden, Unauthorized
from detente.store._db import Database
from detente.users import Principal, Users, can

#: The OpenAPI security scheme; ``auto_error=False`` so that a missing token gets our 401 body.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (dtk_…) from `detente users add` or POST /users.",
)


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def session(request: Request) -> Iterator[Session]:
    """The request's own connection (PostgreSQL) or cursor (DuckDB), closed after it."""
    with backend_of(request).session() as s:
        yield s


SessionDep = Annotated[Session, Depends(session)]


@dataclass
class Call:
    """An authenticated request: its session and its principal."""

    session: Session
    principal: Principal

    def may(self, action: str, *, party: str | None = None, channel: str | None = None) -> bool:
        return can(self.principal, action, party=party, channel=channel)

    def require(self, action: str, *, party: str | None = None, channel: str | None = None) -> None:
        """403 unless the principal may perform ``action`` (for ``party`` / on ``channel``)."""
        if not self.may(action, party=party, channel=channel):
            raise Forbidden(_refusal(self.principal, action, party, channel))


def _refusal(p: Principal, action: str, party: str | None, channel: str | None) -> str:
    who = f"{p.name} (role {p.role}" + (f", party {p.party})" if p.party else ")")
    what = action.replace("_", " ")
    if channel is not None:
        return f"{who} may not {what} on channel {channel!r}"
    if party is not None:
        return f"{who} may not {what} for party {party!r}"
    return f"{who} may not {what}"


def _users(db: Database) -> Users:
    """:class:`Users` on ``db`` without its ``CREATE TABLE IF NOT EXISTS``: create_app made the
    table, and on DuckDB that statement would wait for the write lock, so that every request
    would queue behind every write just to read a token."""
    return Users(db, create=False)


def authenticated(
    s: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Call:
    """401 unless a valid token is sent."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API token: 'Authorization: Bearer dtk_…'")
    principal = _users(s.db).authenticate(credentials.credentials)
    if principal is None:
        raise Unauthorized("unknown or revoked API token")
    return Call(s, principal)


def needs(action: str) -> Callable[[Call], Call]:
    """A dependency: an authenticated call whose principal may perform ``action`` at all.

    Actions scoped to the principal's own party or channel pass here when the role has them
    in some scope; the endpoint then checks the party or channel itself with ``require``.
    """

    def check(call: Annotated[Call, Depends(authenticated)]) -> Call:
        scoped = can(call.principal, action) or (
            call.principal.party is not None
            and can(call.principal, action, party=call.principal.party)
        )
        if not scoped:
            raise Forbidden(_refusal(call.principal, action, None, None))
        return call

    check.__name__ = f"needs_{action}"
    return check

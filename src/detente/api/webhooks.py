"""Webhooks and users over HTTP (admin only).

    curl -H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json" \\
         -d '{"url": "https://ops.example.org/detente", "secret": "long-random-secret"}' \\
         http://127.0.0.1:8000/webhooks
    curl -H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json" \\
         -d '{"name": "osce-1", "role": "monitor"}' http://127.0.0.1:8000/users

A webhook receives a signed JSON payload when an evaluation changes a finding's status (see
:mod:`detente.alerts`); ``GET /webhooks/deliveries`` shows every delivery and attempt. A new
user's token is in the response to ``POST /users`` and nowhere else: only its hash is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from detente.alerts import Webhooks
from detente.api._deps import Call, needs
from detente.api._errors import ERROR_RESPONSES, NotFound
from detente.users import Role, Users

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)
Hooks = Annotated[Call, Depends(needs("manage_webhooks"))]
Admin = Annotated[Call, Depends(needs("manage_users"))]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http:// or https:// URL that receives POSTed alerts.")
    secret: str = Field(description="Key of the HMAC-SHA256 signature (at least 8 characters).")
    events: list[str] = Field(default_factory=lambda: ["status_changed"])


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_by: str
    created_at: datetime


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: Role
    party: str | None = Field(None, description="The party id, for role 'party' only.")


class UserOut(BaseModel):
    name: str
    role: Role
    party: str | None


class NewUserOut(UserOut):
    token: str = Field(description="The API token: shown this once, never stored.")


@router.post("/webhooks", status_code=201, response_model=WebhookOut)
def add_webhook(body: WebhookIn, call: Hooks) -> WebhookOut:
    """Register a webhook."""
    hooks = Webhooks(call.session.db)
    hook_id = hooks.add(body.url, body.secret, created_by=call.principal.name, events=body.events)
    return next(WebhookOut(**h) for h in hooks.list() if h["id"] == hook_id)


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(call: Hooks) -> list[WebhookOut]:
    """Active webhooks (never their secrets)."""
    return [WebhookOut(**h) for h in Webhooks(call.session.db).list()]


@router.get("/webhooks/deliveries")
def list_deliveries(call: Hooks) -> list[dict[str, Any]]:
    """Every delivery with its payload, state and attempts, in the order queued."""
    return Webhooks(call.session.db).deliveries()


@router.delete("/webhooks/{webhook_id}", status_code=204)
def remove_webhook(webhook_id: int, call: Hooks) -> Response:
    """Stop sending to a webhook (its pending deliveries fail)."""
    if not Webhooks(call.session.db).remove(webhook_id):
        raise NotFound(f"no webhook {webhook_id}")
    return Response(status_code=204)


@router.post("/users", status_code=201, response_model=NewUserOut)
def add_user(body: UserIn, call: Admin) -> NewUserOut:
    """Create a user; the response holds its token, shown this once."""
    token = Users(call.session.db).add(body.name, body.role, body.party)
    return NewUserOut(name=body.name, role=body.role, party=body.party, token=token)


@router.get("/users", response_model=list[UserOut])
def list_users(call: Admin) -> list[UserOut]:
    """Active users by name."""
    return [UserOut(name=p.name, role=p.role, party=p.party) for p in Users(call.session.db).list()]


@router.delete("/users/{name}", status_code=204)
def revoke_user(name: str, call: Admin) -> Response:
    """Revoke a user's token at once (the name stays taken)."""
    if not Users(call.session.db).revoke(name):
        raise NotFound(f"no active user {name!r}")
    return Response(status_code=204)

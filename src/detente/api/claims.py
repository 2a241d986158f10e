"""Claims over HTTP: the review queue (list, show, accept, reject, reopen, edit).

    curl -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8000/claims?status=pending"
    curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
         -d '{"action": "edit", "changes": {"party": "rus"}, "note": "per imagery"}' \\
         http://127.0.0.1:8000/claims/claim-3f2a…-120/review

The same rules as ``detente review`` (docs/claims.md): every review is a new row naming the
reviewer (here the API user), nothing is overwritten, a bad review is refused whole. Claims get
into the store with ``detente ingest documents``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from detente.api._backend import Session
from detente.api._deps import Call, needs
from detente.api._errors import ERROR_RESPONSES, NotFound
from detente.api._frames import records
from detente.errors import InputError, Problem

if TYPE_CHECKING:
    from detente.store.claims import ClaimStore

router = APIRouter(prefix="/claims", tags=["claims"], responses=ERROR_RESPONSES)


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "accept", "note": "matches imagery"}]},
    )

    action: Literal["accept", "reject", "reopen", "edit"]
    changes: dict[str, str] | None = Field(
        None, description="For edit: field -> new value (see docs/claims.md for the fields)."
    )
    note: str = ""


class ClaimsOut(BaseModel):
    claims: list[dict[str, Any]]


class ClaimOut(BaseModel):
    claim: dict[str, Any]
    history: list[dict[str, Any]]


def _claims(s: Session) -> ClaimStore | None:
    """The store's ClaimStore, or None when it has never held claims (so that reading does
    not create tables)."""
    from detente.store.claims import ClaimStore, has_claims

    return ClaimStore(s.store) if has_claims(s.store) else None


def _one(s: Session, claim_id: str) -> ClaimOut:
    store = _claims(s)
    frame = store.claims() if store is not None else None
    if store is None or frame is None or not (frame["claim_id"] == claim_id).any():
        raise NotFound(f"no claim {claim_id!r}")
    row = frame.loc[frame["claim_id"] == claim_id]
    return ClaimOut(claim=records(row)[0], history=records(store.history(claim_id)))


@router.get("", response_model=ClaimsOut)
def list_claims(
    call: Annotated[Call, Depends(needs("read_claims"))],
    status: Annotated[Literal["pending", "accepted", "rejected"] | None, Query()] = None,
) -> ClaimsOut:
    """Claims as they stand after review, with their status."""
    store = _claims(call.session)
    if store is None:
        return ClaimsOut(claims=[])
    return ClaimsOut(claims=records(store.claims(status)))


@router.get("/{claim_id}", response_model=ClaimOut)
def get_claim(claim_id: str, call: Annotated[Call, Depends(needs("read_claims"))]) -> ClaimOut:
    """One claim as it stands, and every review of it, oldest first."""
    return _one(call.session, claim_id)


@router.post("/{claim_id}/review", response_model=ClaimOut)
def review_claim(
    claim_id: str, body: ReviewIn, call: Annotated[Call, Depends(needs("review_claims"))]
) -> ClaimOut:
    """Accept, reject, reopen or edit a claim (the reviewer is the caller)."""
    s = call.session
    _one(s, claim_id)  # 404 before anything else
    store = _claims(s)
    assert store is not None
    try:  # one transaction; on DuckDB its writes hold the write lock (see _backend)
        store.review([claim_id], body.action, reviewer=call.principal.name,
                     changes=body.changes, note=body.note)  # fmt: skip
    except InputError as exc:  # the CLI's words (--set party) in the API's (changes.party)
        raise InputError(
            [Problem("body", p.field.replace("--set ", "changes."), p.message)
             for p in exc.problems]
        ) from None  # fmt: skip
    return _one(s, claim_id)

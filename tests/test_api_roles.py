"""Who may call what: every endpoint × every role, with every refusal (401, 403) checked.

The expected table below is written from the roles as the issue describes them, not read from
:data:`detente.users.PERMISSIONS`: if the two ever disagree, this test says so.

- everyone with a token reads agreements, evidence and findings, and evaluates;
- only the admin uploads agreements and manages webhooks and users;
- a monitor, or the admin, submits any observation; a party only its own records;
- only an analyst, or the admin, reads and reviews claims;
- a party registers its own hotline key, sends as itself, and reads its own channels; no one
  else (not even the admin) sends or reads hotline records;
- without a token, or with an unknown one, everything but /health and the OpenAPI document is
  a 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detente.hotline import generate_key, load_private_key, sign_record, unsigned_record
from detente.users import Users
from test_api import Api, error_of, make_api, obs, toy_files, upload_toy

ROLES = ("admin", "monitor", "analyst", "west", "east")
EVERYONE = set(ROLES)
ADMIN = {"admin"}
CLAIMS = {"admin", "analyst"}
SUBMIT_WEST = {"admin", "monitor", "west"}  # records whose actor is west
PARTIES = {"west", "east"}
CHANNEL = "east--west"
CSV = (
    "id,time,lon,lat,actor,kind,category,count,source,reliability,credibility,note\n"
    "c-{who},2020-02-02T00:00:00Z,37.95,48.5,west,equipment,tank,1,s,B,2,\n"
)


@dataclass
class RolesApi(Api):
    """The test client with what the calls need: a claim id and the parties' hotline keys."""

    claim: str = ""
    keys: dict[str, bytes] = field(default_factory=dict)
    public: dict[str, str] = field(default_factory=dict)


Call = Callable[[RolesApi, str | None], Any]


def _west_record(api: RolesApi) -> dict[str, Any]:
    head = api.get("west", f"/hotline/{CHANNEL}").json()["head"]
    record = unsigned_record(CHANNEL, head["seq"] + 1, "message", "west", "east",
                             datetime.now(UTC), {"text": "hello"}, head["hash"])  # fmt: skip
    return sign_record(record, load_private_key(api.keys["west"]))


def _key(api: RolesApi, who: str | None) -> str:
    """The caller's own public key (west's for callers who have none)."""
    return api.public.get(str(who), api.public["west"])


#: (name, who may, call): the call made by each role.
ENDPOINTS: list[tuple[str, set[str], Call]] = [
    ("GET /agreements", EVERYONE, lambda a, w: a.get(w, "/agreements")),
    ("GET /agreements/{id}", EVERYONE, lambda a, w: a.get(w, "/agreements/toy")),
    ("GET /agreements/{id}/versions", EVERYONE, lambda a, w: a.get(w, "/agreements/toy/versions")),
    ("POST /agreements", ADMIN,
     lambda a, w: a.post(w, "/agreements", files=toy_files(a.folder / f"up-{w}"))),
    ("POST /agreements/validate", ADMIN,
     lambda a, w: a.post(w, "/agreements/validate", files=toy_files(a.folder / f"v-{w}"))),
    ("POST /evidence/observations", SUBMIT_WEST,
     lambda a, w: a.post(w, "/evidence/observations", json=obs(id=f"one-{w}"))),
    ("POST /evidence/observations (actor east)", {"admin", "monitor", "east"},
     lambda a, w: a.post(w, "/evidence/observations", json=obs(id=f"e-{w}", actor="east"))),
    ("POST /evidence/observations/batch (JSON)", SUBMIT_WEST,
     lambda a, w: a.post(w, "/evidence/observations/batch", json=[obs(id=f"b-{w}")])),
    ("POST /evidence/observations/batch (CSV)", SUBMIT_WEST,
     lambda a, w: a.post(w, "/evidence/observations/batch", content=CSV.format(who=w),
                         headers={"Content-Type": "text/csv"})),
    ("GET /evidence/observations", EVERYONE,
     lambda a, w: a.get(w, "/evidence/observations?bbox=37,47,39,50")),
    ("POST /findings/evaluate", EVERYONE,
     lambda a, w: a.post(w, "/findings/evaluate", json={"agreement": "toy"})),
    ("GET /findings", EVERYONE, lambda a, w: a.get(w, "/findings?agreement=toy")),
    ("GET /findings/{a}/{o}/{p}", EVERYONE, lambda a, w: a.get(w, "/findings/toy/tanks/west")),
    ("GET /claims", CLAIMS, lambda a, w: a.get(w, "/claims")),
    ("GET /claims/{id}", CLAIMS, lambda a, w: a.get(w, f"/claims/{a.claim}")),
    ("POST /claims/{id}/review", CLAIMS,
     lambda a, w: a.post(w, f"/claims/{a.claim}/review",
                         json={"action": "accept", "note": str(w)})),
    ("POST /hotline/keys", PARTIES,
     lambda a, w: a.post(w, "/hotline/keys", json={"public_key": _key(a, w)})),
    ("GET /hotline", EVERYONE, lambda a, w: a.get(w, "/hotline")),
    ("POST /hotline/{channel}/records (sender west)", {"west"},
     lambda a, w: a.post(w, f"/hotline/{CHANNEL}/records", json=_west_record(a))),
    ("GET /hotline/{channel}", PARTIES, lambda a, w: a.get(w, f"/hotline/{CHANNEL}")),
    ("GET /hotline/{channel}/verify", PARTIES, lambda a, w: a.get(w, f"/hotline/{CHANNEL}/verify")),
    ("POST /webhooks", ADMIN,
     lambda a, w: a.post(w, "/webhooks", json={"url": "http://127.0.0.1:9/h", "secret": "k" * 12})),
    ("GET /webhooks", ADMIN, lambda a, w: a.get(w, "/webhooks")),
    ("GET /webhooks/deliveries", ADMIN, lambda a, w: a.get(w, "/webhooks/deliveries")),
    ("DELETE /webhooks/{id}", ADMIN, lambda a, w: a.request("DELETE", w, "/webhooks/1")),
    ("POST /users", ADMIN,
     lambda a, w: a.post(w, "/users", json={"name": f"new-{w}", "role": "monitor"})),
    ("GET /users", ADMIN, lambda a, w: a.get(w, "/users")),
    ("GET /ui/api/me", EVERYONE, lambda a, w: a.get(w, "/ui/api/me")),
    ("GET /ui/api/agreements/{id}/map", EVERYONE,
     lambda a, w: a.get(w, "/ui/api/agreements/toy/map")),
    ("GET /ui/api/agreements/{id}/clauses", EVERYONE,
     lambda a, w: a.get(w, "/ui/api/agreements/toy/clauses")),
    ("GET /ui/api/observations", EVERYONE,
     lambda a, w: a.get(w, "/ui/api/observations?agreement=toy&bbox=37,47,39,50")),
    ("GET /ui/api/timeline", EVERYONE, lambda a, w: a.get(w, "/ui/api/timeline?agreement=toy")),
    ("GET /ui/api/matrix", EVERYONE, lambda a, w: a.get(w, "/ui/api/matrix?agreement=toy")),
    ("GET /ui/api/finding", EVERYONE,
     lambda a, w: a.get(w, "/ui/api/finding?agreement=toy&obligation=tanks&party=west")),
    ("DELETE /users/{name}", ADMIN, lambda a, w: a.request("DELETE", w, "/users/spare")),
]  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolesApi]:
    """One app for the whole matrix (authorisation does not depend on the store): an agreement
    evaluated, a claim to review, hotline keys, a spare user to revoke."""
    from test_api import _add_claims

    folder: Path = tmp_path_factory.mktemp("roles")
    made = RolesApi(**vars(make_api(None, folder)))
    upload_toy(made)
    made.post("monitor", "/evidence/observations", json=obs())
    made.post("admin", "/findings/evaluate", json={"agreement": "toy"})
    made.claim = _add_claims(made)
    for party in ("west", "east"):
        pem, public = generate_key()
        made.keys[party], made.public[party] = pem, public
        assert made.post(party, "/hotline/keys", json={"public_key": public}).status_code == 201
    with made.app.state.backend.session() as s:
        Users(s.db).add("spare", "monitor")
    yield made
    made.app.state.backend.close()


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize(("name", "allowed", "call"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_role_matrix(api: RolesApi, name: str, allowed: set[str], call: Call, who: str) -> None:
    with api.app.state.backend.session() as s:
        before = s.store.count()
    r = call(api, who)
    assert r.status_code < 500, r.text
    if who in allowed:
        assert r.status_code not in (401, 403), f"{who} refused {name}: {r.text}"
    else:
        error = error_of(r, 403)
        assert who in error["message"] or "may not" in error["message"]
        with api.app.state.backend.session() as s:
            assert s.store.count() == before  # a refusal changes nothing


@pytest.mark.parametrize(("name", "allowed", "call"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_no_token_is_401_everywhere(
    api: RolesApi, name: str, allowed: set[str], call: Call
) -> None:
    if "records" in name:  # the record is built with west's token first
        record = _west_record(api)
        r = api.client.post(f"/hotline/{CHANNEL}/records", json=record)
    else:
        r = call(api, None)
    error_of(r, 401)
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_and_unknown_tokens_are_401(api: Api) -> None:
    r = api.post("admin", "/users", json={"name": "brief", "role": "analyst"})
    token = r.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/claims", headers=auth).status_code == 200
    assert api.request("DELETE", "admin", "/users/brief").status_code == 204
    error_of(api.client.get("/claims", headers=auth), 401)
    error_of(api.client.get("/claims", headers={"Authorization": "Bearer " + token[:-1]}), 401)
    error_of(api.client.get("/claims", headers={"Authorization": token}), 401)


def test_open_endpoints_need_no_token(api: Api) -> None:
    assert api.client.get("/health").status_code == 200
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/docs").status_code == 200


def test_every_operation_is_in_the_matrix(api: Api) -> None:
    """A new endpoint must be added to ENDPOINTS (and so to the role table) to pass."""
    doc = api.client.get("/openapi.json").json()
    operations = {
        f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item
    }
    covered = {
        name.split(" (")[0]
        .replace("{id}", "X")
        .replace("{a}/{o}/{p}", "X")
        .replace("{channel}", "X")
        .replace("{name}", "X")
        for name, _, _ in ENDPOINTS
    }
    normalised = {
        op.replace("{agreement_id}", "X")
        .replace("{agreement}/{obligation}/{party}", "X")
        .replace("{claim_id}", "X")
        .replace("{channel}", "X")
        .replace("{webhook_id}", "X")
        .replace("{name}", "X")
        for op in operations
    }
    assert normalised - covered == {"GET /health"}

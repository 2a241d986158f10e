"""The HTTP API, endpoint by endpoint: what it answers and how it refuses, on DuckDB and PostgreSQL.

Each test gets a fresh app over a fresh store (a DuckDB file, or a new PostgreSQL database from
the ``pg_url`` fixture) with one user per role, and talks to it through Starlette's TestClient
(the ASGI app in-process; real servers are in ``test_api_reliability.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI

from conftest import write_toy
from detente.api import create_app
from detente.hotline import generate_key, load_private_key, sign_record, unsigned_record
from detente.users import Users

with warnings.catch_warnings():  # Starlette prefers httpx2; httpx is what is installed
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

#: name -> (role, party) of the users every test app has.
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin", None),
    "monitor": ("monitor", None),
    "analyst": ("analyst", None),
    "west": ("party", "west"),
    "east": ("party", "east"),
}
CSV_HEADER = "id,time,lon,lat,actor,kind,category,count,source,reliability,credibility,note\n"


@dataclass
class Api:
    """A test client and a token per user; ``api.get("west", "/hotline")`` calls as west."""

    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    folder: Path
    calls: list[str] = field(default_factory=list)

    def headers(self, who: str | None, **extra: str) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return {**auth, **extra}

    def request(self, method: str, who: str | None, path: str, **kw: Any) -> Any:
        headers = self.headers(who, **kw.pop("headers", {}))
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.request("GET", who, path, **kw)

    def post(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.request("POST", who, path, **kw)


def make_api(db: str | None, folder: Path) -> Api:
    """An app over ``db`` with the users of :data:`USERS`."""
    app = create_app(db, data_dir=folder / "data")
    with app.state.backend.session() as s:
        users = Users(s.db)
        tokens = {name: users.add(name, role, party) for name, (role, party) in USERS.items()}
    return Api(app, TestClient(app), tokens, folder)


@pytest.fixture(params=["duckdb", "postgres"])
def store_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A DuckDB file, or a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "api.duckdb")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def api(store_db: str, tmp_path: Path) -> Iterator[Api]:
    made = make_api(store_db, tmp_path)
    yield made
    made.app.state.backend.close()


def toy_files(folder: Path, extra: str = "") -> list[tuple[str, tuple[str, bytes]]]:
    """The multipart parts of the toy agreement: the YAML and its three geometry files."""
    folder.mkdir(parents=True, exist_ok=True)
    yaml = write_toy(folder, extra)
    parts = [("agreement", ("agreement.yaml", yaml.read_bytes()))]
    for name in ("line.geojson", "west.geojson", "east.geojson"):
        parts.append(("files", (name, (folder / name).read_bytes())))
    return parts


def upload_toy(api: Api, extra: str = "") -> dict[str, Any]:
    r = api.post("admin", "/agreements", files=toy_files(api.folder / "toy", extra))
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def obs(**kw: Any) -> dict[str, Any]:
    """A valid observation: a west tank 4 km west of the line in February 2020."""
    base: dict[str, Any] = {
        "id": "o1", "time": "2020-02-01T10:00:00Z", "lon": 37.95, "lat": 48.5, "actor": "west",
        "kind": "equipment", "category": "tank", "count": 2, "source": "test", "reliability": "B",
        "credibility": 2, "note": "",
    }  # fmt: skip
    return {**base, **kw}


def error_of(r: Any, status: int) -> dict[str, Any]:
    """The error body of a response that must have ``status`` and the one error shape."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "problems"}
    assert body["error"]["message"]
    for p in body["error"]["problems"]:
        assert set(p) == {"file", "line", "field", "message"}
    error: dict[str, Any] = body["error"]
    return error


def count(api: Api) -> int:
    with api.app.state.backend.session() as s:
        return s.store.count()


# ---------------------------------------------------------------------- basics


def test_health_and_openapi(api: Api) -> None:
    assert api.get(None, "/health").json()["status"] == "ok"
    doc = api.get(None, "/openapi.json").json()
    paths = set(doc["paths"])
    expected = {
        "/agreements", "/agreements/{agreement_id}", "/agreements/{agreement_id}/versions",
        "/agreements/validate", "/evidence/observations", "/evidence/observations/batch",
        "/findings", "/findings/evaluate", "/findings/{agreement}/{obligation}/{party}",
        "/claims", "/claims/{claim_id}", "/claims/{claim_id}/review", "/hotline",
        "/hotline/keys", "/hotline/{channel}", "/hotline/{channel}/records",
        "/hotline/{channel}/verify", "/webhooks", "/webhooks/deliveries", "/users",
    }  # fmt: skip
    assert expected <= paths, expected - paths
    assert "token" in doc["components"]["securitySchemes"]


def test_no_token_or_a_bad_one_is_401(api: Api) -> None:
    error_of(api.get(None, "/agreements"), 401)
    r = api.client.get("/agreements", headers={"Authorization": "Bearer dtk_not-a-token"})
    assert "unknown" in error_of(r, 401)["message"]
    r = api.client.get("/agreements", headers={"Authorization": "Basic abc"})
    error_of(r, 401)


# ---------------------------------------------------------------------- agreements


def test_upload_validate_list_and_versions(api: Api) -> None:
    first = upload_toy(api)
    assert (first["id"], first["version_no"], first["new"]) == ("toy", 1, True)
    assert first["uploaded_by"] == "admin"
    again = api.post("admin", "/agreements", files=toy_files(api.folder / "toy"))
    assert again.status_code == 200 and again.json()["new"] is False
    second = upload_toy(api, extra="  # a comment changes the file, so a new version\n")
    assert second["version_no"] == 2 and second["sha256"] != first["sha256"]

    listed = api.get("monitor", "/agreements").json()
    assert [(a["id"], a["version_no"], a["versions"]) for a in listed] == [("toy", 2, 2)]
    detail = api.get("west", "/agreements/toy").json()
    assert detail["version_no"] == 2 and detail["timezone"] == "Europe/Kyiv"
    assert [p["id"] for p in detail["parties"]] == ["west", "east"]
    tanks = next(o for o in detail["obligations"] if o["id"] == "tanks")
    assert tanks["clause"] == "No tanks within 25 km of the line."
    assert tanks["citation"] == {"source": "s", "article": "2", "title": "Test source", "url": None}
    versions = api.get("analyst", "/agreements/toy/versions").json()
    assert [v["version_no"] for v in versions] == [1, 2]

    checked = api.post("admin", "/agreements/validate", files=toy_files(api.folder / "v"))
    assert checked.status_code == 200 and checked.json()["valid"] is True
    assert len(api.get("admin", "/agreements/toy/versions").json()) == 2  # validate stores nothing


def test_geometry_files_in_subfolders_and_extra_files(api: Api) -> None:
    parts = toy_files(api.folder / "sub")
    yaml = parts[0][1][1].replace(b"file: line.geojson", b"file: geo/line.geojson")
    line = parts[1][1][1]
    upload = [("agreement", ("agreement.yaml", yaml)), ("files", ("geo/line.geojson", line)),
              *parts[2:], ("files", ("notes.txt", b"not read"))]  # fmt: skip
    r = api.post("admin", "/agreements", files=upload)
    assert r.status_code == 201, r.text
    assert r.json()["ignored_files"] == ["notes.txt"]
    # The stored version is evaluated from the stored files, not from the upload.
    assert api.post("admin", "/findings/evaluate", json={"agreement": "toy"}).status_code == 201


def test_bad_agreements_are_400_with_file_line_field(api: Api) -> None:
    parts = toy_files(api.folder / "bad")
    bad_yaml = parts[0][1][1].replace(b"window: month", b"window: fortnight")
    r = api.post("admin", "/agreements", files=[("agreement", ("agreement.yaml", bad_yaml)),
                                                *parts[1:]])  # fmt: skip
    problem = error_of(r, 400)["problems"][0]
    assert (problem["file"], problem["line"], problem["field"]) == ("agreement.yaml", 5, "window")

    missing = error_of(api.post("admin", "/agreements", files=parts[:2]), 400)
    assert {p["field"] for p in missing["problems"]} == {
        "zones.west_side.file", "zones.east_side.file",
    }  # fmt: skip
    assert "was not uploaded" in missing["problems"][0]["message"]

    # A zone may not read outside the upload (the server's own files).
    escape = parts[0][1][1].replace(b"file: line.geojson", b"file: ../../etc/passwd")
    r = api.post("admin", "/agreements", files=[("agreement", ("agreement.yaml", escape)),
                                                *parts[1:]])  # fmt: skip
    assert "relative path inside" in error_of(r, 400)["problems"][0]["message"]
    r = api.post("admin", "/agreements", files=[parts[0], ("files", ("../x.geojson", b"{}"))])
    assert error_of(r, 400)["problems"][0]["field"] == "files"
    r = api.post("admin", "/agreements", files=[*parts, ("files", ("agreement.yaml", b"x"))])
    assert "own file name" in error_of(r, 400)["problems"][0]["message"]

    r = api.post("admin", "/agreements", files=[("agreement", ("a.yaml", b"\xff\xfe"))])
    assert "UTF-8" in error_of(r, 400)["message"]
    r = api.post("admin", "/agreements", files=[("agreement", ("a.yaml", b"a: [1\n"))])
    assert error_of(r, 400)["problems"][0]["line"] is not None
    error_of(api.post("admin", "/agreements", files=[]), 422)  # no agreement part at all
    assert api.get("admin", "/agreements").json() == []  # nothing half-written


def test_unknown_agreement_is_404(api: Api) -> None:
    error_of(api.get("admin", "/agreements/nope"), 404)
    error_of(api.get("admin", "/agreements/nope/versions"), 404)
    error_of(api.post("admin", "/findings/evaluate", json={"agreement": "nope"}), 404)
    upload_toy(api)
    r = api.post("admin", "/findings/evaluate", json={"agreement": "toy", "version": 9})
    error_of(r, 404)


# ---------------------------------------------------------------------- evidence


def test_single_observation_is_stored_once(api: Api) -> None:
    r = api.post("monitor", "/evidence/observations", json=obs())
    assert r.status_code == 201 and r.json() == {"rows": 1, "stored": 1, "duplicates": 0,
                                                  "ids": ["o1"]}  # fmt: skip
    r = api.post("monitor", "/evidence/observations", json=obs())
    assert r.status_code == 200 and r.json()["duplicates"] == 1
    # The same id with other content is a conflict with what is stored.
    error = error_of(api.post("monitor", "/evidence/observations", json=obs(count=3)), 409)
    assert "already stored" in error["problems"][0]["message"]
    assert count(api) == 1


def test_batches_json_csv_and_upload(api: Api) -> None:
    batch = [obs(id=f"j{i}", lat=48 + i / 100) for i in range(5)]
    r = api.post("monitor", "/evidence/observations/batch", json=batch)
    assert r.status_code == 201 and r.json()["stored"] == 5
    assert r.json()["ids"] == [f"j{i}" for i in range(5)]
    csv = CSV_HEADER + "c1,2020-02-03,37.9,48.4,east,fire,,,s,B,2,shelling\n"
    r = api.post("monitor", "/evidence/observations/batch", content=csv,
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 201 and r.json() == {"rows": 1, "stored": 1, "duplicates": 0,
                                                  "ids": ["c1"]}  # fmt: skip
    upload = CSV_HEADER + "u1,2020-02-04,37.9,48.4,,patrol,,,s,A,1,\n" + csv.split("\n", 1)[1]
    r = api.post("monitor", "/evidence/observations/batch",
                 files={"file": ("mine.csv", upload.encode())})  # fmt: skip
    assert r.status_code == 201 and (r.json()["stored"], r.json()["duplicates"]) == (1, 1)
    assert count(api) == 7
    # Resending a whole batch stores nothing new.
    r = api.post("monitor", "/evidence/observations/batch", json=batch)
    assert r.status_code == 200 and r.json()["duplicates"] == 5
    assert count(api) == 7


def test_a_bad_row_rejects_the_whole_batch(api: Api) -> None:
    batch = [obs(id="good"), obs(id="bad", lat=97.5, kind="tanks")]
    error = error_of(api.post("monitor", "/evidence/observations/batch", json=batch), 400)
    fields = {p["field"] for p in error["problems"]}
    assert fields == {"1.lat", "1.kind"}
    assert all(p["file"] == "body" for p in error["problems"])
    csv = (
        CSV_HEADER
        + "a,2020-02-03,37.9,48.4,east,fire,,,s,B,2,\nb,not-a-time,37.9,48.4,east,fire,,,s,B,2,\n"
    )
    r = api.post("monitor", "/evidence/observations/batch", content=csv,
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    problem = error_of(r, 400)["problems"][0]
    assert (problem["file"], problem["line"], problem["field"]) == ("body", 3, "time")
    r = api.post("monitor", "/evidence/observations/batch",
                 files={"file": ("mine.csv", b"id,when\nx,y\n")})  # fmt: skip
    assert error_of(r, 400)["problems"][0]["file"] == "mine.csv"
    assert count(api) == 0  # nothing half-written


def test_malformed_submissions_are_4xx(api: Api) -> None:
    error_of(api.post("monitor", "/evidence/observations", json={"id": "x"}), 422)
    error_of(api.post("monitor", "/evidence/observations", json=obs(lon="east")), 422)
    error_of(api.post("monitor", "/evidence/observations", json=obs(colour="red")), 422)
    batch = "/evidence/observations/batch"
    error_of(api.post("monitor", batch, content=b"{not json",
                      headers={"Content-Type": "application/json"}), 422)  # fmt: skip
    error_of(api.post("monitor", batch, json={"id": "not a list"}), 422)
    error_of(api.post("monitor", batch, json=[]), 400)
    error_of(api.post("monitor", batch, content=b"x", headers={"Content-Type": "image/png"}), 400)
    error_of(api.post("monitor", batch, content=b"", headers={"Content-Type": "text/csv"}), 400)
    error_of(api.post("monitor", batch, files={"other": ("a.csv", b"x")}), 400)
    assert count(api) == 0


def test_a_party_submits_only_its_own_records(api: Api) -> None:
    r = api.post("west", "/evidence/observations", json=obs(actor="west"))
    assert r.status_code == 201
    error = error_of(
        api.post("west", "/evidence/observations", json=obs(id="o2", actor="east")), 403
    )
    assert error["problems"][0]["field"] == "0.actor"
    error_of(api.post("west", "/evidence/observations", json=obs(id="o3", actor="")), 403)
    csv = (
        CSV_HEADER
        + "c1,2020-02-03,37.9,48.4,west,fire,,,s,B,2,\nc2,2020-02-03,37.9,48.4,east,fire,,,s,B,2,\n"
    )
    r = api.post("west", "/evidence/observations/batch", content=csv,
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    assert error_of(r, 403)["problems"][0]["line"] == 3
    # A CSV whose actors cannot be read is refused, not taken on trust.
    r = api.post("west", "/evidence/observations/batch", content=b'id,actor\n"x,west\n',
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    error_of(r, 400)
    assert count(api) == 1


def test_query_observations_by_every_filter(api: Api) -> None:
    rows = [
        obs(id="a", time="2020-01-05T00:00:00Z", lon=37.5, lat=48.0, actor="west",
            category="tank", reliability="A", credibility=1),
        obs(id="b", time="2020-02-05T00:00:00Z", lon=38.5, lat=48.0, actor="east",
            category="tank", reliability="B", credibility=3),
        obs(id="c", time="2020-03-05T00:00:00Z", lon=38.5, lat=49.2, actor="east",
            category="acv", reliability="D", credibility=2),
    ]  # fmt: skip
    assert api.post("monitor", "/evidence/observations/batch", json=rows).status_code == 201

    def ids(query: str) -> list[str]:
        r = api.get("east", "/evidence/observations" + query)
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    assert ids("") == ["a", "b", "c"]
    assert ids("?bbox=38,47.5,39,48.5") == ["b"]
    assert ids("?actor=east&category=tank") == ["b"]
    assert ids("?min_grade=B3") == ["a", "b"]
    assert ids("?min_grade=b2") == ["a"]
    assert ids("?start=2020-02-01&end=2020-03-01T00:00:00Z") == ["b"]
    assert ids("?limit=1&offset=1") == ["b"]
    page = api.get("admin", "/evidence/observations?limit=2").json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    item = page["items"][0]
    assert item["time"].startswith("2020-01-05T00:00:00") and item["time"].endswith("Z")
    assert item["count_best"] == 2 and item["credibility"] == 1

    for bad in ("?bbox=1,2,3", "?bbox=a,b,c,d", "?bbox=10,0,5,1", "?bbox=0,0,1,95",
                "?min_grade=G9", "?start=2020-03-01&end=2020-01-01"):  # fmt: skip
        error_of(api.get("admin", "/evidence/observations" + bad), 400)
    for bad in ("?limit=0", "?limit=100000", "?offset=-1", "?start=yesterday"):
        error_of(api.get("admin", "/evidence/observations" + bad), 422)


# ---------------------------------------------------------------------- findings


def test_evaluate_list_and_one_finding_with_its_evidence(api: Api) -> None:
    upload_toy(api)
    api.post("monitor", "/evidence/observations/batch",
             json=[obs(), obs(id="far", lon=37.2, actor="west")])  # fmt: skip
    r = api.post("analyst", "/findings/evaluate", json={"agreement": "toy"})
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["agreement"]["id"] == "toy" and report["agreement_version"] == 1
    assert report["evidence"]["count"] == 2 and report["evaluated_by"] == "analyst"
    assert report["as_of"] == "2020-02-01T10:00:00Z"  # the latest evidence
    statuses = {(f["obligation"], f["party"]): f["status"] for f in report["findings"]}
    assert statuses[("tanks", "west")] == "violation"

    listed = api.get("west", "/findings?agreement=toy&status=violation").json()["reports"]
    assert len(listed) == 1 and listed[0]["report_id"] == report["report_id"]
    assert [(f["obligation"], f["party"]) for f in listed[0]["findings"]] == [("tanks", "west")]
    east = api.get("west", "/findings?party=east").json()["reports"][0]["findings"]
    assert east and all(f["party"] == "east" for f in east)

    one = api.get("east", "/findings/toy/tanks/west").json()
    assert one["finding"]["status"] == "violation" and one["finding"]["evidence"] == ["o1"]
    assert [e["id"] for e in one["evidence"]] == ["o1"]
    assert one["evidence"][0]["lon"] == 37.95
    start = one["finding"]["window"]["start"]
    same = api.get("east", "/findings/toy/tanks/west", params={"window_start": start})
    assert same.json()["finding"] == one["finding"]


def test_evaluate_as_of_a_time_and_errors(api: Api) -> None:
    upload_toy(api)
    api.post("monitor", "/evidence/observations", json=obs())
    r = api.post("admin", "/findings/evaluate", json={"agreement": "toy", "as_of": "2020-01-15"})
    assert r.status_code == 201
    assert r.json()["as_of"] == "2020-01-15T21:59:59.999999Z"  # end of that day in Kyiv
    assert r.json()["alerts"] is None  # the past is stored, not compared
    tanks = [f for f in r.json()["findings"] if f["obligation"] == "tanks"]
    assert {f["status"] for f in tanks} == {"unverified"}
    error = error_of(api.post("admin", "/findings/evaluate",
                              json={"agreement": "toy", "as_of": "soon"}), 400)  # fmt: skip
    assert error["problems"][0]["field"] == "as_of"
    error_of(api.post("admin", "/findings/evaluate", json={"agreement": "toy", "x": 1}), 422)
    error_of(api.get("admin", "/findings/toy/tanks/nobody"), 404)
    error_of(api.get("admin", "/findings/toy/tanks/west?window_start=1999-01-01"), 404)
    error_of(api.get("admin", "/findings/toy/tanks/west?window_start=then"), 400)
    error_of(api.get("admin", "/findings/nope/tanks/west"), 404)
    error_of(api.get("admin", "/findings?agreement=nope"), 404)
    error_of(api.get("admin", "/findings?status=awful"), 422)


def test_not_yet_evaluated_is_404(api: Api) -> None:
    upload_toy(api)
    assert (
        "not been evaluated"
        in error_of(api.get("admin", "/findings?agreement=toy"), 404)["message"]
    )
    error_of(api.get("admin", "/findings/toy/tanks/west"), 404)
    assert api.get("admin", "/findings").json() == {"reports": []}


# ---------------------------------------------------------------------- claims


def _add_claims(api: Api) -> str:
    """One document with one observed claim, stored pending review."""
    from detente.documents import parse_document
    from detente.extract._types import Claim, Place, Quantity, TimeRef
    from detente.store.claims import ClaimStore, claim_id

    text = "West forces moved 12 tanks near the line on Monday."
    doc = parse_document(text, "news.txt", "text", None)
    claim = Claim(
        doc=doc.doc_id, span=(0, len(text)), sentence=text, event_type="MOBILIZE",
        modality="observed", actor="West forces", target=None,
        quantities=(Quantity("tank", 12, 12, 12, "12 tanks", (18, 26)),),
        place=Place("Near", 37.95, 48.5, "near the line", (27, 40)),
        time=TimeRef("2020-02-03", "2020-02-03", "on Monday"), confidence=0.8,
    )  # fmt: skip
    with api.app.state.backend.session() as s:
        ClaimStore(s.store).add_document(doc, [claim], source="News", grade=("B", 2))
    return claim_id(doc.doc_id, claim)


def test_claims_review(api: Api) -> None:
    assert api.get("analyst", "/claims").json() == {"claims": []}
    cid = _add_claims(api)
    listed = api.get("analyst", "/claims?status=pending").json()["claims"]
    assert [c["claim_id"] for c in listed] == [cid]
    assert listed[0]["time_start"] == "2020-02-03"
    edit = {"action": "edit", "changes": {"party": "west"}, "note": "named"}
    r = api.post("analyst", f"/claims/{cid}/review", json=edit)
    assert r.status_code == 200 and r.json()["claim"]["party"] == "west"
    r = api.post("admin", f"/claims/{cid}/review", json={"action": "accept"})
    assert r.json()["claim"]["status"] == "accepted"
    history = api.get("analyst", f"/claims/{cid}").json()["history"]
    assert [(h["action"], h["reviewer"]) for h in history] == [("edit", "analyst"),
                                                               ("accept", "admin")]  # fmt: skip
    assert api.get("analyst", "/claims?status=pending").json() == {"claims": []}

    bad = api.post("analyst", f"/claims/{cid}/review",
                   json={"action": "edit", "changes": {"colour": "red"}})  # fmt: skip
    assert error_of(bad, 400)["problems"][0]["field"] == "changes.colour"
    error_of(api.post("analyst", f"/claims/{cid}/review", json={"action": "bless"}), 422)
    error_of(api.post("analyst", "/claims/claim-nope-0/review", json={"action": "accept"}), 404)
    error_of(api.get("analyst", "/claims/claim-nope-0"), 404)
    error_of(api.get("analyst", "/claims?status=maybe"), 422)

    # Accepted claims count as evidence: the evaluation sees the claim beside observations.
    upload_toy(api)
    report = api.post("admin", "/findings/evaluate", json={"agreement": "toy"}).json()
    assert report["evidence"]["count"] == 1


# ---------------------------------------------------------------------- hotline


def _signed(
    pem: bytes, head: dict[str, Any], sender: str, to: str, body: dict[str, Any]
) -> dict[str, Any]:
    record = unsigned_record(head["channel"], head["seq"] + 1, "message", sender, to,
                             datetime.now(UTC), body, head["hash"])  # fmt: skip
    return sign_record(record, load_private_key(pem))


def test_hotline_keys_records_reading_and_verifying(api: Api) -> None:
    west_pem, west_key = generate_key()
    east_pem, east_key = generate_key()
    r = api.post("west", "/hotline/keys", json={"public_key": west_key})
    assert r.status_code == 201 and r.json() == {"party": "west", "public_key": west_key}
    assert api.post("east", "/hotline/keys", json={"public_key": east_key}).status_code == 201
    error_of(api.post("west", "/hotline/keys", json={"public_key": "not base64"}), 400)

    channel = "east--west"
    head = api.get("west", f"/hotline/{channel}").json()["head"]
    assert head["seq"] == 0
    first = _signed(west_pem, head, "west", "east", {"text": "Shelling near the line"})
    r = api.post("west", f"/hotline/{channel}/records", json=first)
    assert r.status_code == 201, r.text
    assert r.json()["hash"] == first["hash"]

    # Sent again (seq 1 is taken): a conflict; the client re-reads the head and re-signs.
    error_of(api.post("west", f"/hotline/{channel}/records", json=first), 409)
    # East may not send as west, nor west as east.
    error_of(api.post("east", f"/hotline/{channel}/records", json=first), 403)
    head = api.get("east", f"/hotline/{channel}").json()["head"]
    reply = _signed(east_pem, head, "east", "west", {"text": "Checking"})
    error_of(api.post("west", f"/hotline/{channel}/records", json=reply), 403)
    assert api.post("east", f"/hotline/{channel}/records", json=reply).status_code == 201

    # A record signed with the wrong key, or for another channel, is refused.
    forged = _signed(east_pem, api.get("west", f"/hotline/{channel}").json()["head"],
                     "west", "east", {"text": "forged"})  # fmt: skip
    assert error_of(api.post("west", f"/hotline/{channel}/records", json=forged), 400)[
        "problems"][0]["field"] == "signature"  # fmt: skip
    error_of(api.post("west", "/hotline/north--west/records", json=reply), 403)

    read = api.get("east", f"/hotline/{channel}").json()
    assert [r["seq"] for r in read["records"]] == [1, 2] and read["head"]["seq"] == 2
    verdict = api.get("west", f"/hotline/{channel}/verify").json()
    assert verdict["ok"] is True and verdict["checked"] == 2
    assert api.get("west", "/hotline").json() == [read["head"]]
    assert api.get("admin", "/hotline").json() == []  # not even the admin reads a channel

    error_of(api.get("west", "/hotline/west--east"), 404)  # not sorted: not a channel id
    error_of(api.get("west", "/hotline/nonsense"), 404)
    error_of(api.post("west", "/hotline/nonsense/records", json=first), 404)
    error_of(api.get("monitor", f"/hotline/{channel}"), 403)
    error_of(api.post("west", f"/hotline/{channel}/records", json=[1, 2]), 422)


# ---------------------------------------------------------------------- webhooks and users


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver on loopback that keeps what it is sent."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_webhooks_receive_signed_alerts(api: Api) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        r = api.post("admin", "/webhooks", json={"url": url, "secret": "s3cret-key"})
        assert r.status_code == 201 and "secret" not in r.json()
        assert [h["url"] for h in api.get("admin", "/webhooks").json()] == [url]
        error_of(api.post("admin", "/webhooks", json={"url": "ftp://x", "secret": "s3cret-key"}),
                 400)  # fmt: skip
        upload_toy(api)
        api.post("monitor", "/evidence/observations", json=obs())
        report = api.post("admin", "/findings/evaluate", json={"agreement": "toy"}).json()
        assert report["alerts"] == 1  # the one violation, new
        # TestClient returns after the background task: the alert has been delivered.
        ((headers, body),) = _Receiver.received
        expected = "sha256=" + hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
        assert headers["X-Detente-Signature"] == expected
        assert json.loads(body)["to"] == "violation"
        deliveries = api.get("admin", "/webhooks/deliveries").json()
        assert [(d["state"], len(d["attempts"])) for d in deliveries] == [("delivered", 1)]
        hook_id = api.get("admin", "/webhooks").json()[0]["id"]
        assert api.request("DELETE", "admin", f"/webhooks/{hook_id}").status_code == 204
        error_of(api.request("DELETE", "admin", f"/webhooks/{hook_id}"), 404)
    finally:
        server.shutdown()


def test_users_are_managed_by_the_admin(api: Api) -> None:
    r = api.post("admin", "/users", json={"name": "osce-2", "role": "monitor"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("dtk_")
    me = api.client.post("/evidence/observations", json=obs(),
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert me.status_code == 201
    names = [u["name"] for u in api.get("admin", "/users").json()]
    assert "osce-2" in names and "token" not in api.get("admin", "/users").json()[0]
    error_of(api.post("admin", "/users", json={"name": "osce-2", "role": "monitor"}), 400)
    error_of(api.post("admin", "/users", json={"name": "p", "role": "party"}), 400)
    error_of(api.post("admin", "/users", json={"name": "q", "role": "king"}), 422)
    assert api.request("DELETE", "admin", "/users/osce-2").status_code == 204
    error_of(api.client.get("/agreements", headers={"Authorization": f"Bearer {token}"}), 401)
    error_of(api.request("DELETE", "admin", "/users/osce-2"), 404)


def test_upload_stores_base64_files_that_rebuild_the_agreement(api: Api) -> None:
    upload_toy(api)
    with api.app.state.backend.session() as s:
        row = s.db.one("SELECT yaml, files FROM agreement_versions WHERE id = 'toy'")
    assert row is not None
    files = json.loads(row[1])
    assert sorted(files) == ["east.geojson", "line.geojson", "west.geojson"]
    line = base64.b64decode(files["line.geojson"])
    assert line == (api.folder / "toy" / "line.geojson").read_bytes()

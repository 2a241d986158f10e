"""The dashboard's JSON endpoints (/ui/api) and pages, on DuckDB and PostgreSQL.

The toy agreement of ``conftest.py`` (a north-south line at 38°E; west holds 37–38°E, east
38–39°E; no tanks within 25 km of the line) and a handful of observations placed by hand, so
that every grid cell and time bin can be counted on paper. Statuses are not computed here: they
come from the report that ``GET /findings`` serves, and are checked to reach the right cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from detente.users import PERMISSIONS
from test_api import Api, error_of, make_api, obs, upload_toy

# id -> (lon, lat, time, actor). At 48.5°N a degree of longitude is ~74 km, so 37.80°E is ~15 km
# west of the line (inside west's 25 km band) and 38.20°E ~15 km east of it.
POINTS: dict[str, tuple[float, float, str, str]] = {
    "a": (37.10, 48.10, "2020-02-01T10:00:00Z", "west"),
    "b": (37.40, 48.45, "2020-02-01T12:00:00Z", "west"),
    "c": (37.80, 48.10, "2020-02-03T00:00:00Z", "west"),
    "d": (38.20, 48.70, "2020-02-10T00:00:00Z", "east"),
    "e": (38.20, 48.74, "2020-02-10T00:00:00Z", "east"),
    "f": (38.90, 49.40, "2020-02-20T00:00:00Z", "east"),
    "g": (36.50, 48.00, "2020-02-05T00:00:00Z", "west"),  # west of the box below
}
BOX = "37,47.5,39,49.5"
# Cells of 0.5°: i = floor((lon + 180) / 0.5), j = floor((lat + 90) / 0.5), counted by hand:
# a 217.1/0.5 = 434.2, 138.1/0.5 = 276.2 -> (434, 276); b 434.8, 276.9 -> (434, 276);
# c 435.6, 276.2 -> (435, 276); d 436.4, 277.4 and e 436.4, 277.48 -> (436, 277);
# f 437.8, 278.8 -> (437, 278); g lies outside the box.
CELLS = {(434, 276): {"a", "b"}, (435, 276): {"c"}, (436, 277): {"d", "e"}, (437, 278): {"f"}}
ORDER = ["violation", "unverified", "compliant", "pending", "inactive"]


@pytest.fixture
def api(evidence_db: str, tmp_path: Path) -> Iterator[Api]:
    """The toy agreement, the hand-placed tanks, and one evaluation."""
    made = make_api(evidence_db, tmp_path)
    upload_toy(made)
    records = [obs(id=k, lon=lon, lat=lat, time=t, actor=who)
               for k, (lon, lat, t, who) in POINTS.items()]  # fmt: skip
    assert made.post("monitor", "/evidence/observations/batch", json=records).status_code == 201
    assert made.post("admin", "/findings/evaluate", json={"agreement": "toy"}).status_code == 201
    yield made
    made.app.state.backend.close()


def report(api: Api) -> dict[str, Any]:
    found: dict[str, Any] = api.get("admin", "/findings?agreement=toy").json()["reports"][0]
    return found


def status_of(api: Api) -> dict[str, str]:
    """Each observation's most severe status among the findings citing it (from the report)."""
    out: dict[str, str] = {}
    for f in report(api)["findings"]:
        for evidence_id in f["evidence"]:
            now = out.get(evidence_id)
            if now is None or ORDER.index(f["status"]) < ORDER.index(now):
                out[evidence_id] = f["status"]
    return out


# ---------------------------------------------------------------------- tokens and roles


DATA = [
    "/ui/api/me", "/ui/api/agreements/toy/map", "/ui/api/agreements/toy/clauses",
    f"/ui/api/observations?bbox={BOX}", "/ui/api/timeline", "/ui/api/matrix?agreement=toy",
    "/ui/api/finding?agreement=toy&obligation=tanks&party=west",
]  # fmt: skip


@pytest.mark.parametrize("path", DATA)
def test_data_needs_a_token(api: Api, path: str) -> None:
    error_of(api.get(None, path), 401)
    r = api.client.get(path, headers={"Authorization": "Bearer dtk_nobody"})
    error_of(r, 401)
    assert api.get("east", path).status_code == 200


@pytest.mark.parametrize("path", ["/", "/ui/agreement", "/ui/claims", "/ui/hotline"])
def test_pages_need_no_token_and_allow_no_other_origin(api: Api, path: str) -> None:
    r = api.get(None, path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert 'id="sign-in"' in r.text and "/ui/static/common.js" in r.text


def test_static_files_and_leaflet_need_no_token(api: Api) -> None:
    for path in ("/ui/static/dashboard.js", "/ui/static/dashboard.css",
                 "/ui/vendor/leaflet/leaflet.js", "/ui/vendor/leaflet/leaflet.css",
                 "/ui/vendor/markercluster/leaflet.markercluster.js"):  # fmt: skip
        assert api.get(None, path).status_code == 200, path
    assert "L.MarkerClusterGroup" in api.get(None, "/ui/vendor/markercluster/"
                                             "leaflet.markercluster.js").text  # fmt: skip


def test_openapi_lists_the_data_not_the_pages(api: Api) -> None:
    doc = api.get(None, "/openapi.json").json()
    ui = {p for p in doc["paths"] if p.startswith("/ui/")}
    assert ui == {
        "/ui/api/me", "/ui/api/agreements/{agreement_id}/map",
        "/ui/api/agreements/{agreement_id}/clauses", "/ui/api/observations", "/ui/api/timeline",
        "/ui/api/matrix", "/ui/api/finding",
    }  # fmt: skip
    assert "/" not in doc["paths"]
    for path in ui:
        assert doc["paths"][path]["get"]["tags"] == ["dashboard"]


def test_me_tells_each_role_what_it_may_do(api: Api) -> None:
    west = api.get("west", "/ui/api/me").json()
    assert (west["name"], west["role"], west["party"]) == ("west", "party", "west")
    assert west["actions"]["read_hotline"] == "own_channel"
    assert west["actions"]["submit_declaration"] == "own_party"
    assert "read_claims" not in west["actions"]
    analyst = api.get("analyst", "/ui/api/me").json()
    assert analyst["actions"]["review_claims"] == "always"
    assert "read_hotline" not in analyst["actions"]
    admin = api.get("admin", "/ui/api/me").json()
    assert "read_hotline" not in admin["actions"] and admin["party"] is None


def test_the_dashboards_other_calls_refuse_by_role(api: Api) -> None:
    """The claims and hotline views call the API's own endpoints, which refuse by role."""
    error_of(api.get("west", "/claims?status=pending"), 403)
    error_of(api.get("monitor", "/claims"), 403)
    error_of(api.get("analyst", "/hotline/east--west"), 403)
    error_of(api.get("admin", "/hotline/east--west"), 403)
    assert api.get("analyst", "/hotline").json() == []  # no channel for a non-party


def test_a_role_without_read_evidence_is_refused_the_evidence_views(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoints ask the permission table: take read_evidence from the analyst role."""
    narrowed = {r: s for r, s in PERMISSIONS["read_evidence"].items() if r != "analyst"}
    monkeypatch.setitem(PERMISSIONS, "read_evidence", narrowed)
    for path in (f"/ui/api/observations?bbox={BOX}", "/ui/api/timeline"):
        assert "read evidence" in error_of(api.get("analyst", path), 403)["message"]
    detail = api.get("analyst", "/ui/api/finding?agreement=toy&obligation=tanks&party=west")
    assert detail.status_code == 200 and detail.json()["evidence"] is None
    assert detail.json()["finding"]["evidence"]  # the ids stay: they are part of the finding
    assert api.get("monitor", "/ui/api/timeline").status_code == 200


# ---------------------------------------------------------------------- observations


def test_bins_are_counted_per_cell_in_sql(api: Api) -> None:
    view = api.get("east", f"/ui/api/observations?agreement=toy&bbox={BOX}&max_points=0"
                           "&cell=0.5").json()  # fmt: skip
    assert view["mode"] == "bins" and view["cell"] == 0.5 and view["points"] == []
    assert view["total"] == 6  # g is outside the box
    got = {(b["i"], b["j"]): b for b in view["bins"]}
    assert set(got) == set(CELLS)
    statuses = status_of(api)
    assert statuses["c"] == "violation" and statuses["d"] == "violation"  # inside the bands
    for cell, ids in CELLS.items():
        b = got[cell]
        assert b["n"] == len(ids)
        expected: dict[str, int] = {}
        for i in ids:
            s = statuses.get(i, "uncited")
            expected[s] = expected.get(s, 0) + 1
        assert b["counts"] == expected
        assert b["status"] == min(expected, key=lambda s: [*ORDER, "uncited"].index(s))
        west, south = -180 + cell[0] * 0.5, -90 + cell[1] * 0.5
        assert b["bounds"] == [west, south, west + 0.5, south + 0.5]
        lons = [POINTS[i][0] for i in ids]
        assert b["lon"] == pytest.approx(sum(lons) / len(lons))


def test_bins_follow_the_time_range(api: Api) -> None:
    q = f"/ui/api/observations?agreement=toy&bbox={BOX}&max_points=0&cell=0.5"
    view = api.get("east", q + "&start=2020-02-02T00:00:00Z&end=2020-02-10T00:00:00Z").json()
    # c (3 Feb), d and e (10 Feb, the end is inclusive); not a, b (1 Feb) nor f (20 Feb).
    assert {(b["i"], b["j"]): b["n"] for b in view["bins"]} == {(435, 276): 1, (436, 277): 2}
    assert view["total"] == 3
    error_of(api.get("east", q + "&start=2020-03-01&end=2020-02-01"), 400)


def test_few_observations_come_one_by_one_with_their_status(api: Api) -> None:
    view = api.get("west", f"/ui/api/observations?agreement=toy&bbox={BOX}").json()
    assert view["mode"] == "points" and view["bins"] == [] and view["total"] == 6
    assert [p["id"] for p in view["points"]] == ["a", "b", "c", "d", "e", "f"]  # by time
    statuses = status_of(api)
    for p in view["points"]:
        assert p["status"] == statuses.get(p["id"], "uncited")
        assert (p["lon"], p["lat"]) == POINTS[p["id"]][:2]
        assert (p["count"], p["grade"], p["category"]) == (2, "B2", "tank")
    # Without an agreement nothing is coloured.
    plain = api.get("west", f"/ui/api/observations?bbox={BOX}").json()
    assert {p["status"] for p in plain["points"]} == {"uncited"}


def test_the_default_cell_follows_the_box(api: Api) -> None:
    view = api.get("west", "/ui/api/observations?bbox=36,47,40,50&max_points=0").json()
    # The wider side is 4°: 4 / 24 columns = 0.167°, the nearest power of two is 1/8.
    assert view["cell"] == 0.125
    assert sum(b["n"] for b in view["bins"]) == view["total"] == 7


def test_bad_observation_queries_are_400(api: Api) -> None:
    base = "/ui/api/observations?max_points=0"
    error_of(api.get("west", base + "&bbox=1,2,3"), 400)
    error_of(api.get("west", base + "&bbox=40,47,39,50"), 400)
    # A world of 0.01° cells would be 648 million cells.
    error_of(api.get("west", base + "&cell=0.01"), 400)
    error_of(api.get("west", base + "&cell=0"), 422)
    error_of(api.get("west", "/ui/api/observations?max_points=20000"), 422)
    error_of(api.get("west", "/ui/api/observations?agreement=nope"), 404)


# ---------------------------------------------------------------------- timeline


def test_timeline_bins_are_counted_by_hand(api: Api) -> None:
    t = api.get("east", f"/ui/api/timeline?agreement=toy&bbox={BOX}&bins=10").json()
    # From 1 Feb 10:00 to 20 Feb: 18.6 days; one-day bins would be 19 > 10, two-day bins 9.3.
    assert t["width"] == 2 * 86400
    # Two-day bins since 1970: 1 Feb 2020 10:00 falls in the one starting 31 Jan 2020 00:00.
    assert t["start"] == 1580428800.0
    assert t["first"] == 1580551200.0 and t["last"] == 1582156800.0
    # 31 Jan–2 Feb: a, b; 2–4 Feb: c; 10–12 Feb: d, e; 20–22 Feb: f.
    assert t["counts"] == [2, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1]
    statuses = status_of(api)
    bins = {"a": 0, "b": 0, "c": 1, "d": 5, "e": 5, "f": 10}
    expected = [0] * 11
    for i, b in bins.items():
        expected[b] += statuses.get(i) == "violation"
    assert t["violations"] == expected and sum(expected) >= 2
    everywhere = api.get("east", "/ui/api/timeline?bins=10").json()
    assert sum(everywhere["counts"]) == 7  # g too


def test_timeline_of_an_empty_box(api: Api) -> None:
    t = api.get("east", "/ui/api/timeline?bbox=0,0,1,1").json()
    assert t["counts"] == [] and t["start"] is None


# ---------------------------------------------------------------------- matrix and findings


def test_matrix_has_one_cell_per_finding(api: Api) -> None:
    m = api.get("monitor", "/ui/api/matrix?agreement=toy").json()
    rep = report(api)
    assert m["report_id"] == rep["report_id"] and m["as_of"] == rep["as_of"]
    assert [o["id"] for o in m["obligations"]] == ["cf", "tanks"]
    assert [p["id"] for p in m["parties"]] == ["west", "east"]
    starts = [w["start"] for w in m["windows"]]
    assert set(starts) == {f["window"]["start"] for f in rep["findings"]}
    assert starts == sorted(starts, key=lambda t: datetime.fromisoformat(t))
    assert len(m["cells"]) == len(rep["findings"])
    got = {(m["obligations"][o]["id"], m["parties"][p]["id"], m["windows"][w]["start"]):
           (status, n) for o, p, w, status, _, n in m["cells"]}  # fmt: skip
    for f in rep["findings"]:
        key = (f["obligation"], f["party"], f["window"]["start"])
        assert got[key] == (f["status"], len(f["evidence"]))
    assert sum(m["counts"].values()) == len(rep["findings"])
    assert m["counts"].get("violation", 0) >= 2


def test_matrix_before_any_evaluation_is_404(tmp_path: Path) -> None:
    fresh = make_api(None, tmp_path)
    try:
        upload_toy(fresh)
        assert "not been evaluated" in error_of(fresh.get("west", "/ui/api/matrix?agreement=toy"),
                                                404)["message"]  # fmt: skip
        error_of(fresh.get("west", "/ui/api/matrix?agreement=nope"), 404)
    finally:
        fresh.app.state.backend.close()


def test_finding_detail_has_clause_citation_and_evidence(api: Api) -> None:
    violation = next(f for f in report(api)["findings"]
                     if f["obligation"] == "tanks" and f["status"] == "violation")  # fmt: skip
    start = violation["window"]["start"].replace("+", "%2B")
    q = f"/ui/api/finding?agreement=toy&obligation=tanks&party={violation['party']}"
    detail = api.get("west", f"{q}&window_start={start}").json()
    assert detail["finding"] == violation
    assert [r["id"] for r in detail["evidence"]] == violation["evidence"]
    assert detail["evidence_total"] == len(violation["evidence"])
    ob = detail["obligation"]
    assert ob["clause"] == "No tanks within 25 km of the line."
    assert ob["citation"] == {"source": "s", "article": "2", "title": "Test source", "url": None}
    one = api.get("west", f"{q}&window_start={start}&limit=1").json()
    assert len(one["evidence"]) == 1 and one["evidence_total"] == len(violation["evidence"])
    error_of(api.get("west", q.replace("tanks", "nothing")), 404)
    error_of(api.get("west", f"{q}&window_start=yesterday"), 400)


# ---------------------------------------------------------------------- map and clauses


def test_map_has_one_feature_per_zone_and_the_base_map(api: Api) -> None:
    fc = api.get("analyst", "/ui/api/agreements/toy/map").json()
    zones = {
        f["properties"]["id"]: f for f in fc["features"] if f["properties"]["role"] != "basemap"
    }
    assert set(zones) == {"line", "west_side", "east_side", "everywhere", "band_w", "band_e"}
    roles = {z: f["properties"]["role"] for z, f in zones.items()}
    assert roles == {"line": "line", "west_side": "area", "east_side": "area",
                     "everywhere": "zone", "band_w": "band", "band_e": "band"}  # fmt: skip
    assert zones["band_w"]["properties"]["party"] == "west"
    assert zones["band_e"]["properties"]["to_km"] == 25
    assert zones["line"]["geometry"] == {"type": "LineString",
                                         "coordinates": [[38.0, 47.9], [38.0, 49.1]]}  # fmt: skip
    # The Russia–Ukraine border (within 2° of the toy's 37–39°E) is the shipped base map.
    base = [f for f in fc["features"] if f["properties"]["role"] == "basemap"]
    assert [f["properties"]["name"] for f in base] == ["Russia-Ukraine international land border"]
    west, south, east, north = fc["bbox"]
    assert (west, south, east, north) == (37.0, 47.5, 39.0, 49.5)
    error_of(api.get("analyst", "/ui/api/agreements/nope/map"), 404)


def test_clauses_sit_beside_their_parameters_and_yaml(api: Api) -> None:
    data = api.get("monitor", "/ui/api/agreements/toy/clauses").json()
    assert [c["obligation"] for c in data["clauses"]] == ["cf", "tanks"]
    tanks = data["clauses"][1]
    assert tanks["clause"] == "No tanks within 25 km of the line."
    assert tanks["parameters"]["zones"] == {"west": "band_w", "east": "band_e"}
    assert tanks["parameters"]["categories"] == ["tank"]
    assert tanks["categories"] == {"tank": "Tanks"}
    assert set(tanks["zones"]) == {"band_w", "band_e", "line", "west_side", "east_side"}
    assert tanks["zones"]["band_w"]["band"]["to_km"] == 25
    assert tanks["yaml"].splitlines()[0] == "  - id: tanks"
    assert tanks["yaml"].splitlines()[-1].strip() == "effective: {from: 2020-01-01T00:00:00}"
    cf = data["clauses"][0]
    assert cf["line"] + len(cf["yaml"].splitlines()) == tanks["line"]

"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against a real
``detente serve`` (uvicorn) on a free loopback port.

The store holds Minsk II (uploaded through the API and evaluated) and SYNTHETIC sightings (see
``tests/dashboard_server.py``). What the page shows is checked against what is known without
the page: zone counts from the agreement file and the shipped GeoJSON, findings and evidence
from the API's own endpoints. Screenshots go to ``test-artifacts/dashboard/``.

Without /usr/bin/chromium these tests fail, naming ``apt-get install chromium``: they are never
skipped and never download a browser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml

from dashboard_server import (
    CLAIM_SENTENCE,
    MINSK,
    ROOT,
    ChromiumMissing,
    Server,
    launch_chromium,
    seed,
    upload_and_evaluate,
)

N_OBSERVATIONS = 3000
SHOTS = ROOT / "test-artifacts" / "dashboard"
AGREEMENT = yaml.safe_load((MINSK / "agreement.yaml").read_text(encoding="utf-8"))
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A seeded store behind a real server: its URL and each user's token."""
    folder = tmp_path_factory.mktemp("dashboard")
    db = str(folder / "dashboard.duckdb")
    tokens = seed(db, folder, N_OBSERVATIONS)
    server = Server(db, folder)
    server.start()
    try:
        upload_and_evaluate(server.url, tokens["admin"])
        yield server.url, tokens
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            chromium = launch_chromium(p)
        except ChromiumMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        yield chromium
        chromium.close()


class Page:
    """A browser page that records console errors, uncaught exceptions and failed requests."""

    def __init__(self, browser: Any, url: str) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._failed)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" not in failure:  # a map request superseded by a newer view
            self.errors.append(f"request failed: {request.url} {failure}")

    def sign_in(self, token: str, path: str = "/") -> None:
        """Open ``path``, answer the sign-in dialog, wait until the page has drawn its data."""
        self.page.goto(self.url + path)
        self.page.locator("#sign-in").wait_for(state="visible")
        self.page.fill("#token", token)
        self.page.click("#sign-in-form button[type=submit]")
        self.page.wait_for_selector("body[data-ready='1']", state="attached")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, served: tuple[str, dict[str, str]]) -> Iterator[Page]:
    made = Page(browser, served[0])
    yield made
    made.close()


def get(served: tuple[str, dict[str, str]], path: str, who: str = "admin") -> Any:
    url, tokens = served
    r = httpx.get(url + path, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=60)
    r.raise_for_status()
    return r.json()


def findings(served: tuple[str, dict[str, str]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = get(served, "/findings?agreement=minsk2")["reports"][0][
        "findings"
    ]
    return found


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def visible_cells(page: Page) -> int:
    count: int = page.page.locator("#matrix td:not([hidden]) > button.dt-cell").count()
    return count


# ---------------------------------------------------------------------- the dashboard


def test_dashboard_loads_cleanly_and_draws_every_zone(
    page: Page, served: tuple[str, dict[str, str]]
) -> None:
    page.sign_in(served[1]["admin"])
    page.page.wait_for_selector("#map[data-obs-mode]", state="attached")
    # One shape per zone of the agreement file, and the shipped border as base map.
    border = json.loads((MINSK / "geo" / "ru_ua_border.geojson").read_text(encoding="utf-8"))
    assert page.page.locator("path.dt-zone").count() == len(AGREEMENT["zones"]) == 13
    assert page.page.locator("path.dt-basemap").count() == len(border["features"]) == 1
    lines = [z for z, spec in AGREEMENT["zones"].items() if spec.get("file", "").startswith(
        "geo/contact_line")]  # fmt: skip
    assert page.page.locator("path.dt-role-line").count() == len(lines) == 1
    bands = [z for z, spec in AGREEMENT["zones"].items() if "band" in spec]
    assert page.page.locator("path.dt-role-band").count() == len(bands) == 8
    # The observations: drawn (as bins or clusters), and their count is what the evidence API
    # counts in the same box.
    shown = page.page.locator(".dt-bin, .dt-cluster, path.dt-obs").count()
    assert shown > 0
    box = page.page.get_attribute("#map", "data-bbox")
    total = get(served, f"/evidence/observations?bbox={box}&limit=1")["total"]
    assert page.page.get_attribute("#map", "data-obs-total") == str(total)
    assert total > 0
    # Every finding of the latest report is one cell of the matrix.
    assert visible_cells(page) == len(findings(served))
    page.shot("dashboard")
    assert page.errors == []


def test_brushing_the_timeline_filters_the_matrix_and_the_map(
    page: Page, served: tuple[str, dict[str, str]]
) -> None:
    page.sign_in(served[1]["admin"])
    all_findings = findings(served)
    assert visible_cells(page) == len(all_findings)
    svg = page.page.locator("#timeline").bounding_box()
    assert svg is not None
    y = svg["y"] + svg["height"] / 2
    page.page.mouse.move(svg["x"] + svg["width"] * 0.30, y)
    page.page.mouse.down()
    page.page.mouse.move(svg["x"] + svg["width"] * 0.38, y, steps=5)
    page.page.mouse.up()
    page.page.wait_for_selector("#timeline[data-start]", state="attached")
    start = _time(str(page.page.get_attribute("#timeline", "data-start")))
    end = _time(str(page.page.get_attribute("#timeline", "data-end")))
    assert start < end
    # The cells left are the findings whose window overlaps the brushed range, counted from
    # the API's report (a window is [start, end); an open end reaches forever).
    expected = [
        f for f in all_findings
        if _time(f["window"]["start"]) <= end
        and (f["window"]["end"] is None or _time(f["window"]["end"]) > start)
    ]  # fmt: skip
    assert 0 < len(expected) < len(all_findings)
    assert visible_cells(page) == len(expected)
    # The map now counts only the observations of that range (the evidence API agrees).
    page.page.wait_for_function(
        "s => document.getElementById('map').dataset.obsRange === s",
        arg=page.page.get_attribute("#timeline", "data-start"),
    )
    box = page.page.get_attribute("#map", "data-bbox")
    query = f"bbox={box}&start={start.isoformat()}&end={end.isoformat()}".replace("+", "%2B")
    in_range = get(served, f"/evidence/observations?{query}&limit=1")["total"]
    assert page.page.get_attribute("#map", "data-obs-total") == str(in_range)
    page.shot("dashboard-brushed")
    page.page.click("#range-clear")
    assert visible_cells(page) == len(all_findings)
    assert page.errors == []


def test_clicking_a_violation_shows_its_evidence_clause_and_citation(
    page: Page, served: tuple[str, dict[str, str]]
) -> None:
    page.sign_in(served[1]["admin"])
    cell = page.page.locator("button.dt-cell[data-status='violation']").first
    obligation = str(cell.get_attribute("data-obligation"))
    party = str(cell.get_attribute("data-party"))
    window = str(cell.get_attribute("data-window-start"))
    cell.click()
    page.page.wait_for_selector("#finding:not([hidden])")
    page.page.wait_for_function(
        "w => document.getElementById('finding').dataset.windowStart === w", arg=window
    )
    quoted = window.replace("+", "%2B")
    api = get(served, f"/findings/minsk2/{obligation}/{party}?window_start={quoted}")
    finding = api["finding"]
    assert finding["status"] == "violation"
    cited = list(finding["evidence"])
    assert cited
    listed = page.page.locator("#evidence tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert listed == cited[:500]
    # Each cited record is highlighted on the map (all synthetic records have a place).
    assert page.page.locator("path.dt-evidence").count() == len(cited[:500])
    assert page.page.inner_text("#finding-status") == "violation"
    assert page.page.inner_text("#finding-explanation") == finding["explanation"]
    clause = next(o for o in AGREEMENT["obligations"] if o["id"] == obligation)["clause"]
    assert page.page.inner_text("#finding blockquote.clause") == clause
    source = next(s for s in AGREEMENT["sources"] if s["id"] == "pom")
    assert source["title"] in page.page.inner_text("#finding .citation")
    page.shot("finding")
    assert page.errors == []


# ---------------------------------------------------------------------- the other pages


def test_agreement_page_puts_each_clause_beside_its_parameters(
    page: Page, served: tuple[str, dict[str, str]]
) -> None:
    page.sign_in(served[1]["monitor"], "/ui/agreement?agreement=minsk2")
    clauses = page.page.locator("article.dt-clause")
    assert clauses.count() == len(AGREEMENT["obligations"]) == 5
    for ob in AGREEMENT["obligations"]:
        card = page.page.locator(f"#clause-{ob['id']}")
        assert card.locator("blockquote.clause").inner_text() == ob["clause"]
        params = card.locator(".params-table").inner_text()
        for category in ob.get("categories", []):
            assert category in params
        assert f"id: {ob['id']}" in card.locator("pre.yaml").text_content()
    page.shot("agreement")
    assert page.errors == []


def test_analyst_reviews_the_claims_queue(page: Page, served: tuple[str, dict[str, str]]) -> None:
    page.sign_in(served[1]["analyst"], "/ui/claims")
    assert page.page.locator("nav a[data-nav='claims']").is_visible()
    assert not page.page.locator("nav a[data-nav='hotline']").is_visible()
    row = page.page.locator("#claims tbody tr", has_text=CLAIM_SENTENCE)
    assert row.count() == 1
    claim_id = str(row.get_attribute("data-claim"))
    page.shot("claims")
    row.locator("button.accept").click()
    page.page.wait_for_selector(f"tr[data-claim='{claim_id}']", state="detached")
    assert get(served, f"/claims/{claim_id}", "analyst")["claim"]["status"] == "accepted"
    assert page.errors == []


def test_a_party_sees_its_own_hotline_channels_only(
    page: Page, served: tuple[str, dict[str, str]]
) -> None:
    page.sign_in(served[1]["dpr_lpr"], "/ui/hotline")
    assert not page.page.locator("nav a[data-nav='claims']").is_visible()
    channels = page.page.locator("#channels button[data-channel]").evaluate_all(
        "bs => bs.map(b => b.dataset.channel)"
    )
    assert channels == ["dpr_lpr--ukr"]  # not rus--ukr, which ukr also holds
    assert page.page.locator("#channel tbody tr").count() == 2
    assert page.page.inner_text("#verify").startswith("verified: 2 records")
    page.shot("hotline")
    assert page.errors == []


def test_other_roles_read_no_hotline_channel(
    page: Page, served: tuple[str, dict[str, str]]
) -> None:
    page.sign_in(served[1]["admin"], "/ui/hotline")
    assert not page.page.locator("nav a[data-nav='hotline']").is_visible()
    assert "reads none" in page.page.inner_text("#not-allowed")
    assert page.errors == []


def test_a_bad_token_is_refused_at_sign_in(page: Page) -> None:
    page.page.goto(page.url + "/")
    page.page.fill("#token", "dtk_not-a-token")
    page.page.click("#sign-in-form button[type=submit]")
    # The dialog may already show the page's own "sign in" message: wait for the answer to
    # this token, and fail (after the timeout) if it never says the token is not valid.
    page.page.wait_for_function(
        "document.getElementById('sign-in-error').textContent.includes('not valid')"
    )
    assert "not valid" in page.page.inner_text("#sign-in-error")
    assert page.page.evaluate("sessionStorage.getItem('detente.token')") is None


def test_a_missing_chromium_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the fixture fails with on a machine without Debian's Chromium (never a skip)."""
    import dashboard_server

    monkeypatch.setattr(dashboard_server, "CHROMIUM", dashboard_server.ROOT / "no-chromium-here")
    with pytest.raises(ChromiumMissing, match=r"apt-get install chromium"):
        launch_chromium(object())

"""The issue-5 competitors give exactly Detente's findings, and the check can tell when not.

Detente's engine, the GeoPandas script and the PostGIS SQL run the Minsk II ceasefire and every
withdrawal band on 3,000 synthetic sightings (up to 31 Aug 2016) plus hand-made records, each in
a month of its own after the synthetic data end, so that each one decides its finding: an
unknown and a missing actor, low grades, vague places near and far from a zone's edge, a place
exactly at the tolerance, counts of zero and missing, the edges of a month in Kyiv time, records
at and after the as-of time. A second as-of time falls before the addendum takes effect (pending).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from conftest import AGREEMENT as TOY
from conftest import frame, write_toy
from detente.agreement import Agreement, load_agreement
from detente.engine import evaluate
from detente.synth import synthesize
from detente.zones import ZoneSet, build_zones

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from competitors.common import compare, detente_table, make_plan
from competitors.geopandas_script import geopandas_findings
from competitors.postgis_sql import PostgisCompetitor
from run import AGREEMENT, observation_frame

AS_OF = datetime.fromisoformat("2017-02-28T23:59:59+02:00")
#: Before the addendum (10 Nov 2015) takes effect: light_weapons_withdrawal is pending.
EARLY = datetime.fromisoformat("2015-06-30T23:59:59+03:00")
SYNTHETIC_END = datetime.fromisoformat("2016-08-31T23:59:59+03:00")


@pytest.fixture(scope="module")
def agreement() -> Agreement:
    return load_agreement(AGREEMENT)


@pytest.fixture(scope="module")
def zones(agreement: Agreement) -> ZoneSet:
    return build_zones(agreement)


def place(zones: ZoneSet, zone: str, margin_km: tuple[float, float]) -> tuple[float, float]:
    """Lon/lat of a point inside ``zone`` whose distance to the zone's edge is in the range."""
    geom = zones.geoms[zone]
    x0, y0, x1, y1 = geom.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    x, y = xs.ravel(), ys.ravel()
    margin = shapely.distance(shapely.boundary(geom), shapely.points(x, y)) / 1000.0
    ok = shapely.intersects_xy(geom, x, y) & (margin >= margin_km[0]) & (margin <= margin_km[1])
    assert ok.any(), f"no point in {zone} {margin_km[0]}–{margin_km[1]} km from its edge"
    i = int(np.flatnonzero(ok)[0])
    lon, lat = pyproj.Transformer.from_crs(zones.crs, 4326, always_xy=True).transform(x[i], y[i])
    return float(lon), float(lat)


def edge_records(zones: ZoneSet) -> list[dict[str, Any]]:
    """Hand-made records, one month each (Kyiv time), after the synthetic data end."""
    gov25_near = place(zones, "band_gov_25", (2.0, 4.0))
    gov35 = place(zones, "band_gov_35", (5.0, 8.0))
    gov15 = place(zones, "band_gov_15", (4.0, 6.0))
    ngca15 = place(zones, "band_ngca_15", (4.0, 6.0))
    ngca35_near = place(zones, "band_ngca_35", (2.0, 4.0))
    ngca70_deep = place(zones, "band_ngca_70", (16.0, 40.0))  # beyond the 15 km band
    donbas_deep = place(zones, "donbas", (40.0, 200.0))

    def at(where: tuple[float, float]) -> dict[str, Any]:
        return {"lon": where[0], "lat": where[1]}

    fire = {"kind": "fire", "category": None, "count_low": None, "count_best": None,
            "count_high": None}  # fmt: skip
    return [
        # October 2016: a vague place near the edge of Ukraine's 25 km band (unverified); a
        # vague place deep in the NGCA 70 km band (surely inside: violation); a D4 sighting of
        # MLRS (unverified); a count of zero (absence: coverage, so compliant).
        {"id": "oct-vague-edge", "time": "2016-10-05T10:00:00Z", **at(gov25_near), "actor": "ukr",
         "category": "artillery_100mm_plus", "place_uncertainty_km": 20.0},
        {"id": "oct-vague-deep", "time": "2016-10-06T10:00:00Z", **at(ngca70_deep),
         "actor": "dpr_lpr", "category": "mlrs_heavy", "place_uncertainty_km": 12.0},
        {"id": "oct-low-grade", "time": "2016-10-07T10:00:00Z", **at(gov35), "actor": "ukr",
         "category": "mlrs", "reliability": "D", "credibility": 4},
        {"id": "oct-count-zero", "time": "2016-10-08T10:00:00Z", **at(ngca15), "actor": "dpr_lpr",
         "reliability": "A", "credibility": 1, "count_low": 0, "count_best": 0, "count_high": 0},
        # November 2016: a tank of unknown attribution; MLRS with no actor at all, vaguely placed
        # near an edge; artillery placed exactly as vaguely as tolerated, graded C3 (violation).
        {"id": "nov-unknown", "time": "2016-11-03T10:00:00Z", **at(gov15), "actor": "unknown"},
        {"id": "nov-no-actor", "time": "2016-11-04T10:00:00Z", **at(ngca35_near), "actor": None,
         "category": "mlrs", "place_uncertainty_km": 20.0},
        {"id": "nov-tolerated", "time": "2016-11-05T10:00:00Z", **at(gov25_near), "actor": "ukr",
         "category": "artillery_100mm_plus", "place_uncertainty_km": 10.0,
         "reliability": "C", "credibility": 3},
        # December 2016: fire by Ukraine graded C3; fire of unknown origin vaguely placed deep
        # inside; a tank sighting without a count (counts as one).
        {"id": "dec-fire", "time": "2016-12-01T10:00:00Z", **at(donbas_deep), "actor": "ukr",
         "reliability": "C", "credibility": 3, **fire},
        {"id": "dec-fire-unknown", "time": "2016-12-02T10:00:00Z", **at(donbas_deep),
         "actor": "unknown", "place_uncertainty_km": 25.0, **fire},
        {"id": "dec-no-count", "time": "2016-12-03T10:00:00Z", **at(ngca15), "actor": "dpr_lpr",
         "count_low": None, "count_best": None, "count_high": None},
        # The last second of January and the first of February in Kyiv (UTC+2 in winter).
        {"id": "jan-last-second", "time": "2017-01-31T21:59:59Z", **at(donbas_deep),
         "actor": "ukr", **fire},
        {"id": "feb-first-second", "time": "2017-01-31T22:00:00Z", **at(donbas_deep),
         "actor": "dpr_lpr", **fire},
        # Exactly at the as-of time (counts), one second after and in March (do not).
        {"id": "feb-at-as-of", "time": "2017-02-28T21:59:59Z", **at(ngca15), "actor": "dpr_lpr",
         "reliability": "A", "credibility": 1},
        {"id": "after-as-of", "time": "2017-02-28T22:00:00Z", **at(gov15), "actor": "ukr",
         "reliability": "A", "credibility": 1},
        {"id": "march-fire", "time": "2017-03-05T10:00:00Z", **at(donbas_deep), "actor": "ukr",
         **fire},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def evidence(agreement: Agreement, zones: ZoneSet) -> pd.DataFrame:
    synthetic = observation_frame(synthesize(agreement, n=3000, seed=5, end=SYNTHETIC_END))
    edges = frame(edge_records(zones))
    return pd.concat([synthetic, edges[synthetic.columns]], ignore_index=True)


@pytest.fixture(scope="module")
def expected(agreement: Agreement, evidence: pd.DataFrame) -> dict[datetime, pd.DataFrame]:
    return {as_of: detente_table(evaluate(agreement, evidence, as_of)) for as_of in (AS_OF, EARLY)}


@pytest.fixture
def postgis(pg_url: str, evidence: pd.DataFrame, zones: ZoneSet) -> Iterator[PostgisCompetitor]:
    db = PostgisCompetitor(pg_url)
    db.load(evidence, zones)
    yield db


def status(table: pd.DataFrame, obligation: str, party: str, month: str) -> tuple[str, int]:
    """(status, evidence_count) of the one finding whose window starts in ``month`` (Kyiv)."""
    local = table["window_start"].dt.tz_convert("Europe/Kyiv").dt.strftime("%Y-%m")
    hit = table[(table["obligation"] == obligation) & (table["party"] == party) & (local == month)]
    assert len(hit) == 1, (obligation, party, month, hit)
    return str(hit["status"].iloc[0]), int(hit["evidence_count"].iloc[0])


def test_edge_records_decide_what_the_docs_say(expected: dict[datetime, pd.DataFrame]) -> None:
    """The hand-made records are not drowned out: each decides its finding as documented."""
    t = expected[AS_OF]
    assert status(t, "heavy_artillery_withdrawal", "ukr", "2016-09") == ("unverified", 0)
    assert status(t, "heavy_artillery_withdrawal", "ukr", "2016-10") == ("unverified", 1)
    assert status(t, "heavy_mlrs_missile_withdrawal", "dpr_lpr", "2016-10") == ("violation", 1)
    assert status(t, "mlrs_withdrawal", "ukr", "2016-10") == ("unverified", 1)
    assert status(t, "light_weapons_withdrawal", "dpr_lpr", "2016-10") == ("compliant", 1)
    assert status(t, "light_weapons_withdrawal", "unknown", "2016-11") == ("violation", 1)
    assert status(t, "light_weapons_withdrawal", "ukr", "2016-11") == ("unverified", 1)
    assert status(t, "mlrs_withdrawal", "unknown", "2016-11") == ("unverified", 1)
    assert status(t, "mlrs_withdrawal", "dpr_lpr", "2016-11") == ("unverified", 1)
    assert status(t, "heavy_artillery_withdrawal", "ukr", "2016-11") == ("violation", 1)
    assert status(t, "ceasefire", "ukr", "2016-12") == ("violation", 1)
    assert status(t, "ceasefire", "unknown", "2016-12") == ("violation", 1)
    assert status(t, "light_weapons_withdrawal", "dpr_lpr", "2016-12") == ("violation", 1)
    assert status(t, "ceasefire", "ukr", "2017-01") == ("violation", 1)
    assert status(t, "ceasefire", "dpr_lpr", "2017-01") == ("compliant", 1)
    assert status(t, "ceasefire", "dpr_lpr", "2017-02") == ("violation", 1)
    assert status(t, "light_weapons_withdrawal", "dpr_lpr", "2017-02") == ("violation", 1)
    assert status(t, "light_weapons_withdrawal", "ukr", "2017-02") == ("unverified", 0)
    local = t["window_start"].dt.tz_convert("Europe/Kyiv")
    assert local.max() == pd.Timestamp("2017-02-01", tz="Europe/Kyiv")  # no March window
    early = expected[EARLY]
    pending = early[early["obligation"] == "light_weapons_withdrawal"]
    assert list(pending["status"]) == ["pending", "pending"]


def toy_agreement(folder: Path, window: str) -> Agreement:
    """The suite's toy agreement with ``window`` windows, the ceasefire starting mid-window and
    the tank band lifted mid-window (``until``), so that windows are clipped at both ends."""
    path = write_toy(folder)
    text = TOY.format(extra="").replace("window: month", f"window: {window}")
    start = "effective: {from: 2020-01-01T00:00:00}"
    head, tail = text.split(start, 1)
    text = (
        head
        + "effective: {from: 2020-01-15T06:00:00}"
        + tail.replace(start, "effective: {from: 2020-01-01T00:00:00, until: 2020-05-17T12:00:00}")
    )
    path.write_text(text)
    return load_agreement(path)


def toy_evidence(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """Random records around the toy line: every kind, actor, grade, count and vagueness."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2019-12-25", tz="UTC").value // 10**9
    seconds = rng.integers(start, start + 200 * 86400, n)
    seconds[:40] = (  # some exactly at local midnights (Kyiv), where windows begin
        pd.date_range("2020-01-01", periods=40, freq="3D", tz="Europe/Kyiv").as_unit("s").asi8
    )
    kind = rng.choice(["fire", "equipment", "patrol"], n)
    count = rng.choice([0, 1, 3, -1], n)  # -1: no count given
    return frame(
        [
            {
                "id": f"toy-{i}",
                "time": pd.Timestamp(int(seconds[i]), unit="s", tz="UTC").isoformat(),
                "lon": float(rng.uniform(37.3, 38.7)),
                "lat": float(rng.uniform(47.95, 49.05)),
                "actor": rng.choice(np.array(["west", "east", "unknown", None, "monitor"])),
                "kind": str(kind[i]),
                "category": "tank" if kind[i] == "equipment" else None,
                "count_high": None if count[i] < 0 else int(count[i]),
                "reliability": str(rng.choice(list("ABCDEF"))),
                "credibility": int(rng.integers(1, 7)),
                "place_uncertainty_km": float(rng.choice([0.0, 5.0, 10.0, 15.0, 40.0])),
            }
            for i in range(n)
        ]
    )


@pytest.mark.parametrize("window", ["day", "week", "month", "year", "whole"])
def test_toy_windows_agree(tmp_path: Path, pg_url: str, window: str) -> None:
    """Other window sizes (days across the spring DST change, ISO weeks), clipped windows and
    vague places on both sides of a line: all three still agree."""
    agreement = toy_agreement(tmp_path, window)
    zones, evidence = build_zones(agreement), toy_evidence()
    as_of = datetime.fromisoformat("2020-06-10T12:00:00+03:00")
    expected = detente_table(evaluate(agreement, evidence, as_of))
    if window in ("day", "week"):  # longer windows all hold a violation: fine, but say so
        assert set(expected["status"]) >= {"violation", "unverified", "compliant"}
    plan = make_plan(agreement)
    assert compare(expected, geopandas_findings(plan, zones, evidence, as_of), "geopandas") == []
    postgis = PostgisCompetitor(pg_url)
    postgis.load(evidence, zones)
    assert compare(expected, postgis.findings(plan, as_of), "postgis") == []


@pytest.mark.parametrize("as_of", [AS_OF, EARLY], ids=["2017-02", "2015-06"])
def test_geopandas_script_agrees(
    agreement: Agreement,
    zones: ZoneSet,
    evidence: pd.DataFrame,
    expected: dict[datetime, pd.DataFrame],
    as_of: datetime,
) -> None:
    got = geopandas_findings(make_plan(agreement), zones, evidence, as_of)
    assert compare(expected[as_of], got, "geopandas") == []


def test_postgis_agrees(
    agreement: Agreement, postgis: PostgisCompetitor, expected: dict[datetime, pd.DataFrame]
) -> None:
    plan = make_plan(agreement)
    for as_of in (AS_OF, EARLY):
        assert compare(expected[as_of], postgis.findings(plan, as_of), "postgis") == []


def test_compare_reports_every_kind_of_difference(expected: dict[datetime, pd.DataFrame]) -> None:
    """A check that cannot fail proves nothing: mutate a copy and read what compare() says."""
    good = expected[AS_OF]
    flipped = good.copy()
    row = flipped.index[(flipped["status"] == "violation")][0]
    flipped.loc[row, "status"] = "compliant"
    found = compare(good, flipped, "mutant")
    assert len(found) == 1
    assert "detente says violation, mutant says compliant" in found[0]
    assert good.loc[row, "obligation"] in found[0] and good.loc[row, "party"] in found[0]

    recounted = good.copy()
    recounted.loc[0, "evidence_count"] += 1
    assert [m for m in compare(good, recounted, "mutant") if "deciding records" in m]

    missing, extra = good.drop(index=3), pd.concat([good, good.iloc[[5]]])
    assert compare(good, missing, "mutant") == [
        f"mutant is missing {good.loc[3, 'obligation']} / {good.loc[3, 'party']} / window from "
        f"{good.loc[3, 'window_start']:%Y-%m-%d %H:%M}Z ({good.loc[3, 'status']})"
    ]
    assert any("has 2 findings" in m for m in compare(good, extra, "mutant"))
    assert compare(good, good.sample(frac=1.0, random_state=1), "shuffled") == []

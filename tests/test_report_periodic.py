"""The periodic report (`detente report`): counts against a hand count, every format, bad input.

The store is hand-made around the toy agreement of conftest.py (a line at 38°E; West holds
37–38°E, East 38–39°E; 25 km bands; a ceasefire over both sides; and the conditional "freeze"
that binds West once East violates the ceasefire). Times are chosen to sit on the edges of the
period in Kyiv time (UTC+2 until 29 March 2020, then UTC+3).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image
from typer.testing import CliRunner, Result

from conftest import CONDITIONAL, ROOT
from detente.agreement import Status, load_agreement
from detente.cli import app
from detente.engine import evaluate
from detente.ingest import load_preset
from detente.report import PeriodicReport, build_periodic_report, parse_period
from detente.report.document import SECTIONS
from detente.store import open_store

PERIOD = "2020-03-01..2020-03-31"
ARTIFACTS = ROOT / "test-artifacts" / "report"
HEADER = "id,time,lon,lat,actor,kind,category,count,source,reliability,credibility,note\n"
ROWS = [
    # Fire. f1: East, in the period (fires the freeze trigger). f2: unknown, West's side,
    # category artillery. f3: West, graded D4. f9: 00:30 on 1 March in Kyiv (22:30 UTC the day
    # before): in the period. f8: 00:30 on 1 April in Kyiv: after it. f4: east of every zone.
    # f5, f6: the previous period (30 Jan..29 Feb). f10: 23:30 on 29 Jan in Kyiv: before it.
    "f1,2020-03-05T10:00:00Z,38.2,48.5,east,fire,,,Monitor,B,2,shelling\n",
    "f2,2020-03-06T10:00:00Z,37.5,48.3,,fire,artillery,,Monitor,B,2,explosions\n",
    "f3,2020-03-10T10:00:00Z,37.8,48.6,west,fire,,,Rumour,D,4,small arms\n",
    "f9,2020-02-29T22:30:00Z,38.3,48.4,,fire,,,Monitor,B,2,just after midnight\n",
    "f8,2020-03-31T21:30:00Z,38.3,48.4,,fire,,,Monitor,B,2,the next month\n",
    "f4,2020-03-07T10:00:00Z,40.5,48.5,east,fire,,,Monitor,B,2,far away\n",
    "f5,2020-02-10T10:00:00Z,38.4,48.2,,fire,,,Monitor,B,2,previous\n",
    "f6,2020-02-20T10:00:00Z,38.6,48.7,,fire,,,Monitor,B,2,previous\n",
    "f10,2020-01-29T21:30:00Z,38.4,48.2,,fire,,,Monitor,B,2,before the previous period\n",
    # Tanks. t1: West, ~10 km from the line (in band_w): tanks and freeze violations. t2: East,
    # ~37 km out: no breach. t3: East, ~7 km in, graded E5: unverified. t4: the previous period.
    "t1,2020-03-12T09:00:00Z,37.865,48.5,west,equipment,tank,2,Monitor,B,2,two tanks\n",
    "t2,2020-03-13T09:00:00Z,38.5,48.5,east,equipment,tank,1,Monitor,B,2,far back\n",
    "t3,2020-03-14T09:00:00Z,38.1,48.5,east,equipment,tank,3,Blog,E,5,unconfirmed\n",
    "t4,2020-02-12T09:00:00Z,37.9,48.4,west,equipment,tank,1,Monitor,B,2,previous\n",
    # Freedom of movement: kind incident, category restriction.
    "r1,2020-03-15T08:00:00Z,38.3,48.3,east,incident,restriction,,Monitor,B,2,"
    '"Patrol turned back at a checkpoint, | armed men"\n',
    "r2,2020-02-15T08:00:00Z,37.6,48.4,west,incident,restriction,,Monitor,B,2,previous\n",
    "p1,2020-03-03T10:00:00Z,37.7,48.5,monitor,patrol,,,Monitor,A,1,patrol\n",
]


@pytest.fixture
def store(toy: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    """(agreement, DuckDB store) holding the hand-made rows."""
    agreement = toy(CONDITIONAL)
    csv = tmp_path / "sightings.csv"
    csv.write_text(HEADER + "".join(ROWS))
    db = tmp_path / "work.duckdb"
    with open_store(db) as s:
        assert s.ingest_observations(csv).stored == len(ROWS)
    return agreement, db


def _report(agreement: Path, db: Path, period: str = PERIOD) -> PeriodicReport:
    ag = load_agreement(agreement)
    span = parse_period(period, ag.timezone)
    with open_store(db) as s:
        frame = s.observations()
    return build_periodic_report(ag, frame, evaluate(ag, frame, span.as_of), span)


def _cli(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _tool(name: str) -> str:
    """A poppler tool; its absence fails the test with the fix (never a skip)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install poppler-utils", pytrace=False)
    return path


# ---------------------------------------------------------------------------------- the data


def test_counts_match_the_hand_count(store: tuple[Path, Path]) -> None:
    r = _report(*store)
    assert (str(r.period), str(r.previous)) == ("2020-03-01..2020-03-31", "2020-01-30..2020-02-29")
    # f1 f2 f3 f9 f4 t1 t2 t3 r1 p1 / f5 f6 t4 r2
    assert (r.evidence_in_period, r.evidence_in_previous) == (10, 4)

    table = {(a, t): (n, p, c) for a, t, n, p, c in r.ceasefire.itertuples(index=False)}
    assert table == {
        ("west_side", "fire"): (1, 0, 1),  # f3
        ("west_side", "fire/artillery"): (1, 0, 1),  # f2
        ("east_side", "fire"): (2, 2, 0),  # f1 f9 / f5 f6
    }
    assert list(r.ceasefire["area"]) == ["west_side", "west_side", "east_side"]  # party order
    assert (r.ceasefire_total, r.ceasefire_total_previous) == (4, 2)

    weapons = r.weapons.set_index(["obligation", "id"])
    assert sorted(weapons.index) == [("freeze", "t1"), ("tanks", "t1"), ("tanks", "t3")]
    assert weapons.loc[("tanks", "t1"), "status"] == "violation"
    assert weapons.loc[("freeze", "t1"), "status"] == "violation"
    assert weapons.loc[("tanks", "t3"), "status"] == "unverified"
    assert weapons.loc[("tanks", "t3"), "grade"] == "E5"
    assert int(weapons.loc[("tanks", "t1"), "count"]) == 2
    # 0.135° and 0.1° of longitude at 48.5°N: 9.96 km and 7.38 km from the line.
    assert weapons.loc[("tanks", "t1"), "distance_km"] == pytest.approx(9.96, abs=0.05)
    assert weapons.loc[("tanks", "t3"), "distance_km"] == pytest.approx(7.38, abs=0.05)
    assert (r.weapon_records, r.weapon_records_previous) == (2, 1)  # t1 t3 / t4
    summary = {(o, c): (n, p) for o, c, n, p, _ in r.weapons_summary.itertuples(index=False)}
    assert summary == {("tanks", "tank"): (2, 1), ("freeze", "tank"): (1, 0)}

    assert list(r.restrictions["id"]) == ["r1"] and r.restrictions_previous == 1
    assert r.restrictions.loc[0, "area"] == "east_side"


def test_statuses_and_triggers_come_from_the_findings(store: tuple[Path, Path]) -> None:
    r = _report(*store)
    # March windows: cf west unverified (f3, D4), east violation (f1), unknown violation
    # (f2, f9); tanks west violation (t1), east unverified (t3); freeze inactive until f1,
    # then west violation (t1). February's windows end where the period starts.
    assert r.status_counts == {
        Status.violation: 4, Status.unverified: 2, Status.compliant: 0, Status.pending: 0,
        Status.inactive: 1,
    }  # fmt: skip
    assert r.status_table.loc["cf", ["violation", "unverified"]].tolist() == [2, 1]
    (trigger,) = r.triggers
    assert trigger.obligation == "freeze" and trigger.condition == "violation of cf by east"
    assert trigger.fired_at == datetime(2020, 3, 5, 10, tzinfo=UTC) and trigger.in_period
    assert trigger.statuses == "west: inactive; west: violation"
    assert "4 ceasefire violations recorded (2 before, 2 more)" in r.headline
    assert "1 trigger fired" in r.headline


def test_daily_counts_and_map_layers(store: tuple[Path, Path]) -> None:
    r = _report(*store)
    daily = r.daily.set_index("date")
    assert len(daily) == 31 and daily.index[0] == date(2020, 3, 1)
    fire = daily["ceasefire_this"]
    assert fire[fire > 0].to_dict() == {
        date(2020, 3, 1): 1, date(2020, 3, 5): 1, date(2020, 3, 6): 1, date(2020, 3, 10): 1
    }  # fmt: skip
    # The previous period starts on 30 January: 10 and 20 February are its days 12 and 22.
    previous = daily["ceasefire_previous"].to_numpy()
    assert np.flatnonzero(previous).tolist() == [11, 21]
    assert daily["weapons_this"].sum() == 2 and daily["restrictions_this"].sum() == 1
    layers = r.points["layer"].value_counts().to_dict()
    assert layers == {
        "ceasefire violation": 4, "other record": 3, "weapons: violation": 1,
        "weapons: unverified": 1, "restriction": 1,
    }  # fmt: skip


def test_period_parsing() -> None:
    span = parse_period(" 2020-03-01..2020-03-31 ", "Europe/Kyiv")
    assert span.start == datetime(2020, 2, 29, 22, tzinfo=UTC)
    assert span.end == datetime(2020, 3, 31, 21, tzinfo=UTC)  # summer time from 29 March
    assert str(parse_period("2021-03-01..2021-03-01", "UTC").previous()) == "2021-02-28..2021-02-28"
    for bad, words in (
        ("2020-03-01", "is not a period"),
        ("2020-03-01..", "'' is not a date"),
        ("2020-02-30..2020-03-01", "'2020-02-30' is not a date"),
        ("20200301..20200331", "'20200301' is not a date"),
        ("2020-03-31..2020-03-01", "ends (2020-03-01) before it starts (2020-03-31)"),
    ):
        with pytest.raises(Exception, match=re.escape(words)) as caught:
            parse_period(bad, "UTC")
        assert "--period" in str(caught.value)


# ---------------------------------------------------------------------------------- the command


def test_markdown_writes_images_beside_it(store: tuple[Path, Path], tmp_path: Path) -> None:
    agreement, db = store
    target = tmp_path / "out" / "march.md"
    target.parent.mkdir()
    result = _cli("report", agreement, "--db", db, "--period", PERIOD, "-f", "md", "-o", target)
    assert result.exit_code == 0, result.output
    text = target.read_text()
    for name in ("march-map.png", "march-daily.png"):
        assert f"]({name})" in text  # linked by a relative name
        assert (target.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {target.parent / name}" in result.output
    for title in SECTIONS:
        assert f"## {title}" in text
    assert "| west\\_side | fire/artillery | 1 | 0 | +1 |" in text
    assert "| **all areas** |  | **4** | **2** | **+2** |" in text
    assert "Patrol turned back at a checkpoint, \\| armed men" in text  # a pipe stays in its cell


def test_html_is_self_contained(store: tuple[Path, Path], tmp_path: Path) -> None:
    agreement, db = store
    target = tmp_path / "march.html"
    result = _cli("report", agreement, "--db", db, "--period", PERIOD, "--format", "html",
                  "-o", target)  # fmt: skip
    assert result.exit_code == 0, result.output
    page = target.read_text()
    assert page.count('<img src="data:image/png;base64,') == 2
    assert not re.search(r"(src|href)=\"(https?:|//)", page)  # nothing fetched
    assert "<script" not in page
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    assert list(tmp_path.glob("*.png")) == []


def test_pdf_pages_render_and_read_back(store: tuple[Path, Path], tmp_path: Path) -> None:
    pdftoppm, pdftotext = _tool("pdftoppm"), _tool("pdftotext")
    agreement, db = store
    target = tmp_path / "march.pdf"
    result = _cli("report", agreement, "--db", db, "--period", PERIOD, "-f", "pdf", "-o", target)
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:5] == b"%PDF-"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("toy-page-*.png"):
        old.unlink()
    subprocess.run([pdftoppm, "-r", "60", "-png", target, ARTIFACTS / "toy-page"], check=True)
    pages = sorted(ARTIFACTS.glob("toy-page-*.png"))
    assert len(pages) >= 2
    for page in pages:
        pixels = np.asarray(Image.open(page).convert("L"), dtype=float)
        assert pixels.std() > 5.0, f"{page} looks blank"

    text = subprocess.run([pdftotext, target, "-"], capture_output=True, text=True, check=True)
    words = " ".join(text.stdout.split())
    for title in SECTIONS:
        assert title in words
    assert "4 ceasefire violations recorded (2 before, 2 more)" in words
    assert "2 weapons sightings inside withdrawal zones (1 before, 1 more)" in words
    assert "violation of cf by east" in words


def test_pdf_is_the_same_bytes_twice(store: tuple[Path, Path], tmp_path: Path) -> None:
    agreement, db = store
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    for target in (first, second):
        result = _cli("report", agreement, "--db", db, "--period", PERIOD, "-f", "pdf",
                      "-o", target)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()


def test_default_output_name_in_the_current_folder(
    store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agreement, db = store
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = _cli("report", agreement, "--db", db, "--period", PERIOD, "-f", "html")
    assert result.exit_code == 0, result.output
    assert (here / "report-toy-2020-03-01_2020-03-31.html").is_file()
    assert "wrote report-toy-2020-03-01_2020-03-31.html" in result.output


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("march", "--period: 'march' is not a period"),
        ("2020-03-31..2020-03-01", "--period: the period ends (2020-03-01) before it starts"),
        ("2020-13-01..2020-13-31", "--period: '2020-13-01' is not a date (YYYY-MM-DD)"),
    ],
)
def test_bad_period_exits_2_naming_the_field(
    store: tuple[Path, Path], tmp_path: Path, period: str, message: str
) -> None:
    agreement, db = store
    result = _cli("report", agreement, "--db", db, "--period", period, "-o", tmp_path / "x.html")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x.html").exists()


def test_missing_inputs_exit_2_naming_each_file(tmp_path: Path) -> None:
    agreement, db = tmp_path / "nope.yaml", tmp_path / "nope.duckdb"
    result = _cli("report", agreement, "--db", db, "--period", "2020-03-01..x")
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert f"{agreement}: cannot read agreement" in output
    assert f"{db}: --db: no such database file" in output
    assert "--period: 'x' is not a date" in output  # all three at once


# ---------------------------------------------------------------------------------- Minsk II


def test_minsk2_ceasefire_count_matches_ucdp(tmp_path: Path) -> None:
    """March 2017 on the shipped UCDP GED events against a count made straight from the CSV."""
    ucdp = ROOT / "data" / "ucdp" / "ucdp_ged_ukraine_2014-01_2022-01.csv"
    db = tmp_path / "minsk.duckdb"
    with open_store(db) as s:
        s.ingest_observations(ucdp, mapping=load_preset("ucdp"))
    r = _report(ROOT / "examples" / "minsk2" / "agreement.yaml", db, "2017-03-01..2017-03-31")

    # Independently: events dated in the month (a GED date is a UTC day; Kyiv is ahead of UTC,
    # so the Kyiv day is the same) whose point lies in Donetsk or Luhansk oblast, the
    # ceasefire's zone, read from the example's GeoJSON.
    events = pd.read_csv(ucdp, usecols=["date_start", "latitude", "longitude"])
    oblasts = gpd.read_file(ROOT / "examples" / "minsk2" / "geo" / "donbas_oblasts.geojson")
    donbas = shapely.union_all(oblasts.geometry.to_numpy())
    inside = shapely.intersects_xy(donbas, events["longitude"], events["latitude"])

    def count(first: str, last: str) -> int:
        dated = events["date_start"].between(first, last)
        return int((dated & inside).sum())

    assert r.ceasefire_total == count("2017-03-01", "2017-03-31") > 0
    assert r.ceasefire_total_previous == count("2017-01-29", "2017-02-28")
    assert r.headline.startswith("From 2017-03-01 to 2017-03-31 (Europe/Kyiv)")
    # UCDP events are fire of unknown attribution: the ceasefire violation is the unknown's.
    cf = [f for f in r.findings if f.obligation == "ceasefire"]
    assert {f.party: f.status for f in cf}["unknown"] is Status.violation

"""The real command line, run as a user runs it (a subprocess), end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"
HEADER = "id,time,lon,lat,actor,kind,category,count,source,reliability,credibility,note\n"
# Two government-side sightings 10 km and 40 km from the line near Avdiivka, one separatist
# MLRS in Donetsk city, a patrol. Hand-placed; the engine must find the first inside the 25 km band.
ART = "equipment,artillery_100mm_plus"
ROWS = [
    f"s1,2016-03-02T10:00:00Z,37.62,48.17,ukr,{ART},2,OSCE SMM,B,2,howitzers\n",
    f"s2,2016-03-03T10:00:00Z,37.20,48.25,ukr,{ART},1,OSCE SMM,B,2,far back\n",
    "s3,2016-03-04T10:00:00Z,37.80,48.00,dpr_lpr,equipment,mlrs,4,OSCE SMM,C,3,grads\n",
    "s4,2016-03-05T10:00:00Z,37.70,48.10,smm,patrol,,,OSCE SMM,A,1,patrol\n",
]


def run(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detente", *map(str, args)],
        capture_output=True, text=True, check=check, cwd=ROOT, timeout=300,
    )  # fmt: skip


@pytest.fixture
def sightings(tmp_path: Path) -> Path:
    path = tmp_path / "my_sightings.csv"
    path.write_text(HEADER + "".join(ROWS))
    return path


def test_validate_ok_and_bad(tmp_path: Path) -> None:
    ok = run("validate", MINSK)
    assert ok.returncode == 0, ok.stderr
    assert "transverse Mercator" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINSK.read_text().replace("zone: donbas", "zone: donbass"))
    out = run("validate", bad)
    assert out.returncode == 2
    assert "bad.yaml:" in out.stderr and "unknown zone 'donbass'" in out.stderr


def test_check_json_contract_and_byte_identical(sightings: Path) -> None:
    args = ("check", MINSK, "--evidence", sightings, "--format", "json", "--as-of", "2016-03-31")
    first, second = run(*args, check=True), run(*args, check=True)
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert set(doc) == {"detente", "agreement", "as_of", "evidence", "findings"}
    assert doc["agreement"]["id"] == "minsk2" and len(doc["agreement"]["sha256"]) == 64
    assert doc["evidence"]["count"] == 4
    statuses = {"compliant", "violation", "unverified", "pending", "inactive"}
    for f in doc["findings"]:
        assert {
            "obligation",
            "party",
            "status",
            "confidence",
            "window",
            "evidence",
            "explanation",
        } <= set(f)
        assert f["status"] in statuses
    march = {
        (f["obligation"], f["party"]): f
        for f in doc["findings"]
        if f["window"]["start"].startswith("2016-03-01")
    }
    artillery = march[("heavy_artillery_withdrawal", "ukr")]
    assert artillery["status"] == "violation" and artillery["evidence"] == ["s1"]
    # Donetsk city is ~30 km from the line: inside the 35 km MLRS band of the NGCA side.
    assert march[("mlrs_withdrawal", "dpr_lpr")]["status"] == "violation"
    assert march[("light_weapons_withdrawal", "ukr")]["status"] == "compliant"


def test_ingest_then_check_from_the_store(tmp_path: Path, sightings: Path) -> None:
    db = tmp_path / "work.duckdb"
    first = run("ingest", "observations", sightings, "--db", db)
    assert first.returncode == 0, first.stderr
    assert "4 stored" in first.stdout
    again = run("ingest", "observations", sightings, "--db", db)
    assert "0 stored" in again.stdout and "4 already stored" in again.stdout
    report = tmp_path / "report.md"
    out = run("check", MINSK, "--db", db, "--as-of", "2016-06-30", "--format", "md", "-o", report)
    assert out.returncode == 0, out.stderr
    text = report.read_text()
    assert "heavy_artillery_withdrawal" in text and "VIOLATION" in text and "`s1`" in text


def test_bad_row_rejects_the_file_and_keeps_the_store(tmp_path: Path, sightings: Path) -> None:
    db = tmp_path / "work.duckdb"
    run("ingest", "observations", sightings, "--db", db, check=True)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + ROWS[0].replace("s1,", "b1,")
        + "b2,2016-03-02T10:00:00Z,37.62,97.5,ukr,equipment,tank,1,x,B,2,\n"
    )
    out = run("ingest", "observations", bad, "--db", db)
    assert out.returncode == 2
    assert "bad.csv:3" in out.stderr and "lat" in out.stderr
    doc = json.loads(run("check", MINSK, "--db", db, "--format", "json", check=True).stdout)
    assert doc["evidence"]["count"] == 4  # nothing of the bad file was stored


def test_several_evidence_files_after_one_flag(tmp_path: Path, sightings: Path) -> None:
    second = tmp_path / "more.csv"
    second.write_text(HEADER + ROWS[2].replace("s3,", "m3,"))
    out = run("check", MINSK, "--evidence", sightings, second, "--format", "json", check=True)
    assert json.loads(out.stdout)["evidence"]["count"] == 5


def test_fail_on_violation_exit_code(sightings: Path) -> None:
    out = run(
        "check", MINSK, "--evidence", sightings, "--as-of", "2016-03-31", "--fail-on", "violation"
    )
    assert out.returncode == 1
    quiet = run(
        "check", MINSK, "--evidence", sightings, "--as-of", "2015-01-31", "--fail-on", "violation"
    )
    assert quiet.returncode == 0  # before the ceasefire everything is pending


def test_bad_as_of(sightings: Path) -> None:
    out = run("check", MINSK, "--evidence", sightings, "--as-of", "yesterday")
    assert out.returncode == 2 and "--as-of" in out.stderr


def test_demo_end_to_end(tmp_path: Path) -> None:
    """`detente demo` (what `make demo` runs): reports exist and agree with a hand count of UCDP."""
    out = run("demo", "--out", tmp_path, "--n", "3000")
    assert out.returncode == 0, out.stderr
    assert "report.html" in out.stdout
    doc = json.loads((tmp_path / "findings.json").read_text())
    for name in ("report.md", "report.html", "synthetic_sightings.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert "SYNTHETIC" in (tmp_path / "report.md").read_text()
    # Independent count: months (Kyiv time) with a UCDP event in Donetsk or Luhansk oblast after
    # the ceasefire began, read straight from the CSV with the csv module.
    with (ROOT / "data/ucdp/ucdp_ged_ukraine_2014-01_2022-01.csv").open() as fh:
        months = {
            r["date_start"][:7]
            for r in csv.DictReader(fh)
            if r["adm_1"].startswith(("Donet", "Luhan"))
            and "2015-02-15" <= r["date_start"] <= "2021-12-31"
        }
    unknown = {
        f["window"]["start"][:7]
        for f in doc["findings"]
        if f["obligation"] == "ceasefire" and f["party"] == "unknown"
    }
    assert unknown == months
    monthly = [f for f in doc["findings"] if f["obligation"] == "ceasefire" and f["party"] == "ukr"]
    assert len(monthly) == 83  # Feb 2015 .. Dec 2021

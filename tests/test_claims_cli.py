"""Documents to claims to reviewed evidence, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyproj import Geod

from conftest import ROOT
from detente.documents import read_document
from detente.store import open_store
from detente.store.claims import ClaimStore

DOCS = ROOT / "examples" / "minsk2" / "documents"
MONITOR = DOCS / "monitor-update-2017-03-14.md"
NEWS = DOCS / "news-2017-03-20.html"
WIRE = DOCS / "wire-2017-03-22.txt"
MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"
KEYS = {"doc", "span", "sentence", "event_type", "modality", "actor", "target", "quantities",
        "place", "time", "confidence", "trigger", "action"}  # fmt: skip


def run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detente", *map(str, args)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, input=stdin,
    )  # fmt: skip


def claims_of(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_extract_prints_claims_pointing_into_the_clean_text() -> None:
    done = run("extract", MONITOR, "--published", "2017-03-14")
    assert done.returncode == 0, done.stderr
    claims = claims_of(done.stdout)
    text = read_document(MONITOR).text
    assert claims and all(set(c) == KEYS for c in claims)
    for c in claims:
        start, end = c["span"]  # type: ignore[misc]
        assert text[start:end] == c["sentence"]
    by_modality = {c["modality"] for c in claims}
    assert {"observed", "rule", "intent"} <= by_modality
    tanks = next(c for c in claims if "four tanks" in str(c["sentence"]))
    assert tanks["quantities"] == [
        {"category": "tank", "low": 4, "best": 4, "high": 4, "text": "four tanks",
         "span": [text.index("four tanks"), text.index("four tanks") + 10]}
    ]  # fmt: skip
    assert tanks["time"]["start"] == "2017-03-13"  # type: ignore[index]
    place = tanks["place"]
    # Horlivka, checked against an independent geodesic distance to the town's known centre
    _, _, metres = Geod(ellps="WGS84").inv(place["lon"], place["lat"], 38.05, 48.3)  # type: ignore[index]
    assert metres < 15_000


def test_extract_reads_one_document_per_stdin_line() -> None:
    lines = [
        "Russia has massed about 100,000 troops near the border, officials said.",
        json.dumps(
            {
                "id": "wire-7",
                "published": "2022-02-20",
                "text": "Separatists shelled Shchastia on Saturday.",
            }
        ),
        "",
    ]
    done = run("extract", "-", stdin="\n".join(lines))
    assert done.returncode == 0, done.stderr
    claims = claims_of(done.stdout)
    assert [c["doc"] for c in claims] == ["<stdin>:1", "wire-7"]
    assert claims[0]["quantities"][0]["best"] == 100_000  # type: ignore[index]
    wire = "Separatists shelled Shchastia on Saturday."
    at = wire.index("Saturday")
    assert claims[1]["time"] == {
        "start": "2022-02-19", "end": "2022-02-19", "text": "Saturday", "span": [at, at + 8]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"text": 3}\n', "<stdin>:1: text:"),
        ('ok line\n{"text": "x", "published": "soon"}\n', "<stdin>:2: published:"),
        ("{not json\n", "<stdin>:1:"),
    ],
)
def test_bad_stdin_lines_name_the_line(stdin: str, message: str) -> None:
    done = run("extract", "-", stdin=stdin)
    assert done.returncode == 2
    assert message in done.stderr


def test_ingest_review_check(tmp_path: Path) -> None:
    db = tmp_path / "work.duckdb"
    first = run("ingest", "documents", MONITOR, NEWS, WIRE, "--db", db, "--source",
                "Illustrative", "--reliability", "C", "--credibility", "3",
                "--published", "2017-03-14")  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = run("ingest", "documents", MONITOR, "--db", db, "--published", "2017-03-14")
    assert "already stored" in again.stdout
    listed = claims_of(run("review", "list", "--db", db, "--format", "jsonl").stdout)
    assert listed and {c["status"] for c in listed} == {"pending"}
    tanks = next(c for c in listed if "four tanks" in str(c["sentence"]))
    cid = str(tanks["claim_id"])

    before = json.loads(run("check", MINSK, "--db", db, "--as-of", "2017-03-31",
                            "--format", "json").stdout)  # fmt: skip
    assert before["evidence"]["count"] == 0  # pending claims do not count

    edit = run("review", "edit", cid, "--db", db, "--set", "party=dpr_lpr",
               "--set", "place_uncertainty_km=1", "--reviewer", "ana")  # fmt: skip
    assert edit.returncode == 0, edit.stderr
    assert run("review", "accept", cid, "--db", db, "--reviewer", "ben").returncode == 0
    shown = run("review", "show", cid, "--db", db).stdout
    assert "accepted" in shown and "ana: edit party=dpr_lpr" in shown and "ben: accept" in shown

    after = json.loads(run("check", MINSK, "--db", db, "--as-of", "2017-03-31",
                           "--format", "json").stdout)  # fmt: skip
    assert after["evidence"]["count"] == 1
    # four tanks in Horlivka, ~9 km from the line of contact: inside the 15 km tank band
    breach = [(f["obligation"], f["party"]) for f in after["findings"]
              if f["status"] == "violation" and cid in f["evidence"]]  # fmt: skip
    assert breach == [("light_weapons_withdrawal", "dpr_lpr")]


def test_bad_reviews_exit_2_and_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "work.duckdb"
    assert run("ingest", "documents", WIRE, "--db", db).returncode == 0
    cid = str(
        claims_of(run("review", "list", "--db", db, "--format", "jsonl").stdout)[0]["claim_id"]
    )
    for args, message in [
        (("accept", "claim-nope"), "no claim 'claim-nope'"),
        (("edit", cid, "--set", "lat=95"), "--set lat"),
        (("edit", cid, "--set", "colour=red"), "not an editable field"),
        (("edit", cid, "--set", "nonsense"), "field=value"),
    ]:
        done = run("review", *args, "--db", db)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    with open_store(db) as store:
        assert ClaimStore(store).history(cid).empty
    missing = run("review", "list", "--db", tmp_path / "none.duckdb")
    assert missing.returncode == 2 and "no such database file" in missing.stderr

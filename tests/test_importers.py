"""Importers: the ACLED and UCDP presets, --map, precision codes, chunked reading, old stores."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import subprocess
import sys
import time
from collections import Counter
from io import StringIO
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.progress import Progress

from conftest import ROOT, write_toy
from detente.agreement import load_agreement
from detente.cli import _Rate, _stage_progress
from detente.engine import evaluate
from detente.errors import InputError
from detente.evidence import CSV_REQUIRED, OBSERVATION_COLUMNS, content_hashes
from detente.ingest import (
    PRESETS,
    load_preset,
    parse_map_option,
    parse_mapping,
    preset_file,
    read_observations,
    resolve_mapping,
)
from detente.store import SCHEMA_VERSION, open_store
from test_ingest import ROW, write_csv

DATA = ROOT / "tests" / "data"
SAMPLE = DATA / "acled_sample.csv"
BAD = DATA / "acled_bad.csv"
UCDP = ROOT / "data" / "ucdp" / "ucdp_ged_ukraine_2014-01_2022-01.csv"
MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"


def detente(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it."""
    exe = Path(sys.executable).with_name("detente")
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ ACLED


def test_acled_sample_is_labelled_synthetic() -> None:
    rows = sample_rows()
    assert len(rows) == 21 and all(r["notes"].startswith("SYNTHETIC") for r in rows)


def test_acled_sample_kinds_match_a_hand_count() -> None:
    parsed = read_observations(SAMPLE, load_preset("acled"))
    assert parsed.problems == [] and parsed.rows == 21
    f = parsed.frame
    by_type = Counter(zip([r["event_type"] for r in sample_rows()], f["kind"], strict=True))
    # Counted by hand from tests/data/acled_sample.csv.
    assert by_type == {
        ("Battles", "fire"): 4,
        ("Explosions/Remote violence", "fire"): 5,
        ("Violence against civilians", "incident"): 2,
        ("Protests", "incident"): 3,
        ("Riots", "incident"): 2,
        ("Strategic developments", "presence"): 2,  # base established, territory transfer
        ("Strategic developments", "movement"): 1,  # change to group/activity
        ("Strategic developments", "incident"): 2,  # disrupted weapons use, arrests
    }
    # Presence and movement say that a force was there (count 1); the others carry no count.
    counted = f.loc[f["count_best"].notna(), "kind"].tolist()
    assert sorted(counted) == ["movement", "presence", "presence"]
    assert set(f["actor"]) == {"unknown"}
    assert set(f["reliability"]) == {"B"} and set(f["credibility"]) == {3}
    assert f["id"].iat[0] == "acled-SYN0001" and f["source"].iat[0].startswith("ACLED: ")
    assert "SYNTHETIC" in f["note"].iat[0] and "Armed clash" in f["note"].iat[0]


def test_acled_precision_codes_and_uncertainties() -> None:
    f = read_observations(SAMPLE, load_preset("acled")).frame
    rows = sample_rows()
    geo = [r["geo_precision"] for r in rows]
    when = [r["time_precision"] for r in rows]
    assert set(geo) == set(when) == {"1", "2", "3"}  # the sample covers every code
    assert f["place_precision"].tolist() == [f"acled:{g}" for g in geo]
    assert f["time_precision"].tolist() == [f"acled:{t}" for t in when]
    km = {"1": 5.0, "2": 25.0, "3": 150.0}
    days = {"1": 0.0, "2": 7.0, "3": 31.0}
    assert f["place_uncertainty_km"].tolist() == [km[g] for g in geo]
    assert f["time_uncertainty_days"].tolist() == [days[t] for t in when]


def test_acled_both_date_forms() -> None:
    rows = sample_rows()
    long_form = [r["event_date"] for r in rows if not r["event_date"][0:4].isdigit()]
    assert len(long_form) >= 5 and "25 February 2022" in long_form
    f = read_observations(SAMPLE, load_preset("acled")).frame.set_index("id")
    assert f.at["acled-SYN0001", "time"] == pd.Timestamp("2022-02-24T00:00:00Z")  # ISO
    assert f.at["acled-SYN0002", "time"] == pd.Timestamp("2022-02-25T00:00:00Z")  # long form
    assert f.at["acled-SYN0006", "time"] == pd.Timestamp("2022-03-06T00:00:00Z")  # "6 March"
    expected = [pd.Timestamp(r["event_date"], tz="UTC") for r in rows]
    assert f["time"].tolist() == expected


def test_format_without_time_of_day_is_a_day_wide(tmp_path: Path) -> None:
    rows = [{"e": "1", "d": "24 February 2022"}, {"e": "2", "d": "24/02/2022 13:45"}]
    path = write_csv(tmp_path / "d.csv", [{**r, "x": "30", "y": "50"} for r in rows],
                     ["e", "d", "x", "y"])  # fmt: skip
    text = (
        "columns: {id: e, time: d, lon: x, lat: y}\n"
        "constants: {kind: fire, source: s, reliability: B, credibility: 2}\n"
        "formats: {time: ['%d %B %Y', '%d/%m/%Y %H:%M']}\n"
    )
    f = read_observations(path, parse_mapping(text, "m.yaml")).frame
    assert f["time"].tolist() == [
        pd.Timestamp("2022-02-24T00:00Z"),
        pd.Timestamp("2022-02-24T13:45Z"),
    ]
    assert f["time_uncertainty_days"].tolist() == [1.0, 0.0]  # a date alone is a day wide


def test_bad_acled_rows_name_file_line_and_column(tmp_path: Path) -> None:
    db = tmp_path / "work.duckdb"
    assert (
        detente("ingest", "observations", SAMPLE, "--mapping", "acled", "--db", db).returncode == 0
    )
    with open_store(db) as store:
        before, batches = store.observations(), store.batches()
    out = detente("ingest", "observations", BAD.relative_to(ROOT), "--mapping", "acled", "--db", db)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    file = "tests/data/acled_bad.csv"
    assert [line.split(": ")[1:3] for line in lines] == [
        [f"{file}:3", "event_date"], [f"{file}:4", "event_date"], [f"{file}:5", "latitude"],
        [f"{file}:6", "geo_precision"], [f"{file}:7", "sub_event_type"],
    ]  # fmt: skip
    assert "'2022/04/02' is not an ISO 8601 time" in lines[0] and "%d %B %Y" in lines[0]
    assert "'4' is not in the mapping's table (1, 2, 3)" in lines[3]
    assert "'Parade' is not in the mapping's table" in lines[4] and "in all" in lines[4]
    with open_store(db) as store:  # nothing of the bad file was stored
        pd.testing.assert_frame_equal(store.observations(), before)
        pd.testing.assert_frame_equal(store.batches(), batches)


def test_skip_bad_acled_writes_rejects(tmp_path: Path) -> None:
    db, rejects = tmp_path / "work.duckdb", tmp_path / "rejects.csv"
    out = detente("ingest", "observations", BAD, "--mapping", "acled", "--db", db,
                  "--skip-bad", "--rejects", rejects)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "7 rows read, 2 stored, 0 already stored, 5 rejected" in out.stdout
    assert "rows/s" in out.stdout
    table = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert table["reject_line"].tolist() == ["3", "4", "5", "6", "7"]
    assert table["reject_field"].tolist()[2:] == ["latitude", "geo_precision", "sub_event_type"]
    assert table["event_id_cnty"].tolist() == [
        "SYN0102",
        "SYN0103",
        "SYN0104",
        "SYN0105",
        "SYN0106",
    ]
    with open_store(db) as store:
        assert store.observations()["id"].tolist() == ["acled-SYN0101", "acled-SYN0107"]


def test_acled_reimport_stores_nothing_new(tmp_path: Path) -> None:
    db = tmp_path / "work.duckdb"
    first = detente("ingest", "observations", SAMPLE, "--mapping", "acled", "--db", db)
    again = detente("ingest", "observations", SAMPLE, "--mapping", "acled", "--db", db)
    assert "21 stored" in first.stdout
    assert "0 stored, 21 already stored, 0 rejected" in again.stdout
    with open_store(db) as store:
        assert store.count() == 21 and store.batches()["stored"].tolist() == [21, 0]


def test_acled_actor_table_attributes_events(tmp_path: Path) -> None:
    """What data/acled/README.md tells users to do: a copy of the preset with an actor table."""
    text = preset_file("acled").read_text(encoding="utf-8") + (
        "  actor:\n    column: actor1\n"
        '    map: {"Military Forces of Russia (2000-)": rus, '
        '"Military Forces of Ukraine (2019-)": ukr}\n    default: unknown\n'
    )
    f = read_observations(SAMPLE, parse_mapping(text, "mine.yaml")).frame
    actors = Counter(f["actor"])
    assert actors["rus"] == 8 and actors["ukr"] == 4 and actors["unknown"] == 9


# ------------------------------------------------------------------ presets


def test_presets_ship_with_the_package_and_match_the_data_copies() -> None:
    assert PRESETS == ("acled", "ucdp")
    for name in PRESETS:
        assert preset_file(name).parent.parts[-3:] == ("detente", "ingest", "presets")
        copy = ROOT / "data" / name / "mapping.yaml"
        assert copy.read_bytes() == preset_file(name).read_bytes(), f"{copy} drifted"


def test_ucdp_preset_reads_the_shipped_file() -> None:
    parsed = read_observations(UCDP, resolve_mapping("ucdp"))
    assert parsed.problems == [] and parsed.rows == len(parsed.frame) == 3077
    f = parsed.frame
    # where_prec and date_prec of the shipped file, counted once with pandas (SOURCE.txt: 77%
    # of events have where_prec <= 2).
    assert Counter(f["place_precision"]) == {
        "ucdp:2": 1606, "ucdp:1": 751, "ucdp:4": 469, "ucdp:5": 231, "ucdp:3": 17, "ucdp:6": 2,
        "ucdp:7": 1,
    }  # fmt: skip
    assert Counter(f["time_precision"]) == {
        "ucdp:1": 2406, "ucdp:2": 445, "ucdp:4": 113, "ucdp:3": 77, "ucdp:5": 36
    }  # fmt: skip
    oblast = f["place_precision"] == "ucdp:4"
    assert (f.loc[oblast, "place_uncertainty_km"] == 150).all()


def test_ucdp_preset_through_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "work.duckdb"
    out = detente("ingest", "observations", UCDP, "--mapping", "ucdp", "--db", db)
    assert out.returncode == 0, out.stderr
    assert "3,077 rows read, 3,077 stored" in out.stdout


def test_unknown_mapping_name_lists_the_presets(tmp_path: Path) -> None:
    out = detente("ingest", "observations", SAMPLE, "--mapping", "acled2", "--db", tmp_path / "d")
    assert out.returncode == 2
    assert "acled2: no such mapping file (built-in mappings: acled, ucdp)" in out.stderr


# ------------------------------------------------------------------ --map


def test_map_option_parses_columns_and_constants() -> None:
    m = parse_map_option("time=date_start, lon=longitude,lat=latitude,kind='fire',"
                         "reliability='B',source=\"UCDP, GED\",note=''")  # fmt: skip
    assert m.columns == {"time": "date_start", "lon": "longitude", "lat": "latitude"}
    assert m.constants == {"kind": "fire", "reliability": "B", "source": "UCDP, GED", "note": ""}
    assert m.command_line == set(m.columns) | set(m.constants)


@pytest.mark.parametrize(
    ("text", "item", "reason"),
    [
        ("", "item 1 ''", "the option is empty"),
        ("time=a,,lon=b", "item 2 ''", "check for stray commas"),
        ("time=a,", "item 2 ''", "check for stray commas"),
        ("tme=date", "item 1 'tme=date'", "unknown field 'tme'"),
        ("time", "item 1 'time'", "expected field=column or field='constant'"),
        ("=date", "item 1 '=date'", "unknown field ''"),
        ("time=", "item 1 'time='", "no column after 'time='"),
        ("kind='fire'x", "item 1 \"kind='fire'x\"", "text after the closing quote"),
        ("kind=fi'r'e", "item 1 \"kind=fi'r'e\"", "cannot contain quotes"),
        ("kind='a',kind=b", "item 2 'kind=b'", "field 'kind' is given twice"),
    ],
)
def test_map_option_errors_name_the_item(text: str, item: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        parse_map_option(text)
    problem = err.value.problems[-1]
    assert (problem.file, problem.field) == ("<command line>", "--map")
    assert problem.message.startswith(item) and reason in problem.message


def test_unclosed_quote() -> None:
    with pytest.raises(InputError, match="a ' quote is not closed"):
        parse_map_option("kind='fire")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("abtime=,'\" kindlo_x\n\\") | st.characters(), max_size=40))
def test_random_map_strings_parse_or_raise_input_error(text: str) -> None:
    with contextlib.suppress(InputError):
        m = parse_map_option(text)
        assert set(m.columns) | set(m.constants) == m.command_line


def test_map_overrides_a_preset() -> None:
    m = resolve_mapping("acled", "credibility='2',kind='fire',id=event_date")
    assert m is not None and m.constants["credibility"] == "2" and m.constants["kind"] == "fire"
    assert "kind" not in m.values and m.columns["id"] == "event_date"
    assert m.values["place_uncertainty_km"].column == "geo_precision"  # the rest is kept
    f = read_observations(SAMPLE, resolve_mapping("acled", "credibility='2',kind='fire'")).frame
    assert set(f["credibility"]) == {2} and set(f["kind"]) == {"fire"}


def test_map_alone_reads_a_foreign_layout(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [{"ref": "r1", "when": "2015-03-01", "x": "37.8",
                                           "y": "48.1", "who": "smm"}],
                     ["ref", "when", "x", "y", "who"])  # fmt: skip
    items = "id=ref,time=when,lon=x,lat=y,kind='fire',source=who,reliability='C',credibility='3'"
    db = tmp_path / "work.duckdb"
    out = detente("ingest", "observations", path, "--map", items, "--db", db)
    assert out.returncode == 0, out.stderr
    with open_store(db) as store:
        got = store.observations()
    assert got[["id", "kind", "source", "reliability"]].iloc[0].tolist() == [
        "r1",
        "fire",
        "smm",
        "C",
    ]


def test_map_errors_through_the_command_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [ROW])
    out = detente("ingest", "observations", path, "--map", "time=when,colour='red'",
                  "--db", tmp_path / "d.duckdb")  # fmt: skip
    assert out.returncode == 2
    assert "<command line>: --map: item 2 \"colour='red'\": unknown field 'colour'" in out.stderr
    missing = detente("ingest", "observations", path, "--map", "time=when", "--db", tmp_path / "d")
    assert missing.returncode == 2
    assert "<command line>: --map time: source column 'when' is not in" in missing.stderr


def test_check_accepts_mapping_presets_and_map(tmp_path: Path) -> None:
    toy = write_toy(tmp_path)
    path = write_csv(tmp_path / "x.csv", [{"ref": "f1", "when": "2020-02-03T10:00:00Z",
                                           "x": "37.9", "y": "48.5"}],
                     ["ref", "when", "x", "y"])  # fmt: skip
    items = "id=ref,time=when,lon=x,lat=y,kind='fire',actor='west',source='s'," \
            "reliability='B',credibility='2'"  # fmt: skip
    out = detente("check", toy, "--evidence", path, "--map", items, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert '"status": "violation"' in out.stdout and '"f1"' in out.stdout
    bad = detente("check", toy, "--evidence", path, "--map", "time=when,", "--format", "json")
    assert bad.returncode == 2 and "--map: item 2" in bad.stderr
    preset = detente("check", toy, "--evidence", SAMPLE, "--mapping", "acled", "--format", "json")
    assert preset.returncode == 0, preset.stderr
    assert '"count": 21' in preset.stdout


# ------------------------------------------------------------------ precision codes


def test_precision_codes_in_a_canonical_csv(tmp_path: Path) -> None:
    cols = [*CSV_REQUIRED, "place_precision", "time_precision"]
    data = [{**ROW, "place_precision": "smm:village", "time_precision": "1"},
            {**ROW, "id": "o2", "place_precision": "ucdp 2"},
            {**ROW, "id": "o3", "time_precision": "ucdp:"}]  # fmt: skip
    parsed = read_observations(write_csv(tmp_path / "s.csv", data, cols))
    assert [(p.line, p.field) for p in parsed.problems] == [(3, "place_precision"),
                                                           (4, "time_precision")]  # fmt: skip
    assert "'ucdp 2' is not a precision code" in parsed.problems[0].reason
    f = parsed.frame
    assert (f["place_precision"].iat[0], f["time_precision"].iat[0]) == ("smm:village", "1")
    assert f.dtypes.astype(str).to_dict() == OBSERVATION_COLUMNS


def test_records_without_codes_keep_their_old_hash(tmp_path: Path) -> None:
    """Pinned: computed with schema 1 (before precision codes), so old stores stay consistent."""
    f = read_observations(write_csv(tmp_path / "s.csv", [ROW])).frame
    assert f["content_hash"].iat[0] == (
        "9948ae4391c15fc3381b87dbfc8ef35bf49cd1bf559086918f5172acd89b59ec"
    )
    coded = f.assign(place_precision=pd.Series(["x:1"], dtype="string"))
    assert content_hashes(coded).iat[0] != f["content_hash"].iat[0]  # a code is content
    other = f.assign(time_precision=pd.Series(["x:1"], dtype="string"))
    assert content_hashes(other).iat[0] != content_hashes(coded).iat[0]  # and which one


def test_precision_codes_do_not_change_findings() -> None:
    agreement = load_agreement(MINSK)
    coded = read_observations(UCDP, resolve_mapping("ucdp")).frame
    plain = coded.assign(place_precision=pd.NA, time_precision=pd.NA).astype(OBSERVATION_COLUMNS)
    as_of = pd.Timestamp("2021-12-31T23:59:59+02:00").to_pydatetime()

    def decided(frame: pd.DataFrame) -> list[tuple[object, ...]]:
        report = evaluate(agreement, frame, as_of)
        return [(f.obligation, f.party, f.window_start, f.status, f.confidence, f.evidence,
                 f.explanation) for f in report.findings]  # fmt: skip

    with_codes = decided(coded)
    assert with_codes == decided(plain) and any(f[3].value == "violation" for f in with_codes)


# ------------------------------------------------------------------ reading in chunks


def test_chunks_give_the_same_result_as_one_read(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    header = ",".join(CSV_REQUIRED)
    good = [",".join(str({**ROW, "id": f"o{i}"}[c]) for c in CSV_REQUIRED) for i in range(7)]
    good[2] = good[2].replace("seen from the road", '"two\nlines"')
    good[5] = good[5].replace("48.1", "99")  # bad, after a multi-line value and a blank line
    path.write_text("\n".join([header, *good[:3], "", *good[3:]]) + "\n")
    calls: list[tuple[int, int]] = []
    whole = read_observations(path)
    chunked = read_observations(path, chunk_rows=2, progress=lambda d, t: calls.append((d, t)))
    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    assert [str(p) for p in chunked.problems] == [str(p) for p in whole.problems]
    assert whole.problems[0].line == 9  # header 1, rows 2-3, two-line row 4-5, blank 6, 7, 8, 9
    assert chunked.frame["prov_row"].tolist() == [2, 3, 4, 7, 8, 10]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1] == (7, 7)
    assert len(calls) >= 3
    assert chunked.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_id_conflicts_are_found_across_chunks(tmp_path: Path) -> None:
    data = [{**ROW, "id": f"o{i}"} for i in range(5)] + [{**ROW, "id": "o0", "note": "other"}]
    parsed = read_observations(write_csv(tmp_path / "s.csv", data), chunk_rows=2)
    assert [(p.line, p.field) for p in parsed.problems] == [(2, "id"), (7, "id")]
    assert "different content on lines 2, 7" in parsed.problems[0].reason


def test_progress_shows_rows_per_second() -> None:
    bar = Progress(console=Console(file=StringIO(), width=120))
    update = _stage_progress(bar, "big.csv")
    update("reading", 0, 0)
    for done in (200, 400, 500):
        time.sleep(0.01)  # the rate is rows done over the time elapsed since the start
        update("reading", done, 1000)
    update("storing", 1000, 1000)
    tasks = {t.description: t for t in bar.tasks}
    assert set(tasks) == {"big.csv: reading", "big.csv: storing"}
    reading = tasks["big.csv: reading"]
    assert (reading.completed, reading.total, reading.fields) == (500, 1000, {"unit": "rows"})
    rate = _Rate().render(reading).plain
    assert rate.endswith(" rows/s") and int(rate.split()[0].replace(",", "")) > 0
    other = bar.add_task("documents", total=3)  # tasks without a unit (documents) show no rate
    assert _Rate().render(bar.tasks[other]).plain == ""


# ------------------------------------------------------------------ stores of schema 1

SCHEMA_1 = [
    "CREATE TABLE meta (key VARCHAR, value VARCHAR)",
    "INSERT INTO meta VALUES ('schema_version', '1')",
    """CREATE TABLE batches (batch_id BIGINT, file VARCHAR, file_sha256 VARCHAR, rows BIGINT,
        stored BIGINT, duplicates BIGINT, rejected BIGINT, ingested_at TIMESTAMPTZ)""",
    """CREATE TABLE observations ("id" VARCHAR, "time" TIMESTAMPTZ, "lon" DOUBLE, "lat" DOUBLE,
        "actor" VARCHAR, "kind" VARCHAR, "category" VARCHAR, "count_low" BIGINT,
        "count_best" BIGINT, "count_high" BIGINT, "source" VARCHAR, "reliability" VARCHAR,
        "credibility" TINYINT, "note" VARCHAR, "place_uncertainty_km" DOUBLE,
        "time_uncertainty_days" DOUBLE, "content_hash" VARCHAR, "prov_file" VARCHAR,
        "prov_row" BIGINT, batch_id BIGINT, ingested_at TIMESTAMPTZ)""",
]


def test_a_schema_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    path = write_csv(tmp_path / "s.csv", [ROW])
    con = duckdb.connect(str(db))
    for statement in SCHEMA_1:
        con.execute(statement)
    con.execute(
        "INSERT INTO observations VALUES ('o1', '2015-03-01 10:00:00+00', 37.8, 48.1, 'rus', "
        "'equipment', 'tank', 3, 3, 3, 'smm', 'B', 2, 'seen from the road', 0, 0, "
        "'9948ae4391c15fc3381b87dbfc8ef35bf49cd1bf559086918f5172acd89b59ec', ?, 2, 1, now())",
        [str(path)],
    )
    con.close()
    with open_store(db) as store:
        version = store.con.execute("SELECT value FROM meta").fetchone()
        assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION == 2
        old = store.observations()
        assert old["place_precision"].isna().all() and old["id"].tolist() == ["o1"]
        assert content_hashes(old).tolist() == old["content_hash"].tolist()
        again = store.ingest_observations(path)  # the same sighting, read by this version
        assert (again.stored, again.duplicates) == (0, 1)
        coded = store.ingest_observations(SAMPLE, mapping=load_preset("acled"))
        assert coded.stored == 21 and store.count() == 22
    with open_store(db) as store:  # and it opens again as a current store
        assert store.observations()["place_precision"].notna().sum() == 21

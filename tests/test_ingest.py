"""Reading observation files: canonical CSV, GeoJSON, mappings; every validation rule."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detente.errors import InputError
from detente.evidence import CSV_REQUIRED, OBSERVATION_COLUMNS, content_hashes
from detente.ingest import RowProblem, load_mapping, parse_mapping, read_observations

ROOT = Path(__file__).resolve().parent.parent
UCDP = ROOT / "data" / "ucdp" / "ucdp_ged_ukraine_2014-01_2022-01.csv"

ROW: dict[str, Any] = {
    "id": "o1", "time": "2015-03-01T10:00:00Z", "lon": "37.8", "lat": "48.1", "actor": "rus",
    "kind": "equipment", "category": "tank", "count": "3", "source": "smm", "reliability": "B",
    "credibility": "2", "note": "seen from the road",
}  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    """Write rows as a CSV (columns default to the canonical required ones)."""
    cols = columns or list(CSV_REQUIRED)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows([[row.get(c, "") for c in cols] for row in rows])
    return path


def rows(n: int, **changes: Any) -> list[dict[str, Any]]:
    return [{**ROW, "id": f"o{i}", **changes} for i in range(n)]


def only_problem(parsed: Any) -> RowProblem:
    assert len(parsed.problems) == 1, [str(p) for p in parsed.problems]
    problem: RowProblem = parsed.problems[0]
    return problem


# ------------------------------------------------------------------ canonical CSV


def test_canonical_csv_round_trip(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", [ROW, {**ROW, "id": "o2", "kind": "fire", "count": ""}])
    parsed = read_observations(path)
    assert parsed.rows == 2 and parsed.problems == []
    f = parsed.frame
    assert list(f.columns) == list(OBSERVATION_COLUMNS)
    assert f.dtypes.astype(str).to_dict() == OBSERVATION_COLUMNS
    first = f.iloc[0]
    assert first["time"] == pd.Timestamp("2015-03-01T10:00:00Z")
    assert (first["lon"], first["lat"], first["count_best"]) == (37.8, 48.1, 3)
    assert (first["count_low"], first["count_high"]) == (3, 3)  # default to count
    assert (first["prov_file"], first["prov_row"]) == (str(path), 2)
    assert f["count_best"].isna().tolist() == [False, True]  # fire needs no count
    assert len(first["content_hash"]) == 64
    assert content_hashes(f).tolist() == f["content_hash"].tolist()


def test_normalisation(tmp_path: Path) -> None:
    row = {**ROW, "reliability": "c", "actor": "", "category": "", "note": "", "time": "2015-03-01"}
    f = read_observations(write_csv(tmp_path / "s.csv", [row])).frame
    assert (f["reliability"].iat[0], f["actor"].iat[0]) == ("C", "unknown")
    assert f["category"].isna().all() and f["note"].isna().all()
    assert f["time"].iat[0] == pd.Timestamp("2015-03-01T00:00:00Z")
    assert f["time_uncertainty_days"].iat[0] == 1.0  # a date alone is a day wide
    assert f["place_uncertainty_km"].iat[0] == 0.0


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2015-03-01T10:00:00+02:00", "2015-03-01T08:00:00Z"),
        ("2015-03-01T10:00:00", "2015-03-01T10:00:00Z"),  # naive is UTC
        ("2015-03-01 10:00", "2015-03-01T10:00:00Z"),
        ("2015-03-01T10:00:00.123456Z", "2015-03-01T10:00:00.123456Z"),
    ],
)
def test_times_are_utc(tmp_path: Path, text: str, utc: str) -> None:
    f = read_observations(write_csv(tmp_path / "s.csv", [{**ROW, "time": text}])).frame
    assert f["time"].iat[0] == pd.Timestamp(utc)
    assert f["time_uncertainty_days"].iat[0] == 0.0


def test_optional_columns(tmp_path: Path) -> None:
    cols = [
        *CSV_REQUIRED,
        "count_low",
        "count_high",
        "place_uncertainty_km",
        "time_uncertainty_days",
    ]
    row = {**ROW, "count_low": "2", "count_high": "9", "place_uncertainty_km": "2.5"}
    f = read_observations(write_csv(tmp_path / "s.csv", [row], cols)).frame
    assert f[["count_low", "count_best", "count_high"]].iloc[0].tolist() == [2, 3, 9]
    assert f["place_uncertainty_km"].iat[0] == 2.5 and f["time_uncertainty_days"].iat[0] == 0.0


BAD = [
    ("id", "", "is required"),
    ("time", "", "is required"),
    ("time", "yesterday", "'yesterday' is not an ISO 8601 time"),
    ("time", "2015-02-30", "is not an ISO 8601 time"),
    ("lon", "181", "181 is outside -180..180"),
    ("lat", "97.5", "97.5 is outside -90..90"),
    ("lat", "", "is required"),
    ("lat", "north", "'north' is not a finite number"),
    ("lon", "nan", "'nan' is not a finite number"),
    ("lon", "inf", "'inf' is not a finite number"),
    ("actor", "Russia", "'Russia' is not a lowercase identifier"),
    ("kind", "tanks", "'tanks' is not one of equipment, troops"),
    ("kind", "", "is required"),
    ("category", "Tank", "'Tank' is not a lowercase identifier"),
    ("count", "", "is required for kind 'equipment'"),
    ("count", "-1", "-1 is outside 0.."),
    ("count", "2.5", "2.5 is not a whole number"),
    ("count", "many", "'many' is not a finite number"),
    ("source", "", "is required"),
    ("reliability", "G", "'G' is not one of A-F"),
    ("reliability", "", "is required"),
    ("credibility", "7", "7 is outside 1..6"),
    ("credibility", "x", "'x' is not a finite number"),
]


@pytest.mark.parametrize(("field", "value", "reason"), BAD)
def test_each_rule_names_line_field_and_reason(
    tmp_path: Path, field: str, value: str, reason: str
) -> None:
    data = rows(3)
    data[1][field] = value
    parsed = read_observations(write_csv(tmp_path / "s.csv", data))
    problem = only_problem(parsed)
    assert (problem.line, problem.field, problem.value) == (3, field, value)
    assert reason in problem.reason
    assert str(problem) == f"{tmp_path / 's.csv'}:3: field '{field}': {problem.reason}"
    assert parsed.frame["id"].tolist() == ["o0", "o2"] and parsed.rows == 3


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"count_low": "4"}, "count_low", "4 is greater than count 3"),
        ({"count_high": "2"}, "count_high", "2 is less than count 3"),
        ({"count_low": "-2"}, "count_low", "-2 is outside 0.."),
        ({"place_uncertainty_km": "-1"}, "place_uncertainty_km", "-1 is outside 0..inf"),
        ({"time_uncertainty_days": "soon"}, "time_uncertainty_days", "not a finite number"),
        ({"kind": "fire", "count": "", "count_low": "5", "count_high": "1"}, "count_low", "5 is"),
    ],
)
def test_optional_column_rules(
    tmp_path: Path, changes: dict[str, str], field: str, reason: str
) -> None:
    cols = [
        *CSV_REQUIRED,
        "count_low",
        "count_high",
        "place_uncertainty_km",
        "time_uncertainty_days",
    ]
    problem = only_problem(
        read_observations(write_csv(tmp_path / "s.csv", [{**ROW, **changes}], cols))
    )
    assert (problem.line, problem.field) == (2, field) and reason in problem.reason


def test_one_problem_per_bad_field(tmp_path: Path) -> None:
    parsed = read_observations(write_csv(tmp_path / "s.csv", [{**ROW, "lat": "99", "kind": "x"}]))
    assert [(p.line, p.field) for p in parsed.problems] == [(2, "lat"), (2, "kind")]
    assert parsed.frame.empty


def test_duplicate_ids(tmp_path: Path) -> None:
    data = [ROW, {**ROW, "note": "other"}, {**ROW, "id": "o2"}, {**ROW, "id": "o2"}]
    parsed = read_observations(write_csv(tmp_path / "s.csv", data))
    # o1 twice with different content: both bad; o2 twice, identical: both kept (the store
    # counts the second as a duplicate).
    assert [(p.line, p.field) for p in parsed.problems] == [(2, "id"), (3, "id")]
    assert "different content on lines 2, 3" in parsed.problems[0].reason
    assert parsed.frame["id"].tolist() == ["o2", "o2"]


def test_line_numbers_follow_multiline_values_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    header = ",".join(CSV_REQUIRED)
    good = ",".join(str(ROW[c]) for c in CSV_REQUIRED)
    bad = good.replace("48.1", "99")
    path.write_text(f'{header}\n{good[:-18]}"two\nlines"\n\n{bad.replace("o1", "o2")}\n')
    parsed = read_observations(path)
    assert parsed.rows == 2
    assert only_problem(parsed).line == 5
    assert parsed.frame["note"].iat[0] == "two\nlines"


def test_missing_column(tmp_path: Path) -> None:
    cols = [c for c in CSV_REQUIRED if c != "credibility"]
    with pytest.raises(InputError) as err:
        read_observations(write_csv(tmp_path / "s.csv", [ROW], cols))
    (problem,) = err.value.problems
    assert (problem.field, problem.line) == ("credibility", 1)
    assert "missing required column" in problem.message and "id,time,lon,lat" in problem.message


def test_unknown_column_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_observations(write_csv(tmp_path / "s.csv", [ROW], [*CSV_REQUIRED, "cuont_low"]))
    assert [(p.field, p.line) for p in err.value.problems] == [("cuont_low", 1)]
    assert "unknown column" in str(err.value)


def test_duplicate_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="more than once"):
        read_observations(write_csv(tmp_path / "s.csv", [ROW], [*CSV_REQUIRED, "note"]))


@pytest.mark.parametrize(
    "text", ["", "id,time\n1,2,3,4\n", b"\xff\xfe\x00garbage", "\n\n\n", '"unclosed\n']
)
def test_unreadable_csv_is_input_error(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError) as err:
        read_observations(path)
    assert err.value.problems[0].file == str(path)


def test_header_only(tmp_path: Path) -> None:
    parsed = read_observations(write_csv(tmp_path / "s.csv", []))
    assert parsed.rows == 0 and parsed.frame.empty
    assert parsed.frame.dtypes.astype(str).to_dict() == OBSERVATION_COLUMNS


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(st.text(), st.binary()), suffix=st.sampled_from([".csv", ".geojson"]))
def test_arbitrary_files_never_crash(tmp_path: Path, text: str | bytes, suffix: str) -> None:
    path = tmp_path / f"any{suffix}"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    with contextlib.suppress(InputError):
        read_observations(path)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(st.sampled_from([*CSV_REQUIRED, "x", "count_low"]), min_size=1, max_size=14),
    body=st.lists(st.lists(st.text(max_size=8), max_size=14), max_size=5),
)
def test_arbitrary_csv_shapes_never_crash(
    tmp_path: Path, header: list[str], body: list[list[str]]
) -> None:
    path = tmp_path / "shape.csv"
    with path.open("w", newline="", encoding="utf-8", errors="surrogatepass") as fh:
        csv.writer(fh).writerows([header, *body])
    with contextlib.suppress(InputError):
        read_observations(path)


# ------------------------------------------------------------------ GeoJSON


def feature(props: dict[str, Any], coords: Any = (37.8, 48.1)) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(coords)},
        "properties": props,
    }


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def props(**changes: Any) -> dict[str, Any]:
    base = {k: v for k, v in ROW.items() if k not in ("lon", "lat")}
    return {**base, "count": 3, "credibility": 2, **changes}


def test_geojson_matches_csv(tmp_path: Path) -> None:
    csv_frame = read_observations(write_csv(tmp_path / "s.csv", [ROW])).frame
    geo = read_observations(write_geojson(tmp_path / "s.geojson", [feature(props())]))
    assert geo.problems == [] and geo.unit == "feature"
    # Same sighting, same hash, whatever the file format.
    assert geo.frame["content_hash"].tolist() == csv_frame["content_hash"].tolist()
    assert geo.frame["prov_row"].tolist() == [1]


def test_geojson_numeric_id_and_nulls(tmp_path: Path) -> None:
    features = [feature(props(id=12, count=None, kind="fire", note=None))]
    features.append(feature(props(id=13, count=4)))
    f = read_observations(write_geojson(tmp_path / "s.geojson", features)).frame
    assert f["id"].tolist() == ["12", "13"] and f["count_best"].isna().tolist() == [True, False]


def test_geojson_problems_name_the_feature(tmp_path: Path) -> None:
    features = [feature(props(id="a")), feature(props(id="b", credibility=9))]
    features.append({"type": "Feature", "geometry": None, "properties": props(id="c")})
    parsed = read_observations(write_geojson(tmp_path / "s.geojson", features))
    first, second = parsed.problems
    assert (
        str(first) == f"{tmp_path / 's.geojson'}: feature 2: field 'credibility': 9 is outside 1..6"
    )
    assert (second.line, second.field) == (3, "geometry")
    assert first.to_problem().field == "feature 2: credibility"


def test_geojson_structure_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.geojson"
    path.write_text('{"type": "Feature"}')
    with pytest.raises(InputError, match="FeatureCollection"):
        read_observations(path)
    path.write_text('{"type": "FeatureCollection", "features": [1, 2]}')
    with pytest.raises(InputError, match="JSON object"):
        read_observations(path)
    path.write_text("{not json")
    with pytest.raises(InputError) as err:
        read_observations(path)
    assert err.value.problems[0].line == 1
    with pytest.raises(InputError, match="unknown column"):
        read_observations(write_geojson(path, [feature(props(colour="red"))]))
    with pytest.raises(InputError, match="geometry"):
        read_observations(write_geojson(path, [feature(props(lat=3))]))


# ------------------------------------------------------------------ mappings


def test_ucdp_mapping_first_200_rows(tmp_path: Path) -> None:
    path = tmp_path / "ged.csv"
    with UCDP.open(newline="", encoding="utf-8") as src, path.open("w", newline="") as out:
        reader = csv.reader(src)
        csv.writer(out).writerows(next(reader) for _ in range(201))  # header + 200 records
    parsed = read_observations(path, load_mapping(ROOT / "data" / "ucdp" / "mapping.yaml"))
    assert parsed.problems == [] and parsed.rows == 200 and len(parsed.frame) == 200
    first = parsed.frame.iloc[0]
    assert first["id"] == "ucdp-147997" and first["kind"] == "fire"
    assert first["time"] == pd.Timestamp("2014-01-22T00:00:00Z")
    assert (first["lon"], first["lat"]) == (30.52333, 50.45)
    assert (first["reliability"], first["credibility"]) == ("B", 2)
    assert first["source"].startswith("UCDP GED 22.1")
    assert first["note"].startswith("Government of Ukraine - Maidan: ")
    # where_prec 1 (exact place) -> 1 km; date_prec 1 (exact day) -> 0 days.
    assert first["place_uncertainty_km"] == 1 and first["time_uncertainty_days"] == 0
    assert (first["place_precision"], first["time_precision"]) == ("ucdp:1", "ucdp:1")
    assert pd.isna(first["count_best"]) and first["actor"] == "unknown"


def mapped_csv(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    cols = ["event", "day", "x", "y", "prec", "side"]
    return write_csv(tmp_path / "ext.csv", rows, cols)


MAPPING = """\
columns: {id: event, time: day, lon: x, lat: y}
constants: {kind: fire, source: ext, reliability: C, credibility: 3}
templates: {note: "side {side}"}
values:
  place_uncertainty_km: {column: prec, map: {1: 0, 2: 25}}
"""


def test_mapped_file_is_validated_with_source_names(tmp_path: Path) -> None:
    good = {"event": "e1", "day": "2015-03-01", "x": "37", "y": "48", "prec": "2", "side": "a"}
    data = [good, {**good, "event": "e2", "y": "99"}, {**good, "event": "e3", "prec": "9"}]
    parsed = read_observations(mapped_csv(tmp_path, data), parse_mapping(MAPPING, "m.yaml"))
    assert [(p.line, p.field) for p in parsed.problems] == [(3, "y"), (4, "prec")]
    assert "'9' is not in the mapping's table (1, 2)" in parsed.problems[1].reason
    f = parsed.frame
    assert f["note"].tolist() == ["side a"] and f["place_uncertainty_km"].tolist() == [25.0]


def test_mapping_default_and_bad_constant(tmp_path: Path) -> None:
    good = {"event": "e1", "day": "2015-03-01", "x": "37", "y": "48", "prec": "9", "side": "a"}
    text = MAPPING.replace("2: 25}}", "2: 25}, default: 7}").replace(
        "credibility: 3", "credibility: 8"
    )
    parsed = read_observations(mapped_csv(tmp_path, [good]), parse_mapping(text, "m.yaml"))
    problem = only_problem(parsed)
    assert problem.field == "credibility (mapping constant)" and "8 is outside" in problem.reason


def test_mapping_unknown_source_column(tmp_path: Path) -> None:
    text = MAPPING.replace("lat: y", "lat: latitude")
    with pytest.raises(InputError) as err:
        read_observations(mapped_csv(tmp_path, []), parse_mapping(text, "m.yaml"))
    (problem,) = err.value.problems
    assert (problem.file, problem.field, problem.line) == ("m.yaml", "columns.lat", 1)
    assert "source column 'latitude' is not in" in problem.message


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("columns: {id: a}\nconstant: {kind: fire}\n", "constant", 2),
        ("columns:\n  id: a\n  colour: b\n", "columns.colour", 3),
        ("columns: {id: a}\nconstants: {id: b}\n", "constants.id", 2),
        ("templates:\n  note: '{a!r}'\n", "templates.note", 2),
        ("values:\n  kind: {map: {}}\n", "values.kind", 2),
        ("columns: [a]\n", "columns", 1),
        ("columns: {id: a\n", "", 2),
    ],
)
def test_mapping_errors_point_at_lines(tmp_path: Path, text: str, field: str, line: int) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_mapping(path)
    problem = err.value.problems[0]
    assert (problem.file, problem.field, problem.line) == (str(path), field, line)


def test_mapping_without_required_field(tmp_path: Path) -> None:
    text = MAPPING.replace("kind: fire, ", "")
    with pytest.raises(InputError, match="no source for 'kind'"):
        read_observations(mapped_csv(tmp_path, []), parse_mapping(text, "m.yaml"))

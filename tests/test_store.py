"""The evidence stores, DuckDB and PostgreSQL alike: append-only, idempotent, transactional,
provenance kept. Tests taking ``evidence_db`` run once per backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BACKENDS
from detente.errors import InputError
from detente.evidence import CSV_OPTIONAL, CSV_REQUIRED, KINDS, OBSERVATION_COLUMNS
from detente.ingest import content_hashes, read_observations
from detente.store import SCHEMA_VERSION, DuckDBStore, EvidenceStore, open_store
from pg_server import PgCluster
from test_ingest import ROW, feature, props, rows, write_csv, write_geojson

HYPO = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ALL_COLUMNS = [*CSV_REQUIRED, *CSV_OPTIONAL]


def stored(store: EvidenceStore) -> pd.DataFrame:
    return store.observations().sort_values("id").reset_index(drop=True)


def test_round_trip_exact_dtypes(tmp_path: Path, evidence_db: str) -> None:
    path = write_csv(tmp_path / "s.csv", [ROW, {**ROW, "id": "o2", "kind": "fire", "count": ""}])
    with open_store(evidence_db) as store:
        result = store.ingest_observations(path)
        assert (result.rows, result.stored, result.duplicates, result.rejected) == (2, 2, 0, 0)
        got = store.observations()
        assert got.dtypes.astype(str).to_dict() == OBSERVATION_COLUMNS
        pd.testing.assert_frame_equal(got, read_observations(path).frame)
        assert str(got["time"].dtype) == "datetime64[us, UTC]"


def test_geojson_and_csv_of_same_sighting_are_duplicates(tmp_path: Path, evidence_db: str) -> None:
    with open_store(evidence_db) as store:
        store.ingest_observations(write_csv(tmp_path / "s.csv", [ROW]))
        result = store.ingest_observations(
            write_geojson(tmp_path / "s.geojson", [feature(props())])
        )
        assert (result.stored, result.duplicates, store.count()) == (0, 1, 1)


def test_store_persists_with_provenance(tmp_path: Path, evidence_db: str) -> None:
    path = write_csv(tmp_path / "s.csv", rows(3))
    with open_store(evidence_db) as store:
        store.ingest_observations(path)
    with open_store(evidence_db) as store:
        assert store.count() == 3
        got = store.observations()
        assert got["prov_file"].unique().tolist() == [str(path)]
        assert got["prov_row"].tolist() == [2, 3, 4]
        prov = store.db.rows("SELECT DISTINCT batch_id, ingested_at FROM observations")
        assert len(prov) == 1 and prov[0][0] == 1
        assert prov[0][1].tzinfo is not None


def test_until_filter_and_order(tmp_path: Path, evidence_db: str) -> None:
    data = [{**ROW, "id": "b", "time": "2015-03-02"}, {**ROW, "id": "a", "time": "2015-03-03"}]
    data.append({**ROW, "id": "c", "time": "2015-03-02"})
    # Byte order, whatever the server's collation: "B" < "a" < "b" < "Ä"
    data += [{**ROW, "id": i, "time": "2015-03-04"} for i in ("Ä", "b2", "B2", "a2")]
    with open_store(evidence_db) as store:
        store.ingest_observations(write_csv(tmp_path / "s.csv", data))
        assert store.observations()["id"].tolist() == ["b", "c", "a", "B2", "a2", "b2", "Ä"]
        until = store.observations(until=datetime(2015, 3, 2, tzinfo=UTC))
        assert until["id"].tolist() == ["b", "c"]
        naive = store.observations(until=datetime(2015, 3, 2, 12))  # naive is UTC
        assert naive["id"].tolist() == ["b", "c"]


def test_idempotent_reingest(tmp_path: Path, evidence_db: str) -> None:
    path = write_csv(tmp_path / "s.csv", [*rows(3), rows(1)[0]])  # o0 twice, identical
    with open_store(evidence_db) as store:
        first = store.ingest_observations(path)
        before = stored(store)
        again = store.ingest_observations(path)
        assert (first.stored, first.duplicates) == (3, 1)
        assert (again.rows, again.stored, again.duplicates) == (4, 0, 4)
        pd.testing.assert_frame_equal(stored(store), before)
        batches = store.batches()
        assert batches["batch_id"].tolist() == [1, 2]
        assert batches["stored"].tolist() == [3, 0] and batches["duplicates"].tolist() == [1, 4]
        assert batches["file_sha256"].nunique() == 1 and len(batches["file_sha256"].iat[0]) == 64
        assert str(batches["ingested_at"].dtype) == "datetime64[us, UTC]"


def test_bad_rows_store_nothing(tmp_path: Path, evidence_db: str) -> None:
    data = rows(4)
    data[2]["lat"] = "97.5"
    with open_store(evidence_db) as store:
        with pytest.raises(InputError) as err:
            store.ingest_observations(write_csv(tmp_path / "s.csv", data))
        (problem,) = err.value.problems
        assert (problem.line, problem.field) == (4, "lat")
        assert str(problem).endswith("s.csv:4: lat: 97.5 is outside -90..90")
        assert store.count() == 0 and store.batches().empty


def test_problem_list_is_capped(tmp_path: Path, evidence_db: str) -> None:
    with open_store(evidence_db) as store, pytest.raises(InputError) as err:
        store.ingest_observations(write_csv(tmp_path / "s.csv", rows(80, lat="99")))
    problems = err.value.problems
    assert len(problems) == 51 and "30 more problems" in problems[-1].message


def test_skip_bad_writes_rejects(tmp_path: Path, evidence_db: str) -> None:
    data = rows(4)
    data[1]["kind"] = "tanks"
    data[3]["lat"], data[3]["credibility"] = "97.5", "9"
    path = write_csv(tmp_path / "s.csv", data)
    with open_store(evidence_db) as store:
        result = store.ingest_observations(path, skip_bad=True)
        assert (result.rows, result.stored, result.rejected) == (4, 2, 2)
        assert result.rejects_file == tmp_path / "s.rejects.csv"
        assert store.observations()["id"].tolist() == ["o0", "o2"]
    rejects = pd.read_csv(tmp_path / "s.rejects.csv", dtype=str)
    assert rejects[["reject_line", "reject_field"]].values.tolist() == [
        ["3", "kind"], ["5", "lat"], ["5", "credibility"]
    ]  # fmt: skip
    assert rejects["reject_value"].tolist() == ["tanks", "97.5", "9"]
    assert rejects["id"].tolist() == ["o1", "o3", "o3"] and "note" in rejects.columns


def test_skip_bad_custom_rejects_path(tmp_path: Path, evidence_db: str) -> None:
    path = write_csv(tmp_path / "s.csv", rows(2, kind="x"))
    with open_store(evidence_db) as store:
        result = store.ingest_observations(path, skip_bad=True, rejects=tmp_path / "r.csv")
    assert result.rejects_file == tmp_path / "r.csv" and (tmp_path / "r.csv").exists()
    assert result.stored == 0


def test_id_conflict_is_a_bad_row(tmp_path: Path, evidence_db: str) -> None:
    with open_store(evidence_db) as store:
        store.ingest_observations(write_csv(tmp_path / "a.csv", rows(2)))
        before = stored(store)
        changed = write_csv(tmp_path / "b.csv", [{**rows(2)[1], "count": "5"}, {**ROW, "id": "n"}])
        with pytest.raises(InputError) as err:
            store.ingest_observations(changed)
        (problem,) = err.value.problems
        assert (problem.line, problem.field) == (2, "id")
        assert "id 'o1' already stored with different content" in problem.message
        pd.testing.assert_frame_equal(stored(store), before)
        result = store.ingest_observations(changed, skip_bad=True)
        assert (result.stored, result.rejected) == (1, 1)
        assert stored(store)["count_best"].tolist() == [3, 3, 3]  # never overwritten


def test_failure_mid_insert_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evidence_db: str
) -> None:
    with open_store(evidence_db) as store:
        store.ingest_observations(write_csv(tmp_path / "a.csv", rows(2)))
        before, batches = stored(store), store.batches()
        kind = type(store)
        original = kind._insert

        def insert_then_fail(self: EvidenceStore, *args: Any) -> int:
            assert original(self, *args) == 3  # the INSERT itself went through …
            raise RuntimeError("disk full")  # … and then something failed

        monkeypatch.setattr(kind, "_insert", insert_then_fail)
        new = write_csv(tmp_path / "b.csv", [{**ROW, "id": f"n{i}"} for i in range(3)])
        with pytest.raises(RuntimeError, match="disk full"):
            store.ingest_observations(new)
        pd.testing.assert_frame_equal(stored(store), before)
        pd.testing.assert_frame_equal(store.batches(), batches)
        monkeypatch.undo()
        assert store.ingest_observations(new).stored == 3  # the store is still usable


def test_not_a_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 100)
    with pytest.raises(InputError) as err:
        open_store(path)
    assert err.value.problems[0].file == str(path)


def test_newer_schema_is_refused(evidence_db: str) -> None:
    with open_store(evidence_db) as store:
        newer = [str(SCHEMA_VERSION + 1)]
        store.db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", newer)
    with pytest.raises(InputError, match="newer Detente"):
        open_store(evidence_db)


def test_spatial_loads_on_demand() -> None:
    with open_store(":memory:") as store:
        assert isinstance(store, DuckDBStore)
        assert store.load_spatial() and store.load_spatial()  # the second call is a no-op
        assert store.con.execute("SELECT ST_AsText(ST_Point(1, 2))").fetchone() == ("POINT (1 2)",)


def test_progress_is_reported(tmp_path: Path, evidence_db: str) -> None:
    calls: list[tuple[str, int, int]] = []
    with open_store(evidence_db) as store:
        store.ingest_observations(
            write_csv(tmp_path / "s.csv", rows(3)),
            progress=lambda stage, d, t: calls.append((stage, d, t)),
        )
    assert calls[0] == ("reading", 0, 0) and ("reading", 3, 3) in calls
    assert calls[-2:] == [("storing", 0, 3), ("storing", 3, 3)]


# ------------------------------------------------------------------ property tests

IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
# Free text without control characters or edge whitespace (values are stripped on read).
TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs"), blacklist_characters="\ufeff"
    )
    | st.sampled_from(' ,";|:'),
    max_size=20,
).map(str.strip)
FINITE = {"allow_nan": False, "allow_infinity": False}


@st.composite
def valid_row(draw: st.DrawFn, i: int) -> tuple[dict[str, str], dict[str, Any]]:
    """A CSV row (text) and the values the store must give back for it."""
    when = draw(st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)))
    offset = draw(st.integers(-14 * 60, 14 * 60))
    sign, hh, mm = "+" if offset >= 0 else "-", abs(offset) // 60, abs(offset) % 60
    kind = draw(st.sampled_from(KINDS))
    low = draw(st.integers(0, 10**6))
    best = draw(st.integers(low, low + 1000))
    high = draw(st.integers(best, best + 1000))
    countless = kind in ("fire", "incident", "patrol") and draw(st.booleans())
    lon, lat = draw(st.floats(-180, 180, **FINITE)), draw(st.floats(-90, 90, **FINITE))
    actor, category = draw(st.just("") | IDENT), draw(st.just("") | IDENT)
    source, note = draw(TEXT.filter(bool)), draw(TEXT)
    rel, cred = draw(st.sampled_from("ABCDEFabcdef")), draw(st.integers(1, 6))
    place, tunc = draw(st.floats(0, 1e6, **FINITE)), draw(st.floats(0, 1e3, **FINITE))
    text = {
        "id": f"r{i}-{draw(TEXT)}", "time": when.isoformat() + f"{sign}{hh:02}:{mm:02}",
        "lon": repr(lon), "lat": repr(lat), "actor": actor, "kind": kind, "category": category,
        "count": "" if countless else str(best), "count_low": "" if countless else str(low),
        "count_high": "" if countless else str(high), "source": source, "reliability": rel,
        "credibility": str(cred), "note": note, "place_uncertainty_km": repr(place),
        "time_uncertainty_days": repr(tunc),
    }  # fmt: skip
    expected = {
        "id": text["id"], "time": pd.Timestamp(when - timedelta(minutes=offset), tz=UTC),
        "lon": lon + 0.0, "lat": lat + 0.0, "actor": actor or "unknown", "kind": kind,
        "category": category or None, "count_low": None if countless else low,
        "count_best": None if countless else best, "count_high": None if countless else high,
        "source": source, "reliability": rel.upper(), "credibility": cred, "note": note or None,
        "place_uncertainty_km": place, "time_uncertainty_days": tunc,
    }  # fmt: skip
    return text, expected


@st.composite
def valid_file(draw: st.DrawFn) -> list[tuple[dict[str, str], dict[str, Any]]]:
    n = draw(st.integers(1, 8))
    return [draw(valid_row(i)) for i in range(n)]


def expected_frame(rows_: list[dict[str, Any]]) -> pd.DataFrame:
    cols = [c for c in OBSERVATION_COLUMNS if c not in ("content_hash", "prov_file", "prov_row")]
    df = pd.DataFrame(rows_, columns=cols)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return (
        df.astype({c: OBSERVATION_COLUMNS[c] for c in cols})
        .sort_values("id")
        .reset_index(drop=True)
    )


def module_db(request: pytest.FixtureRequest, folder: Path) -> str:
    """A store location that lives as long as a module-scoped fixture, per backend."""
    if request.param == "postgres":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        return cluster.create_database()
    return str(folder / "ev.duckdb")


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EvidenceStore]:
    """One store for all examples of a property test (opening one loads spatial: ~0.3 s)."""
    with open_store(module_db(request, tmp_path_factory.mktemp("shared"))) as store:
        yield store


@HYPO
@given(data=valid_file())
def test_valid_rows_round_trip(
    tmp_path: Path, shared_store: EvidenceStore, data: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    prefix = f"x{uuid.uuid4().hex}-"  # examples share the store: keep their ids apart
    for text, expected in data:
        text["id"] = expected["id"] = prefix + text["id"]
    path = write_csv(tmp_path / "gen.csv", [t for t, _ in data], ALL_COLUMNS)
    result = shared_store.ingest_observations(path)
    assert (result.stored, result.rejected) == (len(data), 0)
    got = stored(shared_store)
    got = got[got["id"].str.startswith(prefix)].reset_index(drop=True)
    expected = expected_frame([e for _, e in data])
    pd.testing.assert_frame_equal(got[expected.columns], expected)
    # The stored hash is the hash of the stored values.
    assert content_hashes(got).tolist() == got["content_hash"].tolist()


CORRUPTIONS = [
    ("lat", "97.5"), ("lon", "east"), ("time", "2015-13-45"), ("kind", "tanks"),
    ("reliability", "G"), ("credibility", "0"), ("count", "-1"), ("category", "Bad Cat"),
    ("actor", "Ukraine"), ("id", ""), ("source", ""), ("place_uncertainty_km", "-3"),
]  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def base_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EvidenceStore, pd.DataFrame]]:
    """A store holding three rows, for every example of the corruption test."""
    folder = tmp_path_factory.mktemp("base")
    with open_store(module_db(request, folder)) as store:
        store.ingest_observations(write_csv(folder / "base.csv", rows(3)))
        yield store, stored(store)


@HYPO
@given(data=valid_file(), where=st.integers(0, 7), corruption=st.sampled_from(CORRUPTIONS))
def test_one_corrupted_field_is_reported_and_changes_nothing(
    tmp_path: Path,
    base_store: tuple[EvidenceStore, pd.DataFrame],
    data: list[tuple[dict[str, str], dict[str, Any]]],
    where: int,
    corruption: tuple[str, str],
) -> None:
    store, before = base_store
    texts = [dict(t, count_low="", count_high="") for t, _ in data]
    row = where % len(texts)
    field, value = corruption
    texts[row][field] = value
    with pytest.raises(InputError) as err:
        store.ingest_observations(write_csv(tmp_path / "bad.csv", texts, ALL_COLUMNS))
    assert [(p.line, p.field) for p in err.value.problems] == [(row + 2, field)]
    assert store.count() == 3
    pd.testing.assert_frame_equal(stored(store), before)
    assert len(store.batches()) == 1


@HYPO
@given(text=st.text(max_size=300))
def test_arbitrary_text_ingest_only_input_errors(
    tmp_path: Path, shared_store: EvidenceStore, text: str
) -> None:
    path = tmp_path / "any.csv"
    path.write_text(",".join(CSV_REQUIRED) + "\n" + text, encoding="utf-8", errors="surrogatepass")
    before = shared_store.count()
    try:
        result = shared_store.ingest_observations(path, skip_bad=True)
    except InputError:
        assert shared_store.count() == before
    else:
        assert shared_store.count() == before + result.stored

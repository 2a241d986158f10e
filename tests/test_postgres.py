"""PostgreSQL specifics: PostGIS geometry, area queries, concurrent writers, and the same
findings, frames and command-line results as DuckDB."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from detente.agreement import load_agreement
from detente.cli import app
from detente.engine import evaluate
from detente.errors import InputError
from detente.ingest import load_preset
from detente.store import DuckDBStore, EvidenceStore, open_store
from detente.store.claims import ClaimStore, claim_id
from detente.store.postgres import PostgresStore
from detente.synth import synthesize
from pg_server import PgCluster, PgUnavailable
from test_claims_store import _claims, _doc
from test_ingest import ROW, UCDP, rows, write_csv

MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"


def both(duck_path: Path, pg_url: str) -> tuple[EvidenceStore, EvidenceStore]:
    return open_store(duck_path), open_store(pg_url)


def test_open_store_picks_the_backend(tmp_path: Path, pg_url: str) -> None:
    duck, pg = both(tmp_path / "ev.duckdb", pg_url)
    with duck, pg:
        assert isinstance(duck, DuckDBStore) and isinstance(pg, PostgresStore)
        assert pg.count() == 0 and pg.observations().empty and pg.batches().empty
        assert pg.db.dialect == "postgres"


def test_geometry_matches_lon_lat_and_is_indexed(tmp_path: Path, pg_url: str) -> None:
    data = [{**ROW, "id": f"p{i}", "lon": repr(lon), "lat": repr(lat)}
            for i, (lon, lat) in enumerate([(37.8, 48.1), (-179.99999, -89.5), (0.1 + 0.2, 0.0),
                                            (180.0, 90.0), (-0.0, 1e-300)])]  # fmt: skip
    with open_store(pg_url) as store:
        store.ingest_observations(write_csv(tmp_path / "s.csv", data))
        bad = store.db.one(
            "SELECT count(*) FROM observations WHERE geom IS NULL OR ST_SRID(geom) <> 4326 "
            "OR GeometryType(geom) <> 'POINT' OR ST_X(geom) <> lon OR ST_Y(geom) <> lat"
        )
        assert bad == (0,) and store.count() == 5
        indexes = dict(store.db.rows("SELECT indexname, indexdef FROM pg_indexes "
                                     "WHERE tablename = 'observations'"))  # fmt: skip
    assert "USING gist (geom)" in indexes["observations_geom"]
    assert (
        "UNIQUE" in indexes["observations_content_hash"]
        and "(content_hash)" in (indexes["observations_content_hash"])
    )
    assert '("time")' in indexes["observations_time"] or "(time)" in indexes["observations_time"]


# ------------------------------------------------------------------ same answers as DuckDB


@pytest.fixture
def area_files(tmp_path: Path) -> list[Path]:
    """Synthetic Minsk II sightings plus points on, just inside and just outside a box's edges
    and either side of the antimeridian."""
    agreement = load_agreement(MINSK)
    synth = tmp_path / "synth.csv"
    synthesize(agreement, n=400, seed=3).to_csv(synth, index=False)
    west, south, east, north = 37.5, 47.8, 38.5, 48.5
    out = math.nextafter(west, -math.inf), math.nextafter(north, math.inf)
    edges = [(west, 48.0), (east, 48.0), (38.0, south), (38.0, north), (west, north),
             (out[0], 48.0), (38.0, out[1]), (179.5, 0.0), (-179.5, 0.0), (180.0, 0.0),
             (-180.0, 0.0), (0.0, 0.0)]  # fmt: skip
    data = [
        {**ROW, "id": f"edge{i}", "lon": repr(lon), "lat": repr(lat),
         "actor": "ukr" if i % 2 else "dpr_lpr", "reliability": "ABCDEF"[i % 6],
         "credibility": str(1 + i % 6), "time": f"2016-03-{1 + i:02d}T12:00:00Z"}
        for i, (lon, lat) in enumerate(edges)
    ]  # fmt: skip
    return [synth, write_csv(tmp_path / "edges.csv", data)]


QUERIES: list[dict[str, Any]] = [
    {"bbox": (37.5, 47.8, 38.5, 48.5)},
    {"bbox": (37.5, 47.8, 37.5, 48.5)},  # a line: edges count
    {"bbox": (179.0, -1.0, -179.0, 1.0)},  # across the antimeridian
    {"bbox": (-180.0, -90.0, 180.0, 90.0), "actor": "ukr"},
    {"start": datetime(2016, 3, 3), "end": datetime(2017, 1, 1, tzinfo=UTC)},
    {"actor": ["ukr", "smm"], "min_grade": ("C", 3)},
    {"category": "tank", "bbox": (37.0, 47.0, 39.0, 49.0), "start": datetime(2018, 1, 1)},
    {"actor": []},
    {},
]


def test_area_queries_match_duckdb(tmp_path: Path, pg_url: str, area_files: list[Path]) -> None:
    duck, pg = both(tmp_path / "ev.duckdb", pg_url)
    with duck, pg:
        for file in area_files:
            duck.ingest_observations(file)
            pg.ingest_observations(file)
        everything = duck.observations()
        for query in QUERIES:
            got = pg.observations_in(**query)
            pd.testing.assert_frame_equal(got, duck.observations_in(**query))
            pd.testing.assert_frame_equal(got, by_hand(everything, **query))
        on_edges = pg.observations_in((37.5, 47.8, 38.5, 48.5))
        assert {"edge0", "edge1", "edge2", "edge3", "edge4"} <= set(on_edges["id"])
        assert not {"edge5", "edge6"} & set(on_edges["id"])
        across = pg.observations_in((179.0, -1.0, -179.0, 1.0))["id"]
        assert sorted(across) == ["edge10", "edge7", "edge8", "edge9"]
        with pytest.raises(InputError, match="bbox"):
            pg.observations_in((10.0, 50.0, 20.0, 40.0))  # south above north


def by_hand(frame: pd.DataFrame, **query: Any) -> pd.DataFrame:
    """The same filters in pandas, as the reference."""
    keep = pd.Series(True, index=frame.index)
    if "bbox" in query:
        w, s, e, n = query["bbox"]
        lon = frame["lon"].between(w, e) if w <= e else (frame["lon"] >= w) | (frame["lon"] <= e)
        keep &= lon & frame["lat"].between(s, n)
    for name, op in (("start", "ge"), ("end", "le")):
        if name in query:
            when = pd.Timestamp(query[name])
            when = when.tz_localize(UTC) if when.tzinfo is None else when
            keep &= getattr(frame["time"], op)(when)
    for column in ("actor", "category"):
        if column in query:
            wanted = query[column]
            keep &= frame[column].isin([wanted] if isinstance(wanted, str) else wanted)
    if "min_grade" in query:
        rel, cred = query["min_grade"]
        keep &= (frame["reliability"] <= rel) & (frame["credibility"] <= cred)
    return frame[keep.fillna(False)].reset_index(drop=True)


@pytest.mark.parametrize("which", ["toy", "minsk2"])
def test_findings_are_byte_identical(
    which: str, tmp_path: Path, pg_url: str, toy: Callable[..., Path]
) -> None:
    agreement = load_agreement(toy() if which == "toy" else MINSK)
    synth = tmp_path / "synth.csv"
    synthesize(agreement, n=300 if which == "toy" else 600, seed=11).to_csv(synth, index=False)
    files: list[tuple[Path, Any]] = [(synth, None)]
    if which == "minsk2":
        files.append((UCDP, load_preset("ucdp")))
    duck, pg = both(tmp_path / "ev.duckdb", pg_url)
    with duck, pg:
        for file, mapping in files:
            assert duck.ingest_observations(file, mapping=mapping) == pg.ingest_observations(
                file, mapping=mapping
            )
        frame = pg.observations()
        pd.testing.assert_frame_equal(frame, duck.observations())
        as_of = frame["time"].max().to_pydatetime()
        from_pg = evaluate(agreement, frame, as_of).to_json()
        assert from_pg == evaluate(agreement, duck.observations(), as_of).to_json()
        assert '"violation"' in from_pg  # something was decided, not only "unverified"


def test_claim_frames_match_duckdb(tmp_path: Path, pg_url: str) -> None:
    cid = claim_id(_doc().doc_id, _claims()[0])
    frames = []
    for db in (tmp_path / "w.duckdb", pg_url):
        with open_store(db) as store:
            claims = ClaimStore(store)
            claims.add_document(_doc(), _claims(), source="Example Monitor", grade=("C", 3))
            claims.review([cid], "edit", reviewer="ana", changes={"lat": "48.6", "count_low": "4"})
            claims.review([cid], "accept", reviewer="ana")
            stamps = ["ingested_at", "reviewed_at", "extracted_at"]
            frames.append(
                [f.drop(columns=[c for c in stamps if c in f]) for f in
                 (claims.claims(), claims.documents(), claims.history(cid), claims.evidence())]
            )  # fmt: skip
    for duck_frame, pg_frame in zip(*frames, strict=True):
        pd.testing.assert_frame_equal(pg_frame, duck_frame)


def test_the_command_line_takes_a_url(tmp_path: Path, pg_url: str) -> None:
    path = write_csv(tmp_path / "s.csv", rows(3))
    runner = CliRunner()
    outputs = []
    for db in (str(tmp_path / "ev.duckdb"), pg_url):
        done = runner.invoke(app, ["ingest", "observations", str(path), "--db", db])
        assert done.exit_code == 0, done.output
        assert "3 stored" in done.output
        done = runner.invoke(app, ["check", str(MINSK), "--db", db, "--format", "json"])
        assert done.exit_code == 0, done.output
        outputs.append(done.output)
    assert outputs[0] == outputs[1]


TRICKY = ['a "quoted", text\nover two lines', "tab\tand\r\nCRLF", "\\.", "\\N", "NULL",
          "ünïcödé 😀 ‎RTL‏", "'single' ; -- not SQL", "x" * 5000]  # fmt: skip


def test_tricky_text_round_trips(tmp_path: Path, pg_url: str) -> None:
    data = [{**ROW, "id": f"t{i}", "note": text, "source": text} for i, text in enumerate(TRICKY)]
    path = write_csv(tmp_path / "s.csv", data)
    duck, pg = both(tmp_path / "ev.duckdb", pg_url)
    with duck, pg:
        assert duck.ingest_observations(path).stored == pg.ingest_observations(path).stored == 8
        frame = pg.observations()
        pd.testing.assert_frame_equal(frame, duck.observations())
    assert frame.set_index("id").loc["t1", "note"] == "tab\tand\r\nCRLF"


# ------------------------------------------------------------------ PostgreSQL's own rules


def test_nul_character_is_a_bad_row(tmp_path: Path, pg_url: str) -> None:
    path = write_csv(tmp_path / "s.csv", [*rows(2), {**ROW, "id": "z", "note": "a\x00b"}])
    with open_store(pg_url) as store:
        with pytest.raises(InputError) as err:
            store.ingest_observations(path)
        (problem,) = err.value.problems
        assert (problem.line, problem.field) == (4, "note") and "NUL" in problem.message
        result = store.ingest_observations(path, skip_bad=True)
        assert (result.stored, result.duplicates, result.rejected) == (2, 0, 1)
    rejects = pd.read_csv(tmp_path / "s.rejects.csv", dtype=str)
    assert rejects["reject_value"].tolist() == ["a\\x00b"]


def test_unreachable_server_is_an_input_error_without_the_password() -> None:
    with pytest.raises(InputError) as err:
        open_store("postgresql://ana:secret@/nothing?host=/nonexistent-folder")
    (problem,) = err.value.problems
    assert "cannot connect to PostgreSQL" in problem.message
    assert "secret" not in str(problem) and "ana:***@" in problem.file


def test_a_server_that_cannot_start_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(
        PgUnavailable, match="apt-get install -y postgresql postgresql-15-postgis-3"
    ):
        PgCluster.start(bindir=tmp_path)  # no initdb there


# ------------------------------------------------------------------ concurrency

THREADS, FILES, ROWS_PER_FILE, POOL = 8, 4, 150, 1500


def test_concurrent_writers_store_each_record_once(tmp_path: Path, pg_url: str) -> None:
    """8 writers open the (new) database at once and each ingest 4 files drawn from one pool of
    records with heavy overlap, plus one file each holding a contested id with its own content.
    Every record is stored once, exactly one contested row wins, counts add up, and a reader
    never sees part of a batch."""
    pool = [{**ROW, "id": f"r{i}", "count": str(1 + i % 7), "lon": f"{37 + i / POOL:.6f}"}
            for i in range(POOL)]  # fmt: skip
    plans: list[list[Path]] = []
    used: set[int] = set()
    for t in range(THREADS):
        files = []
        for f in range(FILES):
            first = (t * 97 + f * 211) % POOL
            picked = [(first + k * 3) % POOL for k in range(ROWS_PER_FILE)]
            used.update(picked)
            files.append(write_csv(tmp_path / f"t{t}-f{f}.csv", [pool[i] for i in picked]))
        contested = {**ROW, "id": "contested", "count": str(100 + t)}
        files.append(write_csv(tmp_path / f"t{t}-contested.csv", [contested]))
        plans.append(files)

    start = threading.Barrier(THREADS + 1)
    results: list[list[Any]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(t: int) -> None:
        try:
            start.wait()
            with open_store(pg_url) as store:
                for file in plans[t]:
                    results[t].append(store.ingest_observations(file, skip_bad=True))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    snapshots: list[tuple[Any, ...]] = []

    def reader() -> None:
        with open_store(pg_url) as store:
            while not done.is_set():
                # One statement, one snapshot: rows seen must be whole batches.
                row = store.db.one(
                    "SELECT (SELECT count(*) FROM observations), "
                    "(SELECT coalesce(sum(stored), 0) FROM batches), "
                    "(SELECT count(*) FROM (SELECT o.batch_id FROM observations o "
                    " JOIN batches b USING (batch_id) GROUP BY o.batch_id, b.stored "
                    " HAVING count(*) <> b.stored) AS partial)"
                )
                assert row is not None
                snapshots.append(row)

    with open_store(pg_url):  # the schema first, so that the reader can start at once
        pass
    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=30)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads), "a writer hangs: deadlock?"

    flat = [r for per_thread in results for r in per_thread]
    assert len(flat) == THREADS * (FILES + 1)
    with open_store(pg_url) as store:
        assert store.count() == len(used) + 1  # every pooled record once, one contested row
        frame = store.observations()
        assert frame["id"].is_unique and frame["content_hash"].is_unique
        assert sum(r.stored for r in flat) == store.count()
        contested = [r for r in flat if r.file.endswith("contested.csv")]
        assert sorted(r.stored for r in contested) == [0] * (THREADS - 1) + [1]
        assert sum(r.rejected for r in contested) == THREADS - 1
        pooled = [r for r in flat if not r.file.endswith("contested.csv")]
        assert sum(r.duplicates for r in pooled) == THREADS * FILES * ROWS_PER_FILE - len(used)
        batches = store.batches()
        assert batches["batch_id"].tolist() == list(range(1, len(flat) + 1))
    assert snapshots and all(count == total and partial == 0 for count, total, partial in snapshots)


def test_new_database_opened_by_many_at_once(pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database()
    errors: list[BaseException] = []
    gate = threading.Barrier(8)

    def opener() -> None:
        try:
            gate.wait()
            with open_store(url) as store:
                ClaimStore(store)
                assert store.count() == 0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    pg_cluster.drop_database(url)
    assert not errors, errors

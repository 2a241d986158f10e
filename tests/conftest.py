"""Shared fixtures: a small hand-made agreement whose geometry can be reasoned about by hand."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from detente.evidence import OBSERVATION_COLUMNS
from detente.store._db import Database
from pg_server import PgCluster, PgUnavailable

ROOT = Path(__file__).resolve().parent.parent

# A north-south line at 38°E from 48°N to 49°N; party "west" holds 37–38°E, "east" 38–39°E.
# At 48.5°N one degree of longitude is about 73.9 km, so 37.865°E is ~10 km west of the line.
LINE = {"type": "LineString", "coordinates": [[38.0, 47.9], [38.0, 49.1]]}
WEST = {
    "type": "Polygon",
    "coordinates": [[[37.0, 47.5], [38.0, 47.5], [38.0, 49.5], [37.0, 49.5], [37.0, 47.5]]],
}
EAST = {
    "type": "Polygon",
    "coordinates": [[[38.0, 47.5], [39.0, 47.5], [39.0, 49.5], [38.0, 49.5], [38.0, 47.5]]],
}

AGREEMENT = """\
id: toy
title: A toy agreement for tests
version: "1"
timezone: Europe/Kyiv
window: month
sources: [{{id: s, title: Test source}}]
parties:
  - {{id: west, name: West, side: west_side}}
  - {{id: east, name: East, side: east_side}}
definitions:
  categories:
    tank: {{label: Tanks}}
zones:
  line: {{file: line.geojson}}
  west_side: {{file: west.geojson}}
  east_side: {{file: east.geojson}}
  everywhere: {{union: [west_side, east_side]}}
  band_w: {{band: {{line: line, side: west_side, to_km: 25}}}}
  band_e: {{band: {{line: line, side: east_side, to_km: 25}}}}
obligations:
  - id: cf
    kind: ceasefire
    clause: "No fire."
    source: {{ref: s, article: "1"}}
    bearers: [west, east]
    zone: everywhere
    effective: {{from: 2020-01-01T00:00:00}}
  - id: tanks
    kind: exclusion_zone
    clause: "No tanks within 25 km of the line."
    source: {{ref: s, article: "2"}}
    bearers: [west, east]
    categories: [tank]
    zones: {{west: band_w, east: band_e}}
    effective: {{from: 2020-01-01T00:00:00}}
{extra}"""


#: An extra obligation for the toy agreement: conditional on East violating the ceasefire.
CONDITIONAL = """\
  - id: freeze
    kind: exclusion_zone
    clause: "If East violates the ceasefire, West keeps tanks out of its band."
    source: {ref: s}
    bearers: [west]
    categories: [tank]
    zones: {west: band_w}
    effective: {from: 2020-01-01T00:00:00}
    when: {finding: {obligation: cf, status: violation, party: east}}
"""


def write_toy(folder: Path, extra: str = "") -> Path:
    """Write the toy agreement and its geometry into ``folder``; return the YAML path."""
    for name, geom in (("line", LINE), ("west", WEST), ("east", EAST)):
        (folder / f"{name}.geojson").write_text(
            json.dumps({"type": "Feature", "properties": {}, "geometry": geom})
        )
    path = folder / "agreement.yaml"
    path.write_text(AGREEMENT.format(extra=extra))
    return path


@pytest.fixture
def toy(tmp_path: Path) -> Callable[..., Path]:
    return lambda extra="": write_toy(tmp_path, extra)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """An observation frame from a few dicts (defaults fill the rest), for engine tests."""
    defaults: dict[str, Any] = {
        "actor": "west", "kind": "equipment", "category": "tank", "count_low": 1, "count_best": 1,
        "count_high": 1, "source": "test", "reliability": "B", "credibility": 2, "note": "",
        "place_uncertainty_km": 0.0, "time_uncertainty_days": 0.0, "prov_file": "t.csv",
    }  # fmt: skip
    records = []
    for i, row in enumerate(rows):
        rec = {**defaults, **row}
        rec.setdefault("id", f"o{i}")
        rec["content_hash"] = f"h-{rec['id']}"
        rec["prov_row"] = i + 2
        records.append(rec)
    df = pd.DataFrame(records, columns=list(OBSERVATION_COLUMNS))
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df.astype(OBSERVATION_COLUMNS)


# ---------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server with PostGIS for the whole run (see tests/pg_server.py).

    A machine without PostgreSQL fails these tests with the reason (never skips them):
    ``make test`` installs the packages first.
    """
    try:
        cluster = PgCluster.start()
    except PgUnavailable as exc:
        pytest.fail(f"cannot start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, empty database with PostGIS (cloned from a template), dropped afterwards."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


BACKENDS = ["duckdb", "postgres"]


@pytest.fixture(params=BACKENDS)
def evidence_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What ``open_store`` takes, once per backend: a new DuckDB file, or a new PostgreSQL
    database's URL (the server is started only when a postgres case runs)."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return str(tmp_path / "evidence.duckdb")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty server database on each backend: in-memory DuckDB, then a fresh PostgreSQL one."""
    url = None if request.param == "duckdb" else str(request.getfixturevalue("pg_url"))
    database = Database.open(url)
    yield database
    database.close()

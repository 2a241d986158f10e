"""PostGIS with a GiST index: the same findings, every step decided in SQL.

    >>> with throwaway_database() as url:                      # doctest: +SKIP
    ...     db = PostgisCompetitor(url)
    ...     load_seconds = db.load(frame, zones)
    ...     table = db.findings(make_plan(agreement), as_of)

**Loading** (not timed by the benchmark; :meth:`PostgisCompetitor.load` returns its seconds).
The zones' projected CRS (a transverse Mercator Detente fits to the zones) is registered in
``spatial_ref_sys`` under a custom SRID with its WKT and proj4 text. The observations' lon/lat
are projected to that CRS with pyproj *before* loading, through the same PROJ pipeline Detente
uses (``ZoneSet.project``), and COPYed as ``geometry(Point, SRID)``; ``ST_Transform`` inside the
server would do the same with PostGIS's own PROJ, but could differ from Detente in the last
bits of a coordinate, which matters only to a point exactly on a zone's edge. The zones are
inserted from ``ZoneSet.geoms`` (metres). Then a GiST index on the points, ``CLUSTER`` on it
and ``ANALYZE``.

**Findings** (timed): one SQL statement per obligation, whose parameters come from the plan.
It joins the obligation's zones to the observations with ``ST_Intersects`` (the boundary counts
as inside, as in Detente; the planner uses the GiST index: a nested loop with an index scan per
zone), tests vague places with ``ST_Distance`` to ``ST_Boundary`` of the zone, assigns calendar
windows with ``date_trunc`` in the agreement's time zone, enumerates every window with
``generate_series``, counts with ``FILTER`` per party and window, and picks the status with the
same ``CASE`` as docs/status-semantics.md, including the findings for ``unknown``. Python only
passes parameters and turns the rows into a DataFrame.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely

from detente.zones import ZoneSet

from .common import NOBODY, UNKNOWN, ObligationPlan, Plan, findings_table

ROOT = Path(__file__).resolve().parents[2]
#: A user-defined SRID (PostGIS reserves up to 998999 for users) for Detente's local CRS.
SRID = 990001
COPY_ROWS = 500_000  # observations per COPY chunk: bounded memory for the CSV text
#: Session setting for the statement's hash aggregates and sorts (default 4 MB would spill).
WORK_MEM = "256MB"
STEP = {"day": "1 day", "week": "1 week", "month": "1 month", "year": "1 year", "whole": "1 year"}

COLUMNS = (
    "rn", "id", "t", "actor", "kind", "category", "count_high", "reliability", "credibility",
    "uncertainty_m", "geom",
)  # fmt: skip

SCHEMA = f"""
DROP TABLE IF EXISTS obs, zones;
CREATE TABLE obs (
    rn bigint NOT NULL,             -- row number in the frame: identifies a record in SQL
    id text NOT NULL,
    t timestamptz NOT NULL,
    actor text,
    kind text,
    category text,
    count_high integer,
    reliability text,
    credibility smallint NOT NULL,
    uncertainty_m double precision NOT NULL,
    geom geometry(Point, {SRID})
);
CREATE TABLE zones (id text PRIMARY KEY, geom geometry(Geometry, {SRID}) NOT NULL);
"""

#: The GiST index, then the table rewritten in the index's order (CLUSTER, as the PostGIS
#: manual's performance tips advise): rows near each other in space sit in the same pages, so
#: the index scan of a zone reads the heap almost sequentially (about 3x faster ST_Intersects
#: joins at 1e6 rows than in load order).
INDEXES = """
CREATE INDEX obs_geom ON obs USING GIST (geom);
CREATE INDEX zones_geom ON zones USING GIST (geom);
CLUSTER obs USING obs_geom;
ANALYZE obs;
ANALYZE zones;
"""

#: The findings of one obligation. Parameters: see :meth:`PostgisCompetitor._parameters`.
FINDINGS_SQL = """
WITH bearer AS (
    SELECT party, zone_id
    FROM unnest(%(parties)s::text[], %(zone_ids)s::text[]) AS b(party, zone_id)
),
zone AS MATERIALIZED (  -- the obligation's zones and their edges, computed once
    SELECT id, geom, ST_Boundary(geom) AS edge
    FROM zones WHERE id IN (SELECT zone_id FROM bearer)
),
win AS (  -- every window begun by as_of: the first at the start, then calendar boundaries
    SELECT %(start)s::timestamptz AS window_start
    UNION
    SELECT boundary
    FROM generate_series(
        date_trunc(%(unit)s, %(start)s::timestamptz AT TIME ZONE %(tz)s),
        LEAST(%(as_of)s::timestamptz, coalesce(%(until)s::timestamptz, 'infinity'))
            AT TIME ZONE %(tz)s,
        %(step)s::interval
    ) AS g(local_boundary),
    LATERAL (SELECT local_boundary AT TIME ZONE %(tz)s AS boundary) AS b
    WHERE NOT %(whole)s
      AND boundary > %(start)s::timestamptz
      AND (%(until)s::timestamptz IS NULL OR boundary < %(until)s::timestamptz)
),
hit AS MATERIALIZED (  -- (record in effect, zone it lies in), with the flags the rules test
    SELECT
        o.rn,
        z.id AS zone_id,
        o.actor,
        (o.actor IS NULL OR o.actor = ANY(%(nobody)s::text[])) AS unknown,
        (o.uncertainty_m <= %(tolerance_m)s OR ST_Distance(z.edge, o.geom) >= o.uncertainty_m)
            AS surely,
        (coalesce(o.kind = ANY(%(kinds)s::text[]), false)
         AND (%(categories)s::text[] IS NULL
              OR coalesce(o.category = ANY(%(categories)s::text[]), false))
         AND (NOT %(positive_count)s OR coalesce(o.count_high, 1) > 0)) AS forbidden,
        (coalesce(o.reliability, 'F') COLLATE "C" <= %(min_reliability)s
         AND o.credibility <= %(max_credibility)s) AS grade_ok,
        CASE WHEN %(whole)s THEN %(start)s::timestamptz
             ELSE GREATEST(date_trunc(%(unit)s, o.t AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s,
                           %(start)s::timestamptz)
        END AS window_start
    FROM zone z
    JOIN obs o ON ST_Intersects(z.geom, o.geom)
    WHERE o.t >= %(start)s::timestamptz
      AND o.t <= %(as_of)s::timestamptz
      AND (%(until)s::timestamptz IS NULL OR o.t < %(until)s::timestamptz)
),
tally AS (  -- the pairs collapsed to the few combinations of what the rules test
    SELECT zone_id, window_start, actor, unknown, forbidden, surely, grade_ok, count(*) AS n
    FROM hit
    GROUP BY zone_id, window_start, actor, unknown, forbidden, surely, grade_ok
),
counted AS (  -- per named party and window: how many records show each thing
    SELECT
        b.party,
        t.window_start,
        coalesce(sum(t.n) FILTER (WHERE t.forbidden AND t.actor = b.party
                                  AND t.surely AND t.grade_ok), 0) AS strong,
        coalesce(sum(t.n) FILTER (WHERE t.forbidden AND t.actor = b.party
                                  AND NOT (t.surely AND t.grade_ok)), 0) AS weak,
        coalesce(sum(t.n) FILTER (WHERE t.forbidden AND t.unknown), 0) AS unattributed,
        coalesce(sum(t.n) FILTER (WHERE t.surely), 0) AS coverage
    FROM bearer b
    JOIN tally t ON t.zone_id = b.zone_id
    GROUP BY b.party, t.window_start
),
named AS (  -- every party and window; the first status that applies wins
    SELECT
        b.party,
        w.window_start,
        CASE WHEN c.strong > 0 THEN 'violation'
             WHEN c.weak > 0 THEN 'unverified'
             WHEN c.unattributed > 0 THEN 'unverified'
             WHEN c.coverage > 0 THEN 'compliant'
             ELSE 'unverified'  -- nothing observed: silence is not compliance
        END AS status,
        CASE WHEN c.strong > 0 THEN c.strong
             WHEN c.weak > 0 THEN c.weak
             WHEN c.unattributed > 0 THEN c.unattributed
             ELSE coalesce(c.coverage, 0)
        END AS evidence_count
    FROM bearer b
    CROSS JOIN win w
    LEFT JOIN counted c ON c.party = b.party AND c.window_start = w.window_start
),
unattributed AS (  -- one row per unattributed breach, surely inside if inside any zone
    SELECT rn, min(window_start) AS window_start, bool_or(surely) AND bool_and(grade_ok) AS strong
    FROM hit
    WHERE forbidden AND unknown
    GROUP BY rn
),
nobody AS (  -- findings for 'unknown', only in windows with such breaches
    SELECT
        window_start,
        count(*) FILTER (WHERE strong) AS strong,
        count(*) FILTER (WHERE NOT strong) AS weak
    FROM unattributed
    GROUP BY window_start
)
SELECT party, %(start)s::timestamptz AS window_start, 'pending' AS status, 0 AS evidence_count
FROM bearer WHERE %(as_of)s::timestamptz < %(start)s::timestamptz
UNION ALL
SELECT party, window_start, status, evidence_count
FROM named WHERE %(as_of)s::timestamptz >= %(start)s::timestamptz
UNION ALL
SELECT %(unknown)s, window_start,
       CASE WHEN strong > 0 THEN 'violation' ELSE 'unverified' END,
       CASE WHEN strong > 0 THEN strong ELSE weak END
FROM nobody
"""


class PostgisCompetitor:
    """Observations and zones in one PostGIS database, and the findings computed there."""

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    # ------------------------------------------------------------------ loading (not timed)

    def load(self, frame: pd.DataFrame, zones: ZoneSet) -> float:
        """Replace the tables with ``frame`` and ``zones``, index and analyse; return seconds."""
        began = time.perf_counter()
        with self.connect() as con:
            _register_crs(con, zones)
            con.execute(SCHEMA)
            _copy_observations(con, frame, zones)
            with con.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO zones (id, geom) VALUES (%s, ST_GeomFromWKB(%s, {SRID}))",
                    [(zid, shapely.to_wkb(geom)) for zid, geom in sorted(zones.geoms.items())],
                )
            con.execute(INDEXES)
        return time.perf_counter() - began

    # ------------------------------------------------------------------ findings (timed)

    def findings(self, plan: Plan, as_of: datetime) -> pd.DataFrame:
        """Every finding of the plan's obligations, computed in SQL, as a findings table."""
        rows: list[tuple[Any, ...]] = []
        with self.connect() as con:
            con.execute("SET TIME ZONE 'UTC'")
            con.execute(f"SET work_mem = '{WORK_MEM}'")
            for ob in plan.obligations:
                found = con.execute(FINDINGS_SQL, _parameters(plan, ob, as_of)).fetchall()
                rows += [(ob.id, *row) for row in found]
        table = pd.DataFrame(
            rows, columns=["obligation", "party", "window_start", "status", "evidence_count"]
        )
        return findings_table(table)

    def explain(self, plan: Plan, as_of: datetime, obligation: int = 0) -> str:
        """``EXPLAIN ANALYZE`` of one obligation's statement (to see where the time goes)."""
        params = _parameters(plan, plan.obligations[obligation], as_of)
        with self.connect() as con:
            con.execute(f"SET work_mem = '{WORK_MEM}'")
            found = con.execute("EXPLAIN (ANALYZE, BUFFERS) " + FINDINGS_SQL, params).fetchall()
        return "\n".join(str(r[0]) for r in found)


def _parameters(plan: Plan, ob: ObligationPlan, as_of: datetime) -> dict[str, Any]:
    whole = ob.window == "whole"
    return {
        "parties": list(ob.zones),
        "zone_ids": list(ob.zones.values()),
        "kinds": list(ob.kinds),
        "categories": None if ob.categories is None else list(ob.categories),
        "positive_count": ob.positive_count,
        "start": ob.start.to_pydatetime(),
        "until": None if ob.until is None else ob.until.to_pydatetime(),
        "as_of": as_of,
        "tz": plan.timezone,
        "whole": whole,
        "unit": "year" if whole else ob.window,  # any valid unit: unused for "whole"
        "step": STEP[ob.window],
        "min_reliability": plan.min_reliability,
        "max_credibility": plan.max_credibility,
        "tolerance_m": plan.max_place_uncertainty_km * 1000.0,
        "nobody": list(NOBODY),
        "unknown": UNKNOWN,
    }


def _register_crs(con: psycopg.Connection[Any], zones: ZoneSet) -> None:
    """The zones' CRS as SRID :data:`SRID` in ``spatial_ref_sys`` (WKT and proj4 text)."""
    with warnings.catch_warnings():  # proj4 text is lossy for datums; a WGS84 TM is exact
        warnings.simplefilter("ignore", UserWarning)
        proj4 = zones.crs.to_proj4()
    con.execute(
        "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
        "VALUES (%s, 'detente', %s, %s, %s) ON CONFLICT (srid) DO UPDATE "
        "SET srtext = EXCLUDED.srtext, proj4text = EXCLUDED.proj4text",
        (SRID, SRID, zones.crs.to_wkt("WKT1_GDAL"), proj4),
    )


def _copy_observations(con: psycopg.Connection[Any], frame: pd.DataFrame, zones: ZoneSet) -> None:
    """COPY the frame as CSV in chunks; points projected with pyproj, as hex EWKB."""
    columns = ", ".join(COLUMNS)
    options = pa_csv.WriteOptions(include_header=False)
    with con.cursor() as cur, cur.copy(f"COPY obs ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for lo in range(0, len(frame), COPY_ROWS):
            chunk = _arrow_chunk(frame.iloc[lo : lo + COPY_ROWS], lo, zones)
            buffer = io.BytesIO()
            pa_csv.write_csv(chunk, buffer, options)
            copy.write(buffer.getvalue())


def _arrow_chunk(part: pd.DataFrame, offset: int, zones: ZoneSet) -> pa.Table:
    x, y = zones.project(part["lon"].to_numpy(dtype=float), part["lat"].to_numpy(dtype=float))
    points = shapely.set_srid(shapely.points(x, y), SRID)
    ewkb = shapely.to_wkb(points, hex=True, include_srid=True)
    uncertainty = part["place_uncertainty_km"].fillna(0.0).to_numpy(dtype=float) * 1000.0
    return pa.table(
        {
            "rn": np.arange(offset, offset + len(part), dtype=np.int64),
            "id": pa.array(part["id"].astype(str).to_numpy(dtype=object), pa.string()),
            "t": pa.array(part["time"]),
            "actor": pa.array(part["actor"], pa.string(), from_pandas=True),
            "kind": pa.array(part["kind"], pa.string(), from_pandas=True),
            "category": pa.array(part["category"], pa.string(), from_pandas=True),
            "count_high": pa.array(part["count_high"], pa.int64(), from_pandas=True),
            "reliability": pa.array(part["reliability"], pa.string(), from_pandas=True),
            "credibility": pa.array(part["credibility"].to_numpy(dtype=np.int64)),
            "uncertainty_m": uncertainty,
            "geom": pa.array(ewkb, pa.string()),
        }
    )


# --------------------------------------------------------------------------- a throwaway server


def pg_server() -> ModuleType:
    """tests/pg_server.py (how the test suite runs PostgreSQL), imported from its path."""
    if "pg_server" in sys.modules:  # already imported by the tests' conftest
        return sys.modules["pg_server"]
    path = ROOT / "tests" / "pg_server.py"
    spec = importlib.util.spec_from_file_location("pg_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_server"] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A new PostgreSQL cluster in a temporary folder with one PostGIS database; its URL.

    The cluster (and its folder) is removed on exit, also on SIGTERM; see tests/pg_server.py
    for its settings (unix socket only, durability off: nothing measured depends on fsync). Call
    it from the main thread (signal handlers can only be set there).
    """
    cluster = pg_server().PgCluster.start()
    # A benchmark stopped with SIGTERM (kill, timeout) would skip atexit and leave the server
    # running: turn the signal into SystemExit so that ``finally`` stops it.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield cluster.create_database()
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)

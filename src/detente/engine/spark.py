"""The engine on Apache Spark: the per-record kernels run on executors over Arrow batches.

    >>> report = evaluate_spark(agreement, table, as_of, master="local[2]")  # doctest: +SKIP
    >>> report.to_json() == evaluate(agreement, table, as_of).to_json()     # doctest: +SKIP
    True

What is distributed is what grows with the evidence and is decided record by record: zone
membership (possibly / surely inside every zone, through the zone grid and the exact test) and
distances from band lines. Executors receive ``(row, lon, lat, uncertainty)`` batches,
partitioned by month and by a band of longitude, and run :func:`membership_batch`, which calls
the very :class:`~detente.engine._context.Context` methods the local engine uses. The driver
collects one small row per record (two bit words and the distances), hands them to a context
with :meth:`Context.preset`, and judges windows as the local engine does, so the findings JSON
is byte-identical. The evidence digest is computed on the driver.

Spark needs a Java 17+ runtime; ``PYSPARK_PYTHON`` defaults to this interpreter, whose
environment must have Detente installed on every executor (see docs/spark.md).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely

from detente.agreement import Agreement, ExclusionZone
from detente.engine import evaluate_context
from detente.engine._columns import Columns
from detente.engine._context import Context, _zones_of
from detente.findings import FindingsReport
from detente.zones import ZoneSet, build_zones

__all__ = ["evaluate_spark", "membership_batch"]

#: Zones per 63-bit word of the results (the sign bit stays clear).
MAX_ZONES = 63
_LON_BANDS = 4  # spatial part of the partition key
_CONFIG = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    # Results come back to the driver as Arrow: allow them to be large.
    "spark.driver.maxResultSize": "0",
    "spark.driver.memory": os.environ.get("DETENTE_SPARK_DRIVER_MEMORY", "4g"),
}


@dataclass(frozen=True)
class Shipment:
    """What executors need, in forms that pickle anywhere: the agreement, the zones as WKB and
    the CRS as WKT (zones are rebuilt from these, never read from files on the executor)."""

    agreement: Agreement
    crs_wkt: str
    crs_description: str
    max_scale_error: float
    geoms: dict[str, bytes]
    zone_ids: tuple[str, ...]
    lines: tuple[str, ...]
    near: tuple[str, ...]  # zones of exclusion obligations: records inside need distances


_WORKER_ZONES: dict[str, ZoneSet] = {}


def membership_batch(batch: pa.RecordBatch, ship: Shipment) -> pa.RecordBatch:
    """Zone bits and line distances of one batch of records (runs on an executor)."""
    zones = _worker_zones(ship)
    n = batch.num_rows
    table = pa.table(
        {
            "time": pa.array(np.zeros(n, dtype="datetime64[ns]")).cast(pa.timestamp("ns", "UTC")),
            "lon": batch.column("lon"),
            "lat": batch.column("lat"),
            "place_uncertainty_km": batch.column("unc"),
            "id": pa.array(np.arange(n).astype(str)),
        }
    )
    cols = Columns.of(table)  # one time for all: the rows keep their order
    ctx = Context(ship.agreement, zones, cols, datetime.now().astimezone(), use_grid=True)
    possibly = np.zeros(n, dtype=np.int64)
    surely = np.zeros(n, dtype=np.int64)
    near = np.zeros(n, dtype=bool)
    for bit, zone in enumerate(ship.zone_ids):
        maybe, sure = ctx.inside(zone)
        possibly |= maybe.astype(np.int64) << bit
        surely |= sure.astype(np.int64) << bit
        near |= maybe if zone in ship.near else False
    # Only records inside some zone travel back: the rest are outside everything.
    keep = np.flatnonzero(possibly != 0)
    row = batch.column("row").to_numpy()[keep]
    out: dict[str, Any] = {"row": row, "possibly": possibly[keep], "surely": surely[keep]}
    measured = np.flatnonzero(near[keep])
    for k, line in enumerate(ship.lines):
        km = np.full(len(keep), np.nan)
        km[measured] = ctx.distance_km(line, keep[measured])
        out[f"km{k}"] = km
    return pa.RecordBatch.from_pydict(out)


def evaluate_spark(
    agreement: Agreement,
    evidence: pd.DataFrame | pa.Table | Columns,
    as_of: datetime,
    *,
    master: str | None = None,
    partitions: int | None = None,
) -> FindingsReport:
    """:func:`detente.engine.evaluate` with the per-record work done by Spark."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    cols = evidence if isinstance(evidence, Columns) else Columns.of(evidence)
    cols = cols.upto(pd.Timestamp(as_of).value)
    zones = build_zones(agreement)
    ship = _shipment(agreement, zones)
    ctx = Context(agreement, zones, cols, as_of, use_grid=False)
    if len(cols):
        inside, distance = _run(ship, cols, master, partitions)
        ctx.preset(inside, distance)
    return evaluate_context(ctx)


def _run(
    ship: Shipment, cols: Columns, master: str | None, partitions: int | None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    spark = session(master)
    parts = partitions or max(2, spark.sparkContext.defaultParallelism * 2)
    records = pa.table(
        {
            "row": np.arange(len(cols), dtype=np.int64),
            "lon": cols.lon,
            "lat": cols.lat,
            "unc": cols.uncertainty_km,
            "part": _partition_keys(cols),
        }
    )
    schema = "row long, possibly long, surely long" + "".join(
        f", km{k} double" for k in range(len(ship.lines))
    )

    def kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield membership_batch(batch, ship)

    frame = spark.createDataFrame(records).repartition(parts, "part")
    result = frame.mapInArrow(kernel, schema).toArrow()
    row = result.column("row").to_numpy()
    if len(np.unique(row)) != len(row) or (len(row) and (row.min() < 0 or row.max() >= len(cols))):
        raise RuntimeError("Spark returned records the driver did not send, or some twice")
    possibly = np.zeros(len(cols), dtype=np.int64)
    surely = np.zeros(len(cols), dtype=np.int64)
    possibly[row] = result.column("possibly").to_numpy()
    surely[row] = result.column("surely").to_numpy()
    inside = {
        zone: (((possibly >> bit) & 1).astype(bool), ((surely >> bit) & 1).astype(bool))
        for bit, zone in enumerate(ship.zone_ids)
    }
    distance = {}
    for k, line in enumerate(ship.lines):
        km = np.full(len(cols), np.nan)
        km[row] = result.column(f"km{k}").to_numpy(zero_copy_only=False)
        distance[line] = km
    return inside, distance


def session(master: str | None = None) -> Any:
    """The Spark session (``local[*]`` unless a master URL is given), Arrow enabled."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # PySpark warns that it has not been certified with pandas 3; Detente hands it Arrow only.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("detente").master(master or "local[*]")
    for key, value in _CONFIG.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _partition_keys(cols: Columns) -> np.ndarray:
    """Month (UTC) and band of longitude of each record: partitions by time window and space."""
    month = cols.time_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    lon = np.nan_to_num(cols.lon, nan=0.0)
    band = np.clip(((lon + 180.0) / 360.0 * _LON_BANDS).astype(np.int64), 0, _LON_BANDS - 1)
    return np.asarray(month * _LON_BANDS + band, dtype=np.int64)


def _shipment(agreement: Agreement, zones: ZoneSet) -> Shipment:
    zone_ids = tuple(z for z in _zones_of(agreement) if z in zones.geoms)
    if len(zone_ids) > MAX_ZONES:
        raise ValueError(f"the Spark engine handles up to {MAX_ZONES} zones, not {len(zone_ids)}")
    lines: dict[str, None] = {}
    near: dict[str, None] = {}
    for ob in agreement.obligations:
        if isinstance(ob, ExclusionZone):
            near.update(dict.fromkeys(ob.zones.values()))
            bands = [agreement.zones[z].band for z in ob.zones.values()]
            found = {b.line for b in bands if b is not None}
            if len(found) == 1 and None not in bands:
                lines[found.pop()] = None
    return Shipment(
        agreement=agreement,
        crs_wkt=zones.crs.to_wkt(),
        crs_description=zones.crs_description,
        max_scale_error=zones.max_scale_error,
        geoms={z: shapely.to_wkb(g) for z, g in zones.geoms.items()},
        zone_ids=zone_ids,
        lines=tuple(lines),
        near=tuple(near),
    )


def _worker_zones(ship: Shipment) -> ZoneSet:
    """Zones rebuilt once per executor process (the grid is built once with them)."""
    key = ship.agreement.sha256 or str(id(ship))
    if key not in _WORKER_ZONES:
        geoms = {z: shapely.from_wkb(w) for z, w in ship.geoms.items()}
        shapely.prepare(list(geoms.values()))
        _WORKER_ZONES[key] = ZoneSet(
            crs=pyproj.CRS.from_wkt(ship.crs_wkt),
            crs_description=ship.crs_description,
            max_scale_error=ship.max_scale_error,
            geoms=geoms,
        )
    return _WORKER_ZONES[key]

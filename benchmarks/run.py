"""``make bench``: the full Minsk II agreement three ways (and on Spark), at growing sizes.

Sizes come from ``BENCH_N`` (comma-separated; default ``100000,1000000,10000000``). For each size
the same SYNTHETIC evidence (``detente synth``'s generator, cached as Parquet under
``benchmarks/results/cache``) is evaluated, in this one process, by

1. ``detente``: :func:`detente.engine.evaluate` from the Arrow table the store's export gives
   (text columns dictionary-encoded), as of 2021-12-31: every obligation, party and month, with
   explanations, evidence lists and the evidence digest;
2. ``geopandas``: the script an analyst would write today (``competitors/geopandas_script.py``);
3. ``postgis``: the same logic in SQL on PostgreSQL 15 + PostGIS with GiST indexes, on a
   throwaway cluster this script starts (``competitors/postgis_sql.py``); loading is timed
   apart from the query;
4. ``spark``: ``detente check --engine spark``'s evaluation in Spark local mode (reference).

Every engine's findings (obligation, party, window, status, number of deciding records) must
equal Detente's before any time is written. Times are medians of ``BENCH_REPEAT`` runs (default
3; one run for the competitors at 10 million). Peak memory is measured for Detente in a child
process that only reads the Parquet file and evaluates. The incremental case stores
``BENCH_LIVE_N`` records (default 1,000,000), adds ``BENCH_LIVE_ADDS`` single records one at a
time and reports the latency of bringing the findings up to date, then checks them against a
full evaluation. Results: ``benchmarks/results/latest.json`` and ``latest.md``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _results import write_results  # benchmarks/ is on sys.path when run as a script

from detente.agreement import Agreement, load_agreement
from detente.engine import evaluate
from detente.engine.live import LiveFindings
from detente.evidence import content_hashes
from detente.synth import synthesize
from detente.zones import build_zones

ROOT = Path(__file__).resolve().parent.parent
AGREEMENT = ROOT / "examples" / "minsk2" / "agreement.yaml"
AS_OF = datetime.fromisoformat("2021-12-31T23:59:59+02:00")
CACHE = ROOT / "benchmarks" / "results" / "cache"
CHUNK = 1_000_000  # synthetic records are made a million at a time
CODED = ["actor", "kind", "category", "reliability", "source", "note", "prov_file"]


# --------------------------------------------------------------------------- evidence


def observation_frame(csv_frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical frame the store would return, built directly from the synthetic table."""
    f = csv_frame
    count = pd.to_numeric(f["count"], errors="coerce").astype("Int64")
    frame = pd.DataFrame(
        {
            "id": f["id"].astype("string"),
            "time": pd.to_datetime(f["time"], utc=True).astype("datetime64[us, UTC]"),
            "lon": f["lon"].astype(float),
            "lat": f["lat"].astype(float),
            "actor": f["actor"].astype("string"),
            "kind": f["kind"].astype("string"),
            "category": f["category"].replace("", pd.NA).astype("string"),
            "count_low": count,
            "count_best": count,
            "count_high": count,
            "source": f["source"].astype("string"),
            "reliability": f["reliability"].astype("string"),
            "credibility": f["credibility"].astype("int8"),
            "note": f["note"].astype("string"),
            "place_uncertainty_km": 0.0,
            "time_uncertainty_days": 0.0,
            "prov_file": "synthetic.csv",
            "prov_row": range(2, len(f) + 2),
        }
    )
    frame["content_hash"] = content_hashes(frame)
    return frame


def dataset(agreement: Agreement, n: int) -> Path:
    """Parquet file of ``n`` synthetic records in (time, id) order, made once and kept."""
    path = CACHE / f"minsk2-synthetic-{n}.parquet"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    parts = []
    for k, start in enumerate(range(0, n, CHUNK)):
        raw = synthesize(agreement, n=min(CHUNK, n - start), seed=11 + k)
        raw["id"] = raw["id"].str.replace("synthetic-", f"synthetic-{k:03d}-", regex=False)
        parts.append(pa.Table.from_pandas(observation_frame(raw), preserve_index=False))
        print(f"  made {start + raw.shape[0]:,} of {n:,} records", flush=True)
    table = pa.concat_tables(parts)
    table = table.sort_by([("time", "ascending"), ("id", "ascending")])
    pq.write_table(table, path, row_group_size=CHUNK)
    return path


#: The columns the engine reads (a store query would select just these).
ENGINE_COLUMNS = [
    "id", "time", "lon", "lat", "actor", "kind", "category", "count_high", "reliability",
    "credibility", "place_uncertainty_km", "content_hash", "note",
]  # fmt: skip


def read(path: Path, engine_columns: bool = False) -> pa.Table:
    """The evidence as the engine gets it from a store export: text columns as dictionaries,
    each column one contiguous array (row group by row group, so only one group is copied at
    a time)."""
    columns = ENGINE_COLUMNS if engine_columns else None
    parquet = pq.ParquetFile(path, read_dictionary=CODED)
    groups = [
        parquet.read_row_group(i, columns=columns).combine_chunks()
        for i in range(parquet.num_row_groups)
    ]
    return pa.concat_tables(groups).combine_chunks() if len(groups) > 1 else groups[0]


def as_frame(table: pa.Table) -> pd.DataFrame:
    """The competitors' input: a plain pandas observation frame."""
    plain = pa.table(
        {
            name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
            for name, col in zip(table.column_names, table.columns, strict=True)
        }
    )
    return plain.to_pandas()


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def peak_memory_mb(path: Path) -> tuple[float, float]:
    """Memory (MB) of a child that reads ``path`` (only the columns the engine reads), then
    evaluates it once: ``(resident once the evidence is loaded, peak over the whole run)``."""
    code = (
        "import resource, sys; sys.path.insert(0, 'benchmarks');"
        "from run import read, AGREEMENT, AS_OF; from detente.agreement import load_agreement;"
        "from detente.engine import evaluate; ag = load_agreement(AGREEMENT);"
        f"t = read(__import__('pathlib').Path({str(path)!r}), engine_columns=True);"
        "import gc; gc.collect();"
        # Resident now (not the peak): what the evidence itself occupies.
        "print(int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize() // 1024);"
        "evaluate(ag, t, AS_OF);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded, peak = (int(v) / 1024 for v in out.stdout.strip().splitlines()[-2:])
    return loaded, peak


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """Slope of log(time) against log(size): 1 is linear."""
    pairs = [(n, t) for n, t in zip(sizes, seconds, strict=True) if t and t > 0]
    if len(pairs) < 2:
        return None
    slope = np.polyfit(np.log([p[0] for p in pairs]), np.log([p[1] for p in pairs]), 1)[0]
    return round(float(slope), 3)


# --------------------------------------------------------------------------- the cases


def run_size(agreement: Agreement, n: int, pg_url: str | None) -> dict[str, Any]:
    from competitors.common import compare, detente_table, make_plan
    from competitors.geopandas_script import geopandas_findings

    competitors = os.environ.get("BENCH_COMPETITORS", "1") == "1"

    path = dataset(agreement, n)
    began = time.perf_counter()
    table = read(path)
    row: dict[str, Any] = {"n": n, "read_parquet_s": round(time.perf_counter() - began, 3)}
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    zones = build_zones(agreement)
    began = time.perf_counter()
    report = evaluate(agreement, table, AS_OF)  # the first run also builds the zone grid
    row["detente_first_s"] = round(time.perf_counter() - began, 3)
    t, runs, report = timed(lambda: evaluate(agreement, table, AS_OF), repeat)
    row |= {"detente_s": round(t, 3), "detente_runs": [round(x, 3) for x in runs]}
    row["detente_obs_per_s"] = round(n / t)
    began = time.perf_counter()
    report.to_json()
    row["json_s"] = round(time.perf_counter() - began, 3)
    row["findings"] = len(report.findings)
    row["violations"] = sum(f.status.value == "violation" for f in report.findings)
    loaded, peak = peak_memory_mb(path)
    row["detente_loaded_mb"], row["detente_peak_mb"] = round(loaded), round(peak)
    if not competitors:  # a Detente-only run (memory, speed): no ratios
        return row
    expected = detente_table(report)
    plan = make_plan(agreement)
    frame = as_frame(table)
    slow = 1 if n >= 10_000_000 else repeat
    t, _, theirs = timed(lambda: geopandas_findings(plan, zones, frame, AS_OF), slow)
    _agree(compare(expected, theirs, "geopandas"))
    row["geopandas_s"] = round(t, 3)
    if pg_url is not None:
        from competitors.postgis_sql import PostgisCompetitor

        pg = PostgisCompetitor(pg_url)
        row["postgis_load_s"] = round(pg.load(frame, zones), 3)
        t, _, theirs = timed(lambda: pg.findings(plan, AS_OF), slow)
        _agree(compare(expected, theirs, "postgis"))
        row["postgis_s"] = round(t, 3)
    if os.environ.get("BENCH_SPARK", "1") == "1":
        from detente.engine.spark import evaluate_spark, session

        session("local[*]")  # started once, outside the timing
        try:
            t, _, spark_report = timed(lambda: evaluate_spark(agreement, table, AS_OF), 1)
        except Exception as exc:  # Spark is a reference column: record its failure, go on
            row["spark_local_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        else:
            if spark_report.to_json() != report.to_json():
                _agree(["spark: findings JSON differs from the local engine's"])
            row["spark_local_s"] = round(t, 3)
    return row


def live_case(agreement: Agreement, n: int, adds: int) -> dict[str, Any]:
    """Latency of adding one record to ``n`` stored ones and bringing the findings up to date."""
    table = read(dataset(agreement, n))
    began = time.perf_counter()
    live = LiveFindings(agreement, table, AS_OF)
    setup = time.perf_counter() - began
    extra = observation_frame(synthesize(agreement, n=adds, seed=99))
    extra["id"] = "live-" + extra["id"]
    extra["content_hash"] = content_hashes(extra)
    # Each record arrives as the store hands it over: one Arrow row (made outside the timing).
    arriving = [
        pa.Table.from_pandas(extra.iloc[i : i + 1], preserve_index=False) for i in range(adds)
    ]
    latencies = []
    for one in arriving:
        start = time.perf_counter()
        live.add(one)
        latencies.append(time.perf_counter() - start)
    everything = pd.concat([as_frame(table), extra[as_frame(table.slice(0, 0)).columns]])
    full = evaluate(agreement, everything, AS_OF)
    if live.report().to_json() != full.to_json():
        _agree(["incremental: findings differ from a full evaluation"])
    ms = np.array(latencies) * 1000
    return {
        "stored": n,
        "adds": adds,
        "setup_s": round(setup, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
        "full_evaluation_s": None,
    }


def _agree(problems: list[str]) -> None:
    if problems:
        print("The engines disagree; no times are reported:", file=sys.stderr)
        for line in problems[:20]:
            print("  " + line, file=sys.stderr)
        sys.exit(1)


# --------------------------------------------------------------------------- main


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sizes = [int(s) for s in os.environ.get("BENCH_N", "100000,1000000,10000000").split(",")]
    agreement = load_agreement(AGREEMENT)
    rows = []
    with _postgis() as pg_url:
        for n in sizes:
            print(f"n = {n:,}", flush=True)
            rows.append(run_size(agreement, n, pg_url))
            print(json.dumps(rows[-1]), flush=True)
            write_results("latest-partial", {"cases": rows}, json.dumps(rows, indent=1))
    live_n = int(os.environ.get("BENCH_LIVE_N", "1000000"))
    live = live_case(agreement, live_n, int(os.environ.get("BENCH_LIVE_ADDS", "300")))
    print(json.dumps(live), flush=True)
    fits = {
        engine: exponent([r["n"] for r in rows], [r.get(f"{engine}_s") for r in rows])
        for engine in ("detente", "geopandas", "postgis", "spark_local")
    }
    write(rows, live, fits)
    return 0


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class _postgis:
    """A throwaway PostgreSQL cluster unless ``BENCH_POSTGIS=0``."""

    def __enter__(self) -> str | None:
        self._ctx = None
        if os.environ.get("BENCH_POSTGIS", "1") != "1":
            return None
        from competitors.postgis_sql import throwaway_database

        self._ctx = throwaway_database()
        return self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)


def write(rows: list[dict[str, Any]], live: dict[str, Any], fits: dict[str, float | None]) -> None:
    def ratio(r: dict[str, Any], key: str) -> str:
        return f"{r[key] / r['detente_s']:.1f}×" if r.get(key) else "–"

    lines = [
        "| observations | detente (s) | obs/s | peak MB (loaded) | geopandas (s) | ratio "
        "| postgis (s) "
        "| ratio | spark local (s) | findings |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [
            f"{r['n']:,}", r["detente_s"], f"{r['detente_obs_per_s']:,}",
            f"{r['detente_peak_mb']:,.0f} ({r.get('detente_loaded_mb', 0):,.0f})",
            r.get("geopandas_s", "–"), ratio(r, "geopandas_s"),
            r.get("postgis_s", "–"), ratio(r, "postgis_s"), r.get("spark_local_s", "–"),
            f"{r['findings']:,}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += [
        "",
        "Fitted exponent of time against size: "
        + ", ".join(f"{k} {v}" for k, v in fits.items() if v is not None),
        "",
        f"Incremental: {live['stored']:,} stored, {live['adds']} single additions: "
        f"p50 {live['p50_ms']} ms, p99 {live['p99_ms']} ms, max {live['max_ms']} ms "
        f"(set-up {live['setup_s']} s); findings equal a full evaluation.",
        "",
        f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"peak memory of this process {_peak_mb():,} MB.",
    ]
    name = os.environ.get("BENCH_NAME", "latest")  # a partial run need not replace the full one
    write_results(name, {"cases": rows, "incremental": live, "exponents": fits}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

"""``make bench``: Detente's engine against a straightforward pandas script, in one process.

Sizes come from ``BENCH_N`` (comma-separated, default ``10000,100000,1000000``). For each size
the same synthetic Minsk II evidence is evaluated by

* ``detente``: :func:`detente.engine.evaluate` (ingest excluded: the frame is built once);
* ``pandas-script``: what an analyst would write today: for each obligation and party, shapely's
  point-in-polygon on the whole evidence, then a pandas ``groupby`` per month.

Both must report the same (obligation, party, month) violations before any time is written.
The script computes only those violations; Detente also decides every other status, explains
each finding, lists its evidence and hashes its inputs, so the ratio is the price of complete,
explained findings rather than a like-for-like race (that benchmark is planned with GeoPandas
and PostGIS baselines).
Results go to ``benchmarks/results/latest.json`` and ``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from _results import write_results  # benchmarks/ is on sys.path when run as a script

from detente.agreement import ExclusionZone, load_agreement
from detente.engine import evaluate
from detente.evidence import content_hashes
from detente.synth import synthesize
from detente.zones import build_zones

ROOT = Path(__file__).resolve().parent.parent
AGREEMENT = ROOT / "examples" / "minsk2" / "agreement.yaml"
AS_OF = datetime.fromisoformat("2021-12-31T23:59:59+02:00")
GOOD = ("A", "B", "C")


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


def detente_violations(agreement: Any, frame: pd.DataFrame) -> set[tuple[str, str, str]]:
    report = evaluate(agreement, frame, AS_OF)
    return {
        (f.obligation, f.party, f"{f.window_start:%Y-%m}")
        for f in report.findings
        if f.status.value == "violation" and f.party != "unknown"
    }


def script_violations(agreement: Any, frame: pd.DataFrame) -> set[tuple[str, str, str]]:
    """The analyst's version: one obligation and one party at a time."""
    zones = build_zones(agreement)
    x, y = zones.project(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    local = frame["time"].dt.tz_convert(agreement.timezone)
    month = local.dt.strftime("%Y-%m")
    good = frame["reliability"].isin(GOOD) & (frame["credibility"] <= 3)
    found: set[tuple[str, str, str]] = set()
    for ob in agreement.obligations:
        if not isinstance(ob, ExclusionZone):
            continue
        kind_ok = (frame["kind"] == "equipment") & frame["category"].isin(ob.categories)
        active = (frame["time"] >= pd.Timestamp(ob.effective.start)) & (
            frame["time"] <= pd.Timestamp(AS_OF)
        )
        for party, zone in ob.zones.items():
            inside = shapely.contains_xy(zones.geoms[zone], x, y)
            hit = kind_ok & active & good & (frame["actor"] == party) & inside
            for m in month[hit.to_numpy()].unique():
                found.add((ob.id, party, m))
    return found


def timed(fn: Any, *args: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    sizes = [int(s) for s in os.environ.get("BENCH_N", "10000,100000,1000000").split(",")]
    agreement = load_agreement(AGREEMENT)
    rows = []
    for n in sizes:
        frame = observation_frame(synthesize(agreement, n=n, seed=11))
        repeat = 3 if n <= 100_000 else 1
        t_detente, ours = timed(detente_violations, agreement, frame, repeat=repeat)
        t_script, theirs = timed(script_violations, agreement, frame, repeat=repeat)
        if ours != theirs:
            print(
                f"n={n}: the engines disagree on {len(ours ^ theirs)} violations", file=sys.stderr
            )
            return 1
        rows.append(
            {
                "n": n,
                "violations": len(ours),
                "detente_s": round(t_detente, 3),
                "script_s": round(t_script, 3),
                "detente_obs_per_s": round(n / t_detente),
                "speedup": round(t_script / t_detente, 2),
            }
        )
        print(rows[-1], flush=True)
    write(rows)
    return 0


def write(rows: list[dict[str, Any]]) -> None:
    lines = [
        "| observations | violations | detente (s) | pandas script (s) | detente obs/s | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['n']:,} | {r['violations']} | {r['detente_s']} | {r['script_s']} | "
        f"{r['detente_obs_per_s']:,} | {r['speedup']}× |"
        for r in rows
    ]
    write_results("latest", {"cases": rows}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

"""Ingest throughput: rows per second from a file on disk to rows committed in the store.

    BENCH_INGEST_N=1000000 python benchmarks/bench_ingest.py

For ``BENCH_INGEST_N`` rows (default 1,000,000) two files are generated in a temporary folder:
a canonical observation CSV and a CSV in the ACLED export layout (31 columns, half the dates
ISO and half ``24 February 2022``, every event type). Each is ingested into a fresh store by
:meth:`detente.store.DuckDBStore.ingest_observations` (read, map, validate, hash, store, commit),
and the canonical one also by ``detente ingest observations`` in a subprocess (adding start-up,
imports and the progress display). Every case runs 3 times; the median wall time is reported as
rows/s and rows/min against the goal of 1,000,000 rows per minute, with the median CPU time (all
threads, or the child process) and the 1-minute load average before the case: on a shared
machine, a wall time far above the CPU time means the run was waiting for a core. Results go to
``benchmarks/results/ingest.json`` and ``benchmarks/results/ingest.md``.

The generated data are SYNTHETIC (every row says so) and made with NumPy in bulk.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from _results import write_results  # benchmarks/ is on sys.path when run as a script

from detente.ingest import resolve_mapping
from detente.store import open_store

ROOT = Path(__file__).resolve().parent.parent
GOAL_PER_MIN = 1_000_000
RUNS = 3
SEED = 5

# ACLED sub-event types by event type (every one the shipped mapping knows, so no row is bad).
SUB_EVENTS = {
    "Battles": [
        "Armed clash", "Government regains territory", "Non-state actor overtakes territory",
    ],
    "Explosions/Remote violence": [
        "Air/drone strike", "Shelling/artillery/missile attack", "Remote explosive/landmine/IED",
        "Grenade",
    ],
    "Violence against civilians": ["Attack", "Abduction/forced disappearance"],
    "Protests": ["Peaceful protest", "Protest with intervention"],
    "Riots": ["Violent demonstration", "Mob violence"],
    "Strategic developments": [
        "Headquarters or base established", "Change to group/activity", "Disrupted weapons use",
        "Arrests",
    ],
}  # fmt: skip
# The 31 columns of an ACLED export, as in the hand-made test sample.
ACLED_COLUMNS = (ROOT / "tests" / "data" / "acled_sample.csv").read_text().partition("\n")[0]


def _days(rng: np.random.Generator, n: int) -> np.ndarray:
    start = np.datetime64("2014-01-01")
    return start + rng.integers(0, 365 * 10, n).astype("timedelta64[D]")


def _write(columns: dict[str, Any], path: Path) -> Path:
    """Write text columns as CSV with Arrow (quoting only where needed, like a spreadsheet)."""
    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))
    return path


def canonical_csv(n: int, path: Path) -> Path:
    """``n`` SYNTHETIC equipment sightings and patrols in the canonical layout.

    >>> canonical_csv(10, Path("/tmp/c.csv")).exists()          # doctest: +SKIP
    True
    """
    rng = np.random.default_rng(SEED)
    seconds = rng.integers(0, 86_400, n).astype("timedelta64[s]")
    times = np.datetime_as_string(_days(rng, n).astype("datetime64[s]") + seconds, unit="s")
    patrol = rng.random(n) < 0.2
    categories = np.array(["tank", "artillery_100mm_plus", "mlrs", "acv"])
    return _write(
        {
            "id": np.char.add("bench-", np.arange(n).astype(str)),
            "time": np.char.add(times, "Z"),
            "lon": np.round(rng.uniform(36.5, 40.0, n), 5).astype(str),
            "lat": np.round(rng.uniform(47.0, 49.5, n), 5).astype(str),
            "actor": np.where(patrol, "smm", rng.choice(["ukr", "dpr_lpr", "unknown"], n)),
            "kind": np.where(patrol, "patrol", "equipment"),
            "category": np.where(patrol, "", rng.choice(categories, n)),
            "count": np.where(patrol, "", rng.integers(1, 9, n).astype(str)),
            "source": np.full(n, "SYNTHETIC (bench_ingest), not a real sighting"),
            "reliability": rng.choice(list("ABCDEF"), n),
            "credibility": rng.integers(1, 7, n).astype(str),
            "note": np.full(n, "synthetic benchmark record, not a real sighting"),
        },
        path,
    )


def acled_csv(n: int, path: Path) -> Path:
    """``n`` SYNTHETIC events in ACLED's export layout, half the dates in the older long form."""
    rng = np.random.default_rng(SEED + 1)
    pairs = [(et, st) for et, subs in SUB_EVENTS.items() for st in subs]
    pick = rng.integers(0, len(pairs), n)
    event_type = np.array([p[0] for p in pairs])[pick]
    days = pd.DatetimeIndex(_days(rng, n))
    # The older exports write "24 February 2022"; current ones ISO: half of each.
    long_form = days.day.astype(str) + " " + days.month_name() + " " + days.year.astype(str)
    dates = np.where(rng.random(n) < 0.5, days.strftime("%Y-%m-%d"), long_form)
    text = {c: np.full(n, "") for c in ACLED_COLUMNS.split(",")}
    text |= {
        "event_id_cnty": np.char.add("UKR", np.arange(n).astype(str)),
        "event_date": dates,
        "year": days.year.astype(str).to_numpy(),
        "time_precision": rng.integers(1, 4, n).astype(str),
        "disorder_type": np.full(n, "Political violence"),
        "event_type": event_type,
        "sub_event_type": np.array([p[1] for p in pairs])[pick],
        "actor1": np.full(n, "Military Forces of Russia (2000-)"),
        "actor2": np.full(n, "Military Forces of Ukraine (2019-)"),
        "iso": np.full(n, "804"),
        "region": np.full(n, "Europe"),
        "country": np.full(n, "Ukraine"),
        "admin1": rng.choice(["Donetsk", "Luhansk", "Kharkiv", "Zaporizhia"], n),
        "location": rng.choice(["Avdiivka", "Bakhmut", "Kupiansk", "Orikhiv"], n),
        "latitude": np.round(rng.uniform(46.5, 50.0, n), 4).astype(str),
        "longitude": np.round(rng.uniform(35.0, 40.0, n), 4).astype(str),
        "geo_precision": rng.integers(1, 4, n).astype(str),
        "source": np.full(n, "Synthetic Benchmark Source"),
        "source_scale": np.full(n, "National"),
        "notes": np.full(n, "SYNTHETIC benchmark row in the ACLED layout, not an ACLED event."),
        "fatalities": rng.integers(0, 5, n).astype(str),
        "timestamp": np.full(n, "1700000000"),
    }
    return _write(text, path)


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _median_seconds(run: Callable[[int], None]) -> tuple[float, float]:
    """Median wall and CPU seconds of RUNS runs."""
    wall, cpu = [], []
    for i in range(RUNS):
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        run(i)
        wall.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def store_case(folder: Path, file: Path, mapping: str | None) -> Callable[[int], None]:
    """One run: a fresh store file, one ingest, checked to have stored every row."""
    spec = resolve_mapping(mapping)

    def run(i: int) -> None:
        with open_store(folder / f"store-{file.stem}-{i}.duckdb") as store:
            result = store.ingest_observations(file, mapping=spec)
        if result.stored != result.rows:
            raise SystemExit(f"{file}: stored {result.stored} of {result.rows} rows")

    return run


def cli_case(folder: Path, file: Path) -> Callable[[int], None]:
    """One run of the real command line in a subprocess, into a fresh store file."""
    detente = Path(sys.executable).with_name("detente")
    command = [str(detente)] if detente.exists() else [sys.executable, "-m", "detente"]

    def run(i: int) -> None:
        db = folder / f"cli-{i}.duckdb"
        subprocess.run([*command, "ingest", "observations", str(file), "--db", str(db)],
                       check=True, capture_output=True, cwd=ROOT)  # fmt: skip

    return run


def main() -> int:
    n = int(os.environ.get("BENCH_INGEST_N", "1000000"))
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="detente-bench-ingest-") as tmp:
        folder = Path(tmp)
        canonical = canonical_csv(n, folder / "canonical.csv")
        acled = acled_csv(n, folder / "acled.csv")
        plan = [
            ("canonical CSV, DuckDBStore.ingest_observations", canonical,
             store_case(folder, canonical, None)),
            ("ACLED layout (--mapping acled), DuckDBStore.ingest_observations", acled,
             store_case(folder, acled, "acled")),
            ("canonical CSV, `detente ingest observations` (subprocess)", canonical,
             cli_case(folder, canonical)),
        ]  # fmt: skip
        for name, file, run in plan:
            load = round(os.getloadavg()[0], 1)
            seconds, cpu = _median_seconds(run)
            cases.append(_case(name, n, file, seconds) | {"cpu_s": round(cpu, 2), "load": load})
            print(json.dumps(cases[-1]), flush=True)
    _write_results(n, cases)
    return 0 if all(c["meets_goal"] for c in cases) else 1


def _case(name: str, n: int, file: Path, seconds: float) -> dict[str, Any]:
    per_min = n / seconds * 60
    return {
        "case": name,
        "rows": n,
        "file_mb": round(file.stat().st_size / 1e6, 1),
        "median_s": round(seconds, 2),
        "rows_per_s": round(n / seconds),
        "rows_per_min": round(per_min),
        "meets_goal": per_min >= GOAL_PER_MIN,
    }


def _write_results(n: int, cases: list[dict[str, Any]]) -> None:
    doc = {"rows": n, "runs": RUNS, "goal_rows_per_min": GOAL_PER_MIN, "cases": cases}
    lines = [
        f"Ingest throughput, {n:,} rows, median of {RUNS} runs (goal ≥ {GOAL_PER_MIN:,} rows/min)",
        "",
        "| case | file (MB) | median (s) | CPU (s) | load | rows/s | rows/min | goal |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    lines += [
        f"| {c['case']} | {c['file_mb']} | {c['median_s']} | {c['cpu_s']} | {c['load']:.1f} | "
        f"{c['rows_per_s']:,} | {c['rows_per_min']:,} | {'yes' if c['meets_goal'] else 'no'} |"
        for c in cases
    ]
    write_results("ingest", doc, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

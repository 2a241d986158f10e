"""Dashboard: first paint, and the time until the map and the matrix are drawn, in Chromium.

    python benchmarks/bench_dashboard.py
    BENCH_DASHBOARD_N=20000 BENCH_DASHBOARD_RUNS=3 python benchmarks/bench_dashboard.py

A DuckDB store is seeded with ``BENCH_DASHBOARD_N`` (default 100,000) SYNTHETIC sightings around
the Minsk II lines (``detente.synth``), ``detente serve`` runs in a subprocess on 127.0.0.1, the
Minsk II agreement is uploaded and evaluated through the API, and Debian's headless Chromium
(``/usr/bin/chromium``, driven by Playwright) opens the dashboard ``BENCH_DASHBOARD_RUNS``
(default 5) times, each in a fresh browser context already holding the token (a signed-in tab).
For each load it reads the browser's own clocks (milliseconds from the start of navigation):

- ``first_paint`` and ``first_contentful_paint`` (Paint Timing);
- ``map`` — the zones and the observations of the opening view drawn (``detente:map`` mark);
- ``matrix`` — every finding's cell drawn (``detente:matrix`` mark);
- the duration of each ``/ui/api`` request (Resource Timing).

The first load is "cold": the server builds the zone map and the report's evidence index then;
the later ones are "warm". Goal: first paint under 2 s. Results go to
``benchmarks/results/dashboard.json`` and ``dashboard.md``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import write_results  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from dashboard_server import Server, launch_chromium, seed, upload_and_evaluate  # noqa: E402

GOAL_MS = 2000
#: What the page reports once drawn: paint entries, our marks, and the /ui/api requests.
TIMINGS_JS = """() => {
  const paint = Object.fromEntries(performance.getEntriesByType('paint')
    .map(e => [e.name, e.startTime]));
  const mark = n => (performance.getEntriesByName(n)[0] || {}).startTime ?? null;
  const api = performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/ui/api/'))
    .map(e => [new URL(e.name).pathname, e.duration]);
  const map = document.getElementById('map').dataset;
  return {first_paint: paint['first-paint'] ?? null,
          first_contentful_paint: paint['first-contentful-paint'] ?? null,
          map: mark('detente:map'), matrix: mark('detente:matrix'), api,
          obs_mode: map.obsMode, obs_total: Number(map.obsTotal),
          cells: document.querySelectorAll('button.dt-cell').length};
}"""


def load_once(browser: Any, url: str, token: str) -> dict[str, Any]:
    """One load of the dashboard in a fresh context signed in with ``token``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(f"sessionStorage.setItem('detente.token', {token!r});")
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']", state="attached")
        timings: dict[str, Any] = page.evaluate(TIMINGS_JS)
    finally:
        context.close()
    return timings


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Cold (first load) and warm (median of the others) figures, in ms."""
    keys = ("first_paint", "first_contentful_paint", "map", "matrix")
    warm = runs[1:] or runs
    out: dict[str, Any] = {"cold": {k: round(runs[0][k], 1) for k in keys}}
    out["warm_median"] = {k: round(statistics.median(r[k] for r in warm), 1) for k in keys}
    out["api_ms_cold"] = {path: round(ms, 1) for path, ms in runs[0]["api"]}
    out["api_ms_warm_median"] = {
        path: round(statistics.median(dict(r["api"])[path] for r in warm), 1)
        for path, _ in warm[0]["api"]
    }
    return out


def main() -> None:
    from playwright.sync_api import sync_playwright

    n = int(os.environ.get("BENCH_DASHBOARD_N", "100000"))
    count = int(os.environ.get("BENCH_DASHBOARD_RUNS", "5"))
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        folder = Path(tmp)
        db = str(folder / "bench.duckdb")
        print(f"seeding {n:,} observations …", flush=True)
        tokens = seed(db, folder, n)
        server = Server(db, folder)
        server.start()
        try:
            started = time.perf_counter()
            report = upload_and_evaluate(server.url, tokens["admin"])
            evaluate_s = time.perf_counter() - started
            with sync_playwright() as p:
                browser = launch_chromium(p)
                try:
                    runs = [load_once(browser, server.url, tokens["analyst"]) for _ in range(count)]
                finally:
                    browser.close()
        finally:
            server.stop()
    for r in runs:
        shown = f"{r['obs_mode']}, {r['obs_total']:,} in view"
        print(f"  first paint {r['first_paint']:.0f} ms, map {r['map']:.0f} ms, "
              f"matrix {r['matrix']:.0f} ms ({shown})")  # fmt: skip
    s = summary(runs)
    data = {"observations": n, "findings": len(report["findings"]), "runs": count,
            "evaluate_s": round(evaluate_s, 2), "goal_first_paint_ms": GOAL_MS,
            "load_1min": round(os.getloadavg()[0], 1), **s, "raw": runs}  # fmt: skip
    path = write_results("dashboard", data, markdown(data))
    print(f"wrote {path}")


def markdown(d: dict[str, Any]) -> str:
    cold, warm = d["cold"], d["warm_median"]
    lines = [
        f"Dashboard load, {d['observations']:,} stored SYNTHETIC observations, Minsk II "
        f"({d['findings']:,} findings), headless Debian Chromium on loopback, {d['runs']} loads "
        f"(load average {d['load_1min']})",
        "",
        "| ms from navigation start | cold (first load) | warm (median) |",
        "|---|---:|---:|",
        f"| first paint | {cold['first_paint']} | {warm['first_paint']} |",
        f"| first contentful paint | {cold['first_contentful_paint']} | "
        f"{warm['first_contentful_paint']} |",
        f"| map drawn (zones + observations) | {cold['map']} | {warm['map']} |",
        f"| matrix drawn | {cold['matrix']} | {warm['matrix']} |",
        "",
        f"Goal: first paint < {d['goal_first_paint_ms']:,} ms: "
        + ("met." if warm["first_paint"] < d["goal_first_paint_ms"] else "**not met**."),
        "",
        "| request | cold (ms) | warm median (ms) |",
        "|---|---:|---:|",
    ]
    for path, ms in d["api_ms_cold"].items():
        lines.append(f"| `{path}` | {ms} | {d['api_ms_warm_median'].get(path, '')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

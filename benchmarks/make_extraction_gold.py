"""Build the UCDP part of the extraction gold: ``benchmarks/data/extraction/ucdp_headlines.jsonl``.

    python benchmarks/make_extraction_gold.py

A deterministic sample (seed 3) of 300 events of the shipped UCDP GED Ukraine file
(``data/ucdp/ucdp_ged_ukraine_2014-01_2022-01.csv``) with a non-empty ``source_headline``. Each
line keeps the event's first headline (UCDP joins the headlines of an event's sources with
";") and that source's date as the publication date, all headlines, and what UCDP coded: the
place (``where_coordinates``, ``adm_1``, latitude, longitude, ``where_prec``), the dates and
the deaths. The coded event is the gold for places and times; quantities are labelled by hand in
``quantities_gold.jsonl`` because a headline often reports another count than the coded event.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "data" / "ucdp" / "ucdp_ged_ukraine_2014-01_2022-01.csv"
OUT = ROOT / "benchmarks" / "data" / "extraction" / "ucdp_headlines.jsonl"
SAMPLE, SEED = 300, 3


def _record(row: pd.Series) -> dict[str, Any]:
    headlines = [h.strip() for h in str(row["source_headline"]).split(";")]
    dates = [d.strip() for d in str(row["source_date"]).split(";")]
    published = dates[0] if dates and dates[0][:4].isdigit() else None
    deaths = ("deaths_a", "deaths_b", "deaths_civilians", "deaths_unknown", "best", "low", "high")
    return {
        "id": int(row["id"]),
        "headline": headlines[0],
        "published": published,
        "headlines": headlines,
        "source_dates": dates,
        "place": str(row["where_coordinates"]),
        "adm_1": str(row["adm_1"]),
        "where_prec": int(row["where_prec"]),
        "lat": float(row["latitude"]),
        "lon": float(row["longitude"]),
        "date_start": str(row["date_start"])[:10],
        "date_end": str(row["date_end"])[:10],
        "deaths": {k: int(row[k]) for k in deaths},
    }


def main() -> None:
    frame = pd.read_csv(CSV, dtype={"source_headline": "string", "source_date": "string"})
    frame = frame[frame["source_headline"].fillna("").str.strip() != ""].sort_values("id")
    ids = sorted(random.Random(SEED).sample(list(frame["id"]), SAMPLE))
    picked = frame.set_index("id").loc[ids].reset_index()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        for _, row in picked.iterrows():
            out.write(json.dumps(_record(row), ensure_ascii=False) + "\n")
    print(f"{len(picked)} events → {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

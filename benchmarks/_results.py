"""Where every benchmark writes: ``benchmarks/results/<name>.json`` and ``<name>.md``.

>>> write_results("ingest", {"rows": 10}, "| case | rows/s |\\n")   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, data: object, markdown: str) -> Path:
    """Write the JSON and the Markdown of one benchmark; return the Markdown's path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    (RESULTS / f"{name}.json").write_text(text, encoding="utf-8")
    path = RESULTS / f"{name}.md"
    path.write_text(markdown if markdown.endswith("\n") else markdown + "\n", encoding="utf-8")
    return path
